package manager

import "time"

// afterStall gives every broker and client a fresh timeout, as a new writer
// does, when the writer's liveness ticker fired gap after its previous tick
// and gap exceeds the tick interval by over half the heartbeat timeout: the
// writer itself did not run (a stopped or starved process, a paused VM), so
// the heartbeats sent meanwhile are still queued, unread. Declaring brokers
// dead on the stale times would move every partition at once (seen in the
// fault-injection suite: SIGSTOP the writer past the heartbeat timeout,
// then SIGCONT).
func (m *Manager) afterStall(gap time.Duration) {
	if gap-m.cfg.LivenessCheckInterval <= m.cfg.HeartbeatTimeout/2 {
		return
	}
	now := m.cfg.Now()
	m.wmu.Lock()
	for id := range m.heartbeats {
		m.heartbeats[id] = now
	}
	m.wmu.Unlock()
	m.clients.restartAll(now)
	m.log.Warn().Dur("stalled_for", gap).Msg("the writer did not run for a while; every broker and client gets a fresh timeout")
}

// restartAll starts the timer of every client with a time afresh at now.
func (c *clientTracker) restartAll(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.seen {
		c.seen[k] = now
	}
}
