package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/eventlog/eventlogtest"
	"github.com/logq/logq/projection"
)

// TestReplicaNeedsNoEventBeforeItsSnapshot: a replica starts from the
// newest snapshot and reads only the events after it — those the snapshot
// covers may be gone — then follows the log, in both tail modes. A
// snapshot it cannot decode is skipped for an older one or the log.
func TestReplicaNeedsNoEventBeforeItsSnapshot(t *testing.T) {
	t.Parallel()
	eachMode(t, func(t *testing.T, mode eventlog.Mode) {
		ctx := testCtx(t)
		log, dsn := newLog(t, mode)
		admin := adminConn(t, dsn)
		in := eventlogtest.Instance{Log: log, Writer: acquire(t, dsn, "writer")}
		states := eventlogtest.History(t, in, 30)
		last := int64(len(states) - 1)
		if _, err := admin.Exec(ctx, "DELETE FROM events WHERE seq <= 30"); err != nil {
			t.Fatal(err)
		}

		r := eventlogtest.StartReplica(t, eventlog.ReplicaConfig{Log: log})
		if r.SnapshotSeq() != 30 || r.AppliedSeq() != last {
			t.Fatalf("replica from snapshot %d at seq %d; want 30 and %d", r.SnapshotSeq(), r.AppliedSeq(), last)
		}
		eventlogtest.SameState(t, "after Start", r.Clone(), states[last])
		for i := range 3 {
			stored := eventlogtest.Append(t, in.Writer, projection.NewEvent(projection.TopicCreated{Topic: fmt.Sprint("later", i), Partitions: 1}))
			eventlogtest.WaitApplied(t, r, stored[0].Seq)
		}
		if _, err := r.StateAt(ctx, 31); err != nil {
			t.Errorf("StateAt(31), after the snapshot: %v", err)
		}
		if _, err := r.StateAt(ctx, 29); err == nil {
			t.Error("StateAt(29) succeeded without the events before the snapshot")
		}

		// A newer snapshot that does not decode: the replica falls back
		// to the log (here complete from 31 on only, so it must fail
		// rather than invent a state).
		if err := log.SaveSnapshot(ctx, last, []byte("not a state")); err != nil {
			t.Fatal(err)
		}
		if err := eventlog.NewReplica(eventlog.ReplicaConfig{Log: log}).Start(ctx); err == nil {
			t.Error("a replica started from an unreadable snapshot over a truncated log")
		}
	})
}

// failingTail is the log whose first tails fail after delivering one event.
type failingTail struct {
	*eventlog.DB
	fail atomic.Int32 // tails left to fail
}

var errTailBroke = errors.New("tail broke")

func (l *failingTail) Tail(ctx context.Context, after int64, fn func(logq.Event) error) error {
	if l.fail.Add(-1) < 0 {
		return l.DB.Tail(ctx, after, fn)
	}
	err := l.DB.Tail(ctx, after, func(e logq.Event) error {
		if err := fn(e); err != nil {
			return err
		}
		return errTailBroke
	})
	if !errors.Is(err, errTailBroke) {
		return err
	}
	return fmt.Errorf("test: %w", err)
}

// TestReplicaRunRestartsTail: a tail that stops on an error is restarted
// from the applied seq; every event is applied once, in order.
func TestReplicaRunRestartsTail(t *testing.T) {
	t.Parallel()
	db, dsn := newLog(t, eventlog.ModeNotify)
	w := acquire(t, dsn, "writer")
	log := &failingTail{DB: db}
	log.fail.Store(3)
	var mu sync.Mutex
	var seqs []int64
	r := eventlogtest.StartReplica(t, eventlog.ReplicaConfig{Log: log, MinBackoff: time.Millisecond,
		OnApply: func(_ *projection.State, events []logq.Event, _ bool) {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range events {
				seqs = append(seqs, e.Seq)
			}
		}})
	for i := range 6 {
		mustAppend(t, w, projection.NewEvent(projection.BrokerRegistered{BrokerID: int64(i + 1), Address: fmt.Sprint("b", i)}))
	}
	eventlogtest.WaitApplied(t, r, 6)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seqs, []int64{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("applied seqs %v; want 1..6 once each", seqs)
	}
	if n := log.fail.Load(); n >= 0 {
		t.Fatalf("%d tails left to fail; want all 3 failed and restarted", n+1)
	}
}
