package eventlog_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/logq/logq"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/eventlog/eventlogtest"
	"github.com/logq/logq/internal/pg"
	"github.com/logq/logq/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var modes = []eventlog.Mode{eventlog.ModeNotify, eventlog.ModeLogical}

// testCtx is the test's context, bounded so a hung test fails rather than
// stalls the run.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pg.Connect(testCtx(t), dsn, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

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

func queryInt(t *testing.T, conn *pgx.Conn, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(testCtx(t), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func queryString(t *testing.T, conn *pgx.Conn, sql string, args ...any) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(testCtx(t), sql, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// waitNoSlots waits until the database has no replication slot left (a
// temporary slot is dropped when its walsender exits, asynchronously).
func waitNoSlots(t *testing.T, admin *pgx.Conn) {
	t.Helper()
	waitFor(t, 10*time.Second, "replication slots to be dropped", func() bool {
		return queryInt(t, admin, "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()") == 0
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
