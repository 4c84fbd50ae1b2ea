package pgstore

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/logq/logq/broker/storage"
	"github.com/logq/logq/internal/pgtest"
)

// BenchmarkScanMessages compares the binary row decoder with pgx's generic
// Scan on the same 10,000 rows of the same query (the fast path must stay
// worth its code):
//
//	go test -run '^$' -bench ScanMessages ./broker/storage/pgstore
func BenchmarkScanMessages(b *testing.B) {
	ctx := testCtx(b)
	db := pgtest.Pool(b, pgtest.NewDB(b), 20)
	const n = 10000
	// messages takes rows only inside a segment, which a claim creates.
	if _, err := New(db).Claim(ctx, "t", 0, 1, 1); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO messages (topic, partition, "offset", produced_at, ts, producer_id, key, value)
		SELECT 't', 0, i, now(), now(), 1, NULL, convert_to($1, 'UTF8') FROM generate_series(0, $2 - 1) i`, strings.Repeat("x", 100), n); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		scan func(pgx.Rows) (int, error)
	}{
		{"binary", func(r pgx.Rows) (int, error) { m, err := scanBinaryMessages(r); return len(m), err }},
		{"generic", func(r pgx.Rows) (int, error) { m, err := scanGenericMessages(r); return len(m), err }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rows, err := db.Query(ctx, `SELECT "offset", produced_at, ts, producer_id, key, value, headers FROM messages ORDER BY "offset"`)
				if err != nil {
					b.Fatal(err)
				}
				got, err := c.scan(rows)
				rows.Close()
				if err != nil || got != n {
					b.Fatalf("%d rows, %v", got, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
		})
	}
}

// BenchmarkAppendOnePartition compares, for one partition's batch, the
// single-statement path with the several-partition one it stands beside,
// and, at CopyThreshold, COPY with the unnest INSERT:
//
//	go test -run '^$' -bench AppendOnePartition ./broker/storage/pgstore
func BenchmarkAppendOnePartition(b *testing.B) {
	ctx := testCtx(b)
	s := New(pgtest.Pool(b, pgtest.NewDB(b), 20))
	// The paths are called below Append, which creates segments ahead: one
	// segment, made by the claim, holds every offset of the benchmark.
	s.SetSegmentOffsets(1 << 40)
	if _, err := s.Claim(ctx, "t", 0, 1, 1); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 100, CopyThreshold} {
		batch := storage.Batch{Topic: "t", Partition: 0, Epoch: 1, Msgs: msgs(n)}
		for _, c := range []struct {
			name string
			fn   func() error
		}{
			{"insertOne", func() error { _, err := s.appendInsertOne(ctx, batch); return err }},
			{"insert", func() error { _, err := s.appendInsert(ctx, s.db, []storage.Batch{batch}); return err }},
			{"copy", func() error { _, err := s.appendCopy(ctx, []storage.Batch{batch}); return err }},
		} {
			b.Run(fmt.Sprintf("%d/%s", n, c.name), func(b *testing.B) {
				for b.Loop() {
					if err := c.fn(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
			})
		}
	}
}
