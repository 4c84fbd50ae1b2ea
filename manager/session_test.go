package manager

import (
	"testing"
	"time"

	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

// TestBrokerSessionTakeover: a broker whose database session ends (its
// process is gone) is declared dead and loses its partitions as soon as
// the session grace passes, long before the heartbeat timeout; a broker
// whose session blipped and came back, one whose session is alive while
// its heartbeats stopped (a hung process), and one that never took a lock
// (an older binary) are not. The writer's session ticker runs for real
// (every 10 ms) on the injected clock, so only the clock decides when the
// grace and the heartbeat timeout pass.
func TestBrokerSessionTakeover(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	ctx := testCtx(t)
	clk := newFakeClock()
	w := startManager(t, Config{Role: RoleWrite, DSN: dsn, Now: clk.Now, LivenessCheckInterval: time.Hour,
		SessionCheckInterval: 10 * time.Millisecond, ClientTimeout: 24 * time.Hour})
	waitWriter(t, w)
	// The brokers heartbeat every 15 s of real time: none after registration
	// within this test, so on the injected clock their heartbeats stop at
	// registration, as a hung broker's do.
	b1, b2 := startBroker(t, dsn, w.url), startBroker(t, dsn, w.url)
	old, _, err := w.registerBroker(ctx, "127.0.0.1:1", "", "", 0, false) // no lock: an older broker
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, w, "three live brokers", func(s *projection.State) bool { return len(s.LiveBrokers()) == 3 })
	pool := newPool(t, dsn)
	sessions := func() map[int64]bool {
		t.Helper()
		held, err := eventlog.BrokerSessions(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		return held
	}
	poll(t, 10*time.Second, "both brokers' session locks", func() bool {
		s := sessions()
		return s[b1.ID()] && s[b2.ID()] && b1.SessionLock() != nil && b2.SessionLock() != nil
	})
	if _, err := w.CheckSessions(ctx, clk.Now()); err != nil { // seen holding them now
		t.Fatal(err)
	}
	if _, err := w.createTopic(ctx, "t", 3); err != nil {
		t.Fatal(err)
	}
	owned := func(s *projection.State, id int64) int { return len(s.PartitionsOf(id)) }
	if s := w.State(); owned(s, b1.ID()) != 1 || owned(s, b2.ID()) != 1 {
		t.Fatalf("placement: broker %d has %d, broker %d has %d partitions; want one each",
			b1.ID(), owned(s, b1.ID()), b2.ID(), owned(s, b2.ID()))
	}

	// A blip: b2's session is terminated and it takes its lock again.
	pid2, _ := b2.SessionLock().Held()
	if _, err := pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid2); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "broker 2's lock taken again", func() bool {
		pid, _ := b2.SessionLock().Held()
		return pid != 0 && pid != pid2 && sessions()[b2.ID()]
	})

	// Heartbeats 59 s old: nobody is dead by the heartbeat rule.
	clk.Advance(59 * time.Second)
	if ev, err := w.CheckLiveness(ctx, clk.Now()); err != nil || len(ev) != 0 {
		t.Fatalf("CheckLiveness before the heartbeat timeout = %v, %v; want nothing", ev, err)
	}
	if ev, err := w.CheckSessions(ctx, clk.Now()); err != nil || len(ev) != 0 { // all seen held now
		t.Fatalf("CheckSessions with every lock held = %v, %v; want nothing", ev, err)
	}

	// b1's process goes: its session ends. Past the grace, the writer's
	// ticker declares it dead and moves its partition.
	b1.stop(t)
	poll(t, 10*time.Second, "broker 1's session to end", func() bool { return !sessions()[b1.ID()] })
	clk.Advance(DefaultSessionGrace)
	waitState(t, w, "broker 1 dead, its partition moved", func(s *projection.State) bool {
		return !s.Brokers[b1.ID()].Alive && owned(s, b1.ID()) == 0
	})
	if _, err := w.CheckSessions(ctx, clk.Now()); err != nil {
		t.Fatal(err)
	}
	s := w.State()
	for _, id := range []int64{b2.ID(), old} {
		if !s.Brokers[id].Alive {
			t.Errorf("broker %d declared dead %v after its last heartbeat (timeout %v), its session alive or never locked",
				id, 59*time.Second+DefaultSessionGrace, DefaultHeartbeatTimeout)
		}
	}
	if owned(s, b2.ID())+owned(s, old) != 3 {
		t.Errorf("brokers %d and %d own %d partitions of 3", b2.ID(), old, owned(s, b2.ID())+owned(s, old))
	}

	// The heartbeat timeout still holds for a broker whose session is alive.
	clk.Advance(time.Second)
	if _, err := w.CheckLiveness(ctx, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if s := w.State(); s.Brokers[b2.ID()].Alive || s.Brokers[old].Alive {
		t.Error("silent brokers alive past the heartbeat timeout")
	}
}

// poll waits until cond holds, checking it every 10 ms, for at most
// timeout: for conditions no event signals (the server's lock table).
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
