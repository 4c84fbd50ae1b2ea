package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/broker/storage"
	"github.com/logq/logq/broker/storage/pgstore"
	"github.com/logq/logq/internal/pgtest"
)

// startCommitter runs a committer on a fresh store until the test ends.
func startCommitter(t testing.TB, maxMessages int) (testStore, *committer) {
	t.Helper()
	s := newTestStore(t)
	c := newCommitter(s, maxMessages, 1<<20)
	go c.run()
	t.Cleanup(func() {
		c.close(errors.New("test over"))
		c.wait(context.Background())
	})
	return s, c
}

// claimPartition claims topic/partition at epoch for broker 1 and returns
// it as served through c.
func claimPartition(t testing.TB, s storage.Store, c *committer, topic string, partition int, epoch int64) *partition {
	t.Helper()
	next, err := s.Claim(pgtest.Context(t, time.Minute), topic, partition, 1, epoch)
	if err != nil {
		t.Fatal(err)
	}
	return newPartition(partKey{topic, partition}, epoch, next, c)
}

// Concurrent single-message appends are gathered into few transactions,
// and each is answered with its own offset: gap-free, no duplicates, each
// appender's messages in its order.
func TestGroupCommitGathersConcurrentAppends(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t, time.Minute)
	s, c := startCommitter(t, 100)
	p := claimPartition(t, s, c, "t", 0, 1)
	var commits, maxBatch atomic.Int64
	c.batched = func(messages, requests int) {
		commits.Add(1)
		if int64(messages) > maxBatch.Load() {
			maxBatch.Store(int64(messages))
		}
	}
	const appenders, each = 32, 100
	offsets := make([][]int64, appenders)
	var wg sync.WaitGroup
	for g := range appenders {
		wg.Go(func() {
			for i := range each {
				base, err := c.submit(ctx, p, msgsOf(int64(g+1), fmt.Sprintf("%d-%d", g, i)))
				if err != nil {
					t.Error(err)
					return
				}
				offsets[g] = append(offsets[g], base)
			}
		})
	}
	wg.Wait()
	msgs := allMessages(t, s, "t", 0)
	checkGapFree(t, "t/0", msgs)
	if len(msgs) != appenders*each {
		t.Fatalf("%d messages stored, want %d", len(msgs), appenders*each)
	}
	for g, offs := range offsets {
		for i, off := range offs {
			if want := fmt.Sprintf("%d-%d", g, i); string(msgs[off].Value) != want {
				t.Fatalf("offset %d answered to %s holds %s", off, want, string(msgs[off].Value))
			}
			if i > 0 && off <= offs[i-1] {
				t.Fatalf("appender %d: offsets out of order: %v", g, offs[:i+1])
			}
		}
	}
	if n := commits.Load(); n >= appenders*each {
		t.Errorf("%d commits for %d appends: no grouping", n, appenders*each)
	}
	if m := maxBatch.Load(); m > 100 {
		t.Errorf("a batch of %d messages exceeds the bound of 100", m)
	}
	t.Logf("%d appends in %d transactions (largest %d)", appenders*each, commits.Load(), maxBatch.Load())
}

// A transaction that fails fails every request in it, and commits none.
func TestGroupCommitFailureFailsWholeBatch(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t, time.Minute)
	s, c := startCommitter(t, 1000)
	p := claimPartition(t, s, c, "t", 0, 1)
	queued, taken := make(chan struct{}, 100), make(chan int, 100)
	c.queued = func() { queued <- struct{}{} }
	c.taken = func(n int) { taken <- n }

	// Hold the partition row so that the first commit blocks; queue more
	// requests behind it, one of them unstorable (NUL in text).
	tx, err := s.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM partitions WHERE topic = 't' AND partition = 0 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	type result struct {
		name string
		base int64
		err  error
	}
	results := make(chan result, 10)
	submit := func(name, payload string) {
		go func() {
			msgs := msgsOf(1, payload)
			if name == "bad" {
				// Records are bytes (NUL is fine); a timestamp PostgreSQL
				// cannot hold fails the transaction instead.
				msgs[0].Timestamp = time.Date(295000, 1, 1, 0, 0, 0, 0, time.UTC)
			}
			base, err := c.submit(ctx, p, msgs)
			results <- result{name, base, err}
		}()
		await(t, queued)
	}
	submit("first", "first")
	// The committer takes "first" alone and blocks on the row; the rest
	// queue behind it and form the second batch.
	if n := await(t, taken); n != 1 {
		t.Fatalf("first batch has %d requests", n)
	}
	submit("ok1", "ok1")
	submit("bad", "bad")
	submit("ok2", "ok2")
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := await(t, taken); n != 3 {
		t.Fatalf("second batch has %d requests; want 3", n)
	}
	for range 4 {
		r := await(t, results)
		switch {
		case r.name == "first" && r.err != nil:
			t.Errorf("first: %v", r.err)
		case r.name != "first" && r.err == nil:
			t.Errorf("%s was acknowledged (offset %d) in a failed transaction", r.name, r.base)
		case r.name != "first" && logq.ErrorCode(r.err) != logq.EInternal:
			t.Errorf("%s: %v; want an internal error", r.name, r.err)
		}
	}
	msgs := allMessages(t, s, "t", 0)
	if len(msgs) != 1 || string(msgs[0].Value) != "first" {
		t.Fatalf("stored %+v; want only first", msgs)
	}
	// The committer goes on.
	if base, err := c.submit(ctx, p, msgsOf(1, "after")); err != nil || base != 1 {
		t.Fatalf("append after a failed batch: %d, %v; want offset 1", base, err)
	}
}

// Once storage refuses the committer's epoch, every request fails fenced
// and the committer stops taking requests.
func TestGroupCommitFenced(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t, time.Minute)
	s, c := startCommitter(t, 1000)
	p := claimPartition(t, s, c, "t", 0, 1)
	fenced := make(chan struct{})
	c.fenced = func(*partition, error) { close(fenced) }
	if _, err := c.submit(ctx, p, msgsOf(1, "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, "t", 0, 2, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.submit(ctx, p, msgsOf(1, "b")); !errors.Is(err, logq.ErrFenced) {
		t.Fatalf("append after takeover: %v; want fenced", err)
	}
	await(t, fenced)
	if _, err := c.submit(ctx, p, msgsOf(1, "c")); !errors.Is(err, logq.ErrFenced) {
		t.Fatalf("append after fencing: %v; want fenced", err)
	}
	if msgs := allMessages(t, s, "t", 0); len(msgs) != 1 {
		t.Fatalf("%d messages stored; want 1", len(msgs))
	}
}

// One transaction carries several partitions; a partition whose epoch
// storage refuses fails alone (fenced) while the others commit, through
// both the INSERT and the COPY path.
func TestGroupCommitAcrossPartitions(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"insert", "copy"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			ctx := pgtest.Context(t, time.Minute)
			size := 1
			if path == "copy" {
				size = pgstore.CopyThreshold
			}
			s, c := startCommitter(t, 10000)
			pa, pb := claimPartition(t, s, c, "t", 0, 1), claimPartition(t, s, c, "t", 1, 1)
			queued, taken := make(chan struct{}, 100), make(chan int, 100)
			c.queued = func() { queued <- struct{}{} }
			c.taken = func(n int) { taken <- n }
			fenced := make(chan *partition, 1)
			c.fenced = func(p *partition, err error) { fenced <- p }

			tx, err := s.db.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, `SELECT 1 FROM partitions WHERE topic = 't' AND partition = 1 FOR UPDATE`); err != nil {
				t.Fatal(err)
			}
			results := make(chan error, 3)
			submit := func(p *partition, msgs []message) {
				go func() {
					_, err := c.submit(ctx, p, msgs)
					results <- err
				}()
				await(t, queued)
			}
			submit(pb, msgsOf(1, "first"))
			await(t, taken) // blocked on t/1's row
			// t/0 moves to broker 2 meanwhile.
			if _, err := s.Claim(ctx, "t", 0, 2, 2); err != nil {
				t.Fatal(err)
			}
			big := make([]string, size)
			submit(pa, msgsOf(1, big...))
			submit(pb, msgsOf(1, big...))
			tx.Rollback(ctx)
			if n := await(t, taken); n != 2 {
				t.Fatalf("second batch has %d requests; want 2", n)
			}
			var fencedErrs, ok int
			for range 3 {
				switch err := await(t, results); {
				case err == nil:
					ok++
				case errors.Is(err, logq.ErrFenced):
					fencedErrs++
				default:
					t.Fatal(err)
				}
			}
			if ok != 2 || fencedErrs != 1 {
				t.Fatalf("%d ok, %d fenced; want 2 and 1", ok, fencedErrs)
			}
			if p := await(t, fenced); p != pa {
				t.Fatalf("fenced %v; want t/0", p.partKey)
			}
			if msgs := allMessages(t, s, "t", 0); len(msgs) != 0 {
				t.Fatalf("fenced partition got %d messages", len(msgs))
			}
			msgs := allMessages(t, s, "t", 1)
			checkGapFree(t, "t/1", msgs)
			if len(msgs) != 1+size {
				t.Fatalf("t/1 holds %d messages; want %d", len(msgs), 1+size)
			}
			// Requests for the fenced partition now fail at once.
			if _, err := c.submit(ctx, pa, msgsOf(1, "late")); !errors.Is(err, logq.ErrFenced) {
				t.Fatalf("append to a fenced partition: %v", err)
			}
		})
	}
}
