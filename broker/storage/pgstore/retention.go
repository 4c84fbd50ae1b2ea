package pgstore

// Retention (storage.Retainer): the oldest closed segments of a partition
// that its policy no longer keeps are detached from messages and dropped,
// each in one short transaction that also moves the partition's log start
// offset to the segment's end, fenced by the partition's epoch.
//
// The drop takes ACCESS EXCLUSIVE on messages (DETACH without CONCURRENTLY;
// CONCURRENTLY refuses a transaction block, and the log start must move in
// the same transaction as the drop), but only under a short lock_timeout:
// an append waits at most that long behind it, once per dropped segment,
// and a drop that cannot get the lock gives up and is tried again by the
// next retention step.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logq/logq"
	"github.com/logq/logq/broker/storage"
)

// dropLockTimeout bounds how long a segment drop waits for messages'
// lock, and so how long an append can wait behind a waiting drop.
const dropLockTimeout = "100ms"

var _ storage.Retainer = (*Store)(nil)

type segmentRow struct {
	storage.Segment
	relname string
}

// Retain implements storage.Retainer.
func (s *Store) Retain(ctx context.Context, topic string, partition int, epoch int64, policy storage.RetentionPolicy, now time.Time, maxSegments int) (storage.RetainResult, error) {
	var res storage.RetainResult
	var stored, next int64
	err := s.db.QueryRow(ctx, `SELECT epoch, next_offset, log_start_offset FROM partitions WHERE topic = $1 AND partition = $2`,
		topic, partition).Scan(&stored, &next, &res.LogStart)
	if errors.Is(err, pgx.ErrNoRows) {
		return res, logq.Errorf(logq.ENotFound, "partition %s/%d has no storage", topic, partition)
	}
	if err != nil {
		return res, dbError(err, "retention")
	}
	if stored != epoch {
		return res, storage.FencedError(topic, partition, epoch)
	}
	if policy.Unlimited() || maxSegments <= 0 {
		return res, nil
	}
	segs, err := s.segmentRows(ctx, topic, partition)
	if err != nil {
		return res, dbError(err, "retention")
	}
	var total int64
	for _, g := range segs {
		total += g.TableBytes + g.IndexBytes
	}
	for _, g := range segs {
		if g.End > next {
			break // the active segment, and those ahead of it, stay
		}
		size := g.TableBytes + g.IndexBytes
		due := policy.MaxBytes > 0 && total-size >= policy.MaxBytes
		if !due && policy.MaxAge > 0 {
			newest, ok, err := s.newestTimestamp(ctx, g.relname)
			if err != nil {
				return res, dbError(err, "retention")
			}
			due = !ok || newest.Before(now.Add(-policy.MaxAge))
		}
		if !due {
			break // segments are dropped oldest first only
		}
		if res.Dropped == maxSegments {
			res.More = true
			break
		}
		start, err := s.dropSegment(ctx, topic, partition, epoch, g)
		if err != nil {
			return res, err
		}
		res.Dropped++
		res.LogStart = start
		total -= size
	}
	return res, nil
}

// newestTimestamp returns the append time (produced_at) of a segment's
// last record, by offset: an index lookup, and append times follow commit
// order, so it is the segment's newest. Retention counts from the append
// time, not from the record timestamp a producer may set (ts): an old
// timestamp must not expire a record the moment it is stored, nor a future
// one keep a segment forever. ok is false for an empty segment.
func (s *Store) newestTimestamp(ctx context.Context, relname string) (time.Time, bool, error) {
	var ts time.Time
	err := s.db.QueryRow(ctx, fmt.Sprintf(`SELECT produced_at FROM %s ORDER BY "offset" DESC LIMIT 1`,
		pgx.Identifier{relname}.Sanitize()), pgx.QueryExecModeSimpleProtocol).Scan(&ts)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	return ts, err == nil, err
}

// dropSegment detaches and drops one segment and moves the log start
// offset past it, in one transaction, fenced by epoch. It returns the new
// log start offset.
func (s *Store) dropSegment(ctx context.Context, topic string, partition int, epoch int64, g segmentRow) (int64, error) {
	var start int64
	id := pgx.Identifier{g.relname}.Sanitize()
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '"+dropLockTimeout+"'"); err != nil {
			return err
		}
		// messages first, then the partition row: the order appends take
		// them in (an INSERT locks its tables before it runs).
		if _, err := tx.Exec(ctx, `LOCK TABLE messages IN ACCESS EXCLUSIVE MODE`); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `
			UPDATE partitions SET log_start_offset = GREATEST(log_start_offset, $4)
			WHERE topic = $1 AND partition = $2 AND epoch = $3
			RETURNING log_start_offset`, topic, partition, epoch, g.End).Scan(&start)
		if errors.Is(err, pgx.ErrNoRows) {
			return storage.FencedError(topic, partition, epoch)
		}
		if err != nil {
			return err
		}
		for _, q := range []string{
			`ALTER TABLE messages DETACH PARTITION ` + id,
			`DROP TABLE ` + id,
		} {
			// Simple protocol: each segment's DDL is a new text, not worth a
			// prepared statement in every connection's cache.
			if _, err := tx.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `DELETE FROM message_segments WHERE relname = $1`, g.relname)
		return err
	})
	if isLockTimeout(err) {
		return 0, logq.Errorf(logq.EUnavailable, "partition %s/%d: segment drop did not get its lock in %s; retrying later", topic, partition, dropLockTimeout)
	}
	if err != nil {
		return 0, dbError(err, "drop segment")
	}
	return start, nil
}

// LogStart implements storage.Retainer.
func (s *Store) LogStart(ctx context.Context, topic string, partition int) (start, hw int64, err error) {
	err = s.db.QueryRow(ctx, `SELECT log_start_offset, next_offset FROM partitions WHERE topic = $1 AND partition = $2`,
		topic, partition).Scan(&start, &hw)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, logq.Errorf(logq.ENotFound, "partition %s/%d has no storage", topic, partition)
	}
	if err != nil {
		return 0, 0, dbError(err, "log start")
	}
	return start, hw, nil
}

// Segments implements storage.Retainer.
func (s *Store) Segments(ctx context.Context, topic string, partition int) ([]storage.Segment, error) {
	rows, err := s.segmentRows(ctx, topic, partition)
	if err != nil {
		return nil, dbError(err, "segments")
	}
	out := make([]storage.Segment, len(rows))
	for i, r := range rows {
		out[i] = r.Segment
	}
	return out, nil
}

func (s *Store) segmentRows(ctx context.Context, topic string, partition int) ([]segmentRow, error) {
	rows, err := s.db.Query(ctx, `
		SELECT base_offset, end_offset, relname,
		       coalesce(pg_table_size(to_regclass(quote_ident(relname))), 0),
		       coalesce(pg_indexes_size(to_regclass(quote_ident(relname))), 0)
		FROM message_segments WHERE topic = $1 AND partition = $2
		ORDER BY base_offset`, topic, partition)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (segmentRow, error) {
		var g segmentRow
		err := row.Scan(&g.Base, &g.End, &g.relname, &g.TableBytes, &g.IndexBytes)
		return g, err
	})
}
