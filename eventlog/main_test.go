package eventlog_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/logq/logq"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/eventlog/eventlogtest"
	"github.com/logq/logq/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var modes = []eventlog.Mode{eventlog.ModeNotify, eventlog.ModeLogical}

// eachMode runs test once per tail mode, in parallel.
func eachMode(t *testing.T, test func(t *testing.T, mode eventlog.Mode)) {
	t.Helper()
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			test(t, mode)
		})
	}
}

// testCtx is the test's context, bounded so a hung test fails rather than
// stalls the run.
func testCtx(t *testing.T) context.Context { return pgtest.Context(t, 2*time.Minute) }

// adminConn is a plain connection for the test's own inspection and
// sabotage, opened up front (some tests refuse new connections).
func adminConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(testCtx(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func acquire(t *testing.T, dsn, holder string) *eventlog.Writer {
	t.Helper()
	w, err := eventlog.Acquire(testCtx(t), dsn, holder)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(context.Background()) })
	return w
}

func mustAppend(t *testing.T, w *eventlog.Writer, events ...logq.Event) []logq.Event {
	t.Helper()
	stored, err := w.Append(testCtx(t), events...)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return stored
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// query returns the one value of a one-row query.
func query[T any](t *testing.T, conn *pgx.Conn, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := conn.QueryRow(testCtx(t), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// waitNoSlots waits until the database has no replication slot left (a
// temporary slot is dropped when its walsender exits, asynchronously).
func waitNoSlots(t *testing.T, admin *pgx.Conn) {
	t.Helper()
	waitFor(t, 10*time.Second, "replication slots to be dropped", func() bool {
		return query[int64](t, admin, "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()") == 0
	})
}

// startTail runs Tail in the background, collecting what it delivers.
// stop cancels it and returns what Tail returned; it also runs at cleanup.
func startTail(t *testing.T, cfg eventlog.TailConfig, after int64) (c *eventlogtest.Collector, stop func() error) {
	t.Helper()
	cfg.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	c = eventlogtest.NewCollector(0)
	return c, eventlogtest.StartTail(t, eventlog.NewDB(nil, cfg), after, c)
}

var (
	checkSeqs = eventlogtest.CheckSeqs
	sameEvent = eventlogtest.SameEvent
	ev        = eventlogtest.Event
)
