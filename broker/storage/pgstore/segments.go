package pgstore

// Segments. The messages table is partitioned by RANGE on (topic,
// partition, "offset") (migrations/0003_retention.sql): each partition's
// log is a run of segments, tables holding offsets [base, end) of it, like
// Kafka's log segment files, listed in message_segments. Retention drops
// whole segments (retention.go), so disk comes back at once, without
// DELETE, dead tuples or VACUUM.
//
// An INSERT or COPY routed to no segment fails, so segments are created
// ahead of the append path: on Claim (the segment for the next offset and
// the one after it) and before every Append whose messages would reach past
// the last segment, while keeping at least half a segment in reserve. Each
// is created empty and then attached (CREATE TABLE, then ALTER TABLE
// messages ATTACH PARTITION, which takes only SHARE UPDATE EXCLUSIVE on
// messages: appends and reads go on meanwhile).

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/logq/logq"
	"github.com/logq/logq/broker/storage"
)

// DefaultSegmentOffsets is the number of offsets per segment unless
// SetSegmentOffsets says otherwise: about 100 MB of 100-byte records.
const DefaultSegmentOffsets = 1 << 20

// segments is the Store's knowledge of the segments of the partitions it
// appends to: where the last one ends and the next offset, so that the
// append path asks the database only when it must create one.
type segments struct {
	mu    sync.Mutex
	size  int64
	parts map[segKey]*segState
	ddl   sync.Mutex // one segment creation at a time per Store

	loads, creates atomic.Int64 // database reads of a partition's segments, segments created (tests)
}

type segKey struct {
	topic     string
	partition int
}

type segState struct {
	end  int64 // exclusive end of the last segment known to exist
	next int64 // the partition's next offset, as last seen
}

// SetSegmentOffsets sets the number of offsets of each segment created from
// now on (n > 0); existing segments keep their bounds. Tests use a few.
func (s *Store) SetSegmentOffsets(n int64) {
	if n <= 0 {
		n = DefaultSegmentOffsets
	}
	s.seg.mu.Lock()
	s.seg.size = n
	s.seg.mu.Unlock()
}

func (g *segments) segmentSize() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.size <= 0 {
		return DefaultSegmentOffsets
	}
	return g.size
}

// state returns the cached state of a partition, nil if unknown.
func (g *segments) state(k segKey) (segState, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, ok := g.parts[k]
	if !ok {
		return segState{}, false
	}
	return *st, true
}

func (g *segments) set(k segKey, st segState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.parts == nil {
		g.parts = map[segKey]*segState{}
	}
	if cur, ok := g.parts[k]; ok {
		cur.end, cur.next = max(cur.end, st.end), max(cur.next, st.next)
		return
	}
	g.parts[k] = &st
}

func (g *segments) forget(k segKey) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.parts, k)
}

// claimed is Claim's hook: the partition is served from next on, so the
// segments for [next, next + one segment) are made to exist.
func (s *Store) claimed(ctx context.Context, topic string, partition int, next int64) error {
	k := segKey{topic, partition}
	s.seg.forget(k) // another store may have appended and created segments
	if _, _, err := s.loadSegments(ctx, k); err != nil {
		return dbError(err, "read segments")
	}
	if err := s.ensureSegments(ctx, k, next+s.seg.segmentSize()); err != nil {
		return dbError(err, "create segments")
	}
	return nil
}

// segmentsAhead is Append's hook: before the batches are appended, every
// offset they can be given lies in a segment, with half a segment to spare.
func (s *Store) segmentsAhead(ctx context.Context, batches []storage.Batch) error {
	size := s.seg.segmentSize()
	// One Append may carry several batches of a partition (idempotent
	// ones are not merged): what they add up to must fit.
	adding := make(map[segKey]int64, len(batches))
	for _, b := range batches {
		adding[segKey{b.Topic, b.Partition}] += int64(len(b.Msgs))
	}
	for k, n := range adding {
		st, ok := s.seg.state(k)
		if !ok {
			var err error
			if st, ok, err = s.loadSegments(ctx, k); err != nil {
				return dbError(err, "read segments")
			}
			if !ok {
				continue // never claimed: Append's UPDATE matches no row
			}
		}
		upTo := st.next + n + size/2
		if upTo <= st.end {
			continue
		}
		if err := s.ensureSegments(ctx, k, upTo); err != nil {
			return dbError(err, "create segments")
		}
	}
	return nil
}

// appendedTo is Append's hook after a commit: the partitions' next offsets
// (the cache keeps the highest it was told, so a duplicate's original
// offset moves nothing).
func (s *Store) appendedTo(batches []storage.Batch, res []storage.AppendResult) {
	for i, b := range batches {
		if i < len(res) && res[i].Err == nil && res[i].Base != storage.FencedBase {
			s.seg.set(segKey{b.Topic, b.Partition}, segState{next: res[i].Base + int64(len(b.Msgs))})
		}
	}
}

// loadSegments reads a partition's next offset and the end of its last
// segment (its log start when it has none) into the cache; found is false
// for a partition never claimed.
func (s *Store) loadSegments(ctx context.Context, k segKey) (st segState, found bool, err error) {
	s.seg.loads.Add(1)
	err = s.db.QueryRow(ctx, `
		SELECT p.next_offset,
		       coalesce((SELECT max(end_offset) FROM message_segments g WHERE g.topic = p.topic AND g.partition = p.partition),
		                p.log_start_offset)
		FROM partitions p WHERE p.topic = $1 AND p.partition = $2`, k.topic, k.partition).Scan(&st.next, &st.end)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, false, nil
	}
	if err != nil {
		return st, false, err
	}
	s.seg.set(k, st)
	st, _ = s.seg.state(k)
	return st, true, nil
}

// ensureSegments makes a known partition's segments reach offset upTo - 1:
// the missing ones are created one after the other, each [end, end +
// segment size).
func (s *Store) ensureSegments(ctx context.Context, k segKey, upTo int64) error {
	s.seg.ddl.Lock()
	defer s.seg.ddl.Unlock()
	st, _ := s.seg.state(k) // again: a concurrent call may have done it
	size := s.seg.segmentSize()
	for st.end < upTo {
		base := st.end
		if err := s.createSegment(ctx, k, base, base+size); err != nil {
			return err
		}
		s.seg.creates.Add(1)
		st.end = base + size
		s.seg.set(k, segState{end: st.end})
	}
	return nil
}

// createSegment creates the segment [base, end) of a partition and
// attaches it to messages, in one transaction with its catalog row. A
// segment that exists already (another store made it) is no error.
func (s *Store) createSegment(ctx context.Context, k segKey, base, end int64) error {
	name := segmentName(k, base)
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// ATTACH waits for SHARE UPDATE EXCLUSIVE on messages: only another
		// attach or a retention drop (milliseconds) holds a conflicting lock.
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '5s'"); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM message_segments WHERE relname = $1)`, name).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return nil
		}
		id := pgx.Identifier{name}.Sanitize()
		stmts := []string{
			fmt.Sprintf(`CREATE TABLE %s (LIKE messages INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`, id),
			fmt.Sprintf(`ALTER TABLE messages ATTACH PARTITION %s FOR VALUES FROM (%s, %d, %d) TO (%s, %d, %d)`,
				id, quoteLiteral(k.topic), k.partition, base, quoteLiteral(k.topic), k.partition, end),
		}
		for _, q := range stmts {
			// Simple protocol: each segment's DDL is a new text, not worth a
			// prepared statement in every connection's cache.
			if _, err := tx.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO message_segments (topic, partition, base_offset, end_offset, relname) VALUES ($1, $2, $3, $4, $5)`,
			k.topic, k.partition, base, end, name)
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P07" || pgErr.Code == "23505" || pgErr.Code == "42P17") {
		// 42P07 duplicate table, 23505 its catalog row, 42P17 overlapping
		// bounds: a concurrent store created it first. Its bounds are the
		// catalog's; forget ours.
		s.seg.forget(k)
		return logq.Errorf(logq.EUnavailable, "partition %s/%d: segment created concurrently; retry", k.topic, k.partition)
	}
	return err
}

// segmentName is the table name of a partition's segment from base: short
// (PostgreSQL names are at most 63 bytes, topics up to 249) and unique by
// the catalog's UNIQUE(relname), the same scheme migration 3 uses.
func segmentName(k segKey, base int64) string {
	return fmt.Sprintf("msg_%s_%d_%d", md5Prefix(k.topic), k.partition, base)
}

// quoteLiteral quotes s as an SQL string literal (DDL takes no parameters).
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// md5Prefix is the first 12 hex digits of the MD5 of s, as SQL's
// left(md5(s), 12).
func md5Prefix(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])[:12]
}

// isNoSegment reports whether err is an INSERT/COPY routed to no segment
// (SQLSTATE 23514 "no partition of relation found for row").
func isNoSegment(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514" && strings.Contains(pgErr.Message, "no partition")
}

func (g *segments) forgetAll(batches []storage.Batch) {
	for _, b := range batches {
		g.forget(segKey{b.Topic, b.Partition})
	}
}
