package eventlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

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
	if binaryEventRows(rows.FieldDescriptions()) {
		return collectBinary(rows)
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

// A replay reads a million events; decoding their rows is a good part of
// it. When the columns come in PostgreSQL's binary format (as pgx asks for
// them), collectBinary decodes them straight from the wire: event types are
// interned (there are a handful) and the data of a page's events shares a
// few large buffers, so a row costs no allocation of its own.

// binaryEventRows reports whether fds are eventColumns in the formats pgx
// asks for: seq, at and epoch binary; type and data text (text is the same
// in both formats; jsonb's binary format is a version byte and its text).
func binaryEventRows(fds []pgconn.FieldDescription) bool {
	want := []uint32{pgtype.Int8OID, pgtype.TimestamptzOID, pgtype.TextOID, pgtype.JSONBOID, pgtype.Int8OID}
	if len(fds) != len(want) {
		return false
	}
	for i, fd := range fds {
		if fd.DataTypeOID != want[i] {
			return false
		}
		if (i == 0 || i == 1 || i == 4) && fd.Format != pgtype.BinaryFormatCode {
			return false
		}
	}
	return true
}

// pgEpochUnix is the zero of PostgreSQL's binary timestamps (2000-01-01
// UTC; they count microseconds from it), in Unix seconds.
const pgEpochUnix = 946684800

// eventTypes interns event type names.
var eventTypes sync.Map // string → string

func internType(b []byte) string {
	if v, ok := eventTypes.Load(string(b)); ok {
		return v.(string)
	}
	s := string(b)
	if len(s) <= 64 {
		eventTypes.Store(s, s)
	}
	return s
}

func collectBinary(rows pgx.Rows) ([]logq.Event, error) {
	defer rows.Close()
	var (
		out   []logq.Event
		arena []byte // the events' data, in chunks
	)
	bad := func(what string) ([]logq.Event, error) {
		return nil, fmt.Errorf("eventlog: malformed %s in an events row", what)
	}
	jsonbBinary := rows.FieldDescriptions()[3].Format == pgtype.BinaryFormatCode
	for rows.Next() {
		raw := rows.RawValues()
		if len(raw) != 5 || len(raw[0]) != 8 || len(raw[1]) != 8 || len(raw[4]) != 8 || raw[2] == nil || raw[3] == nil {
			return bad("column")
		}
		us := int64(binary.BigEndian.Uint64(raw[1]))
		if us == math.MaxInt64 || us == math.MinInt64 {
			return bad("timestamp") // ±infinity
		}
		data := raw[3]
		if jsonbBinary {
			if len(data) < 1 || data[0] != 1 { // jsonb binary: version 1, then the text
				return bad("jsonb")
			}
			data = data[1:]
		}
		if cap(arena)-len(arena) < len(data) {
			arena = make([]byte, 0, max(64<<10, len(data)))
		}
		start := len(arena)
		arena = append(arena, data...)
		out = append(out, logq.Event{
			Seq:   int64(binary.BigEndian.Uint64(raw[0])),
			At:    time.Unix(pgEpochUnix+us/1e6, us%1e6*1e3).UTC(),
			Type:  internType(raw[2]),
			Data:  arena[start:len(arena):len(arena)],
			Epoch: int64(binary.BigEndian.Uint64(raw[4])),
		})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
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
