package pgtest_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/logq/logq/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestNewDBIsIsolatedAndHasSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := pgtest.NewDB(t), pgtest.NewDB(t)
	if a == b {
		t.Fatalf("NewDB returned the same database twice: %s", a)
	}
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	if _, err := ca.Exec(ctx, `INSERT INTO events (seq, at, type, data, epoch) VALUES (1, now(), 'X', '{}', 1)`); err != nil {
		t.Fatal(err)
	}
	var wal string
	if err := ca.QueryRow(ctx, "SHOW wal_level").Scan(&wal); err != nil || wal != "logical" {
		t.Fatalf("wal_level = %q, %v; want logical", wal, err)
	}
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
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
