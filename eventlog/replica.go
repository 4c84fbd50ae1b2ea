package eventlog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/logq/logq"
	"github.com/logq/logq/internal/sleep"
	"github.com/logq/logq/projection"
)

// replayPage is how many events one catch-up or replay read asks for.
const replayPage = 10000

// ReplicaConfig configures a Replica. Only Log is required (and not even
// that by a replica fed only through Apply, as in tests).
type ReplicaConfig struct {
	Log Log
	// Lock, when set, is the lock the replica holds while it changes its
	// state (and that readers hold to read it): share it to read the state
	// together with fields of your own under one lock. Default: its own.
	Lock *sync.RWMutex
	// OnApply, when set, is called after every apply that changed the
	// state, before WaitApplied returns for it, with Lock held for
	// writing: s is the state after events (never
	// empty, in seq order), fromTail says they came from the tail rather
	// than from Apply or a catch-up. It must be quick, must not take Lock
	// and must not keep events (the slice is reused).
	OnApply func(s *projection.State, events []logq.Event, fromTail bool)
	// Logger receives unreadable snapshots and tail restarts.
	Logger zerolog.Logger
	// Name says whose replica it is in errors ("this manager").
	Name string
	// PageSize bounds one read of a catch-up. Default 10000.
	PageSize int
	// MinBackoff and MaxBackoff bound Run's wait before restarting a tail
	// that stopped on an error. Defaults 50ms and 5s.
	MinBackoff, MaxBackoff time.Duration
}

// A Replica follows the event log: it folds it into a projection.State
// from the newest snapshot on ([Replica.Start]), keeps tailing it
// ([Replica.Run]), and applies the events its owner appended itself
// ([Replica.Apply]) — whichever comes first applies an event, the other
// skips it. Readers wait for a seq ([Replica.WaitApplied]), read the
// current state under the lock ([Replica.View]) and replay the state as of
// any seq ([Replica.StateAt]).
//
// The state is changed only by the replica, in place, under the lock; the
// pointer [Replica.State] returns never changes.
type Replica struct {
	cfg     ReplicaConfig
	mu      *sync.RWMutex
	state   *projection.State
	applied Watermark // state.Seq, advanced under mu
	snapSeq int64     // the snapshot Start loaded; guarded by mu
}

// NewReplica returns a replica at seq 0; Start loads the log.
func NewReplica(cfg ReplicaConfig) *Replica {
	if cfg.PageSize <= 0 {
		cfg.PageSize = replayPage
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 50 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Second, cfg.MinBackoff)
	}
	if cfg.Name == "" {
		cfg.Name = "this replica"
	}
	r := &Replica{cfg: cfg, mu: cfg.Lock, state: projection.New()}
	if r.mu == nil {
		r.mu = new(sync.RWMutex)
	}
	return r
}

// Start loads the newest snapshot (an unreadable one is logged and
// skipped: the log is the truth) and applies the events after it, to the
// end of the log. The events a snapshot covers are never read.
func (r *Replica) Start(ctx context.Context) error {
	seq, data, err := r.cfg.Log.SnapshotAtOrBefore(ctx, latest)
	switch {
	case err == nil:
		s, err := projection.DecodeState(data)
		if err != nil {
			r.cfg.Logger.Warn().Err(err).Int64("seq", seq).Msg("ignoring unreadable snapshot; replaying the whole log")
			break
		}
		r.mu.Lock()
		if s.Seq > r.state.Seq {
			*r.state = *s
			r.snapSeq = s.Seq
			r.applied.Advance(s.Seq)
		}
		r.mu.Unlock()
	case logq.ErrorCode(err) == logq.ENotFound:
	default:
		return fmt.Errorf("eventlog: load snapshot: %w", err)
	}
	return r.CatchUp(ctx, 0)
}

// CatchUp reads and applies events until the replica has applied target,
// or (target <= 0) to the end of the log; it fails with logq.EUnavailable
// when the log ends before target.
func (r *Replica) CatchUp(ctx context.Context, target int64) error {
	after := r.AppliedSeq()
	if target > 0 && after >= target {
		return nil
	}
	err := Pages(ctx, r.cfg.Log, after, target, r.cfg.PageSize, func(events []logq.Event) error {
		return r.apply(events, false)
	})
	if err != nil {
		return fmt.Errorf("eventlog: catch up: %w", err)
	}
	if applied := r.AppliedSeq(); target > 0 && applied < target {
		return logq.Errorf(logq.EUnavailable, "event log ends at seq %d, before %d", applied, target)
	}
	return nil
}

// Run tails the log from the applied seq and applies every event, until
// ctx is done. A tail that stops on an error (an event the projection
// refuses) is logged and restarted after a backoff.
func (r *Replica) Run(ctx context.Context) {
	backoff := r.cfg.MinBackoff
	one := make([]logq.Event, 1)
	for {
		after := r.AppliedSeq()
		err := r.cfg.Log.Tail(ctx, after, func(e logq.Event) error {
			one[0] = e
			return r.apply(one, true)
		})
		if ctx.Err() != nil {
			return
		}
		r.cfg.Logger.Error().Err(err).Int64("after", after).Dur("retry_in", backoff).Msg("event log tail stopped")
		if !sleep.For(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, r.cfg.MaxBackoff)
	}
}

// Apply folds events its owner has just appended (the writer), so that
// they are applied before the tail brings them; the tail then skips them.
// Events already applied are skipped here too.
func (r *Replica) Apply(events []logq.Event) error { return r.apply(events, false) }

// apply folds events into the state, skipping those already applied, up
// to the first the projection refuses (whose error it returns); it calls
// OnApply for what it applied, then wakes WaitApplied.
func (r *Replica) apply(events []logq.Event, fromTail bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	first := 0
	for first < len(events) && events[first].Seq <= r.state.Seq {
		first++
	}
	var err error
	n := first
	for ; n < len(events); n++ {
		if err = projection.Apply(r.state, events[n]); err != nil {
			break
		}
	}
	if n > first {
		// OnApply first: whoever WaitApplied releases sees what it did.
		if r.cfg.OnApply != nil {
			r.cfg.OnApply(r.state, events[first:n], fromTail)
		}
		r.applied.Advance(r.state.Seq)
	}
	return err
}

// AppliedSeq is the seq of the last event applied.
func (r *Replica) AppliedSeq() int64 { return r.applied.Load() }

// Changed returns a channel closed when the replica next applies events.
func (r *Replica) Changed() <-chan struct{} { return r.applied.Changed() }

// SnapshotSeq is the seq of the snapshot Start loaded, 0 when none.
func (r *Replica) SnapshotSeq() int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.snapSeq
}

// WaitApplied waits until the replica has applied seq, or ctx is done:
// then a logq.ETimeout error (its deadline passed) or logq.EUnavailable
// (canceled).
func (r *Replica) WaitApplied(ctx context.Context, seq int64) error {
	applied, err := r.applied.Wait(ctx, seq)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return logq.Errorf(logq.ETimeout, "seq %d is not applied yet on %s (applied %d); retry", seq, r.cfg.Name, applied)
	default:
		return logq.Errorf(logq.EUnavailable, "wait for seq %d: canceled", seq)
	}
}

// View calls fn with the current state under the read lock. fn must not
// change the state nor keep it (or anything in it) after it returns.
func (r *Replica) View(fn func(s *projection.State)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn(r.state)
}

// State returns the replica's state itself, changed in place as events
// are applied: read it only under the lock (ReplicaConfig.Lock, or View),
// never change it. The pointer is the same for the replica's whole life.
func (r *Replica) State() *projection.State { return r.state }

// Clone returns a copy of the current state, the caller's to keep.
func (r *Replica) Clone() *projection.State {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.state.Clone()
}

// StateAt returns the state as of seq: a copy of the current state when
// the replica is at seq, else [StateAt] on the replica's log.
func (r *Replica) StateAt(ctx context.Context, seq int64) (*projection.State, error) {
	r.mu.RLock()
	var s *projection.State
	if r.state.Seq == seq {
		s = r.state.Clone()
	}
	r.mu.RUnlock()
	if s != nil {
		return s, nil
	}
	return StateAt(ctx, r.cfg.Log, seq)
}

// StateAt replays the state as of seq: the newest snapshot at or before
// seq (an unreadable one is skipped), then the events after it up to seq.
// It fails with logq.ENotFound when the log ends before seq.
func StateAt(ctx context.Context, r Reader, seq int64) (*projection.State, error) {
	if seq < 0 {
		return nil, logq.Errorf(logq.EInvalid, "seq %d is negative", seq)
	}
	s := projection.New()
	_, data, err := r.SnapshotAtOrBefore(ctx, seq)
	switch {
	case err == nil:
		if snap, err := projection.DecodeState(data); err == nil && snap.Seq <= seq {
			s = snap
		}
	case logq.ErrorCode(err) != logq.ENotFound:
		return nil, err
	}
	if s.Seq < seq {
		if _, err := Replay(ctx, r, s, seq); err != nil {
			return nil, err
		}
	}
	if s.Seq < seq {
		return nil, logq.Errorf(logq.ENotFound, "the event log ends at seq %d, before %d", s.Seq, seq)
	}
	return s, nil
}

// Replay folds the events of r after s.Seq into s, up to seq until (0: to
// the end of the log), and returns how many it applied. It stops at the
// first event the projection refuses and returns that error.
func Replay(ctx context.Context, r EventReader, s *projection.State, until int64) (int, error) {
	n := 0
	errDone := errors.New("done")
	err := Pages(ctx, r, s.Seq, until, replayPage, func(events []logq.Event) error {
		for _, e := range events {
			if until > 0 && e.Seq > until {
				return errDone
			}
			if err := projection.Apply(s, e); err != nil {
				return fmt.Errorf("eventlog: replay: %w", err)
			}
			n++
		}
		return nil
	})
	if err == errDone {
		err = nil
	}
	return n, err
}

// Watermark is a seq that only grows, which goroutines can wait for. The
// zero value is at seq 0.
type Watermark struct {
	mu  sync.Mutex
	seq int64
	ch  chan struct{} // closed and replaced when seq grows; nil until waited on
}

// Load returns the seq.
func (w *Watermark) Load() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq
}

// Advance raises the seq to seq (a lower one changes nothing) and wakes
// the waiters.
func (w *Watermark) Advance(seq int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq <= w.seq {
		return
	}
	w.seq = seq
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
}

// Changed returns a channel closed when the seq next grows.
func (w *Watermark) Changed() <-chan struct{} {
	_, ch := w.next()
	return ch
}

// Wait waits until the seq is at least seq, or ctx is done (it then
// returns ctx.Err()). It returns the seq reached.
func (w *Watermark) Wait(ctx context.Context, seq int64) (int64, error) {
	for {
		cur, ch := w.next()
		if cur >= seq {
			return cur, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return cur, ctx.Err()
		}
	}
}

// next returns the seq and a channel closed when it next grows.
func (w *Watermark) next() (int64, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.seq, w.ch
}
