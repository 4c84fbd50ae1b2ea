package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/logq/logq"
	"github.com/logq/logq/internal/pg"
)

// message is one message to append.
type message struct {
	ProducerID int64
	Key        *string
	Payload    string
}

// storedMessage is one message as stored, with its offset.
type storedMessage struct {
	Offset     int64
	ProducedAt time.Time
	ProducerID int64
	Key        *string
	Payload    string
}

// store is the only code that writes SQL for the data plane: tables
// partitions, messages and consumer_offsets. Every method maps pgx errors
// onto logq's error vocabulary.
type store struct {
	db *pgxpool.Pool

	// copyThreshold: batches of at least this many messages are written
	// with COPY inside an explicit transaction; smaller ones with a single
	// INSERT ... SELECT FROM unnest statement (one round trip), which is
	// the faster of the two below a few thousand rows.
	copyThreshold int

	mu        sync.Mutex
	consumers map[consumerKey]struct{} // consumer_offsets rows known to exist
}

type consumerKey struct {
	consumer  int64
	topic     string
	partition int
}

func newStore(db *pgxpool.Pool) *store {
	return &store{db: db, copyThreshold: 4096, consumers: map[consumerKey]struct{}{}}
}

// claim makes owner the storage owner of a partition at epoch, creating the
// partition row if needed, and returns the partition's next offset. It bumps
// the stored epoch only forward: if storage already holds a higher epoch
// (or the same epoch for another owner) the claim is refused with EFenced.
// Claiming again at the epoch already held (a restart) succeeds.
func (s *store) claim(ctx context.Context, topic string, partition int, owner, epoch int64) (int64, error) {
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
	if err == nil {
		return next, nil
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
		return next, nil
	}
	return 0, logq.Errorf(logq.EFenced, "partition %s/%d is at epoch %d (broker %d); epoch %d is stale",
		topic, partition, curEpoch, curOwner, epoch)
}

// partitionBatch is what one transaction appends to one partition: msgs
// at the end of it, fenced by epoch.
type partitionBatch struct {
	topic     string
	partition int
	epoch     int64
	msgs      []message
}

// fencedBase marks, in appendBatches' answer, a batch whose partition's
// stored epoch is not the batch's any more: nothing of it was stored.
const fencedBase = -1

// appendBatch stores msgs at the end of one partition and returns the
// offset of the first; EFenced if the partition's stored epoch is not
// epoch any more.
func (s *store) appendBatch(ctx context.Context, topic string, partition int, epoch int64, msgs []message) (int64, error) {
	bases, err := s.appendBatches(ctx, []partitionBatch{{topic, partition, epoch, msgs}})
	if err != nil {
		return 0, err
	}
	if bases[0] == fencedBase {
		return 0, fencedError(topic, partition, epoch)
	}
	return bases[0], nil
}

// appendBatches stores batches for several partitions (each at most once)
// in one transaction and returns the offset of each batch's first message,
// or fencedBase for a batch whose partition's stored epoch moved on
// (nothing of it is stored; the other batches are). Offsets are allocated
// under each partition row's lock (UPDATE partitions ... WHERE epoch = the
// batch's), so they are gap-free and in commit order even with several
// writers on one database. Batches should be sorted by partition, so that
// transactions lock partition rows in one order.
func (s *store) appendBatches(ctx context.Context, batches []partitionBatch) ([]int64, error) {
	total := 0
	for _, b := range batches {
		if len(b.msgs) == 0 {
			return nil, logq.Errorf(logq.EInvalid, "no messages")
		}
		total += len(b.msgs)
	}
	var (
		bases []int64
		err   error
	)
	switch {
	case len(batches) == 0:
		return nil, nil
	case total >= s.copyThreshold:
		bases, err = s.appendCopy(ctx, batches)
	case len(batches) == 1:
		var base int64
		base, err = s.appendInsertOne(ctx, batches[0])
		if errors.Is(err, pgx.ErrNoRows) {
			base, err = fencedBase, nil
		}
		bases = []int64{base}
	default:
		bases, err = s.appendInsert(ctx, batches)
	}
	if err != nil {
		return nil, dbError(err, "append")
	}
	return bases, nil
}

func fencedError(topic string, partition int, epoch int64) error {
	return logq.Errorf(logq.EFenced, "partition %s/%d: ownership moved past epoch %d", topic, partition, epoch)
}

// messageColumns returns msgs as column arrays.
func messageColumns(msgs []message) (producers []int64, keys []*string, payloads []string) {
	producers = make([]int64, len(msgs))
	keys = make([]*string, len(msgs))
	payloads = make([]string, len(msgs))
	for i, m := range msgs {
		producers[i], keys[i], payloads[i] = m.ProducerID, m.Key, m.Payload
	}
	return producers, keys, payloads
}

// appendInsertOne appends to one partition in one statement: the UPDATE
// allocates the offsets (and returns no row when fenced, which inserts
// nothing) and the INSERT reads them; both run in the statement's
// implicit transaction.
func (s *store) appendInsertOne(ctx context.Context, b partitionBatch) (int64, error) {
	producers, keys, payloads := messageColumns(b.msgs)
	var base int64
	err := s.db.QueryRow(ctx, `
		WITH p AS (
			UPDATE partitions SET next_offset = next_offset + $4
			WHERE topic = $1 AND partition = $2 AND epoch = $3
			RETURNING next_offset - $4 AS base
		), ins AS (
			INSERT INTO messages (topic, partition, "offset", produced_at, producer_id, key, payload)
			SELECT $1, $2, p.base + m.ord - 1, now(), m.producer_id, m.key, m.payload
			FROM p, unnest($5::bigint[], $6::text[], $7::text[]) WITH ORDINALITY AS m(producer_id, key, payload, ord)
		)
		SELECT base FROM p`,
		b.topic, b.partition, b.epoch, int64(len(b.msgs)), producers, keys, payloads).Scan(&base)
	return base, err
}

// appendInsert is appendInsertOne for several partitions: one UPDATE
// allocates every batch's offsets (skipping fenced partitions) and one
// INSERT stores the messages of the batches it allocated for.
func (s *store) appendInsert(ctx context.Context, batches []partitionBatch) ([]int64, error) {
	var (
		topics           []string
		parts            []int32
		epochs, counts   []int64
		batchOf, indexOf []int64
		producers        []int64
		keys             []*string
		payloads         []string
	)
	for i, b := range batches {
		topics, parts = append(topics, b.topic), append(parts, int32(b.partition))
		epochs, counts = append(epochs, b.epoch), append(counts, int64(len(b.msgs)))
		for j, m := range b.msgs {
			batchOf, indexOf = append(batchOf, int64(i+1)), append(indexOf, int64(j))
			producers, keys, payloads = append(producers, m.ProducerID), append(keys, m.Key), append(payloads, m.Payload)
		}
	}
	rows, err := s.db.Query(ctx, `
		WITH p AS (
			UPDATE partitions p SET next_offset = p.next_offset + b.n
			FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS b(topic, partition, epoch, n, i)
			WHERE p.topic = b.topic AND p.partition = b.partition AND p.epoch = b.epoch
			RETURNING b.i, p.topic, p.partition, p.next_offset - b.n AS base
		), ins AS (
			INSERT INTO messages (topic, partition, "offset", produced_at, producer_id, key, payload)
			SELECT p.topic, p.partition, p.base + m.idx, now(), m.producer_id, m.key, m.payload
			FROM unnest($5::bigint[], $6::bigint[], $7::bigint[], $8::text[], $9::text[]) AS m(batch, idx, producer_id, key, payload)
			JOIN p ON p.i = m.batch
		)
		SELECT i, base FROM p`,
		topics, parts, epochs, counts, batchOf, indexOf, producers, keys, payloads)
	if err != nil {
		return nil, err
	}
	return scanBases(rows, len(batches))
}

// scanBases reads (ordinal, base) rows into bases by batch, fencedBase for
// the batches without a row.
func scanBases(rows pgx.Rows, n int) ([]int64, error) {
	defer rows.Close()
	bases := make([]int64, n)
	for i := range bases {
		bases[i] = fencedBase
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

// appendCopy is appendBatches for large batches: the same UPDATE, then
// COPY of the messages of the batches it allocated for, in an explicit
// transaction.
func (s *store) appendCopy(ctx context.Context, batches []partitionBatch) ([]int64, error) {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var (
		topics         []string
		parts          []int32
		epochs, counts []int64
	)
	for _, b := range batches {
		topics, parts = append(topics, b.topic), append(parts, int32(b.partition))
		epochs, counts = append(epochs, b.epoch), append(counts, int64(len(b.msgs)))
	}
	rows, err := tx.Query(ctx, `
		UPDATE partitions p SET next_offset = p.next_offset + b.n
		FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS b(topic, partition, epoch, n, i)
		WHERE p.topic = b.topic AND p.partition = b.partition AND p.epoch = b.epoch
		RETURNING b.i, p.next_offset - b.n, now()`, topics, parts, epochs, counts)
	if err != nil {
		return nil, err
	}
	bases := make([]int64, len(batches))
	for i := range bases {
		bases[i] = fencedBase
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
		if bases[i] == fencedBase {
			continue
		}
		for j, m := range b.msgs {
			src = append(src, []any{b.topic, int32(b.partition), bases[i] + int64(j), now, m.ProducerID, m.Key, m.Payload})
		}
	}
	if len(src) == 0 {
		return bases, nil // every partition fenced: nothing to store
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"messages"},
		[]string{"topic", "partition", "offset", "produced_at", "producer_id", "key", "payload"},
		pgx.CopyFromRows(src))
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return bases, nil
}

// nextOffset returns a partition's next offset (its high watermark) and
// stored epoch; ENotFound when the partition was never claimed.
func (s *store) nextOffset(ctx context.Context, topic string, partition int) (next, epoch int64, err error) {
	err = s.db.QueryRow(ctx, `SELECT next_offset, epoch FROM partitions WHERE topic = $1 AND partition = $2`,
		topic, partition).Scan(&next, &epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, logq.Errorf(logq.ENotFound, "partition %s/%d has no storage", topic, partition)
	}
	if err != nil {
		return 0, 0, dbError(err, "read partition")
	}
	return next, epoch, nil
}

// read returns up to max messages of a partition from offset from on, at
// most maxBytes of payload (but always the first message there is).
func (s *store) read(ctx context.Context, topic string, partition int, from int64, limit, maxBytes int) ([]storedMessage, error) {
	rows, err := s.db.Query(ctx, `
		SELECT "offset", produced_at, producer_id, key, payload FROM (
			SELECT m.*, sum(octet_length(m.payload)) OVER (ORDER BY m."offset" ROWS UNBOUNDED PRECEDING) - octet_length(m.payload) AS before
			FROM (
				SELECT "offset", produced_at, producer_id, key, payload FROM messages
				WHERE topic = $1 AND partition = $2 AND "offset" >= $3
				ORDER BY "offset" LIMIT $4
			) m
		) s
		WHERE before < $5
		ORDER BY "offset"`, topic, partition, from, limit, maxBytes)
	if err != nil {
		return nil, dbError(err, "read")
	}
	msgs, err := scanMessages(rows)
	if err != nil {
		return nil, dbError(err, "read")
	}
	return msgs, nil
}

// consume returns the next messages of a partition for a consumer (up to
// max, at most maxBytes of payload but at least one) and advances the
// consumer's position past them, atomically: the consumer's row is locked
// for the statement, so two concurrent consumes of one consumer never
// return the same message. A consumer new to the partition starts at 0.
func (s *store) consume(ctx context.Context, consumer int64, topic string, partition int, limit, maxBytes int) ([]storedMessage, error) {
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
		), msgs AS MATERIALIZED (
			SELECT "offset", produced_at, producer_id, key, payload FROM (
				SELECT m.*, sum(octet_length(m.payload)) OVER (ORDER BY m."offset" ROWS UNBOUNDED PRECEDING) - octet_length(m.payload) AS before
				FROM (
					SELECT m."offset", m.produced_at, m.producer_id, m.key, m.payload
					FROM messages m
					WHERE m.topic = $2 AND m.partition = $3 AND m."offset" >= (SELECT position FROM cur)
					ORDER BY m."offset" LIMIT $4
				) m
			) s
			WHERE before < $5
		), adv AS (
			UPDATE consumer_offsets SET position = (SELECT max("offset") + 1 FROM msgs)
			WHERE consumer_id = $1 AND topic = $2 AND partition = $3 AND EXISTS (SELECT 1 FROM msgs)
		)
		SELECT "offset", produced_at, producer_id, key, payload FROM msgs`,
		consumer, topic, partition, limit, maxBytes)
	if err != nil {
		return nil, dbError(err, "consume")
	}
	msgs, err := scanMessages(rows)
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

// ensureConsumer creates a consumer's position row (at 0) once per process.
func (s *store) ensureConsumer(ctx context.Context, consumer int64, topic string, partition int) error {
	k := consumerKey{consumer, topic, partition}
	s.mu.Lock()
	_, ok := s.consumers[k]
	s.mu.Unlock()
	if ok {
		return nil
	}
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

// size returns a partition's high watermark and a consumer's position in
// it (0 for a consumer that never consumed it).
func (s *store) size(ctx context.Context, consumer int64, topic string, partition int) (hw, position int64, err error) {
	err = s.db.QueryRow(ctx, `
		SELECT p.next_offset, COALESCE(c.position, 0)
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

func byOffset(a, b storedMessage) int { return cmp.Compare(a.Offset, b.Offset) }

func scanMessages(rows pgx.Rows) ([]storedMessage, error) {
	defer rows.Close()
	if binaryMessageRows(rows.FieldDescriptions()) {
		return scanBinaryMessages(rows)
	}
	var out []storedMessage
	for rows.Next() {
		var m storedMessage
		if err := rows.Scan(&m.Offset, &m.ProducedAt, &m.ProducerID, &m.Key, &m.Payload); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// errStorageUnavailable is the client-facing face of a lost or refused
// database connection: retry later.
var errStorageUnavailable = logq.Errorf(logq.EUnavailable, "storage unavailable")

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
	}
	return logq.Internal(err, what)
}

// isLockTimeout reports whether err is SQLSTATE 55P03 (lock_not_available).
func isLockTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03"
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
