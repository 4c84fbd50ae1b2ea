package eventlog_test

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/pgtest"
)

// TestBrokerLock: a held lock shows in BrokerSessions (beside the writer's
// lock, which it does not collide with); a terminated session is taken
// again on a new connection; a second holder of the same id waits; Run's
// end releases the lock.
func TestBrokerLock(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	ctx := testCtx(t)
	pool := pgtest.Pool(t, dsn, 4)
	admin := adminConn(t, dsn)
	acquire(t, dsn, "writer") // the writer's own lock is not a broker's

	sessions := func() map[int64]bool {
		t.Helper()
		held, err := eventlog.BrokerSessions(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		return held
	}
	if got := sessions(); len(got) != 0 {
		t.Fatalf("sessions before any broker lock = %v", got)
	}
	log := zerolog.New(zerolog.NewTestWriter(t))
	run := func(l *eventlog.BrokerLock) (stop func()) {
		runCtx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { l.Run(runCtx) })
		return func() { cancel(); wg.Wait() }
	}
	held := func(l *eventlog.BrokerLock) uint32 {
		t.Helper()
		_, ch := l.Held()
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatal("the lock was never taken")
		}
		pid, _ := l.Held()
		return pid
	}

	l1, err := eventlog.NewBrokerLock(dsn, 1, log)
	if err != nil {
		t.Fatal(err)
	}
	l7, _ := eventlog.NewBrokerLock(dsn, 7, log)
	stop1, stop7 := run(l1), run(l7)
	defer stop1()
	pid1 := held(l1)
	held(l7)
	if got, want := sessions(), map[int64]bool{1: true, 7: true}; !maps.Equal(got, want) {
		t.Fatalf("sessions = %v, want %v", got, want)
	}

	// Another holder of id 1 (a restarted broker whose old session lingers)
	// waits for the first.
	again, _ := eventlog.NewBrokerLock(dsn, 1, log)
	stopAgain := run(again)
	defer stopAgain()
	waitFor(t, 10*time.Second, "the second holder of id 1 to wait", func() bool { return waitingLocks(t, admin, "logq-broker-lock") == 1 })
	if pid, _ := again.Held(); pid != 0 {
		t.Fatal("two sessions hold broker 1's lock")
	}
	stopAgain()

	// A terminated session is replaced.
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", pid1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "broker 1 to take its lock again", func() bool {
		pid, _ := l1.Held()
		return pid != 0 && pid != pid1
	})
	waitFor(t, 10*time.Second, "the new session in pg_locks", func() bool { return sessions()[1] })

	stop7()
	waitFor(t, 10*time.Second, "broker 7's lock released", func() bool {
		return maps.Equal(sessions(), map[int64]bool{1: true})
	})
	if _, err := eventlog.NewBrokerLock(dsn, eventlog.MaxLockedBrokerID+1, log); err == nil {
		t.Fatal("a broker id beyond int4 got a lock")
	}
}
