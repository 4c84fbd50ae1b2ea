// Package pgstore is the broker's storage.Store on PostgreSQL, and the only
// code that writes SQL for the data plane: tables partitions, messages,
// consumer_offsets and producer_state (migrations/ in the root package).
// Every method maps pgx errors onto logq's error vocabulary.
//
// An append allocates its offsets inside its own transaction, under the
// partition row's lock (UPDATE partitions SET next_offset = next_offset + n
// WHERE ... AND epoch = the batch's), and inserts the messages at those
// offsets in the same transaction: offsets are gap-free and in commit order
// per partition, and a stale epoch matches no row, so nothing is stored.
//
// An Append holding an idempotent batch takes a path of its own: decided
// from the store's memory of the producers and stored with their new state
// in one statement conditioned on the partition's version (producers.go),
// or, when memory cannot decide it, one explicit transaction that locks
// the partition rows, reads the producers' state, stores the batches it
// accepts (by the statement or COPY below) and writes the state back
// (idempotent.go).
//
// Fast paths stand beside the general ones, each counted (Store.paths) so
// that a test fails when it is bypassed: one statement (UPDATE + INSERT from
// unnest) for a single partition's batch, COPY for batches of at least
// CopyThreshold messages, decoding message rows straight from pgx's binary
// wire values instead of its generic Scan, and creating a consumer's
// position row once per Store rather than before every consume.
package pgstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/logq/logq"
	"github.com/logq/logq/broker/storage"
	"github.com/logq/logq/internal/pg"
)

// CopyThreshold is the batch size (messages, over all partitions of one
// Append) from which messages are written with COPY inside an explicit
// transaction; smaller batches go in a single INSERT ... SELECT FROM unnest
// statement (one round trip), the faster of the two below a few thousand
// rows.
const CopyThreshold = 4096

// Store is storage.Store on a PostgreSQL pool holding logq's schema.
type Store struct {
	db    *pgxpool.Pool
	paths paths

	mu        sync.Mutex
	consumers map[storage.ConsumerKey]struct{} // consumer_offsets rows known to exist

	seg       segments      // retention: the segments of messages (segments.go)
	producers producerCache // the idempotent fast path's memory (producers.go)
}

// paths counts the requests each append and scan path served.
type paths struct {
	insertOne, insert, copy atomic.Int64 // Append
	idempotent              atomic.Int64 // Append with an idempotent batch, by the locked path
	idempotentFast          atomic.Int64 // the same decided from memory, in one statement
	binaryScan, scan        atomic.Int64 // message rows
	consumerRows            atomic.Int64 // ensureConsumer's INSERTs
}

var _ storage.Store = (*Store)(nil)

// New returns a Store on db. The pool stays the caller's to close.
func New(db *pgxpool.Pool) *Store {
	return &Store{db: db, consumers: map[storage.ConsumerKey]struct{}{}}
}

// Claim implements storage.Store.
func (s *Store) Claim(ctx context.Context, topic string, partition int, owner, epoch int64) (int64, error) {
	var next int64
	// The bump waits for the partition row's lock, which an append of the
	// previous owner holds until it commits. A previous owner that stopped
	// mid-append (SIGSTOP, a paused VM) would hold it indefinitely, so the
	// wait is bounded: the claim fails as unavailable and the reconciler
	// retries it, meanwhile taking over the other partitions.
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '1s'"); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `
		INSERT INTO partitions (topic, partition, epoch, owner) VALUES ($1, $2, $3, $4)
		ON CONFLICT (topic, partition) DO UPDATE SET epoch = EXCLUDED.epoch, owner = EXCLUDED.owner
		WHERE partitions.epoch < EXCLUDED.epoch
		RETURNING next_offset`, topic, partition, epoch, owner).Scan(&next)
	})
	s.producers.forget(segKey{topic, partition}) // a new version, whatever happens
	if err == nil {
		return next, s.claimed(ctx, topic, partition, next)
	}
	if isLockTimeout(err) {
		return 0, logq.Errorf(logq.EUnavailable, "partition %s/%d is locked by an append still in flight; retrying", topic, partition)
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, dbError(err, "claim partition")
	}
	// The row exists with an epoch >= ours: ours already (a restart), or a
	// newer owner's.
	var curEpoch, curOwner int64
	err = s.db.QueryRow(ctx, `SELECT epoch, owner, next_offset FROM partitions WHERE topic = $1 AND partition = $2`,
		topic, partition).Scan(&curEpoch, &curOwner, &next)
	if err != nil {
		return 0, dbError(err, "claim partition")
	}
	if curEpoch == epoch && curOwner == owner {
		return next, s.claimed(ctx, topic, partition, next)
	}
	return 0, logq.Errorf(logq.EFenced, "partition %s/%d is at epoch %d (broker %d); epoch %d is stale",
		topic, partition, curEpoch, curOwner, epoch)
}

// Append implements storage.Store: offsets are allocated under each
// partition row's lock (UPDATE partitions ... WHERE epoch = the batch's),
// and the messages inserted in the same transaction. Batches without
// idempotence take the one-statement or COPY paths; an Append with an
// idempotent batch takes appendIdempotent, one explicit transaction that
// locks the partition rows, reads the producers' state, stores the batches
// it accepts and writes the state back.
func (s *Store) Append(ctx context.Context, batches []storage.Batch) ([]storage.AppendResult, error) {
	total, idem := 0, false
	for _, b := range batches {
		if len(b.Msgs) == 0 {
			return nil, logq.Errorf(logq.EInvalid, "no messages")
		}
		if b.Idem != nil {
			idem = true
			if b.Idem.BaseSequence < 0 || b.Idem.Epoch < 0 {
				return nil, logq.Errorf(logq.EInvalid, "sequence and producer epoch must not be negative")
			}
		}
		total += len(b.Msgs)
	}
	if err := s.segmentsAhead(ctx, batches); err != nil { // retention: segments exist first
		return nil, err
	}
	var (
		bases []int64
		err   error
	)
	switch {
	case len(batches) == 0:
		return nil, nil
	case idem:
		res, fast, err := s.appendIdempotentFast(ctx, batches, total)
		if !fast {
			s.paths.idempotent.Add(1)
			res, err = s.appendIdempotent(ctx, batches, total)
		}
		if err != nil {
			s.producers.forgetAll(batches)
			return nil, s.appendError(batches, err)
		}
		s.appendedTo(batches, res) // retention
		return res, nil
	case total >= CopyThreshold:
		s.paths.copy.Add(1)
		bases, err = s.appendCopy(ctx, batches)
	case len(batches) == 1:
		s.paths.insertOne.Add(1)
		var base int64
		base, err = s.appendInsertOne(ctx, batches[0])
		if errors.Is(err, pgx.ErrNoRows) {
			base, err = storage.FencedBase, nil
		}
		bases = []int64{base}
	default:
		s.paths.insert.Add(1)
		bases, err = s.appendInsert(ctx, s.db, batches)
	}
	if err != nil {
		s.producers.forgetAll(batches)
		return nil, s.appendError(batches, err)
	}
	res := results(batches, bases)
	s.appendedTo(batches, res) // retention
	for i, b := range batches {
		k := segKey{b.Topic, b.Partition}
		if res[i].Err != nil {
			s.producers.forget(k)
		} else {
			s.producers.appended(k, b.Epoch, res[i].Base, int64(len(b.Msgs)))
		}
	}
	return res, nil
}

// appendError is the error of a failed Append: a missing segment (the
// segment cache was wrong; it is read again next time) is retryable.
func (s *Store) appendError(batches []storage.Batch, err error) error {
	if isNoSegment(err) {
		s.seg.forgetAll(batches)
		err = fmt.Errorf("%w: %w", logq.Errorf(logq.EUnavailable, "append: a segment of the log was missing; retry"), err)
	}
	return dbError(err, "append")
}

// results turns bases into Append's answers, FencedError for FencedBase.
func results(batches []storage.Batch, bases []int64) []storage.AppendResult {
	out := make([]storage.AppendResult, len(bases))
	for i, base := range bases {
		out[i].Base = base
		if base == storage.FencedBase {
			b := batches[i]
			out[i].Err = storage.FencedError(b.Topic, b.Partition, b.Epoch)
		}
	}
	return out
}

// querier is what the append statements run on: the pool (their own
// implicit transaction) or an explicit transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// columns are messages as column arrays, for unnest. headers and ts are
// nil (a NULL array, which unnest pads with NULLs) when no message has
// any: the common case costs nothing for them.
type columns struct {
	producers []int64
	keys      [][]byte
	values    [][]byte
	headers   [][]byte
	ts        []pgtype.Timestamptz
}

func (c *columns) add(m storage.Message, at int) {
	v := m.Value
	if v == nil {
		v = []byte{} // an empty value, not NULL
	}
	c.producers, c.keys, c.values = append(c.producers, m.ProducerID), append(c.keys, m.Key), append(c.values, v)
	if len(m.Headers) > 0 {
		if c.headers == nil {
			c.headers = make([][]byte, at, cap(c.values))
		}
		c.headers = append(c.headers, encodeHeaders(m.Headers))
	} else if c.headers != nil {
		c.headers = append(c.headers, nil)
	}
	if !m.Timestamp.IsZero() {
		if c.ts == nil {
			c.ts = make([]pgtype.Timestamptz, at, cap(c.values))
		}
		c.ts = append(c.ts, pgtype.Timestamptz{Time: m.Timestamp, Valid: true})
	} else if c.ts != nil {
		c.ts = append(c.ts, pgtype.Timestamptz{})
	}
}

func messageColumns(msgs []storage.Message) columns {
	c := columns{producers: make([]int64, 0, len(msgs)), keys: make([][]byte, 0, len(msgs)), values: make([][]byte, 0, len(msgs))}
	for i, m := range msgs {
		c.add(m, i)
	}
	return c
}

// appendInsertOne appends to one partition in one statement: the UPDATE
// allocates the offsets (and returns no row when fenced, which inserts
// nothing) and the INSERT reads them; both run in the statement's
// implicit transaction.
func (s *Store) appendInsertOne(ctx context.Context, b storage.Batch) (int64, error) {
	c := messageColumns(b.Msgs)
	var base int64
	err := s.db.QueryRow(ctx, `
		WITH p AS (
			UPDATE partitions SET next_offset = next_offset + $4, max_value_bytes = greatest(max_value_bytes, $10)
			WHERE topic = $1 AND partition = $2 AND epoch = $3
			RETURNING next_offset - $4 AS base
		), ins AS (
			INSERT INTO messages (topic, partition, "offset", produced_at, ts, producer_id, key, value, headers)
			SELECT $1, $2, p.base + m.ord - 1, now(), coalesce(m.ts, now()), m.producer_id, m.key, m.value, m.headers
			FROM p, unnest($5::bigint[], $6::bytea[], $7::bytea[], $8::bytea[], $9::timestamptz[])
				WITH ORDINALITY AS m(producer_id, key, value, headers, ts, ord)
		)
		SELECT base FROM p`,
		b.Topic, b.Partition, b.Epoch, int64(len(b.Msgs)), c.producers, c.keys, c.values, c.headers, c.ts, maxValue(b.Msgs)).Scan(&base)
	return base, err
}

// appendInsert is appendInsertOne for several partitions: one UPDATE
// allocates every batch's offsets (skipping fenced partitions) and one
// INSERT stores the messages of the batches it allocated for.
func (s *Store) appendInsert(ctx context.Context, q querier, batches []storage.Batch) ([]int64, error) {
	rows, err := q.Query(ctx, insertSQL, insertArgs(batches)...)
	if err != nil {
		return nil, err
	}
	return scanBases(rows, len(batches))
}

const insertSQL = `
		WITH p AS (
			UPDATE partitions p SET next_offset = p.next_offset + b.n, max_value_bytes = greatest(p.max_value_bytes, b.maxv)
			FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $12::int[]) WITH ORDINALITY AS b(topic, partition, epoch, n, maxv, i)
			WHERE p.topic = b.topic AND p.partition = b.partition AND p.epoch = b.epoch
			RETURNING b.i, p.topic, p.partition, p.next_offset - b.n AS base
		), ` + insertMessagesCTE + `
		SELECT i, base FROM p`

// insertMessagesCTE stores the messages ($5 to $11, as insertArgs gives
// them) of the batches CTE p allocated offsets for (p: i, topic,
// partition, base).
const insertMessagesCTE = `ins AS (
			INSERT INTO messages (topic, partition, "offset", produced_at, ts, producer_id, key, value, headers)
			SELECT p.topic, p.partition, p.base + m.idx, now(), coalesce(m.ts, now()), m.producer_id, m.key, m.value, m.headers
			FROM unnest($5::bigint[], $6::bigint[], $7::bigint[], $8::bytea[], $9::bytea[], $10::bytea[], $11::timestamptz[])
				AS m(batch, idx, producer_id, key, value, headers, ts)
			JOIN p ON p.i = m.batch
		)`

// insertArgs are insertSQL's arguments for batches.
func insertArgs(batches []storage.Batch) []any {
	var (
		topics           []string
		parts, maxv      []int32
		epochs, counts   []int64
		batchOf, indexOf []int64
		c                columns
	)
	for i, b := range batches {
		topics, parts = append(topics, b.Topic), append(parts, int32(b.Partition))
		epochs, counts = append(epochs, b.Epoch), append(counts, int64(len(b.Msgs)))
		maxv = append(maxv, maxValue(b.Msgs))
		for j, m := range b.Msgs {
			batchOf, indexOf = append(batchOf, int64(i+1)), append(indexOf, int64(j))
			c.add(m, len(c.values))
		}
	}
	return []any{topics, parts, epochs, counts, batchOf, indexOf, c.producers, c.keys, c.values, c.headers, c.ts, maxv}
}

// maxValue is the size of the largest value of msgs, for the partition
// row's max_value_bytes (bounded reads: boundedReadSQL).
func maxValue(msgs []storage.Message) int32 {
	n := 0
	for _, m := range msgs {
		n = max(n, len(m.Value))
	}
	return int32(min(n, math.MaxInt32))
}

// scanBases reads (ordinal, base) rows into bases by batch, FencedBase for
// the batches without a row.
func scanBases(rows pgx.Rows, n int) ([]int64, error) {
	defer rows.Close()
	bases := make([]int64, n)
	for i := range bases {
		bases[i] = storage.FencedBase
	}
	for rows.Next() {
		var i, base int64
		if err := rows.Scan(&i, &base); err != nil {
			return nil, err
		}
		bases[i-1] = base
	}
	return bases, rows.Err()
}

// appendCopy is Append for large batches: the same UPDATE, then COPY of
// the messages of the batches it allocated for, in an explicit
// transaction.
func (s *Store) appendCopy(ctx context.Context, batches []storage.Batch) ([]int64, error) {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	bases, err := copyIn(ctx, tx, batches)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return bases, nil
}

var messageCopyColumns = []string{"topic", "partition", "offset", "produced_at", "ts", "producer_id", "key", "value", "headers"}

// copier is what copyIn runs on: a transaction, or a connection inside
// one.
type copier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

// copyIn allocates the batches' offsets and COPYs their messages, in tx.
func copyIn(ctx context.Context, tx copier, batches []storage.Batch) ([]int64, error) {
	var (
		topics         []string
		parts, maxv    []int32
		epochs, counts []int64
	)
	for _, b := range batches {
		topics, parts = append(topics, b.Topic), append(parts, int32(b.Partition))
		epochs, counts = append(epochs, b.Epoch), append(counts, int64(len(b.Msgs)))
		maxv = append(maxv, maxValue(b.Msgs))
	}
	rows, err := tx.Query(ctx, `
		UPDATE partitions p SET next_offset = p.next_offset + b.n, max_value_bytes = greatest(p.max_value_bytes, b.maxv)
		FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $5::int[]) WITH ORDINALITY AS b(topic, partition, epoch, n, maxv, i)
		WHERE p.topic = b.topic AND p.partition = b.partition AND p.epoch = b.epoch
		RETURNING b.i, p.next_offset - b.n, now()`, topics, parts, epochs, counts, maxv)
	if err != nil {
		return nil, err
	}
	bases := make([]int64, len(batches))
	for i := range bases {
		bases[i] = storage.FencedBase
	}
	var now time.Time // the transaction's start, as now() in appendInsert
	for rows.Next() {
		var i, base int64
		if err := rows.Scan(&i, &base, &now); err != nil {
			rows.Close()
			return nil, err
		}
		bases[i-1] = base
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var src [][]any
	for i, b := range batches {
		if bases[i] == storage.FencedBase {
			continue
		}
		for j, m := range b.Msgs {
			ts := now
			if !m.Timestamp.IsZero() {
				ts = m.Timestamp
			}
			v := m.Value
			if v == nil {
				v = []byte{}
			}
			var h []byte
			if len(m.Headers) > 0 {
				h = encodeHeaders(m.Headers)
			}
			src = append(src, []any{b.Topic, int32(b.Partition), bases[i] + int64(j), now, ts, m.ProducerID, m.Key, v, h})
		}
	}
	if len(src) == 0 {
		return bases, nil // every partition fenced: nothing to store
	}
	if _, err = tx.CopyFrom(ctx, pgx.Identifier{"messages"}, messageCopyColumns, pgx.CopyFromRows(src)); err != nil {
		return nil, err
	}
	return bases, nil
}

// Read implements storage.Store.
func (s *Store) Read(ctx context.Context, topic string, partition int, from int64, limit, maxBytes int) ([]storage.StoredMessage, error) {
	f, err := s.Fetch(ctx, topic, partition, from, limit, maxBytes)
	return f.Messages, err
}

// boundedReadSQL is the SELECT of the messages of partition (topic,
// partition) from offset from on, in offset order: at most limit rows, and
// only as many as fit in maxBytes of values (the first always). Each
// argument is the SQL of its value ($n, or a subquery). Two branches, of
// which the statement runs one, decided once from the partition row's
// max_value_bytes: when n = least(limit, maxBytes / max_value_bytes) rows
// are at least as many as asked for (or 1,000), no n rows can exceed the
// budget, and the read is a plain index range scan of n rows; otherwise a
// window sums the values' sizes row by row and cuts the read where the
// budget ends. The windowed scan spools every row through a tuple store;
// what the plain one saves was measured with EXPLAIN ANALYZE and the bench
// (docs/benchmarks.md, "This round"); TestBoundedReadPlain checks which
// branch runs.
func boundedReadSQL(topic, partition, from, limit, maxBytes string) string {
	r := strings.NewReplacer("$topic", topic, "$partition", partition, "$from", from, "$limit", limit, "$maxBytes", maxBytes)
	return r.Replace(`
		WITH bound AS MATERIALIZED (
			SELECT n, n >= least($limit::bigint, 1000) AS plain FROM (
				SELECT least($limit::bigint, $maxBytes::bigint / greatest(max_value_bytes, 1)) AS n
				FROM partitions WHERE topic = $topic AND partition = $partition
			) b
		)
		(SELECT "offset", produced_at, ts, producer_id, key, value, headers FROM messages
		 WHERE topic = $topic AND partition = $partition AND "offset" >= $from AND (SELECT plain FROM bound)
		 ORDER BY "offset" LIMIT (SELECT n FROM bound))
		UNION ALL
		(SELECT "offset", produced_at, ts, producer_id, key, value, headers FROM (
			SELECT m.*, sum(octet_length(m.value)) OVER (ORDER BY m."offset" ROWS UNBOUNDED PRECEDING) - octet_length(m.value) AS before
			FROM (
				SELECT "offset", produced_at, ts, producer_id, key, value, headers FROM messages
				WHERE topic = $topic AND partition = $partition AND "offset" >= $from AND NOT (SELECT plain FROM bound)
				ORDER BY "offset" LIMIT $limit
			) m
		) s
		WHERE before < $maxBytes
		ORDER BY "offset")`)
}

// readSQL reads messages from an offset on, up to a count and a size.
var readSQL = boundedReadSQL("$1", "$2", "$3", "$4", "$5")

// Fetch implements storage.Store: the partition's marks and the messages
// in one round trip (a pipeline of two statements); the messages are
// dropped when the offset turns out to be out of range.
func (s *Store) Fetch(ctx context.Context, topic string, partition int, from int64, limit, maxBytes int) (storage.Fetched, error) {
	var f storage.Fetched
	var b pgx.Batch
	b.Queue(`SELECT log_start_offset, next_offset FROM partitions WHERE topic = $1 AND partition = $2`, topic, partition).
		QueryRow(func(row pgx.Row) error { return row.Scan(&f.LogStartOffset, &f.HighWatermark) })
	var msgs []storage.StoredMessage
	b.Queue(readSQL, topic, partition, from, limit, maxBytes).Query(func(rows pgx.Rows) error {
		var err error
		msgs, err = s.scanMessages(rows)
		return err
	})
	err := s.db.SendBatch(ctx, &b).Close()
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Fetched{}, logq.Errorf(logq.ENotFound, "partition %s/%d has no storage", topic, partition)
	}
	if err != nil {
		return storage.Fetched{}, dbError(err, "fetch")
	}
	if n := len(msgs); n > 0 {
		f.HighWatermark = max(f.HighWatermark, msgs[n-1].Offset+1) // committed after the marks were read
	}
	if from < f.LogStartOffset || from > f.HighWatermark {
		return f, OutOfRange(topic, partition, from, f.LogStartOffset, f.HighWatermark)
	}
	f.Messages = msgs
	return f, nil
}

// OutOfRange is the error of a fetch at an offset outside [logStart, hw].
func OutOfRange(topic string, partition int, offset, logStart, hw int64) error {
	return logq.Errorf(logq.EOffsetOutOfRange, "offset %d of partition %s/%d is out of range: the log holds offsets %d to %d (next %d)",
		offset, topic, partition, logStart, hw-1, hw)
}

// ListOffsets implements storage.Store. A lookup by time walks the
// partition in offset order (there is no index on ts: one would slow every
// append down for a rare seek).
func (s *Store) ListOffsets(ctx context.Context, topic string, partition int, at int64) (storage.ListedOffset, error) {
	var (
		o  storage.ListedOffset
		t  pgtype.Timestamptz
		ts any // NULL for earliest and latest
	)
	switch {
	case at >= 0:
		ts = time.UnixMilli(at)
	case at != storage.OffsetEarliest && at != storage.OffsetLatest:
		return o, logq.Errorf(logq.EInvalid, "list offsets: %d is neither a time nor earliest (-2) or latest (-1)", at)
	}
	var found pgtype.Int8
	err := s.db.QueryRow(ctx, `
		SELECT p.log_start_offset, p.next_offset, f."offset", f.ts
		FROM partitions p
		LEFT JOIN LATERAL (
			SELECT m."offset", m.ts FROM messages m
			WHERE m.topic = p.topic AND m.partition = p.partition AND m."offset" >= p.log_start_offset AND m.ts >= $3::timestamptz
			ORDER BY m."offset" LIMIT 1
		) f ON $3::timestamptz IS NOT NULL
		WHERE p.topic = $1 AND p.partition = $2`, topic, partition, ts).Scan(&o.LogStartOffset, &o.HighWatermark, &found, &t)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, logq.Errorf(logq.ENotFound, "partition %s/%d has no storage", topic, partition)
	}
	if err != nil {
		return o, dbError(err, "list offsets")
	}
	switch {
	case at == storage.OffsetEarliest:
		o.Offset = o.LogStartOffset
	case at == storage.OffsetLatest:
		o.Offset = o.HighWatermark
	case found.Valid:
		o.Offset, o.Timestamp = found.Int64, t.Time
	default:
		o.Offset = -1
	}
	return o, nil
}

// consumeReadSQL is Consume's read, from the consumer's position on.
var consumeReadSQL = boundedReadSQL("$2", "$3", "(SELECT position FROM cur)", "$4", "$5")

// Consume implements storage.Store: the consumer's row is locked for the
// statement that reads the messages and moves the position.
func (s *Store) Consume(ctx context.Context, consumer int64, topic string, partition int, limit, maxBytes int) ([]storage.StoredMessage, error) {
	if err := s.ensureConsumer(ctx, consumer, topic, partition); err != nil {
		return nil, err
	}
	// One statement, one snapshot: cur locks the consumer's row (reading
	// its latest committed position), msgs reads the messages after it
	// (those visible form a prefix of the partition: offsets are assigned
	// under the partition row's lock, in commit order), and adv moves the
	// position past exactly the messages returned.
	rows, err := s.db.Query(ctx, `
		WITH cur AS MATERIALIZED (
			SELECT position FROM consumer_offsets
			WHERE consumer_id = $1 AND topic = $2 AND partition = $3
			FOR UPDATE
		), msgs AS MATERIALIZED (`+consumeReadSQL+`), adv AS (
			UPDATE consumer_offsets SET position = (SELECT max("offset") + 1 FROM msgs)
			WHERE consumer_id = $1 AND topic = $2 AND partition = $3 AND EXISTS (SELECT 1 FROM msgs)
		)
		SELECT "offset", produced_at, ts, producer_id, key, value, headers FROM msgs`,
		consumer, topic, partition, limit, maxBytes)
	if err != nil {
		return nil, dbError(err, "consume")
	}
	msgs, err := s.scanMessages(rows)
	if err != nil {
		return nil, dbError(err, "consume")
	}
	// msgs comes out of the CTE in offset order in practice; SQL does not
	// promise it, and sorting here costs nothing when it is (PostgreSQL
	// would sort every batch again).
	if !slices.IsSortedFunc(msgs, byOffset) {
		slices.SortFunc(msgs, byOffset)
	}
	return msgs, nil
}

// ensureConsumer creates a consumer's position row (at 0) once per Store.
func (s *Store) ensureConsumer(ctx context.Context, consumer int64, topic string, partition int) error {
	k := storage.ConsumerKey{Consumer: consumer, Topic: topic, Partition: partition}
	s.mu.Lock()
	_, ok := s.consumers[k]
	s.mu.Unlock()
	if ok {
		return nil
	}
	s.paths.consumerRows.Add(1)
	_, err := s.db.Exec(ctx, `
		INSERT INTO consumer_offsets (consumer_id, topic, partition, position) VALUES ($1, $2, $3, 0)
		ON CONFLICT (consumer_id, topic, partition) DO NOTHING`, consumer, topic, partition)
	if err != nil {
		return dbError(err, "create consumer position")
	}
	s.mu.Lock()
	s.consumers[k] = struct{}{}
	s.mu.Unlock()
	return nil
}

// Size implements storage.Store.
func (s *Store) Size(ctx context.Context, consumer int64, topic string, partition int) (hw, position int64, err error) {
	err = s.db.QueryRow(ctx, `
		SELECT p.next_offset, GREATEST(COALESCE(c.position, 0), p.log_start_offset)
		FROM partitions p
		LEFT JOIN consumer_offsets c ON c.consumer_id = $1 AND c.topic = p.topic AND c.partition = p.partition
		WHERE p.topic = $2 AND p.partition = $3`, consumer, topic, partition).Scan(&hw, &position)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, logq.Errorf(logq.ENotFound, "partition %s/%d has no storage", topic, partition)
	}
	if err != nil {
		return 0, 0, dbError(err, "size")
	}
	return hw, position, nil
}

// Positions implements storage.Store: one round trip, by primary key.
func (s *Store) Positions(ctx context.Context, keys []storage.ConsumerKey) ([]int64, error) {
	ids := make([]int64, len(keys))
	topics := make([]string, len(keys))
	parts := make([]int32, len(keys))
	for i, k := range keys {
		ids[i], topics[i], parts[i] = k.Consumer, k.Topic, int32(k.Partition)
	}
	rows, err := s.db.Query(ctx, `
		SELECT GREATEST(coalesce(o.position, 0), coalesce(p.log_start_offset, 0))
		FROM unnest($1::bigint[], $2::text[], $3::int[]) WITH ORDINALITY AS k(consumer_id, topic, partition, i)
		LEFT JOIN consumer_offsets o
		  ON o.consumer_id = k.consumer_id AND o.topic = k.topic AND o.partition = k.partition
		LEFT JOIN partitions p ON p.topic = k.topic AND p.partition = k.partition
		ORDER BY k.i`, ids, topics, parts)
	if err != nil {
		return nil, dbError(err, "read consumer positions")
	}
	defer rows.Close()
	out := make([]int64, 0, len(keys))
	for rows.Next() {
		var pos int64
		if err := rows.Scan(&pos); err != nil {
			return nil, dbError(err, "read consumer positions")
		}
		out = append(out, pos)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err, "read consumer positions")
	}
	if len(out) != len(keys) {
		return nil, dbError(errShortPositions, "read consumer positions")
	}
	return out, nil
}

var errShortPositions = errors.New("positions: row count differs from the keys")

func byOffset(a, b storage.StoredMessage) int { return cmp.Compare(a.Offset, b.Offset) }

// errStorageUnavailable is the client-facing face of a lost or refused
// database connection: retry later.
var errStorageUnavailable = storage.ErrUnavailable

// dbError maps a pgx error onto logq's vocabulary: a *logq.Error passes
// through, an expired context is a timeout, a lost session is unavailable
// (503, retryable) and anything else is internal. The cause stays in the
// chain for the log, never in the message.
func dbError(err error, what string) error {
	var le *logq.Error
	switch {
	case errors.As(err, &le):
		return err
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", logq.Errorf(logq.ETimeout, "%s: storage did not answer in time", what), err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %w", logq.Errorf(logq.EUnavailable, "%s: canceled", what), err)
	case isConnError(err):
		return fmt.Errorf("%w: %s: %w", errStorageUnavailable, what, err)
	case isConflict(err):
		// The whole transaction rolled back: nothing was stored, and the
		// same request can simply be sent again.
		return fmt.Errorf("%w: %w", logq.Errorf(logq.EUnavailable, "%s: conflicted with a concurrent append; retry", what), err)
	}
	return logq.Internal(err, what)
}

// isLockTimeout reports whether err is SQLSTATE 55P03 (lock_not_available).
func isLockTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03"
}

// isConflict reports whether err is SQLSTATE 40P01 (deadlock_detected) or
// 40001 (serialization_failure). Two multi-partition appends on one
// database that share two or more partitions lock their rows in no
// particular order (several brokers during a mass takeover), and PostgreSQL
// breaks the cycle by failing one of them.
func isConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

// isConnError reports whether err means the database session failed rather
// than the statement: connection refused or lost, server shutting down,
// too many connections.
func isConnError(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 53300 too_many_connections, 57P0x shutdown, class 08 connection.
		return pgErr.Code == "53300" || pg.IsConnectionError(err)
	}
	return pg.IsConnectionError(err) // any non-PostgreSQL error: network
}
