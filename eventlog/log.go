package eventlog

import (
	"context"
	"math"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/logq/logq"
)

// EventReader reads the event log by seq.
type EventReader interface {
	// ReadAfter returns up to limit events with seq > after, in seq order
	// and without gaps (DefaultLimit when limit <= 0); none past the end.
	ReadAfter(ctx context.Context, after int64, limit int) ([]logq.Event, error)
}

// Reader reads events and snapshots: what a replay needs ([StateAt]).
type Reader interface {
	EventReader
	// SnapshotAtOrBefore returns the snapshot with the highest seq not
	// after seq (its seq and encoded state), or a logq.ENotFound error.
	SnapshotAtOrBefore(ctx context.Context, seq int64) (snapSeq int64, state []byte, err error)
}

// Log is the event log as the servers use it: read, replayed from a
// snapshot, followed, snapshotted. [DB] implements it on PostgreSQL; the
// package eventlogtest holds the suite every implementation passes.
// Appending is the single writer's job ([Appender]).
type Log interface {
	Reader
	// Tail delivers every event with seq > after to fn, in seq order,
	// exactly once each, until ctx is done (it then returns ctx.Err()) or fn
	// returns an error (returned wrapped, so errors.Is finds it).
	Tail(ctx context.Context, after int64, fn func(logq.Event) error) error
	// SaveSnapshot stores an encoded state as of seq, replacing any at seq.
	SaveSnapshot(ctx context.Context, seq int64, state []byte) error
	// LastSeq returns the seq of the last event, 0 for an empty log.
	LastSeq(ctx context.Context) (int64, error)
}

// Appender appends events as the log's single writer; [Writer] is one.
// It returns the events as stored, with their seq, time and epoch.
type Appender interface {
	Append(ctx context.Context, events ...logq.Event) ([]logq.Event, error)
}

// ReadFunc adapts a function to an EventReader (a source of events that
// is not a database: a manager's GET /events).
type ReadFunc func(ctx context.Context, after int64, limit int) ([]logq.Event, error)

// ReadAfter calls f.
func (f ReadFunc) ReadAfter(ctx context.Context, after int64, limit int) ([]logq.Event, error) {
	return f(ctx, after, limit)
}

// DB is the event log in PostgreSQL: reads and snapshots through a pool,
// tails on their own connections as configured by a TailConfig.
type DB struct {
	pool *pgxpool.Pool
	tail TailConfig
}

var _ Log = (*DB)(nil)

// NewDB returns the log in pool's database, tailed as tail says (its DSN
// is the database's; Tail fails with logq.EInvalid when it is not set).
func NewDB(pool *pgxpool.Pool, tail TailConfig) *DB {
	return &DB{pool: pool, tail: tail}
}

// ReadAfter implements EventReader.
func (d *DB) ReadAfter(ctx context.Context, after int64, limit int) ([]logq.Event, error) {
	return readAfter(ctx, d.pool, after, limit)
}

// SnapshotAtOrBefore implements Reader.
func (d *DB) SnapshotAtOrBefore(ctx context.Context, seq int64) (int64, []byte, error) {
	return LatestSnapshotAtOrBefore(ctx, d.pool, seq)
}

// Tail implements Log by [Tail] with the DB's TailConfig.
func (d *DB) Tail(ctx context.Context, after int64, fn func(logq.Event) error) error {
	return Tail(ctx, d.tail, after, fn)
}

// SaveSnapshot implements Log.
func (d *DB) SaveSnapshot(ctx context.Context, seq int64, state []byte) error {
	return SaveSnapshot(ctx, d.pool, seq, state)
}

// LastSeq implements Log.
func (d *DB) LastSeq(ctx context.Context) (int64, error) { return LastSeq(ctx, d.pool) }

// latest is the seq bound that selects the newest snapshot.
const latest = math.MaxInt64
