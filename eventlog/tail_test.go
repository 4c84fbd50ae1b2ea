package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logq/logq"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/pgtest"
)

func TestParseMode(t *testing.T) {
	for _, m := range modes {
		if got, err := eventlog.ParseMode(string(m)); got != m || err != nil {
			t.Errorf("ParseMode(%q) = %q, %v", m, got, err)
		}
	}
	if _, err := eventlog.ParseMode("poll"); !errors.Is(err, logq.ErrInvalid) {
		t.Errorf("ParseMode(poll): %v; want ErrInvalid", err)
	}
	err := eventlog.Tail(t.Context(), eventlog.TailConfig{DSN: "postgres://x@/y", Mode: "poll"}, 0, nil)
	if !errors.Is(err, logq.ErrInvalid) {
		t.Errorf("Tail with a bad mode: %v; want ErrInvalid", err)
	}
}

// TestTailConcurrentAppends: events appended by many goroutines at once
// reach the tailer gap-free, in seq order, once each, exactly as stored.
func TestTailConcurrentAppends(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			dsn := pgtest.NewDB(t)
			admin := adminConn(t, dsn)
			pool := newPool(t, dsn)
			w := acquire(t, dsn, "w")
			mustAppend(t, w, ev("Before", "{}")) // delivered by the first catch-up
			c, stop := startTail(t, eventlog.TailConfig{DSN: dsn, Mode: mode, StatusInterval: 50 * time.Millisecond}, 0, 0)

			const goroutines, appends = 16, 50
			stored := make([][]logq.Event, goroutines)
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					for i := range appends {
						batch := []logq.Event{ev("T", fmt.Sprintf(`{"g": %d, "i": %d, "k": 0}`, g, i))}
						if i%5 == 4 {
							batch = append(batch,
								ev("T", fmt.Sprintf(`{"g": %d, "i": %d, "k": 1}`, g, i)),
								ev("T", fmt.Sprintf(`{"g": %d, "i": %d, "k": 2}`, g, i)))
						}
						got, err := w.Append(ctx, batch...)
						if err != nil {
							t.Errorf("append: %v", err)
							return
						}
						stored[g] = append(stored[g], got...)
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			last := w.LastSeq()
			if want := int64(1 + goroutines*(appends+2*appends/5)); last != want {
				t.Fatalf("LastSeq = %d; want %d", last, want)
			}

			got := c.wait(t, int(last), 30*time.Second)
			checkSeqs(t, got, 1, last)
			table, err := eventlog.Read(ctx, pool, 0, int(last)+1)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, table, sameEvent) {
				t.Fatal("tailed events differ from the table's")
			}
			for g, events := range stored {
				for i, e := range events {
					if !sameEvent(e, got[e.Seq-1]) {
						t.Fatalf("goroutine %d: Append returned %+v; tail delivered %+v", g, e, got[e.Seq-1])
					}
					if i > 0 && e.Seq <= events[i-1].Seq {
						t.Fatalf("goroutine %d: seq %d after %d", g, e.Seq, events[i-1].Seq)
					}
				}
			}

			if mode == eventlog.ModeLogical {
				// The tailer confirms what it received: its slot pins no old WAL.
				lsn := queryString(t, admin, "SELECT pg_current_wal_lsn()::text")
				waitFor(t, 10*time.Second, "the slot to confirm "+lsn, func() bool {
					return queryInt(t, admin, `
						SELECT count(*) FROM pg_replication_slots
						WHERE database = current_database() AND temporary AND confirmed_flush_lsn >= $1::pg_lsn`, lsn) == 1
				})
			}

			if err := stop(); !errors.Is(err, context.Canceled) {
				t.Fatalf("Tail returned %v; want context.Canceled", err)
			}
			if extra := c.snapshot(); len(extra) != len(got) {
				t.Fatalf("tail delivered %d events; want %d", len(extra), len(got))
			}
			waitNoSlots(t, admin)
		})
	}
}

// TestTailSurvivesKilledConnection: a tailer whose connections are
// terminated, and which cannot reconnect while events are appended (so
// it misses their notifications or stream), delivers them all once it is
// back, without repeating any.
func TestTailSurvivesKilledConnection(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			dsn := pgtest.NewDB(t)
			admin := adminConn(t, dsn)
			w := acquire(t, dsn, "w")
			c, stop := startTail(t, eventlog.TailConfig{DSN: dsn, Mode: mode}, 0, 0)

			for i := range 10 {
				mustAppend(t, w, ev("T", fmt.Sprintf(`{"i": %d}`, i)))
			}
			c.wait(t, 10, 10*time.Second)

			var db string
			if err := admin.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
				t.Fatal(err)
			}
			// A database cannot refuse connections from inside itself.
			maint := adminConn(t, pgtest.WithDatabase(dsn, "postgres"))
			allow := func(ok bool) {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if _, err := maint.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS %t", pgx.Identifier{db}.Sanitize(), ok)); err != nil {
					t.Fatal(err)
				}
			}
			allow(false)
			t.Cleanup(func() { allow(true) })
			rows, _ := admin.Query(ctx, `
				SELECT pid FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'logq-tail'`)
			pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
			if err != nil {
				t.Fatal(err)
			}
			if want := map[eventlog.Mode]int{eventlog.ModeNotify: 1, eventlog.ModeLogical: 2}[mode]; len(pids) != want {
				t.Fatalf("%d logq-tail backends; want %d", len(pids), want)
			}
			if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "terminated tail backends to exit", func() bool {
				return queryInt(t, admin, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)", pids) == 0
			})

			for i := range 10 {
				mustAppend(t, w, ev("T", fmt.Sprintf(`{"i": %d}`, 10+i)))
			}
			if n := len(c.snapshot()); n != 10 {
				t.Fatalf("tailer delivered %d events while it could not connect; want 10", n)
			}
			allow(true)

			got := c.wait(t, 20, 20*time.Second)
			checkSeqs(t, got, 1, 20)
			if err := stop(); !errors.Is(err, context.Canceled) {
				t.Fatalf("Tail returned %v; want context.Canceled", err)
			}
			checkSeqs(t, c.snapshot(), 1, 20)
			waitNoSlots(t, admin)
		})
	}
}

// TestTailStopsOnCallbackError: Tail starts after the given seq and ends
// with fn's error, leaving no slot behind.
func TestTailStopsOnCallbackError(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			dsn := pgtest.NewDB(t)
			admin := adminConn(t, dsn)
			w := acquire(t, dsn, "w")
			mustAppend(t, w, ev("A", "{}"), ev("B", "{}"))

			c, stop := startTail(t, eventlog.TailConfig{DSN: dsn, Mode: mode}, 1, 4)
			c.wait(t, 1, 10*time.Second) // caught up: seq 2
			mustAppend(t, w, ev("C", "{}"))
			mustAppend(t, w, ev("D", "{}"), ev("E", "{}"))
			got := c.wait(t, 3, 10*time.Second)
			if err := stop(); !errors.Is(err, errStop) {
				t.Fatalf("Tail returned %v; want the callback's error", err)
			}
			checkSeqs(t, got, 2, 4)
			checkSeqs(t, c.snapshot(), 2, 4)
			waitNoSlots(t, admin)
		})
	}
}
