package eventlog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/logq/logq"
)

// DefaultLimit bounds Read and List when the caller passes no limit.
const DefaultLimit = 1000

// Read returns up to limit events with seq > after, in seq order
// (DefaultLimit when limit <= 0).
func Read(ctx context.Context, db *pgxpool.Pool, after int64, limit int) ([]logq.Event, error) {
	return readAfter(ctx, db, after, limit)
}

func readAfter(ctx context.Context, db querier, after int64, limit int) ([]logq.Event, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	events, err := queryEvents(ctx, db,
		"SELECT "+eventColumns+" FROM events WHERE seq > $1 ORDER BY seq LIMIT $2", after, limit)
	if err != nil {
		return nil, dbError(ctx, err, "eventlog: read events")
	}
	return events, nil
}

// Pages calls fn with every event of r after `after`, in seq order, in
// pages of up to limit events (DefaultLimit when limit <= 0), until the end
// of the log or, when until > 0, until the page that holds seq until. It
// reads the next page while fn handles the current one, so a replay takes
// about the longer of reading and folding rather than their sum. fn's
// error stops it and is returned as is.
func Pages(ctx context.Context, r EventReader, after, until int64, limit int, fn func([]logq.Event) error) error {
	if limit <= 0 {
		limit = DefaultLimit
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type page struct {
		events []logq.Event
		err    error
	}
	pages := make(chan page, 1)
	go func() {
		defer close(pages)
		for until <= 0 || after < until {
			events, err := r.ReadAfter(ctx, after, limit)
			select {
			case pages <- page{events, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(events) == 0 {
				return
			}
			after = events[len(events)-1].Seq
		}
	}()
	for p := range pages {
		if p.err != nil {
			return p.err
		}
		if len(p.events) == 0 {
			return nil
		}
		if err := fn(p.events); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Get returns the event with the given seq, or a logq.ENotFound error.
func Get(ctx context.Context, db *pgxpool.Pool, seq int64) (logq.Event, error) {
	events, err := queryEvents(ctx, db, "SELECT "+eventColumns+" FROM events WHERE seq = $1", seq)
	if err != nil {
		return logq.Event{}, dbError(ctx, err, "eventlog: get event")
	}
	if len(events) == 0 {
		return logq.Event{}, logq.Errorf(logq.ENotFound, "event %d not found", seq)
	}
	return events[0], nil
}

// LastSeq returns the seq of the last event, 0 when the log is empty.
func LastSeq(ctx context.Context, db *pgxpool.Pool) (int64, error) {
	var seq int64
	if err := db.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM events").Scan(&seq); err != nil {
		return 0, dbError(ctx, err, "eventlog: last seq")
	}
	return seq, nil
}

// Filter selects events for List. Zero fields do not filter.
type Filter struct {
	After  int64     // seq > After
	Until  int64     // seq <= Until
	Types  []string  // type is one of Types
	Since  time.Time // at >= Since
	Before time.Time // at < Before
	Limit  int       // at most Limit events; DefaultLimit when <= 0
}

// List returns the events matching f, in seq order.
func List(ctx context.Context, db *pgxpool.Pool, f Filter) ([]logq.Event, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.After > 0 {
		add("seq > $%d", f.After)
	}
	if f.Until > 0 {
		add("seq <= $%d", f.Until)
	}
	if len(f.Types) > 0 {
		add("type = ANY($%d)", f.Types)
	}
	if !f.Since.IsZero() {
		add("at >= $%d", f.Since)
	}
	if !f.Before.IsZero() {
		add("at < $%d", f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	sql := "SELECT " + eventColumns + " FROM events"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, limit)
	sql += fmt.Sprintf(" ORDER BY seq LIMIT $%d", len(args))
	events, err := queryEvents(ctx, db, sql, args...)
	if err != nil {
		return nil, dbError(ctx, err, "eventlog: list events")
	}
	return events, nil
}

// SaveSnapshot stores an encoded projection state as of seq (replacing any
// snapshot at the same seq).
func SaveSnapshot(ctx context.Context, db *pgxpool.Pool, seq int64, state []byte) error {
	if seq < 0 {
		return logq.Errorf(logq.EInvalid, "snapshot seq %d is negative", seq)
	}
	_, err := db.Exec(ctx, `
		INSERT INTO snapshots (seq, state) VALUES ($1, $2)
		ON CONFLICT (seq) DO UPDATE SET state = EXCLUDED.state, at = now()`, seq, state)
	if err != nil {
		return dbError(ctx, err, "eventlog: save snapshot")
	}
	return nil
}

// LatestSnapshotAtOrBefore returns the snapshot with the highest seq not
// after seq (to replay the state as of seq), or a logq.ENotFound error.
func LatestSnapshotAtOrBefore(ctx context.Context, db *pgxpool.Pool, seq int64) (int64, []byte, error) {
	var state []byte
	err := db.QueryRow(ctx, "SELECT seq, state FROM snapshots WHERE seq <= $1 ORDER BY seq DESC LIMIT 1", seq).Scan(&seq, &state)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, logq.Errorf(logq.ENotFound, "no snapshot")
	}
	if err != nil {
		return 0, nil, dbError(ctx, err, "eventlog: load snapshot")
	}
	return seq, state, nil
}
