package manager

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/decide"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/sleep"
	"github.com/logq/logq/projection"
)

// runRole competes for the writer lock (roles write and auto) and leads
// while it holds it; after losing it, it competes again. Role read never
// competes.
func (m *Manager) runRole(ctx context.Context) {
	if m.cfg.Role == RoleRead {
		return
	}
	backoff := 50 * time.Millisecond
	for {
		w, err := eventlog.Acquire(ctx, m.cfg.DSN, m.cfg.Name)
		if ctx.Err() != nil {
			if w != nil {
				m.closeWriter(w)
			}
			return
		}
		if err != nil {
			m.log.Warn().Err(err).Dur("retry_in", backoff).Msg("cannot compete for the writer lock")
			if !sleep.For(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		start := time.Now()
		err = m.lead(ctx, w)
		if ctx.Err() != nil {
			return
		}
		led := time.Since(start)
		m.log.Warn().Err(err).Dur("led_for", led).Msg("no longer the writer; competing again")
		if led > 10*time.Second {
			backoff = 50 * time.Millisecond
			continue
		}
		// A term that failed at once (catching up, appending the election)
		// is retried with backoff, not in a hot loop.
		if !sleep.For(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// lead runs one writer term on w: catch up to the end of the log, announce
// the election, then check liveness on a ticker until the session is lost
// or ctx is done. It always closes w.
func (m *Manager) lead(ctx context.Context, w *eventlog.Writer) error {
	defer m.closeWriter(w)
	if err := m.catchUp(ctx, w.LastSeq()); err != nil {
		return err
	}
	if err := m.becomeWriter(ctx, w); err != nil {
		return err
	}
	if err := m.bootstrapPrincipals(ctx); err != nil { // security.go
		m.log.Error().Err(err).Msg("bootstrap principals")
	}
	defer m.stepDown(w)
	defer m.runGroups(ctx)() // the group coordinator for this term (groups.go)
	tick := time.NewTicker(m.cfg.LivenessCheckInterval)
	defer tick.Stop()
	sessionTick := time.NewTicker(m.cfg.SessionCheckInterval)
	defer sessionTick.Stop()
	lastTick := time.Now() // real time: it measures this process's own stalls (stall.go)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.Done():
			m.setWriter(false) // stop accepting writes at once
			return errors.New("the writer lost its database session")
		case <-m.deposed:
			return errors.New("the event log names a newer writer")
		case <-tick.C:
			m.afterStall(time.Since(lastTick))
			lastTick = time.Now()
			if _, err := m.CheckLiveness(ctx, m.cfg.Now()); err != nil && ctx.Err() == nil {
				m.log.Error().Err(err).Msg("liveness check failed")
			}
			m.maybeSnapshot(ctx)
		case <-sessionTick.C:
			if _, err := m.CheckSessions(ctx, m.cfg.Now()); err != nil && ctx.Err() == nil {
				m.log.Warn().Err(err).Msg("broker session check failed")
			}
		case <-m.clientKick: // a client shown inactive was heard from
			if _, err := m.CheckLiveness(ctx, m.cfg.Now()); err != nil && ctx.Err() == nil {
				m.log.Error().Err(err).Msg("liveness check failed")
			}
		}
	}
}

// becomeWriter appends WriterElected (with any reassignment of partitions
// left on dead brokers) and starts every broker's and active client's
// timer afresh (decide.Elect).
func (m *Manager) becomeWriter(ctx context.Context, w *eventlog.Writer) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	m.mu.RLock()
	d, err := decide.Elect(m.state, m.cfg.AdvertiseURL, w.Epoch(), m.cfg.Now())
	m.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("manager: %w", err)
	}

	select {
	case <-m.deposed: // left over from an earlier term
	default:
	}
	m.epoch.Store(w.Epoch())
	m.writer = w
	out, err := m.commit(ctx, d.Events)
	if err != nil {
		m.writer = nil
		return err
	}
	m.applyEffects(d.Effects)
	m.setWriter(true)
	m.log.Info().Int64("epoch", w.Epoch()).Int64("seq", out[len(out)-1].Seq).Msg("elected writer")
	return nil
}

// stepDown ends the writer term of w.
func (m *Manager) stepDown(w *eventlog.Writer) {
	m.setWriter(false)
	m.wmu.Lock()
	if m.writer == w {
		m.writer, m.heartbeats, m.sessions = nil, nil, nil
		m.clients.clear()
	}
	m.wmu.Unlock()
}

func (m *Manager) closeWriter(w *eventlog.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		m.log.Debug().Err(err).Msg("close writer")
	}
}

// commit appends the decided events as the writer and applies them: the
// "log, then apply" of decide-log-apply. The caller holds wmu and decided
// them from the current state. It returns the events as logged.
func (m *Manager) commit(ctx context.Context, decided []projection.Payload) ([]logq.Event, error) {
	events := make([]logq.Event, len(decided))
	for i, p := range decided {
		events[i] = projection.NewEvent(p)
	}
	w := m.writer
	if w == nil {
		return nil, m.notWriter()
	}
	select {
	case <-w.Done():
		m.setWriter(false)
		return nil, m.notWriter()
	default:
	}
	// A client that goes away must not abandon an append half-way.
	out, err := w.Append(context.WithoutCancel(ctx), events...)
	if err != nil {
		switch logq.ErrorCode(err) {
		case logq.EFenced, logq.EUnavailable, logq.ETimeout:
			m.setWriter(false)
			m.log.Warn().Err(err).Msg("append failed; stepping down")
			return nil, logq.Errorf(logq.ENotWriter, "this manager lost the writer role while appending; retry")
		}
		return nil, fmt.Errorf("manager: append: %w", err)
	}
	if err := m.apply(out, false); err != nil {
		return nil, logq.Internal(err, "apply own events")
	}
	m.metrics.appended.Add(float64(len(out)))
	return out, nil
}

// notWriter is the error for a write this manager cannot take.
func (m *Manager) notWriter() error {
	if w := m.knownWriter(); w != "" && w != m.cfg.AdvertiseURL {
		return logq.Errorf(logq.ENotWriter, "this manager is not the writer; the writer is %s", w)
	}
	return logq.Errorf(logq.ENotWriter, "this manager is not the writer and no writer is known (election in progress?); retry shortly")
}

// knownWriter is the writer named by the latest WriterElected event.
func (m *Manager) knownWriter() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.state.Writer
}

// applyEffects applies a decision's liveness effects to the writer's
// memory (decide.Liveness.Apply). The caller holds wmu.
func (m *Manager) applyEffects(e decide.Effects) {
	if e.IsZero() {
		return
	}
	m.clients.mu.Lock()
	defer m.clients.mu.Unlock()
	l := m.liveness()
	l.Apply(e)
	m.heartbeats, m.clients.seen, m.clients.quiet, m.sessions = l.Brokers, l.Clients, l.Quiet, l.Sessions
}

// liveness is the writer's memory of its brokers and clients, for the
// decisions. The caller holds wmu and clients.mu.
func (m *Manager) liveness() decide.Liveness {
	return decide.Liveness{Brokers: m.heartbeats, Clients: m.clients.seen, Quiet: m.clients.quiet, Sessions: m.sessions}
}

// timeouts are the writer's liveness settings, for the decisions.
func (m *Manager) timeouts() decide.Timeouts {
	return decide.Timeouts{Heartbeat: m.cfg.HeartbeatTimeout, Session: m.cfg.SessionGrace,
		Client: m.cfg.ClientTimeout, CheckInterval: m.cfg.LivenessCheckInterval}
}

// written is the outcome of a write: the seq of its last event (the
// applied seq when it decided none), the decision and the events as
// logged.
type written struct {
	seq    int64
	d      decide.Decision
	events []logq.Event
}

// writeOp is decide → append → apply: under wmu it runs decideFn with the
// state read-locked, commits the events it decided, then applies its
// liveness effects. A decision without events applies its effects at
// once; an error, from the decision or the append, changes nothing.
func (m *Manager) writeOp(ctx context.Context, decideFn func(s *projection.State) (decide.Decision, error)) (written, error) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if m.writer == nil {
		return written{}, m.notWriter()
	}
	m.mu.RLock()
	d, err := decideFn(m.state)
	seq := m.state.Seq
	m.mu.RUnlock()
	if err != nil {
		return written{}, err
	}
	var out []logq.Event
	if len(d.Events) > 0 {
		if out, err = m.commit(ctx, d.Events); err != nil {
			return written{}, err
		}
		seq = out[len(out)-1].Seq
	}
	m.applyEffects(d.Effects)
	return written{seq, d, out}, nil
}

// createTopic creates a topic with n partitions (0: one per live broker)
// and places them over the live brokers (decide.CreateTopic).
func (m *Manager) createTopic(ctx context.Context, topic string, n int) (int64, error) {
	w, err := m.writeOp(ctx, func(s *projection.State) (decide.Decision, error) {
		return decide.CreateTopic(s, topic, n)
	})
	return w.seq, err
}

// registerProducer registers a producer, creating the topic if unknown.
// principal ("": open mode) owns it (owners.go).
func (m *Manager) registerProducer(ctx context.Context, topic string, partition *int, principal string) (id, seq int64, err error) {
	w, err := m.writeOp(ctx, func(s *projection.State) (decide.Decision, error) {
		d, err := decide.RegisterProducer(s, topic, partition, m.cfg.Now())
		return ownedBy(d, principal), err
	})
	return w.d.ID, w.seq, err
}

// registerConsumer registers a consumer of an existing topic.
// principal ("": open mode) owns it (owners.go).
func (m *Manager) registerConsumer(ctx context.Context, topic string, partition *int, principal string) (id, seq int64, err error) {
	w, err := m.writeOp(ctx, func(s *projection.State) (decide.Decision, error) {
		d, err := decide.RegisterConsumer(s, topic, partition, m.cfg.Now())
		return ownedBy(d, principal), err
	})
	return w.d.ID, w.seq, err
}

// registerBroker registers a broker at address, with its Kafka listener at
// kafkaAddress if any, writing to storageCluster ("": the default;
// decide.RegisterStorageBroker).
func (m *Manager) registerBroker(ctx context.Context, address, kafkaAddress, storageCluster string, wantID int64, rejoin bool) (id, seq int64, err error) {
	w, err := m.writeOp(ctx, func(s *projection.State) (decide.Decision, error) {
		return decide.RegisterStorageBroker(s, address, kafkaAddress, storageCluster, wantID, rejoin, m.cfg.Now())
	})
	return w.d.ID, w.seq, err
}

// heartbeat records a broker's heartbeat (decide.Heartbeat).
func (m *Manager) heartbeat(ctx context.Context, id int64, address string) (int64, error) {
	w, err := m.writeOp(ctx, func(s *projection.State) (decide.Decision, error) {
		return decide.Heartbeat(s, id, address, m.cfg.Now())
	})
	return w.seq, err
}

// CheckLiveness declares dead every live broker without a heartbeat for
// HeartbeatTimeout as of now (BrokerStatusChanged{alive:false}) and
// reassigns its partitions to live brokers with a higher epoch
// (PartitionAssigned); it shows inactive every active producer or consumer
// not heard from for ClientTimeout, and active again every inactive one
// heard from since (ClientStatusChanged). All of it in one append
// (decide.CheckLiveness). It returns the events appended (none when
// nothing changed). The writer runs it on a ticker with Config.Now (and at
// once when a client shown inactive is heard from); tests call it with the
// time they want. On a reader it returns a logq ENotWriter error.
func (m *Manager) CheckLiveness(ctx context.Context, now time.Time) ([]logq.Event, error) {
	var silent []func() // log lines, written once the events are appended
	w, err := m.writeOp(ctx, func(s *projection.State) (decide.Decision, error) {
		m.clients.mu.Lock()
		defer m.clients.mu.Unlock()
		l := m.liveness()
		d := decide.CheckLiveness(s, l, m.timeouts(), now)
		for _, e := range d.Events {
			switch e := e.(type) {
			case projection.BrokerStatusChanged:
				gap := now.Sub(l.Brokers[e.BrokerID])
				silent = append(silent, func() {
					m.log.Warn().Int64("broker_id", e.BrokerID).Dur("silent_for", gap).Msg("broker missed its heartbeats; declaring it dead")
				})
			case projection.ClientStatusChanged:
				if !e.Active {
					gap := now.Sub(l.Clients[decide.Client{Kind: e.Client, ID: e.ID}])
					silent = append(silent, func() {
						m.log.Info().Str("client", e.Client).Int64("id", e.ID).Dur("silent_for", gap).Msg("client silent past the timeout; showing it inactive")
					})
				}
			}
		}
		return d, nil
	})
	for _, f := range silent {
		if err == nil {
			f()
		}
	}
	return w.events, err
}

// CheckSessions declares dead, at once, every live broker that this writer
// saw holding its session lock and that no longer holds it as of now (its
// process died, so PostgreSQL ended its session), and reassigns its
// partitions (decide.CheckSessions), in one append; a broker never seen
// holding a lock, or whose process hangs with its session open, is left to
// the heartbeat timeout of CheckLiveness. It reads the lock table once
// (eventlog.BrokerSessions) and returns the events appended. The writer
// runs it every SessionCheckInterval with Config.Now; tests call it with
// the time they want. On a reader it returns a logq ENotWriter error.
func (m *Manager) CheckSessions(ctx context.Context, now time.Time) ([]logq.Event, error) {
	held, err := eventlog.BrokerSessions(ctx, m.db)
	if err != nil {
		return nil, err
	}
	var lost []func() // log lines, written once the events are appended
	w, err := m.writeOp(ctx, func(s *projection.State) (decide.Decision, error) {
		m.clients.mu.Lock()
		defer m.clients.mu.Unlock()
		l := m.liveness()
		d := decide.CheckSessions(s, l, held, m.timeouts(), now)
		for _, e := range d.Events {
			if e, ok := e.(projection.BrokerStatusChanged); ok {
				gap := now.Sub(l.Sessions[e.BrokerID])
				lost = append(lost, func() {
					m.log.Warn().Int64("broker_id", e.BrokerID).Dur("lock_lost_for", gap).
						Msg("broker's database session ended (its process is gone); declaring it dead")
				})
			}
		}
		return d, nil
	})
	for _, f := range lost {
		if err == nil {
			f()
		}
	}
	return w.events, err
}

// clientHeartbeat records a producer's or consumer's heartbeat; one shown
// inactive is active again (decide.ClientHeartbeat).
func (m *Manager) clientHeartbeat(ctx context.Context, kind string, id int64) (int64, error) {
	w, err := m.writeOp(ctx, func(s *projection.State) (decide.Decision, error) {
		return decide.ClientHeartbeat(s, clientKey{Kind: kind, ID: id}, m.cfg.Now())
	})
	return w.seq, err
}

// removeBroker decommissions a broker (decide.RemoveBroker) and returns
// the reassignments.
func (m *Manager) removeBroker(ctx context.Context, id int64) (int64, []moveInfo, error) {
	var moves []moveInfo
	w, err := m.writeOp(ctx, func(s *projection.State) (decide.Decision, error) {
		d, err := decide.RemoveBroker(s, id)
		moves = movesOf(s, d)
		return d, err
	})
	if err != nil {
		return 0, nil, err
	}
	m.log.Info().Int64("broker_id", id).Int("partitions", len(moves)).Msg("decommissioned broker")
	return w.seq, moves, nil
}

// addPartitions adds count partitions to a topic and places them over the
// live brokers (decide.AddPartitions).
func (m *Manager) addPartitions(ctx context.Context, topic string, count, expect int) (int64, error) {
	w, err := m.writeOp(ctx, func(s *projection.State) (decide.Decision, error) {
		return decide.AddPartitions(s, topic, count, expect)
	})
	return w.seq, err
}

// rebalance evens out partitions over the live brokers (decide.Rebalance)
// and returns the moves.
func (m *Manager) rebalance(ctx context.Context) (int64, []moveInfo, error) {
	var moves []moveInfo
	w, err := m.writeOp(ctx, func(s *projection.State) (decide.Decision, error) {
		d, err := decide.Rebalance(s)
		moves = movesOf(s, d)
		return d, err
	})
	if err != nil {
		return 0, nil, err
	}
	return w.seq, moves, nil
}

// movesOf describes the reassignments of d, decided against s.
func movesOf(s *projection.State, d decide.Decision) []moveInfo {
	var moves []moveInfo
	for _, mv := range d.Moves() {
		moves = append(moves, newMoveInfo(s, mv))
	}
	return moves
}

// maybeSnapshot saves a snapshot of the state when SnapshotEvery events
// have passed since the last one. Called by the writer between ticks.
func (m *Manager) maybeSnapshot(ctx context.Context) {
	if m.cfg.SnapshotEvery < 0 {
		return
	}
	m.mu.RLock()
	seq := m.state.Seq
	if seq-m.snapSeq < m.cfg.SnapshotEvery || seq == 0 {
		m.mu.RUnlock()
		return
	}
	data, err := projection.Encode(m.state)
	m.mu.RUnlock()
	if err != nil {
		m.log.Error().Err(err).Msg("encode snapshot")
		return
	}
	if err := eventlog.SaveSnapshot(ctx, m.db, seq, data); err != nil {
		if ctx.Err() == nil {
			m.log.Warn().Err(err).Int64("seq", seq).Msg("save snapshot")
		}
		return
	}
	m.snapSeq = seq
	m.log.Info().Int64("seq", seq).Int("bytes", len(data)).Msg("snapshot saved")
}
