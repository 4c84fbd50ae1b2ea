package eventlog_test

import (
	"context"
	"errors"
	"fmt"
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

// TestLogicalSlotConfirms: a logical tail confirms what it received, so
// its slot pins no old WAL. (Delivery itself is the conformance suite's.)
func TestLogicalSlotConfirms(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	admin := adminConn(t, dsn)
	w := acquire(t, dsn, "w")
	c, stop := startTail(t, eventlog.TailConfig{DSN: dsn, Mode: eventlog.ModeLogical, StatusInterval: 50 * time.Millisecond}, 0)
	for i := range 5 {
		mustAppend(t, w, ev("T", fmt.Sprintf(`{"i": %d}`, i)))
	}
	c.Wait(t, 5)
	lsn := query[string](t, admin, "SELECT pg_current_wal_lsn()::text")
	waitFor(t, 10*time.Second, "the slot to confirm "+lsn, func() bool {
		return query[int64](t, admin, `
			SELECT count(*) FROM pg_replication_slots
			WHERE database = current_database() AND temporary AND confirmed_flush_lsn >= $1::pg_lsn`, lsn) == 1
	})
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Tail returned %v; want context.Canceled", err)
	}
	waitNoSlots(t, admin)
}

// TestTailSurvivesKilledConnection: a tailer whose connections are
// terminated, and which cannot reconnect while events are appended (so
// it misses their notifications or stream), delivers them all once it is
// back, without repeating any.
func TestTailSurvivesKilledConnection(t *testing.T) {
	t.Parallel()
	eachMode(t, func(t *testing.T, mode eventlog.Mode) {
		ctx := testCtx(t)
		dsn := pgtest.NewDB(t)
		admin := adminConn(t, dsn)
		w := acquire(t, dsn, "w")
		c, stop := startTail(t, eventlog.TailConfig{DSN: dsn, Mode: mode}, 0)

		for i := range 10 {
			mustAppend(t, w, ev("T", fmt.Sprintf(`{"i": %d}`, i)))
		}
		c.Wait(t, 10)

		db := query[string](t, admin, "SELECT current_database()")
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
			return query[int64](t, admin, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)", pids) == 0
		})

		for i := range 10 {
			mustAppend(t, w, ev("T", fmt.Sprintf(`{"i": %d}`, 10+i)))
		}
		if n := len(c.Events()); n != 10 {
			t.Fatalf("tailer delivered %d events while it could not connect; want 10", n)
		}
		allow(true)

		got := c.Wait(t, 20)
		checkSeqs(t, got, 1, 20)
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Tail returned %v; want context.Canceled", err)
		}
		checkSeqs(t, c.Events(), 1, 20)
		waitNoSlots(t, admin)
	})
}
