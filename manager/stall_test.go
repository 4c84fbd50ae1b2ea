package manager

import (
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestAfterStall: a liveness tick late by more than half the heartbeat
// timeout (the writer did not run) restarts every broker's and client's
// timer; a tick on time, or late by less, changes nothing.
func TestAfterStall(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	m := &Manager{cfg: Config{HeartbeatTimeout: 2 * time.Second, LivenessCheckInterval: time.Second, Now: clock.Now}, log: zerolog.Nop()}
	old := clock.Now()
	m.heartbeats = map[int64]time.Time{1: old, 2: old}
	m.clients.set(clientKey{Kind: kindProducer, ID: 7}, old)
	clock.Advance(10 * time.Second)

	for _, gap := range []time.Duration{time.Second, 1500 * time.Millisecond, 2 * time.Second} {
		m.afterStall(gap)
		if m.heartbeats[1] != old {
			t.Fatalf("a tick %v apart restarted the timers", gap)
		}
	}
	m.afterStall(2*time.Second + time.Millisecond)
	now := clock.Now()
	if m.heartbeats[1] != now || m.heartbeats[2] != now {
		t.Fatalf("after a stall the heartbeats are %v; want %v", m.heartbeats, now)
	}
	if last, _ := m.clients.lastSeen(clientKey{Kind: kindProducer, ID: 7}); last != now {
		t.Fatalf("after a stall the client was last seen %v; want %v", last, now)
	}
}
