package manager

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
		case <-m.clientKick: // a client shown inactive was heard from
			if _, err := m.CheckLiveness(ctx, m.cfg.Now()); err != nil && ctx.Err() == nil {
				m.log.Error().Err(err).Msg("liveness check failed")
			}
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
	var active []clientKey
	m.mu.RLock()
	for _, id := range m.state.BrokerIDs() {
		m.heartbeats[id] = now
	}
	for id, p := range m.state.Producers {
		if !p.Inactive {
			active = append(active, clientKey{kindProducer, id})
		}
	}
	for id, c := range m.state.Consumers {
		if !c.Inactive {
			active = append(active, clientKey{kindConsumer, id})
		}
	}
	m.mu.RUnlock()
	m.clients.reset(active, now)
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
		m.clients.set(clientKey{kindProducer, id}, m.cfg.Now())
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
		m.clients.set(clientKey{kindConsumer, id}, m.cfg.Now())
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
// brokers; one already alive at the same address gets no event. A removed
// broker's id is refused (410 broker_removed), and so is its address unless
// rejoin is set: then the address joins again as a new broker, with a new
// id.
func (m *Manager) registerBroker(ctx context.Context, address string, wantID int64, rejoin bool) (id, seq int64, err error) {
	seq, err = m.writeOp(ctx, func(s *projection.State) ([]logq.Event, error) {
		var current, removed int64 // brokers at this address: not removed, removed (the last)
		for _, bid := range sortedBrokerIDs(s) {
			if b := s.Brokers[bid]; b.Address == address {
				if b.Removed {
					removed = bid
				} else if current == 0 {
					current = bid
				}
			}
		}
		id = wantID
		if id == 0 {
			id = current
		}
		if id == 0 {
			id = s.NextIDs.Broker
		}
		b, known := s.Brokers[id]
		if known && b.Removed {
			return nil, logq.Errorf(logq.EBrokerRemoved,
				"broker %d was removed from the cluster (decommissioned) and cannot come back under that id; stop it, "+
					"or register its address without a broker_id and with \"rejoin\": true to add it as a new broker", id)
		}
		if !known && current == 0 && removed != 0 && !rejoin {
			return nil, logq.Errorf(logq.EBrokerRemoved,
				"address %s belonged to broker %d, which was removed from the cluster (decommissioned); "+
					"to add this address back as a new broker, register with \"rejoin\": true", address, removed)
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

// sortedBrokerIDs returns the ids of every broker, removed ones included,
// sorted.
func sortedBrokerIDs(s *projection.State) []int64 {
	ids := make([]int64, 0, len(s.Brokers))
	for id := range s.Brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
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
			return nil, logq.Errorf(logq.EBrokerRemoved,
				"broker %d was removed from the cluster (decommissioned): its partitions were reassigned and its heartbeats are refused; stop it", id)
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
// (PartitionAssigned); it shows inactive every active producer or consumer
// not heard from for ClientTimeout, and active again every inactive one
// heard from since (ClientStatusChanged). All of it in one append. It
// returns the events appended (none when nothing changed). The writer runs
// it on a ticker with Config.Now (and at once when a client shown inactive
// is heard from); tests call it with the time they want. On a reader it
// returns a logq ENotWriter error.
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
		if len(decided) > 0 {
			decided = append(decided, p.reassignOrphans()...)
		}
		return append(decided, m.checkClients(s, now)...), nil
	})
	return events, err
}

// checkClients decides the ClientStatusChanged events of CheckLiveness,
// producers then consumers, by id. The caller holds wmu.
func (m *Manager) checkClients(s *projection.State, now time.Time) []logq.Event {
	m.clients.mu.Lock()
	defer m.clients.mu.Unlock()
	if m.clients.seen == nil {
		m.clients.seen = map[clientKey]time.Time{}
	}
	if m.clients.quiet == nil {
		m.clients.quiet = map[clientKey]struct{}{}
	}
	var out []logq.Event
	check := func(kind string, id int64, inactive bool) {
		k := clientKey{kind, id}
		last, ok := m.clients.seen[k]
		_, quiet := m.clients.quiet[k]
		switch {
		case !inactive && !ok:
			m.clients.seen[k] = now // its timer starts now
		case !inactive && now.Sub(last) >= m.cfg.ClientTimeout:
			out = append(out, projection.NewEvent(projection.ClientStatusChanged{Client: kind, ID: id, Active: false}))
			m.clients.quiet[k] = struct{}{}
			m.log.Info().Str("client", kind).Int64("id", id).Dur("silent_for", now.Sub(last)).Msg("client silent past the timeout; showing it inactive")
		case inactive && ok && !quiet && now.Sub(last) < m.cfg.ClientTimeout:
			// Heard from since it was shown inactive (or since this
			// writer was elected).
			out = append(out, projection.NewEvent(projection.ClientStatusChanged{Client: kind, ID: id, Active: true}))
		}
	}
	for _, id := range sortedKeys(s.Producers) {
		check(kindProducer, id, s.Producers[id].Inactive)
	}
	for _, id := range sortedKeys(s.Consumers) {
		check(kindConsumer, id, s.Consumers[id].Inactive)
	}
	return out
}

func sortedKeys[V any](m map[int64]V) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// clientHeartbeat records a producer's or consumer's heartbeat; one shown
// inactive is active again (ClientStatusChanged).
func (m *Manager) clientHeartbeat(ctx context.Context, kind string, id int64) (int64, error) {
	return m.writeOp(ctx, func(s *projection.State) ([]logq.Event, error) {
		inactive, ok := clientStatus(s, kind, id)
		if !ok {
			if kind == kindProducer {
				return nil, logq.Errorf(logq.EProducerNotFound, "producer %d not found; register it first", id)
			}
			return nil, logq.Errorf(logq.EConsumerNotFound, "consumer %d not found; register it first", id)
		}
		m.clients.set(clientKey{kind, id}, m.cfg.Now())
		if !inactive {
			return nil, nil
		}
		return []logq.Event{projection.NewEvent(projection.ClientStatusChanged{Client: kind, ID: id, Active: true})}, nil
	})
}

// removeBroker decommissions a broker: its partitions move to the
// least-loaded live brokers with the next epoch (PartitionAssigned), then
// BrokerRemoved retires it, in one append. It returns the reassignments.
// Refused when the broker is unknown (404), already removed (410), or owns
// partitions that no other live broker can take (409).
func (m *Manager) removeBroker(ctx context.Context, id int64) (int64, []moveInfo, error) {
	var moves []moveInfo
	seq, err := m.writeOp(ctx, func(s *projection.State) ([]logq.Event, error) {
		moves = nil
		b, ok := s.Brokers[id]
		if !ok {
			return nil, logq.Errorf(logq.EBrokerNotFound, "broker %d not found", id)
		}
		if b.Removed {
			return nil, logq.Errorf(logq.EBrokerRemoved, "broker %d was already removed", id)
		}
		p := newPlan(s)
		p.alive[id] = false
		owned := s.PartitionsOf(id)
		if len(owned) > 0 && len(p.loads()) == 0 {
			return nil, logq.Errorf(logq.EConflict,
				"broker %d owns %d partitions and no other live broker can take them; start or register another broker first", id, len(owned))
		}
		events := p.reassignOrphans()
		for _, e := range events {
			pl, err := projection.Decode(e)
			if err != nil {
				return nil, logq.Internal(err, "decode own event")
			}
			moves = append(moves, newMoveInfo(s, pl.(projection.PartitionAssigned)))
		}
		delete(m.heartbeats, id)
		m.log.Info().Int64("broker_id", id).Int("partitions", len(owned)).Msg("decommissioning broker")
		return append(events, projection.NewEvent(projection.BrokerRemoved{BrokerID: id})), nil
	})
	return seq, moves, err
}

// addPartitions adds count partitions to a topic and spreads them over the
// least-loaded live brokers (PartitionsAdded, then PartitionAssigned at
// epoch 1). With expect >= 0, the topic must have exactly expect
// partitions now (409 otherwise), which makes a retry safe.
func (m *Manager) addPartitions(ctx context.Context, topic string, count, expect int) (int64, error) {
	return m.writeOp(ctx, func(s *projection.State) ([]logq.Event, error) {
		t, ok := s.Topics[topic]
		if !ok {
			return nil, logq.Errorf(logq.ETopicNotFound, "topic %q not found", topic)
		}
		n := len(t.Partitions)
		if expect >= 0 && n != expect {
			return nil, logq.Errorf(logq.EConflict, "topic %q has %d partitions, not the %d expected; nothing added", topic, n, expect)
		}
		if count < 1 || n+count > projection.MaxPartitions {
			return nil, logq.Errorf(logq.EInvalid, "count must be between 1 and %d for topic %q (it has %d partitions, at most %d allowed); got %d",
				max(projection.MaxPartitions-n, 1), topic, n, projection.MaxPartitions, count)
		}
		loads := newPlan(s).loads()
		if len(loads) == 0 {
			return nil, logq.Errorf(logq.EUnavailable, "no live broker to hold new partitions of topic %q; start or register a broker", topic)
		}
		events := []logq.Event{projection.NewEvent(projection.PartitionsAdded{Topic: topic, Count: count})}
		for i := range count {
			events = append(events, projection.NewEvent(projection.PartitionAssigned{
				Topic: topic, Partition: n + i, BrokerID: pick(loads), Epoch: 1,
			}))
		}
		return events, nil
	})
}

// rebalance evens out partitions over the live brokers (see
// plan.rebalance) and returns the moves.
func (m *Manager) rebalance(ctx context.Context) (int64, []moveInfo, error) {
	var moves []moveInfo
	seq, err := m.writeOp(ctx, func(s *projection.State) ([]logq.Event, error) {
		p := newPlan(s)
		if len(p.loads()) == 0 {
			return nil, logq.Errorf(logq.EUnavailable, "no live broker to balance partitions over")
		}
		decided := p.rebalance()
		events := make([]logq.Event, len(decided))
		moves = make([]moveInfo, len(decided))
		for i, mv := range decided {
			events[i] = projection.NewEvent(mv)
			moves[i] = newMoveInfo(s, mv)
		}
		return events, nil
	})
	return seq, moves, err
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

// rebalance decides the moves that even out partitions over the live
// brokers, moving ownership only (the data stays in PostgreSQL): first
// every partition without a live owner is assigned, then, while the most
// loaded broker has two partitions more than the least loaded, one of its
// partitions moves there, preferring the topic it holds most of compared
// with the receiver (so that topics spread too). Every partition moves at
// most once, with the next epoch. Deterministic for a given state.
func (p *plan) rebalance() []projection.PartitionAssigned {
	type ref struct {
		topic string
		index int
	}
	loads := p.loads()
	if len(loads) == 0 {
		return nil
	}
	owner := map[ref]int64{}
	held := map[int64][]ref{}              // live broker → partitions, in topic/index order
	perTopic := map[int64]map[string]int{} // live broker → topic → count
	for id := range loads {
		perTopic[id] = map[string]int{}
	}
	var orphans []ref
	for _, name := range p.s.TopicNames() {
		for _, part := range p.s.Topics[name].Partitions {
			r := ref{name, part.Index}
			if part.Broker != 0 && p.isAlive(part.Broker) {
				owner[r] = part.Broker
				held[part.Broker] = append(held[part.Broker], r)
				perTopic[part.Broker][name]++
			} else {
				orphans = append(orphans, r)
			}
		}
	}
	for _, r := range orphans {
		id := pick(loads)
		owner[r] = id
		held[id] = append(held[id], r)
		perTopic[id][r.topic]++
	}
	ids := make([]int64, 0, len(loads))
	for id := range loads {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	moved := map[ref]bool{}
	for {
		src, dst := ids[0], ids[0]
		for _, id := range ids {
			if loads[id] > loads[src] {
				src = id
			}
			if loads[id] < loads[dst] {
				dst = id
			}
		}
		if loads[src]-loads[dst] <= 1 {
			break
		}
		best := -1
		for i, r := range held[src] {
			if moved[r] {
				continue
			}
			if best < 0 {
				best = i
				continue
			}
			b := held[src][best]
			gain := perTopic[src][r.topic] - perTopic[dst][r.topic]
			bestGain := perTopic[src][b.topic] - perTopic[dst][b.topic]
			if gain > bestGain || gain == bestGain && r.topic == b.topic {
				best = i // later partitions of a topic move first
			}
		}
		if best < 0 {
			break // everything on src moved already (cannot happen with fresh moves only)
		}
		r := held[src][best]
		held[src] = slices.Delete(held[src], best, best+1)
		held[dst] = append(held[dst], r)
		loads[src]--
		loads[dst]++
		perTopic[src][r.topic]--
		perTopic[dst][r.topic]++
		owner[r] = dst
		moved[r] = true
	}
	var out []projection.PartitionAssigned
	for _, name := range p.s.TopicNames() {
		for _, part := range p.s.Topics[name].Partitions {
			if id := owner[ref{name, part.Index}]; id != part.Broker {
				out = append(out, projection.PartitionAssigned{Topic: name, Partition: part.Index, BrokerID: id, Epoch: part.Epoch + 1})
			}
		}
	}
	return out
}
