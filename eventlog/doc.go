// Package eventlog is logq's control-plane write-ahead log: the table
// events(seq, at, type, data, epoch), its snapshots and the writer lease.
// It is the only package that writes SQL for those tables.
//
// # Writing: one fenced writer
//
// A [Writer] is elected by a session-level PostgreSQL advisory lock, taken
// on one dedicated connection ([Acquire] waits for it, [TryAcquire] does
// not). On election it bumps writer_lease.epoch and reads the last seq.
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
// [SaveSnapshot] and [LatestSnapshot] store and load encoded projection
// states, so a cold start replays only the events after the snapshot.
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
