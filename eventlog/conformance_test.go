package eventlog_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/eventlog/eventlogtest"
	"github.com/logq/logq/internal/pgtest"
)

// TestConformance runs the event log's suite on PostgreSQL, once per tail
// mode. Each test's database is left without a replication slot once its
// tails have stopped.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			eventlogtest.Run(t, func(t *testing.T) eventlogtest.Instance {
				log, dsn := newLog(t, mode)
				admin := adminConn(t, dsn)
				t.Cleanup(func() { noSlotsLeft(t, admin) }) // runs after the tails' cleanups
				return eventlogtest.Instance{Log: log, Writer: acquire(t, dsn, "writer")}
			})
		})
	}
}

// noSlotsLeft waits until the database has no replication slot left; it
// runs at cleanup, when the test's context is done.
func noSlotsLeft(t *testing.T, admin *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitFor(t, 10*time.Second, "replication slots to be dropped", func() bool {
		var n int
		err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()").Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
}

// newLog returns the log in a new database, tailed in mode, and its DSN.
func newLog(t *testing.T, mode eventlog.Mode) (*eventlog.DB, string) {
	t.Helper()
	dsn := pgtest.NewDB(t)
	return eventlog.NewDB(newPool(t, dsn), eventlog.TailConfig{
		DSN: dsn, Mode: mode, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel),
	}), dsn
}
