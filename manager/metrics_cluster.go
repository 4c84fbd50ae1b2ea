package manager

import (
	"strconv"
	"time"

	"github.com/logq/logq/internal/prom"
	"github.com/prometheus/client_golang/prometheus"
)

// clusterCollector reports the cluster as this manager's state sees it, at
// scrape time: broker liveness (and, on the writer, heartbeat age), how
// many topics, partitions, producers and consumers there are. Per-broker
// series are bounded by the number of brokers; nothing is labelled by
// topic, producer or consumer here (brokers report per-partition high
// watermarks and bounded per-consumer lag).
type clusterCollector struct {
	m                *Manager
	brokerAlive      *prometheus.Desc
	brokerPartitions *prometheus.Desc
	heartbeatAge     *prometheus.Desc
	sessionWatched   *prometheus.Desc
	topics           *prometheus.Desc
	partitions       *prometheus.Desc
	unassigned       *prometheus.Desc
	producers        *prometheus.Desc
	consumers        *prometheus.Desc
}

func newClusterCollector(m *Manager) prometheus.Collector {
	c := &clusterCollector{m: m}
	g := prom.NewGauges(c.collect)
	c.brokerAlive = g.Gauge("logq_manager_broker_alive",
		"1 while a registered broker is alive in this manager's state, 0 once declared dead (removed brokers are not reported).",
		"broker_id")
	c.brokerPartitions = g.Gauge("logq_manager_broker_partitions", "Partitions assigned to each registered broker.", "broker_id")
	c.heartbeatAge = g.Gauge("logq_manager_broker_heartbeat_age_seconds",
		"Time since each broker's last heartbeat, on the writer's clock (reported by the writer only).", "broker_id")
	c.sessionWatched = g.Gauge("logq_manager_broker_session_watched",
		"1 for each broker the writer has seen holding its session lock: its process's death moves its partitions at once (reported by the writer only).",
		"broker_id")
	c.topics = g.Gauge("logq_manager_topics", "Topics.")
	c.partitions = g.Gauge("logq_manager_partitions", "Partitions over all topics.")
	c.unassigned = g.Gauge("logq_manager_partitions_unwritable",
		"Partitions not writable now: unassigned, or owned by a dead broker awaiting reassignment.")
	c.producers = g.Gauge("logq_manager_producers", "Registered producers, by state (active or inactive).", "state")
	c.consumers = g.Gauge("logq_manager_consumers", "Registered consumers, by state (active or inactive).", "state")
	return g
}

func (c *clusterCollector) collect(gauge prom.Sink) {
	m := c.m
	m.mu.RLock()
	s := m.state
	for _, id := range s.BrokerIDs() {
		b := s.Brokers[id]
		if b.Removed {
			continue
		}
		label := strconv.FormatInt(id, 10)
		gauge.Set(c.brokerAlive, float64(b2i(b.Alive)), label)
		gauge.Set(c.brokerPartitions, float64(len(s.PartitionsOf(id))), label)
	}
	parts, unwritable := 0, 0
	for name, t := range s.Topics {
		parts += len(t.Partitions)
		for i := range t.Partitions {
			if !s.Writable(name, i) {
				unwritable++
			}
		}
	}
	gauge.Set(c.topics, float64(len(s.Topics)))
	gauge.Set(c.partitions, float64(parts))
	gauge.Set(c.unassigned, float64(unwritable))
	var prod, cons [2]int // [active, inactive]
	for _, p := range s.Producers {
		prod[b2i(p.Inactive)]++
	}
	for _, cs := range s.Consumers {
		cons[b2i(cs.Inactive)]++
	}
	m.mu.RUnlock()
	gauge.Set(c.producers, float64(prod[0]), "active")
	gauge.Set(c.producers, float64(prod[1]), "inactive")
	gauge.Set(c.consumers, float64(cons[0]), "active")
	gauge.Set(c.consumers, float64(cons[1]), "inactive")

	if ages, ok := m.heartbeatAges(250 * time.Millisecond); ok {
		for id, age := range ages {
			gauge.Set(c.heartbeatAge, age.Seconds(), strconv.FormatInt(id, 10))
		}
	}
	if watched, ok := m.sessionsWatched(250 * time.Millisecond); ok {
		for id := range watched {
			gauge.Set(c.sessionWatched, 1, strconv.FormatInt(id, 10))
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// heartbeatAges returns, on the writer, the time since each broker's last
// heartbeat on the writer's clock; ok is false on a reader, or when the
// writer's decision lock stays busy (an append in progress) for longer
// than wait: a status page or a scrape must not hang on a slow database.
func (m *Manager) heartbeatAges(wait time.Duration) (ages map[int64]time.Duration, ok bool) {
	return underWriterLock(m, wait, func() (map[int64]time.Duration, bool) {
		if m.heartbeats == nil {
			return nil, false
		}
		now := m.cfg.Now()
		out := make(map[int64]time.Duration, len(m.heartbeats))
		for id, t := range m.heartbeats {
			out[id] = max(0, now.Sub(t))
		}
		return out, true
	})
}

// sessionsWatched returns, on the writer, the brokers it has seen holding
// their session lock (their process's death moves their partitions at
// once, CheckSessions), bounded by wait as heartbeatAges.
func (m *Manager) sessionsWatched(wait time.Duration) (map[int64]bool, bool) {
	return underWriterLock(m, wait, func() (map[int64]bool, bool) {
		out := make(map[int64]bool, len(m.sessions))
		for id := range m.sessions {
			out[id] = true
		}
		return out, m.heartbeats != nil
	})
}

// underWriterLock runs f under wmu on the writer and returns its result,
// unless this manager is a reader or wmu stays busy for longer than wait.
func underWriterLock[T any](m *Manager, wait time.Duration, f func() (T, bool)) (v T, ok bool) {
	if !m.IsWriter() {
		return v, false
	}
	type result struct {
		v  T
		ok bool
	}
	done := make(chan result, 1) // never blocks f
	go func() {
		m.wmu.Lock()
		defer m.wmu.Unlock()
		v, ok := f()
		done <- result{v, ok}
	}()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case r := <-done:
		return r.v, r.ok
	case <-t.C:
		return v, false
	}
}
