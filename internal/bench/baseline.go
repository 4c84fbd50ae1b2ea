package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The baselines run on the same PostgreSQL as the system under test, on a
// table shaped like the broker's messages table, so the ratios compare
// logq's path with the raw database doing the same work.

// Logged, like messages: an UNLOGGED baseline would be unfairly fast.
const baselineTableLogged = `
DROP TABLE IF EXISTS bench_baseline;
CREATE TABLE bench_baseline (LIKE messages INCLUDING ALL);`

func prepareBaseline(ctx context.Context, db *pgxpool.Pool) error {
	_, err := db.Exec(ctx, baselineTableLogged)
	return err
}

// payload returns a message of size bytes that names its producer and
// sequence number (so checks can find it) padded with 'x'.
func payload(producer, seq, size int) string {
	s := fmt.Sprintf("p%d-%d:", producer, seq)
	if len(s) >= size {
		return s
	}
	return s + strings.Repeat("x", size-len(s))
}

// baselineCopy COPYs n rows of size-byte payloads over partitions
// partitions into bench_baseline, in chunks of batch rows per COPY (one
// transaction each), from the same process: the raw-COPY baseline for
// batched produce.
func baselineCopy(ctx context.Context, db *pgxpool.Pool, n, partitions, size, batch int) (time.Duration, error) {
	if err := prepareBaseline(ctx, db); err != nil {
		return 0, err
	}
	now := time.Now()
	next := make([]int64, partitions)
	start := time.Now()
	// One COPY stream per partition in parallel, as the brokers do.
	var wg sync.WaitGroup
	errs := make(chan error, partitions)
	per := n / partitions
	for p := 0; p < partitions; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for done := 0; done < per; {
				k := min(batch, per-done)
				rows := make([][]any, k)
				for i := range rows {
					rows[i] = []any{"bench", int32(p), next[p], now, int64(1), nil, payload(p, done+i, size)}
					next[p]++
				}
				if _, err := db.CopyFrom(ctx, pgx.Identifier{"bench_baseline"},
					[]string{"topic", "partition", "offset", "produced_at", "producer_id", "key", "payload"},
					pgx.CopyFromRows(rows)); err != nil {
					errs <- err
					return
				}
				done += k
			}
		}(p)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, fmt.Errorf("baseline copy: %w", err)
	}
	return time.Since(start), nil
}

// baselineInsertPerCommit runs clients goroutines, each on its own
// connection, inserting one row per transaction until n rows are in: the
// baseline for unbatched produce.
func baselineInsertPerCommit(ctx context.Context, db *pgxpool.Pool, n, clients, size int) (time.Duration, error) {
	if err := prepareBaseline(ctx, db); err != nil {
		return 0, err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			conn, err := db.Acquire(ctx)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Release()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if _, err := conn.Exec(ctx, `INSERT INTO bench_baseline (topic, partition, "offset", produced_at, producer_id, payload) VALUES ('bench', $1, $2, now(), $3, $4)`,
					int32(i%3), i, int64(c), payload(c, int(i), size)); err != nil {
					errs <- err
					return
				}
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, fmt.Errorf("baseline insert: %w", err)
	}
	return time.Since(start), nil
}

// baselineRangeRead reads every row of bench_baseline back by indexed
// range reads of batch rows per partition: the baseline for batched
// consume. It returns the rows read.
func baselineRangeRead(ctx context.Context, db *pgxpool.Pool, partitions, batch int) (int, time.Duration, error) {
	start := time.Now()
	total := 0
	for p := 0; p < partitions; p++ {
		var from int64
		for {
			rows, err := db.Query(ctx, `SELECT "offset", key, payload, producer_id, produced_at FROM bench_baseline
				WHERE topic = 'bench' AND partition = $1 AND "offset" >= $2 ORDER BY "offset" LIMIT $3`, int32(p), from, batch)
			if err != nil {
				return 0, 0, fmt.Errorf("baseline read: %w", err)
			}
			got := 0
			for rows.Next() {
				var off, producer int64
				var key *string
				var msg string
				var at time.Time
				if err := rows.Scan(&off, &key, &msg, &producer, &at); err != nil {
					rows.Close()
					return 0, 0, fmt.Errorf("baseline read: %w", err)
				}
				from = off + 1
				got++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return 0, 0, fmt.Errorf("baseline read: %w", err)
			}
			total += got
			if got < batch {
				break
			}
		}
	}
	return total, time.Since(start), nil
}
