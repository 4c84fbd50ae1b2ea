// Package eventlog is logq's control-plane write-ahead log: the table
// events(seq, at, type, data, epoch), its snapshots and the writer lease.
// It is the only package that writes SQL for those tables.
//
// # Writing: one fenced writer
//
// A [Writer] is elected by a session-level PostgreSQL advisory lock, taken
// on one dedicated connection ([Acquire] waits for it). On election it bumps writer_lease.epoch and reads the last seq.
// Every [Writer.Append] goes through that same connection, in one statement
// that stores its events only if the lease still carries the writer's
// epoch. So:
//
//   - seq is gap-free and in commit order: appends are serialised, each
//     takes the next seqs, and a failed append stores nothing;
//   - a writer that lost its session cannot append (its connection is gone,
//     and the lock with it), and a writer whose epoch was superseded gets
//     logq.EFenced and stores nothing;
//   - a writer that cannot know whether an append committed (the session
//     broke mid-append) declares itself dead rather than guess: [Writer.Done]
//     is closed and every later Append fails. Its owner must acquire anew
//     and rebuild its state from the log. A periodic check of the session
//     also closes Done when the writer is idle.
//
// # Reading
//
// [Read], [Get], [LastSeq] and [List] read the log through a pool;
// [SaveSnapshot] and [LatestSnapshotAtOrBefore] store and load encoded projection
// states, so a cold start replays only the events after the snapshot.
//
// The servers consume the log through the interface [Log] (read after a
// seq, the snapshot at or before a seq, tail, save a snapshot, last seq),
// which [DB] implements on PostgreSQL; the package eventlogtest is the
// conformance suite every implementation passes. [Pages] reads a log in
// pages, reading ahead; [Replay] and [StateAt] fold it into a state.
//
// # Following: one Replica
//
// A [Replica] is the one log follower of the manager, the broker, the
// status page and the CLI's replay: it starts from the newest snapshot
// and the events after it, tails the log, applies the events its owner
// (the writer) appended itself — the tail skips them — and lets readers
// wait for a seq ([Replica.WaitApplied]), read the state under its lock
// ([Replica.View]) and replay the state as of any seq ([Replica.StateAt]).
// A [Watermark] is the seq that only grows that such waits use.
//
// # Tailing: two modes, one guarantee
//
// [Tail] delivers every event after a given seq to a callback, in seq
// order, exactly once, across connection failures (retried with backoff).
// Both modes catch up with a plain SELECT by seq on every (re)connection,
// and deliver an event only right after its predecessor, filling any gap
// from the table first:
//
//   - [ModeNotify] LISTENs on logq_events (the schema's trigger notifies
//     each insert) and uses notifications only as wake-ups for a catch-up
//     query; a periodic safety tick catches up even without one. A
//     notification lost while disconnected loses nothing.
//   - [ModeLogical] streams inserts by logical replication (pgoutput, over
//     the publication logq_events). Each session creates a temporary slot,
//     then catches up, then streams from the slot's consistent point, so
//     nothing committed in between is missed. The slot is temporary and
//     confirmed as the stream is received, so it pins no WAL, and it
//     vanishes with its connection: no slot outlives its tailer.
package eventlog
