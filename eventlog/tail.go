package eventlog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/logq/logq"
)

// Mode is how Tail learns about new events.
type Mode string

const (
	// ModeNotify uses LISTEN/NOTIFY as a wake-up and reads events by seq.
	ModeNotify Mode = "notify"
	// ModeLogical streams inserted events by logical replication (pgoutput).
	ModeLogical Mode = "logical"
)

// ParseMode parses a tail mode name ("notify" or "logical").
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeNotify, ModeLogical:
		return m, nil
	}
	return "", logq.Errorf(logq.EInvalid, "unknown tail mode %q (want %q or %q)", s, ModeNotify, ModeLogical)
}

// TailConfig configures Tail. Only DSN is required.
type TailConfig struct {
	DSN  string
	Mode Mode // ModeNotify when empty
	// SafetyTick is how often notify mode catches up even without a
	// notification. Default 1s.
	SafetyTick time.Duration
	// Logger receives connection failures (warn) and reconnections (info).
	// The zero value logs nothing.
	Logger zerolog.Logger
	// ApplicationName names Tail's connections in pg_stat_activity.
	// Default "logq-tail" (unless the DSN sets application_name).
	ApplicationName string
	// MinBackoff and MaxBackoff bound the wait before reconnecting; it
	// doubles on each failure in a row. Defaults 50ms and 2s.
	MinBackoff, MaxBackoff time.Duration
	// StatusInterval is how often logical mode confirms the WAL position it
	// has received, so the server can recycle WAL. Default 1s.
	StatusInterval time.Duration
	// BatchSize is how many events one catch-up query reads. Default 1000.
	BatchSize int
}

func (c TailConfig) withDefaults() (TailConfig, error) {
	if c.Mode == "" {
		c.Mode = ModeNotify
	}
	if _, err := ParseMode(string(c.Mode)); err != nil {
		return c, err
	}
	if _, err := pgx.ParseConfig(c.DSN); err != nil {
		return c, logq.Errorf(logq.EInvalid, "invalid database url: %v", err)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.SafetyTick, time.Second)
	def(&c.MinBackoff, 50*time.Millisecond)
	def(&c.MaxBackoff, 2*time.Second)
	def(&c.StatusInterval, time.Second)
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultLimit
	}
	if c.ApplicationName == "" {
		c.ApplicationName = "logq-tail"
	}
	return c, nil
}

// Tail delivers every event with seq > after to fn, in seq order, exactly
// once each, until ctx is done (it then returns ctx.Err()) or fn returns an
// error (returned wrapped). fn is called from Tail's own goroutine; Tail
// starts no other.
//
// Connection failures are retried with backoff and never skip or repeat an
// event: every (re)connection first catches up by seq with a plain SELECT,
// and an event that arrives after a gap is delivered only once the gap has
// been filled from the table. Connection failures include an unreachable
// or misconfigured server: Tail logs them (warn) and keeps trying; it
// returns early only for an invalid configuration.
func Tail(ctx context.Context, cfg TailConfig, after int64, fn func(logq.Event) error) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	t := &tailer{cfg: cfg, log: cfg.Logger, last: after, fn: fn}
	session := t.notify
	if cfg.Mode == ModeLogical {
		session = t.logical
	}
	backoff := cfg.MinBackoff
	for {
		t.connected = false
		err := session(ctx)
		var fe fnError
		if errors.As(err, &fe) {
			return fmt.Errorf("eventlog: tail: %w", fe.err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if t.connected {
			backoff = cfg.MinBackoff
		}
		t.log.Warn().Err(err).Str("mode", string(cfg.Mode)).Int64("last_seq", t.last).
			Dur("retry_in", backoff).Msg("event log tail interrupted")
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		backoff = min(2*backoff, cfg.MaxBackoff)
	}
}

// tailer is the state of one Tail call, shared by its successive sessions.
type tailer struct {
	cfg       TailConfig
	log       zerolog.Logger
	fn        func(logq.Event) error
	last      int64 // seq of the last event delivered
	connected bool  // the current session is up: its failure resets the backoff
}

// fnError marks an error returned by the caller's fn: it ends Tail rather
// than causing a reconnection.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// deliver hands e to fn if it is the next event; it reports whether e was
// the next one (or an old one, skipped). An event past a gap is not
// delivered: the caller fills the gap first.
func (t *tailer) deliver(e logq.Event) (ok bool, err error) {
	switch {
	case e.Seq <= t.last:
		return true, nil // already delivered
	case e.Seq > t.last+1:
		return false, nil
	}
	if err := t.fn(e); err != nil {
		return false, fnError{err}
	}
	t.last = e.Seq
	return true, nil
}

// catchUp delivers every event after t.last visible to conn, batch by
// batch, stopping early at a gap (an event not yet visible).
func (t *tailer) catchUp(ctx context.Context, conn *pgx.Conn) error {
	for {
		events, err := readAfter(ctx, conn, t.last, t.cfg.BatchSize)
		if err != nil {
			return err
		}
		for _, e := range events {
			ok, err := t.deliver(e)
			if err != nil {
				return err
			}
			if !ok {
				t.log.Warn().Int64("want_seq", t.last+1).Int64("got_seq", e.Seq).
					Msg("gap in the event log; waiting for it to fill")
				return nil
			}
		}
		if len(events) < t.cfg.BatchSize {
			return nil
		}
	}
}

// connect opens a query connection for one session.
func (t *tailer) connect(ctx context.Context) (*pgx.Conn, error) {
	return connect(ctx, t.cfg.DSN, t.cfg.ApplicationName, nil)
}
