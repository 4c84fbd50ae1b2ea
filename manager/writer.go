package manager

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/eventlog"
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
			if !wait(ctx, backoff) {
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
		if !wait(ctx, backoff) {
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
	defer m.stepDown(w)
	tick := time.NewTicker(m.cfg.LivenessCheckInterval)
	defer tick.Stop()
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
			if _, err := m.CheckLiveness(ctx, m.cfg.Now()); err != nil && ctx.Err() == nil {
				m.log.Error().Err(err).Msg("liveness check failed")
			}
			m.maybeSnapshot(ctx)
		}
	}
}

// becomeWriter appends WriterElected (with any reassignment of partitions
// left on dead brokers) and starts every broker's heartbeat timer afresh.
func (m *Manager) becomeWriter(ctx context.Context, w *eventlog.Writer) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	m.mu.RLock()
	prev := m.state.WriterEpoch
	if w.Epoch() <= prev {
		m.mu.RUnlock()
		return fmt.Errorf("manager: writer epoch %d does not exceed the logged epoch %d", w.Epoch(), prev)
	}
	events := []logq.Event{projection.NewEvent(projection.WriterElected{Manager: m.cfg.AdvertiseURL, Epoch: w.Epoch()})}
	events = append(events, newPlan(m.state).reassignOrphans()...)
	m.mu.RUnlock()

	select {
	case <-m.deposed: // left over from an earlier term
	default:
	}
	m.epoch.Store(w.Epoch())
	m.writer = w
	out, err := m.commit(ctx, events)
	if err != nil {
		m.writer = nil
		return err
	}
	seq := out[len(out)-1].Seq
	now := m.cfg.Now()
	m.heartbeats = map[int64]time.Time{}
	m.mu.RLock()
	for _, id := range m.state.BrokerIDs() {
		m.heartbeats[id] = now
	}
	m.mu.RUnlock()
	m.setWriter(true)
	m.log.Info().Int64("epoch", w.Epoch()).Int64("seq", seq).Msg("elected writer")
	return nil
}

// stepDown ends the writer term of w.
func (m *Manager) stepDown(w *eventlog.Writer) {
	m.setWriter(false)
	m.wmu.Lock()
	if m.writer == w {
		m.writer, m.heartbeats = nil, nil
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

// commit appends events as the writer and applies them: the "log, then
// apply" of decide-log-apply. The caller holds wmu and decided events from
// the current state. It returns the events as logged.
func (m *Manager) commit(ctx context.Context, events []logq.Event) ([]logq.Event, error) {
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

// writeOp runs decide under wmu with the state read-locked, then commits
// the events it returns, and returns the seq of the last one. decide
// returns no events when nothing changes; the seq is then the applied seq.
func (m *Manager) writeOp(ctx context.Context, decide func(s *projection.State) ([]logq.Event, error)) (int64, error) {
	seq, _, err := m.writeOpEvents(ctx, decide)
	return seq, err
}

// writeOpEvents is writeOp that also returns the events as logged.
func (m *Manager) writeOpEvents(ctx context.Context, decide func(s *projection.State) ([]logq.Event, error)) (int64, []logq.Event, error) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if m.writer == nil {
		return 0, nil, m.notWriter()
	}
	m.mu.RLock()
	events, err := decide(m.state)
	seq := m.state.Seq
	m.mu.RUnlock()
	if err != nil || len(events) == 0 {
		return seq, nil, err
	}
	out, err := m.commit(ctx, events)
	if err != nil {
		return 0, nil, err
	}
	return out[len(out)-1].Seq, out, nil
}

// createTopic creates a topic with n partitions (0: one per live broker)
// and assigns them over the live brokers.
func (m *Manager) createTopic(ctx context.Context, topic string, n int) (int64, error) {
	return m.writeOp(ctx, func(s *projection.State) ([]logq.Event, error) {
		if _, ok := s.Topics[topic]; ok {
			return nil, logq.Errorf(logq.ETopicExists, "topic %q already exists", topic)
		}
		return newPlan(s).createTopic(topic, n)
	})
}

// registerProducer registers a producer, creating the topic if unknown.
func (m *Manager) registerProducer(ctx context.Context, topic string, partition *int) (id, seq int64, err error) {
	seq, err = m.writeOp(ctx, func(s *projection.State) ([]logq.Event, error) {
		var events []logq.Event
		n := 0
		if t, ok := s.Topics[topic]; ok {
			n = len(t.Partitions)
		} else {
			ev, err := newPlan(s).createTopic(topic, 0)
			if err != nil {
				return nil, err
			}
			events = ev
			n = max(1, len(s.LiveBrokers()))
		}
		if err := checkPartition(topic, partition, n); err != nil {
			return nil, err
		}
		id = s.NextIDs.Producer
		return append(events, projection.NewEvent(projection.ProducerRegistered{ProducerID: id, Topic: topic, Partition: partition})), nil
	})
	return id, seq, err
}

// registerConsumer registers a consumer of an existing topic.
func (m *Manager) registerConsumer(ctx context.Context, topic string, partition *int) (id, seq int64, err error) {
	seq, err = m.writeOp(ctx, func(s *projection.State) ([]logq.Event, error) {
		t, ok := s.Topics[topic]
		if !ok {
			return nil, logq.Errorf(logq.ETopicNotFound, "topic %q not found", topic)
		}
		if err := checkPartition(topic, partition, len(t.Partitions)); err != nil {
			return nil, err
		}
		id = s.NextIDs.Consumer
		return []logq.Event{projection.NewEvent(projection.ConsumerRegistered{ConsumerID: id, Topic: topic, Partition: partition})}, nil
	})
	return id, seq, err
}

func checkPartition(topic string, partition *int, n int) error {
	if partition != nil && (*partition < 0 || *partition >= n) {
		return logq.Errorf(logq.EInvalid, "topic %q has partitions 0..%d; no partition %d", topic, n-1, *partition)
	}
	return nil
}

// registerBroker registers a broker at address: a known address (or the
// given id) keeps its id. A broker that is new, moved or dead gets a
// BrokerRegistered event (alive again) and any partitions left on dead
// brokers; one already alive at the same address gets no event.
func (m *Manager) registerBroker(ctx context.Context, address string, wantID int64) (id, seq int64, err error) {
	seq, err = m.writeOp(ctx, func(s *projection.State) ([]logq.Event, error) {
		id = wantID
		if id == 0 {
			id = s.NextIDs.Broker
			for _, bid := range s.BrokerIDs() {
				if s.Brokers[bid].Address == address {
					id = bid
					break
				}
			}
		}
		b, known := s.Brokers[id]
		if known && b.Removed {
			return nil, logq.Errorf(logq.EBrokerRemoved, "broker %d was removed; register without a broker_id to get a new one", id)
		}
		m.heartbeats[id] = m.cfg.Now()
		if known && b.Alive && b.Address == address {
			return nil, nil
		}
		p := newPlan(s)
		p.alive[id] = true
		events := []logq.Event{projection.NewEvent(projection.BrokerRegistered{BrokerID: id, Address: address})}
		return append(events, p.reassignOrphans()...), nil
	})
	return id, seq, err
}

// heartbeat records a broker's heartbeat; a broker believed dead is alive
// again (BrokerStatusChanged), one at a new address is registered there.
func (m *Manager) heartbeat(ctx context.Context, id int64, address string) (int64, error) {
	return m.writeOp(ctx, func(s *projection.State) ([]logq.Event, error) {
		b, ok := s.Brokers[id]
		if !ok {
			return nil, logq.Errorf(logq.EBrokerNotFound, "broker %d is not registered; register it first", id)
		}
		if b.Removed {
			return nil, logq.Errorf(logq.EBrokerRemoved, "broker %d was removed", id)
		}
		m.heartbeats[id] = m.cfg.Now()
		var events []logq.Event
		switch {
		case address != "" && address != b.Address:
			events = append(events, projection.NewEvent(projection.BrokerRegistered{BrokerID: id, Address: address}))
		case !b.Alive:
			events = append(events, projection.NewEvent(projection.BrokerStatusChanged{BrokerID: id, Alive: true}))
		default:
			return nil, nil
		}
		p := newPlan(s)
		p.alive[id] = true
		return append(events, p.reassignOrphans()...), nil
	})
}

// CheckLiveness declares dead every live broker without a heartbeat for
// HeartbeatTimeout as of now (BrokerStatusChanged{alive:false}) and
// reassigns its partitions to live brokers with a higher epoch
// (PartitionAssigned), in one append. It returns the events appended (none
// when nothing changed). The writer runs it on a ticker with Config.Now;
// tests call it with the time they want. On a reader it returns a logq
// ENotWriter error.
func (m *Manager) CheckLiveness(ctx context.Context, now time.Time) ([]logq.Event, error) {
	_, events, err := m.writeOpEvents(ctx, func(s *projection.State) ([]logq.Event, error) {
		var decided []logq.Event
		p := newPlan(s)
		for _, id := range s.LiveBrokers() {
			last, ok := m.heartbeats[id]
			if !ok {
				m.heartbeats[id] = now
				continue
			}
			if now.Sub(last) >= m.cfg.HeartbeatTimeout {
				decided = append(decided, projection.NewEvent(projection.BrokerStatusChanged{BrokerID: id, Alive: false}))
				p.alive[id] = false
				m.log.Warn().Int64("broker_id", id).Dur("silent_for", now.Sub(last)).Msg("broker missed its heartbeats; declaring it dead")
			}
		}
		if len(decided) == 0 {
			return nil, nil
		}
		decided = append(decided, p.reassignOrphans()...)
		return decided, nil
	})
	return events, err
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

// plan decides partition assignments against the state plus the liveness
// changes decided in the same batch (alive overrides).
type plan struct {
	s     *projection.State
	alive map[int64]bool
}

func newPlan(s *projection.State) *plan { return &plan{s: s, alive: map[int64]bool{}} }

func (p *plan) isAlive(id int64) bool {
	if v, ok := p.alive[id]; ok {
		return v
	}
	b, ok := p.s.Brokers[id]
	return ok && b.Alive && !b.Removed
}

// loads counts the partitions owned by each live broker.
func (p *plan) loads() map[int64]int {
	loads := map[int64]int{}
	for id := range p.s.Brokers {
		if p.isAlive(id) {
			loads[id] = 0
		}
	}
	for id, v := range p.alive {
		if v {
			loads[id] = 0
		}
	}
	for _, t := range p.s.Topics {
		for _, part := range t.Partitions {
			if _, ok := loads[part.Broker]; ok {
				loads[part.Broker]++
			}
		}
	}
	return loads
}

// pick returns the least-loaded broker (lowest id on ties) and counts the
// new partition against it. 0 when loads is empty.
func pick(loads map[int64]int) int64 {
	var best int64
	for id, n := range loads {
		if best == 0 || n < loads[best] || (n == loads[best] && id < best) {
			best = id
		}
	}
	if best != 0 {
		loads[best]++
	}
	return best
}

// createTopic decides TopicCreated and the assignment of its partitions
// (n = 0: one per live broker).
func (p *plan) createTopic(topic string, n int) ([]logq.Event, error) {
	if err := projection.ValidateTopicName(topic); err != nil {
		return nil, logq.Errorf(logq.EInvalid, "%v", err)
	}
	loads := p.loads()
	if len(loads) == 0 {
		return nil, logq.Errorf(logq.EUnavailable, "no live broker to hold topic %q; start or register a broker", topic)
	}
	if n == 0 {
		n = len(loads)
	}
	if n < 1 || n > projection.MaxPartitions {
		return nil, logq.Errorf(logq.EInvalid, "partition count %d outside 1..%d", n, projection.MaxPartitions)
	}
	events := []logq.Event{projection.NewEvent(projection.TopicCreated{Topic: topic, Partitions: n})}
	for i := range n {
		events = append(events, projection.NewEvent(projection.PartitionAssigned{
			Topic: topic, Partition: i, BrokerID: pick(loads), Epoch: 1,
		}))
	}
	return events, nil
}

// reassignOrphans moves every partition that is unassigned or on a broker
// not alive to the least-loaded live broker, with the next epoch. Nothing
// moves when no broker is alive.
func (p *plan) reassignOrphans() []logq.Event {
	loads := p.loads()
	if len(loads) == 0 {
		return nil
	}
	var events []logq.Event
	for _, name := range p.s.TopicNames() {
		for _, part := range p.s.Topics[name].Partitions {
			if part.Broker != 0 && p.isAlive(part.Broker) {
				continue
			}
			events = append(events, projection.NewEvent(projection.PartitionAssigned{
				Topic: name, Partition: part.Index, BrokerID: pick(loads), Epoch: part.Epoch + 1,
			}))
		}
	}
	return events
}
