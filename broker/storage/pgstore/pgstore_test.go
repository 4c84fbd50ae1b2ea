package pgstore

import (
	"context"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/logq/logq"
	"github.com/logq/logq/broker/storage"
	"github.com/logq/logq/broker/storage/storagetest"
	"github.com/logq/logq/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func testCtx(t testing.TB) context.Context { return pgtest.Context(t, time.Minute) }

// harness is a Store on a fresh database, as the suite wants it.
func harness(t *testing.T) storagetest.Harness {
	db := pgtest.Pool(t, pgtest.NewDB(t), 20)
	return storagetest.Harness{
		Store: New(db),
		Bulk:  CopyThreshold,
		// A stalled append: the partition row locked by a transaction that
		// does not end.
		Stall: func(ctx context.Context, topic string, partition int) (func(), error) {
			tx, err := db.Begin(ctx)
			if err != nil {
				return nil, err
			}
			if _, err := tx.Exec(ctx, `UPDATE partitions SET next_offset = next_offset + 5 WHERE topic = $1 AND partition = $2`,
				topic, partition); err != nil {
				tx.Rollback(ctx)
				return nil, err
			}
			return func() { tx.Rollback(context.WithoutCancel(ctx)) }, nil
		},
		// What retention does: move the log start (the rows below it may
		// stay; a fetch must refuse them anyway).
		SetLogStart: func(ctx context.Context, topic string, partition int, offset int64) error {
			_, err := db.Exec(ctx, `UPDATE partitions SET log_start_offset = $3 WHERE topic = $1 AND partition = $2`, topic, partition, offset)
			return err
		},
	}
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, harness)
}

func msgs(n int) []storage.Message {
	out := make([]storage.Message, n)
	for i := range out {
		out[i] = storage.Message{ProducerID: 1, Value: []byte("x")}
	}
	return out
}

// counts returns the paths taken so far.
func (p *paths) counts() [7]int64 {
	return [7]int64{p.insertOne.Load(), p.insert.Load(), p.copy.Load(), p.binaryScan.Load(), p.scan.Load(), p.idempotent.Load(), p.idempotentFast.Load()}
}

// TestFastPaths: each append and scan path serves the requests it is
// meant for: a test fails when a fast path is bypassed.
func TestFastPaths(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := New(pgtest.Pool(t, pgtest.NewDB(t), 20))
	for p := range 2 {
		if _, err := s.Claim(ctx, "t", p, 1, 1); err != nil {
			t.Fatal(err)
		}
	}
	one := func(p, n int) storage.Batch { return storage.Batch{Topic: "t", Partition: p, Epoch: 1, Msgs: msgs(n)} }
	seq := int64(0)
	idem := func(p, n int) storage.Batch {
		b := one(p, n)
		b.Idem = &storage.Idempotence{ProducerID: 1, BaseSequence: seq}
		seq += int64(n)
		return b
	}
	for _, c := range []struct {
		name    string
		batches []storage.Batch
		want    [7]int64 // insertOne, insert, copy, binaryScan, scan, idempotent, idempotentFast
	}{
		{"one partition, one message", []storage.Batch{one(0, 1)}, [7]int64{1, 0, 0, 0, 0, 0, 0}},
		{"one partition, below the threshold", []storage.Batch{one(0, CopyThreshold-1)}, [7]int64{1, 0, 0, 0, 0, 0, 0}},
		{"two partitions", []storage.Batch{one(0, 1), one(1, 2)}, [7]int64{0, 1, 0, 0, 0, 0, 0}},
		{"one partition, at the threshold", []storage.Batch{one(0, CopyThreshold)}, [7]int64{0, 0, 1, 0, 0, 0, 0}},
		{"two partitions, at the threshold together", []storage.Batch{one(0, CopyThreshold/2), one(1, CopyThreshold/2)}, [7]int64{0, 0, 1, 0, 0, 0, 0}},
		{"idempotent", []storage.Batch{idem(0, 2)}, [7]int64{0, 0, 0, 0, 0, 1, 0}},
		{"idempotent with a plain batch", []storage.Batch{idem(0, 2), one(1, 1)}, [7]int64{0, 0, 0, 0, 0, 1, 0}},
		// The producer and both partitions are known now: decided from
		// memory, stored in one statement.
		{"idempotent, known producer", []storage.Batch{idem(0, 1)}, [7]int64{0, 0, 0, 0, 0, 0, 1}},
		{"idempotent, known, with a plain batch", []storage.Batch{idem(0, 3), one(1, 1)}, [7]int64{0, 0, 0, 0, 0, 0, 1}},
		{"plain batches keep the memory", []storage.Batch{one(0, 1)}, [7]int64{1, 0, 0, 0, 0, 0, 0}},
		{"idempotent after a plain batch", []storage.Batch{idem(0, 1)}, [7]int64{0, 0, 0, 0, 0, 0, 1}},
		{"idempotent, bulk", []storage.Batch{idem(0, CopyThreshold)}, [7]int64{0, 0, 0, 0, 0, 1, 0}},
	} {
		before := s.paths.counts()
		if _, err := s.Append(ctx, c.batches); err != nil {
			t.Fatal(err)
		}
		got := s.paths.counts()
		for i := range got {
			got[i] -= before[i]
		}
		if got != c.want {
			t.Errorf("%s: paths taken %v; want %v (insertOne, insert, copy, binaryScan, scan, idempotent, idempotentFast)", c.name, got, c.want)
		}
	}
	before := s.paths.counts()
	if _, err := s.Read(ctx, "t", 0, 0, 10, 1<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Consume(ctx, 1, "t", 0, 10, 1<<20); err != nil {
		t.Fatal(err)
	}
	if got := s.paths.counts(); got[3]-before[3] != 2 || got[4] != before[4] {
		t.Errorf("read and consume scanned %d row sets in binary, %d generically; want 2 and 0",
			got[3]-before[3], got[4]-before[4])
	}
}

// TestScanBinaryMessages: rows decoded from the binary wire format equal
// pgx's generic scanning of the same rows in text (the simple protocol,
// which the store falls back to when the pool uses it).
func TestScanBinaryMessages(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dsn := pgtest.NewDB(t)
	db := pgtest.Pool(t, dsn, 20)
	// messages takes rows only inside a segment, which a claim creates.
	if _, err := New(db).Claim(ctx, "t", 0, 1, 1); err != nil {
		t.Fatal(err)
	}
	_, err := db.Exec(ctx, `UPDATE partitions SET next_offset = 3 WHERE topic = 't' AND partition = 0;
		INSERT INTO messages (topic, partition, "offset", produced_at, ts, producer_id, key, value, headers) VALUES
		('t', 0, 0, '2025-01-02 03:04:05.123456+00', '2025-01-02 03:04:05.123456+00', 1, NULL, 'hello', NULL),
		('t', 0, 1, '1999-12-31 23:59:59.999999+00', '1970-01-01 00:00:00.001+00', 9223372036854775807, 'k é', '', '\x01610262'),
		('t', 0, 2, '1970-01-01 00:00:00+00', '2030-01-01 00:00:00+00', 2, '', '\x00ff2079', '\x0001')`)
	if err != nil {
		t.Fatal(err)
	}
	// read reads t/0 through a new store on db, which must scan the rows
	// binary times in binary and the rest generically.
	read := func(what string, db *pgxpool.Pool, binary int64) []storage.StoredMessage {
		t.Helper()
		s := New(db)
		msgs, err := s.Read(ctx, "t", 0, 0, 10, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if c := s.paths.counts(); c[3] != binary || c[4] != 1-binary {
			t.Fatalf("%s scanned %d in binary, %d generically", what, c[3], c[4])
		}
		return msgs
	}
	got := read("the pool's read (want the binary path)", db, 1)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	textDB, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer textDB.Close()
	want := read("the simple protocol's read (the reference: want the generic path)", textDB, 0)
	if len(got) != len(want) || len(got) != 3 {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Offset != w.Offset || !g.ProducedAt.Equal(w.ProducedAt) || !g.Timestamp.Equal(w.Timestamp) || g.ProducerID != w.ProducerID ||
			!reflect.DeepEqual(g.Key, w.Key) || !reflect.DeepEqual(g.Value, w.Value) || !reflect.DeepEqual(g.Headers, w.Headers) ||
			g.ProducedAt.Format(time.RFC3339Nano) != w.ProducedAt.Format(time.RFC3339Nano) {
			t.Errorf("message %d: binary %+v, text %+v", i, g, w)
		}
		if cap(g.Key) != len(g.Key) || cap(g.Value) != len(g.Value) {
			t.Errorf("message %d: key or value not capped at its length: an append would write into the next row's", i)
		}
	}
	// The rows' bytes share one slab: the second row's key follows the
	// first row's value.
	if unsafe.SliceData(got[1].Key) != (*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(got[0].Value)), len(got[0].Value))) {
		t.Error("rows scanned in binary do not share a slab: one allocation per row")
	}
}

// TestConsumerRowCreatedOnce: a consumer's position row is created by its
// first consume of a partition only, not before every consume; a new Store
// (a restart) finds it in place.
func TestConsumerRowCreatedOnce(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	db := pgtest.Pool(t, pgtest.NewDB(t), 20)
	s := New(db)
	if _, err := s.Claim(ctx, "t", 0, 1, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, []storage.Batch{{Topic: "t", Partition: 0, Epoch: 1, Msgs: msgs(3)}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.Consume(ctx, 1, "t", 0, 1, 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Consume(ctx, 2, "t", 0, 1, 1<<20); err != nil {
		t.Fatal(err)
	}
	if n := s.paths.consumerRows.Load(); n != 2 {
		t.Fatalf("%d position rows created for 2 consumers", n)
	}
	restarted := New(db)
	got, err := restarted.Consume(ctx, 1, "t", 0, 10, 1<<20)
	if err != nil || len(got) != 0 {
		t.Fatalf("consume after a restart = %+v, %v; want nothing left", got, err)
	}
}

// A deadlock between two appends (PostgreSQL fails one of them) is a
// retryable EUnavailable, not an internal error: the failed transaction
// stored nothing.
func TestDeadlockIsRetryable(t *testing.T) {
	ctx := testCtx(t)
	db := pgtest.Pool(t, pgtest.NewDB(t), 20)
	if _, err := db.Exec(ctx, `INSERT INTO partitions (topic, partition, epoch, owner) VALUES ('t', 0, 1, 1), ('t', 1, 1, 1)`); err != nil {
		t.Fatal(err)
	}
	lock := func(tx pgx.Tx, partition int) error {
		_, err := tx.Exec(ctx, `UPDATE partitions SET next_offset = next_offset WHERE topic = 't' AND partition = $1`, partition)
		return err
	}
	a, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Rollback(ctx)
	b, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Rollback(ctx)
	if err := lock(a, 0); err != nil {
		t.Fatal(err)
	}
	if err := lock(b, 1); err != nil {
		t.Fatal(err)
	}
	// Each waits for the other's row: PostgreSQL fails one of them, whose
	// rollback lets the other through.
	type result struct {
		tx  pgx.Tx
		err error
	}
	results := make(chan result, 2)
	for _, c := range []struct {
		tx        pgx.Tx
		partition int
	}{{a, 1}, {b, 0}} {
		go func() {
			err := lock(c.tx, c.partition)
			if err != nil {
				c.tx.Rollback(ctx)
			}
			results <- result{c.tx, err}
		}()
	}
	first, second := <-results, <-results
	if (first.err == nil) == (second.err == nil) {
		t.Fatalf("want exactly one failure, got %v and %v", first.err, second.err)
	}
	errB := first.err
	if errB == nil {
		errB = second.err
	}
	if !isConflict(errB) {
		t.Fatalf("no deadlock reported: %v", errB)
	}
	var le *logq.Error
	if got := dbError(errB, "append"); !errors.As(got, &le) || le.Code != logq.EUnavailable {
		t.Fatalf("dbError(deadlock) = %v, want %s", got, logq.EUnavailable)
	}
}
