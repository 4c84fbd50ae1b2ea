package eventlog_test

import (
	"testing"

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
	eachMode(t, func(t *testing.T, mode eventlog.Mode) {
		eventlogtest.Run(t, func(t *testing.T) eventlogtest.Instance {
			log, dsn := newLog(t, mode)
			admin := adminConn(t, dsn)
			t.Cleanup(func() { waitNoSlots(t, admin) }) // runs after the tails' cleanups
			return eventlogtest.Instance{Log: log, Writer: acquire(t, dsn, "writer")}
		})
	})
}

// newLog returns the log in a new database, tailed in mode, and its DSN.
func newLog(t *testing.T, mode eventlog.Mode) (*eventlog.DB, string) {
	t.Helper()
	dsn := pgtest.NewDB(t)
	return eventlog.NewDB(pgtest.Pool(t, dsn, 4), eventlog.TailConfig{
		DSN: dsn, Mode: mode, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel),
	}), dsn
}
