// Package broker is logq's broker: it owns the partitions the control
// plane assigns to it and serves appends and reads for them over HTTP
// (the "Broker API" of docs/api.md).
//
//	b, err := broker.New(ctx, broker.Config{DSN: dsn, Managers: managers})
//	...
//	defer b.Close()
//	err = b.Serve(ctx, ln) // until ctx is done, then drains and returns nil
//
// # Storage
//
// The broker reaches partition data only through the storage.Store
// interface (broker/storage; its conformance suite is
// broker/storage/storagetest). On PostgreSQL (broker/storage/pgstore, the
// only code that writes SQL for them) it lives in Config.DataDSN, by
// default the control plane's database, in four tables of the schema
// (the root package's migrations):
//
//   - partitions: one row per partition with its ownership epoch, owner,
//     next_offset (the high watermark) and log_start_offset (the first
//     offset still stored: fetches below it answer offset_out_of_range);
//   - messages: (topic, partition, offset) → produced_at (the append's
//     time), ts (the record's timestamp), producer_id, key, value and
//     headers (bytes), keyed for range reads by offset;
//   - consumer_offsets: each consumer's position (next offset to read) in
//     each partition it reads;
//   - producer_state: each idempotent producer's epoch and last five
//     batches per partition, written with the batch (see Idempotence).
//
// An append allocates its offsets inside its own transaction, under the
// partition row's lock:
//
//	UPDATE partitions SET next_offset = next_offset + n
//	WHERE topic = $1 AND partition = $2 AND epoch = $3
//	RETURNING next_offset - n
//
// and inserts the messages at those offsets in the same transaction. The
// row lock is held until commit, so offsets are gap-free and assigned in
// commit order per partition, even with several brokers (or processes) on
// one database; a reader never sees offset k+1 committed before k.
// Acknowledged means committed (synchronous_commit stays on).
//
// # Group commit
//
// Appends go through group-commit lanes (Config.CommitLanes, default 4; a
// partition taken over goes to the lane serving the fewest). A lane runs
// one transaction at a time; requests arriving meanwhile queue, and the
// next transaction takes all of them (bounded by MaxBatchMessages and
// MaxBatchBytes), across the lane's partitions: one statement (INSERT …
// SELECT FROM unnest) for small batches, COPY for large ones. Under load a
// batch grows with the commit latency; a lone append is committed at once,
// without waiting for a timer. Each request is answered only after its
// transaction committed, with the offset of its first message (its
// messages take consecutive offsets, in request order); if the transaction
// fails, every request in it gets the error and none of it is stored (a
// partition fenced in a transaction fails alone: its rows are skipped, the
// other partitions' commit). Single-message and batch appends take the
// same path.
//
// # Idempotence
//
// An append with producer_epoch and sequence is idempotent: storage
// checks the sequence against the producer's state in the partition, in
// the transaction that stores the batch, and answers a repeated batch
// with its original offsets, storing nothing (storage.Store.Append says
// the rules). The lanes never merge an idempotent request with another of
// its partition (its sequence numbers exactly its messages): a batch
// holding some is committed in rounds, each partition's requests in order.
//
// Like a Kafka partition leader, the store remembers the producers' state
// of the partitions it writes, as of the partition's version (epoch and
// next offset). A batch it can accept from memory is stored with the new
// state in one statement that updates the partition row only if it is
// still at that version (one round trip; pgstore/producers.go); a producer
// it does not know, a duplicate, a refusal, or a partition someone else
// wrote to meanwhile takes the locked path, which reads the state under
// the row lock (two round trips) and teaches the memory.
//
// # Fencing and takeover
//
// The broker follows the control-plane event log with an
// eventlog.Replica: on start it loads the newest snapshot (the whole log
// when there is none) and the events after it, then tails the log, folding
// it with projection.Apply into its own view of the cluster. After each change it reconciles what it serves with what the
// view assigns it. To take over a partition at epoch e it claims it in
// storage:
//
//	INSERT INTO partitions … ON CONFLICT (topic, partition)
//	DO UPDATE SET epoch = EXCLUDED.epoch, owner = EXCLUDED.owner
//	WHERE partitions.epoch < EXCLUDED.epoch
//
// (claiming again the epoch it already holds, after a restart, is fine),
// reads the committed next_offset and only then serves the partition,
// continuing exactly where the previous owner stopped. Every append carries
// the epoch the broker believes it has, and the UPDATE above matches no row
// once storage holds a newer one: the append stores nothing and fails with
// logq.EFenced (HTTP 409). So a broker that lost a partition cannot write to
// it even before it has read the event that says so; once it has, it stops
// serving the partition and answers 409 fenced, naming it, for appends and
// reads alike. AppliedSeq is the last event whose assignments are in effect
// (claimed or released); a request carrying X-Logq-Min-Seq waits (up to
// MinSeqWait, then 503 timeout) until the broker got that far.
//
// Ids are checked against the state before any SQL: an append by a
// producer the state does not know is refused (404 producer_not_found), a
// consume or size by an unknown consumer too (404 consumer_not_found), and
// an id registered for another topic or partition with 400; so no table
// grows from ids nobody registered. Callers send the seq of a fresh
// registration in X-Logq-Min-Seq.
//
// # Consuming
//
// A consumer has its own position in every partition (fan-out: every
// consumer sees every message). A consumer new to a partition starts at
// offset 0, the beginning of the partition. A consume returns the next
// messages after the consumer's position (up to max, and about
// MaxReadBytes of payload, but at least one) and moves the position past
// exactly those, in one statement that locks the consumer's row: two
// concurrent consumes of one consumer never return the same message. The
// position is advanced when the answer is sent, so a consume whose answer
// is lost has still consumed (at-most-once for that answer; clients that
// need more fetch by offset with /v1/fetch, which moves nothing, and keep
// their positions). A consume carrying deadline_ms moves nothing once it
// has passed, so a caller that gave up on a stopped broker loses nothing
// the broker would consume when it wakes up. A consume with nothing left
// succeeds with an empty list; with wait_ms it first waits (long poll) for
// the broker's own next commit to the partition, woken in-process (no
// NOTIFY on the hot path). Size is the high watermark minus the consumer's
// position.
//
// # Registration
//
// With managers configured, Serve registers the broker (POST /brokers with
// its advertised address; the answer is its id) and heartbeats every
// HeartbeatInterval, moving to the next manager whenever one fails so that
// heartbeats follow a writer failover. A broker_removed (410) answer means
// the broker was decommissioned (or its address belongs to a removed
// broker): it logs it and stops heartbeating (HeartbeatsStopped). Its own
// tail tells it the same (BrokerRemoved), so it serves nothing and answers
// 409 fenced, naming the removal, for every partition. With no
// managers and Config.ID set, the broker skips both (tests do this and
// append the control-plane events themselves).
//
// Once registered, the broker holds its session lock (eventlog.BrokerLock:
// a PostgreSQL session advisory lock keyed by its id, on a connection of
// its own to the control-plane database, with TCP keepalives), taking it
// again after a lost connection. When the process dies PostgreSQL ends the
// session, and the writer, seeing the lock gone, declares the broker dead
// at once instead of after the heartbeat timeout; a hung process keeps the
// session and gets the heartbeat timeout (manager.CheckSessions). Serve
// releases the lock when it returns, after the requests in flight.
package broker
