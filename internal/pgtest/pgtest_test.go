package pgtest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/logq/logq/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestNewDBIsIsolatedAndHasSchema(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t, time.Minute)
	a, b := pgtest.NewDB(t), pgtest.NewDB(t)
	if a == b {
		t.Fatalf("NewDB returned the same database twice: %s", a)
	}
	ca := pgtest.Pool(t, a, 1)
	if _, err := ca.Exec(ctx, `INSERT INTO events (seq, at, type, data, epoch) VALUES (1, now(), 'X', '{}', 1)`); err != nil {
		t.Fatal(err)
	}
	var wal string
	if err := ca.QueryRow(ctx, "SHOW wal_level").Scan(&wal); err != nil || wal != "logical" {
		t.Fatalf("wal_level = %q, %v; want logical", wal, err)
	}
	cb := pgtest.Pool(t, b, 1)
	var n int
	if err := cb.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil || n != 0 {
		t.Fatalf("second database sees %d events (%v); want 0", n, err)
	}
}

func TestWithDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u@/postgres?host=/tmp/x": "postgres://u@/other?host=/tmp/x",
		"postgres://u:p@127.0.0.1:5432/a":    "postgres://u:p@127.0.0.1:5432/other",
		"host=/tmp/x dbname=postgres user=u": "host=/tmp/x user=u dbname=other",
	} {
		if got := pgtest.WithDatabase(in, "other"); got != want {
			t.Errorf("WithDatabase(%q) = %q; want %q", in, got, want)
		}
	}
}

// TestContextLiveInCleanup: a test's Context has its deadline and is still
// live in the cleanups registered after it (t.Context is not).
func TestContextLiveInCleanup(t *testing.T) {
	var ctx context.Context
	t.Run("test", func(t *testing.T) {
		ctx = pgtest.Context(t, time.Minute)
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > time.Minute {
			t.Errorf("deadline %v, %v; want within a minute", dl, ok)
		}
		t.Cleanup(func() {
			if err := ctx.Err(); err != nil {
				t.Errorf("context done in a cleanup: %v", err)
			}
		})
	})
	if ctx.Err() == nil {
		t.Error("context still live after the test ended")
	}
}
