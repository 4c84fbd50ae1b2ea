package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The baselines run on the same PostgreSQL as the system under test, on a
// table shaped like the broker's messages table (LIKE messages INCLUDING
// ALL: same columns, collation, primary key index), logged like it, so the
// ratios compare logq's path with the raw database doing the same work.

// baseline is one baseline table, filled and read by the raw paths below.
type baseline struct {
	db         *pgxpool.Pool
	table      string
	partitions int
	next       []atomic.Int64 // next offset per partition
}

// newBaseline (re)creates table as a copy of messages' shape.
func newBaseline(ctx context.Context, db *pgxpool.Pool, table string, partitions int) (*baseline, error) {
	id := pgx.Identifier{table}.Sanitize()
	if _, err := db.Exec(ctx, `DROP TABLE IF EXISTS `+id+`; CREATE TABLE `+id+` (LIKE messages INCLUDING ALL)`); err != nil {
		return nil, fmt.Errorf("baseline table: %w", err)
	}
	return &baseline{db: db, table: table, partitions: partitions, next: make([]atomic.Int64, partitions)}, nil
}

// drop removes the table.
func (b *baseline) drop(ctx context.Context) {
	b.db.Exec(ctx, `DROP TABLE IF EXISTS `+pgx.Identifier{b.table}.Sanitize())
}

var baselineColumns = []string{"topic", "partition", "offset", "produced_at", "ts", "producer_id", "key", "value"}

// copyRows COPYs n rows of size-byte payloads, spread evenly over the
// partitions, one COPY stream per partition in parallel (as the brokers
// write), each COPY (one transaction) carrying batch rows: the raw-COPY
// baseline for batched produce.
func (b *baseline) copyRows(ctx context.Context, n, size, batch int) (time.Duration, error) {
	return parallel(b.partitions, func(p int) error {
		count := n / b.partitions
		if p < n%b.partitions {
			count++
		}
		rows := make([][]any, 0, batch)
		for done := 0; done < count; {
			k := min(batch, count-done)
			base := b.next[p].Add(int64(k)) - int64(k)
			now := time.Now()
			rows = rows[:0]
			for i := range k {
				rows = append(rows, []any{"bench", int32(p), base + int64(i), now, now, int64(1), nil, payloadBytes(done+i, size)})
			}
			if _, err := b.db.CopyFrom(ctx, pgx.Identifier{b.table}, baselineColumns, pgx.CopyFromRows(rows)); err != nil {
				return fmt.Errorf("baseline COPY: %w", err)
			}
			done += k
		}
		return nil
	})
}

// insertPerCommit inserts n rows from clients goroutines, each on its own
// connection, one INSERT (one transaction, one commit) per row: the
// baseline for unbatched produce.
func (b *baseline) insertPerCommit(ctx context.Context, n, clients, size int) (time.Duration, error) {
	var next atomic.Int64
	conns := make([]*pgxpool.Conn, clients)
	for c := range conns {
		conn, err := b.db.Acquire(ctx)
		if err != nil {
			for _, c := range conns[:c] {
				c.Release()
			}
			return 0, fmt.Errorf("baseline insert: %w", err)
		}
		conns[c] = conn
	}
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	sql := `INSERT INTO ` + pgx.Identifier{b.table}.Sanitize() + ` (topic, partition, "offset", produced_at, ts, producer_id, value) VALUES ('bench', $1, $2, now(), now(), $3, $4)`
	return parallel(clients, func(c int) error {
		for {
			i := next.Add(1) - 1
			if i >= int64(n) {
				return nil
			}
			p := int(i) % b.partitions
			off := b.next[p].Add(1) - 1
			if _, err := conns[c].Exec(ctx, sql, int32(p), off, int64(c+1), payloadBytes(int(i), size)); err != nil {
				return fmt.Errorf("baseline insert: %w", err)
			}
		}
	})
}

// rangeRead reads rows back by indexed range reads (keyset pagination on
// the primary key) of batch rows, one stream per partition in parallel,
// starting at from[p] and reading count rows in all: the baseline for
// batched consume. It returns the rows read.
func (b *baseline) rangeRead(ctx context.Context, from []int64, count, batch int) (int, time.Duration, error) {
	sql := `SELECT "offset", produced_at, ts, producer_id, key, value, headers FROM ` + pgx.Identifier{b.table}.Sanitize() +
		` WHERE topic = 'bench' AND partition = $1 AND "offset" >= $2 ORDER BY "offset" LIMIT $3`
	var total atomic.Int64
	d, err := parallel(b.partitions, func(p int) error {
		want := count / b.partitions
		if p < count%b.partitions {
			want++
		}
		off, got := from[p], 0
		for got < want {
			rows, err := b.db.Query(ctx, sql, int32(p), off, min(batch, want-got))
			if err != nil {
				return fmt.Errorf("baseline read: %w", err)
			}
			n := 0
			for rows.Next() {
				var (
					o, producer int64
					at, ts      time.Time
					key, msg    []byte
					headers     []byte
				)
				if err := rows.Scan(&o, &at, &ts, &producer, &key, &msg, &headers); err != nil {
					rows.Close()
					return fmt.Errorf("baseline read: %w", err)
				}
				off = o + 1
				n++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("baseline read: %w", err)
			}
			if n == 0 {
				return fmt.Errorf("baseline read: partition %d ends at offset %d, %d rows short", p, off, want-got)
			}
			got += n
		}
		total.Add(int64(got))
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return int(total.Load()), d, nil
}

// parallel runs work(0) … work(n-1) on n goroutines and returns the time
// they took together, or the first error by index.
func parallel(n int, work func(i int) error) (time.Duration, error) {
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := time.Now()
	for i := range n {
		wg.Go(func() { errs[i] = work(i) })
	}
	wg.Wait()
	d := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return d, nil
}

// payload returns a message of size bytes naming its sequence number,
// padded with 'x'.
func payload(seq, size int) string { return string(payloadBytes(seq, size)) }

// payloadBytes is payload as bytes.
func payloadBytes(seq, size int) []byte {
	buf := make([]byte, 0, size)
	buf = append(buf, 'm')
	buf = strconv.AppendInt(buf, int64(seq), 10)
	buf = append(buf, ':')
	for len(buf) < size {
		buf = append(buf, 'x')
	}
	return buf
}
