package eventlog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logq/logq"
	"github.com/logq/logq/internal/pg"
)

// eventColumns is the column list every event query selects, in the order
// scanEvents expects.
const eventColumns = "seq, at, type, data, epoch"

// querier is what the read paths need: a pool or a single connection.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// queryEvents runs a query selecting eventColumns and collects the rows.
func queryEvents(ctx context.Context, db querier, sql string, args ...any) ([]logq.Event, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (logq.Event, error) {
		var e logq.Event
		var data []byte
		if err := row.Scan(&e.Seq, &e.At, &e.Type, &data, &e.Epoch); err != nil {
			return e, err
		}
		e.At = e.At.UTC()
		e.Data = data
		return e, nil
	})
}

// connect opens a single connection (not a pool) on dsn, naming it appName
// in pg_stat_activity unless the DSN already names it. configure, if not
// nil, adjusts the configuration first.
func connect(ctx context.Context, dsn, appName string, configure func(*pgx.ConnConfig)) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, logq.Errorf(logq.EInvalid, "invalid database url: %v", err)
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = appName
	}
	if configure != nil {
		configure(cfg)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, dbError(ctx, err, "eventlog: connect")
	}
	return conn, nil
}

// closeConn closes conn, bounded in time: the connection may be dead.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn.Close(ctx)
}

// dbError maps an error from pgx onto logq's vocabulary, so none leaks
// upward: the context's own error (as ETimeout or EUnavailable) when ctx is
// done, EUnavailable for a lost connection, EInternal for anything else.
// The cause stays in the chain for logs and errors.Is.
func dbError(ctx context.Context, err error, what string) error {
	switch {
	case ctx.Err() != nil:
		code := logq.EUnavailable
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			code = logq.ETimeout
		}
		return withCode(code, what, ctx.Err())
	case pg.IsConnectionError(err):
		return withCode(logq.EUnavailable, what, err)
	default:
		return logq.Internal(err, what)
	}
}

// withCode returns an error of the given code whose client-facing message
// is msg, keeping cause in the chain (for errors.Is and logs) but out of
// that message.
func withCode(code, msg string, cause error) error {
	return fmt.Errorf("%w: %w", &logq.Error{Code: code, Message: msg}, cause)
}
