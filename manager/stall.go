package manager

import (
	"time"

	"github.com/logq/logq/decide"
)

// afterStall gives every broker and client a fresh timeout, as a new writer
// does, when the writer's liveness ticker fired gap after its previous tick
// and the writer itself did not run meanwhile (decide.AfterStall: the
// heartbeats sent meanwhile are still queued, unread).
func (m *Manager) afterStall(gap time.Duration) {
	e, stalled := decide.AfterStall(gap, m.timeouts(), m.cfg.Now())
	if !stalled {
		return
	}
	m.wmu.Lock()
	m.applyEffects(e)
	m.wmu.Unlock()
	m.log.Warn().Dur("stalled_for", gap).Msg("the writer did not run for a while; every broker and client gets a fresh timeout")
}
