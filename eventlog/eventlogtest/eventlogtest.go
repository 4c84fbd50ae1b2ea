// Package eventlogtest is the conformance suite of the event log: the
// behaviour every implementation of eventlog.Log (with its single writer,
// an eventlog.Appender) must have, and that eventlog.Replica and the
// servers rely on. Run it from an implementation's tests:
//
//	eventlogtest.Run(t, func(t *testing.T) eventlogtest.Instance { … })
//
// The suite covers ordered, gap-free reads (and paged reads), snapshots
// at or before a seq, tails that deliver concurrent appends in seq order
// exactly once and stop on their callback's error, StateAt equal to a
// full replay, and a Replica following the log.
package eventlogtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/projection"
)

// Instance is one empty event log for one test.
type Instance struct {
	Log    eventlog.Log
	Writer eventlog.Appender // appends to Log as its single writer
}

// Factory returns a new, empty log; it cleans up after itself (t.Cleanup).
// The suite calls it once per test, from parallel tests.
type Factory func(t *testing.T) Instance

// Timeout bounds each wait of the suite: a tail that does not deliver
// fails the test rather than hangs it.
const Timeout = 30 * time.Second

// Run runs the suite against the logs newLog makes.
func Run(t *testing.T, newLog Factory) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Instance)
	}{
		{"ReadAfter", testReadAfter},
		{"Pages", testPages},
		{"Snapshots", testSnapshots},
		{"TailConcurrentAppends", testTailConcurrentAppends},
		{"TailStopsOnCallbackError", testTailStopsOnCallbackError},
		{"StateAtEqualsFullReplay", testStateAt},
		{"ReplicaStartsFromSnapshotAndFollows", testReplicaFollows},
		{"ReplicaSkipsWriterApplied", testReplicaWriterApplied},
		{"ReplicaWaitApplied", testReplicaWaitApplied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newLog(t))
		})
	}
}

// Ctx is a test's context, bounded so that a hung test fails.
func Ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Event returns an event to append (the log assigns seq, time, epoch).
func Event(typ, data string) logq.Event { return logq.Event{Type: typ, Data: []byte(data)} }

// Append appends events and returns them as stored.
func Append(t *testing.T, w eventlog.Appender, events ...logq.Event) []logq.Event {
	t.Helper()
	stored, err := w.Append(Ctx(t), events...)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return stored
}

// SameEvent reports whether a and b are the same stored event.
func SameEvent(a, b logq.Event) bool {
	return a.Seq == b.Seq && a.At.Equal(b.At) && a.Type == b.Type && string(a.Data) == string(b.Data) && a.Epoch == b.Epoch
}

// CheckSeqs fails unless events are exactly seqs from, from+1, ..., to.
func CheckSeqs(t *testing.T, events []logq.Event, from, to int64) {
	t.Helper()
	if want := to - from + 1; int64(len(events)) != want {
		t.Fatalf("got %d events; want %d (seq %d..%d)", len(events), want, from, to)
	}
	for i, e := range events {
		if want := from + int64(i); e.Seq != want {
			t.Fatalf("event %d has seq %d; want %d", i, e.Seq, want)
		}
	}
}

func testReadAfter(t *testing.T, in Instance) {
	ctx := Ctx(t)
	if n, err := in.Log.LastSeq(ctx); n != 0 || err != nil {
		t.Fatalf("LastSeq of an empty log = %d, %v; want 0", n, err)
	}
	if got, err := in.Log.ReadAfter(ctx, 0, 0); len(got) != 0 || err != nil {
		t.Fatalf("ReadAfter on an empty log = %+v, %v; want none", got, err)
	}
	var all []logq.Event
	all = append(all, Append(t, in.Writer, Event("A", `{"i": 1}`), Event("B", `{"i": 2}`), Event("C", `{"i": 3}`))...)
	all = append(all, Append(t, in.Writer, Event("A", `{"i": 4}`), Event("B", `{"i": 5}`))...)
	all = append(all, Append(t, in.Writer, Event("C", `{"i": 6}`))...)
	CheckSeqs(t, all, 1, 6)

	if n, err := in.Log.LastSeq(ctx); n != 6 || err != nil {
		t.Fatalf("LastSeq = %d, %v; want 6", n, err)
	}
	read, err := in.Log.ReadAfter(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(read, all, SameEvent) {
		t.Fatalf("ReadAfter returned\n%+v\nwant what Append returned\n%+v", read, all)
	}
	if got, err := in.Log.ReadAfter(ctx, 2, 3); err != nil || !slices.EqualFunc(got, all[2:5], SameEvent) {
		t.Errorf("ReadAfter(2, limit 3) = %+v, %v; want seqs 3..5", got, err)
	}
	if got, err := in.Log.ReadAfter(ctx, 6, 10); err != nil || len(got) != 0 {
		t.Errorf("ReadAfter(6) = %+v, %v; want none", got, err)
	}
}

func testPages(t *testing.T, in Instance) {
	ctx := Ctx(t)
	var all []logq.Event
	for i := range 10 {
		all = append(all, Append(t, in.Writer, Event("A", fmt.Sprintf(`{"i": %d}`, 2*i)), Event("B", fmt.Sprintf(`{"i": %d}`, 2*i+1)))...)
	}
	read := func(after, until int64, limit int) (got []logq.Event, pages []int) {
		t.Helper()
		err := eventlog.Pages(ctx, in.Log, after, until, limit, func(events []logq.Event) error {
			got = append(got, events...)
			pages = append(pages, len(events))
			return nil
		})
		if err != nil {
			t.Fatalf("Pages(after %d, until %d, limit %d): %v", after, until, limit, err)
		}
		return got, pages
	}
	for _, tc := range []struct {
		after, until int64
		limit        int
		want         []logq.Event
		pages        []int
	}{
		{0, 0, 3, all, []int{3, 3, 3, 3, 3, 3, 2}},
		{0, 0, 0, all, []int{20}},
		{5, 0, 10, all[5:], []int{10, 5}},
		{20, 0, 4, nil, nil},
		{0, 7, 3, all[:9], []int{3, 3, 3}}, // whole pages, up to the one holding 7
		{2, 3, 5, all[2:7], []int{5}},
	} {
		got, pages := read(tc.after, tc.until, tc.limit)
		if !slices.EqualFunc(got, tc.want, SameEvent) || !slices.Equal(pages, tc.pages) {
			t.Errorf("Pages(after %d, until %d, limit %d) read %d events in pages %v; want %d in %v",
				tc.after, tc.until, tc.limit, len(got), pages, len(tc.want), tc.pages)
		}
	}
	stop := errors.New("stop")
	calls := 0
	err := eventlog.Pages(ctx, in.Log, 0, 0, 2, func([]logq.Event) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Pages with a failing fn = %v after %d calls; want its error after 1", err, calls)
	}
}

func testSnapshots(t *testing.T, in Instance) {
	ctx := Ctx(t)
	const newest = 1<<63 - 1
	if _, _, err := in.Log.SnapshotAtOrBefore(ctx, newest); !errors.Is(err, logq.ErrNotFound) {
		t.Fatalf("SnapshotAtOrBefore with none: %v; want ErrNotFound", err)
	}
	// Saved out of order: the newer is the one with the higher seq.
	for _, seq := range []int64{20, 10} {
		if err := in.Log.SaveSnapshot(ctx, seq, fmt.Appendf(nil, "state@%d", seq)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		at, want int64
	}{{newest, 20}, {20, 20}, {19, 10}, {15, 10}, {10, 10}} {
		seq, state, err := in.Log.SnapshotAtOrBefore(ctx, tc.at)
		if want := fmt.Sprintf("state@%d", tc.want); seq != tc.want || string(state) != want || err != nil {
			t.Errorf("SnapshotAtOrBefore(%d) = %d, %q, %v; want %d, %s", tc.at, seq, state, err, tc.want, want)
		}
	}
	if _, _, err := in.Log.SnapshotAtOrBefore(ctx, 9); !errors.Is(err, logq.ErrNotFound) {
		t.Errorf("SnapshotAtOrBefore(9): %v; want ErrNotFound", err)
	}
	// Saving again at a seq replaces that snapshot.
	if err := in.Log.SaveSnapshot(ctx, 20, []byte("state@20 again")); err != nil {
		t.Fatal(err)
	}
	if _, state, _ := in.Log.SnapshotAtOrBefore(ctx, newest); string(state) != "state@20 again" {
		t.Errorf("newest snapshot after re-save = %q", state)
	}
	if err := in.Log.SaveSnapshot(ctx, -1, nil); !errors.Is(err, logq.ErrInvalid) {
		t.Errorf("SaveSnapshot(-1): %v; want ErrInvalid", err)
	}
}

// Collector gathers the events a tail delivers; tests wait on it.
type Collector struct {
	mu     sync.Mutex
	events []logq.Event
	more   chan struct{} // signalled on every delivery
	failAt int64         // Add fails on this seq, when non-zero
}

// ErrStop is what a Collector's Add returns at its failAt seq.
var ErrStop = errors.New("collector: stop")

// NewCollector returns a collector whose Add fails with ErrStop at seq
// failAt (never when 0).
func NewCollector(failAt int64) *Collector {
	return &Collector{more: make(chan struct{}, 1), failAt: failAt}
}

// Add is a tail's callback.
func (c *Collector) Add(e logq.Event) error {
	c.mu.Lock()
	c.events = append(c.events, e)
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
	if e.Seq == c.failAt {
		return ErrStop
	}
	return nil
}

// Events returns the events delivered so far.
func (c *Collector) Events() []logq.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

// Wait returns the events delivered once there are at least n.
func (c *Collector) Wait(t *testing.T, n int) []logq.Event {
	t.Helper()
	timer := time.NewTimer(Timeout)
	defer timer.Stop()
	for {
		if got := c.Events(); len(got) >= n {
			return got
		}
		select {
		case <-c.more:
		case <-timer.C:
			t.Fatalf("timed out after %v waiting for %d events; have %d", Timeout, n, len(c.Events()))
		}
	}
}

// StartTail runs log.Tail(after, c.Add) in the background. stop cancels it
// and returns what Tail returned; it also runs at cleanup.
func StartTail(t *testing.T, log eventlog.Log, after int64, c *Collector) (stop func() error) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- log.Tail(ctx, after, c.Add) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// testTailConcurrentAppends: events appended by many goroutines at once
// reach the tail gap-free, in seq order, once each, exactly as stored.
func testTailConcurrentAppends(t *testing.T, in Instance) {
	ctx := Ctx(t)
	Append(t, in.Writer, Event("Before", "{}")) // delivered by the first catch-up
	c := NewCollector(0)
	stop := StartTail(t, in.Log, 0, c)

	const goroutines, appends = 8, 25
	stored := make([][]logq.Event, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range appends {
				batch := []logq.Event{Event("T", fmt.Sprintf(`{"g": %d, "i": %d, "k": 0}`, g, i))}
				if i%5 == 4 {
					batch = append(batch,
						Event("T", fmt.Sprintf(`{"g": %d, "i": %d, "k": 1}`, g, i)),
						Event("T", fmt.Sprintf(`{"g": %d, "i": %d, "k": 2}`, g, i)))
				}
				got, err := in.Writer.Append(ctx, batch...)
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				stored[g] = append(stored[g], got...)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	last, err := in.Log.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(1 + goroutines*(appends+2*appends/5)); last != want {
		t.Fatalf("LastSeq = %d; want %d", last, want)
	}
	got := c.Wait(t, int(last))
	CheckSeqs(t, got, 1, last)
	table, err := in.Log.ReadAfter(ctx, 0, int(last)+1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, table, SameEvent) {
		t.Fatal("tailed events differ from the log's")
	}
	for g, events := range stored {
		for i, e := range events {
			if !SameEvent(e, got[e.Seq-1]) {
				t.Fatalf("goroutine %d: Append returned %+v; tail delivered %+v", g, e, got[e.Seq-1])
			}
			if i > 0 && e.Seq <= events[i-1].Seq {
				t.Fatalf("goroutine %d: seq %d after %d", g, e.Seq, events[i-1].Seq)
			}
		}
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Tail returned %v; want context.Canceled", err)
	}
	if extra := c.Events(); len(extra) != len(got) {
		t.Fatalf("tail delivered %d events; want %d", len(extra), len(got))
	}
}

// testTailStopsOnCallbackError: Tail starts after the given seq and ends
// with fn's error.
func testTailStopsOnCallbackError(t *testing.T, in Instance) {
	Append(t, in.Writer, Event("A", "{}"), Event("B", "{}"))
	c := NewCollector(4)
	stop := StartTail(t, in.Log, 1, c)
	c.Wait(t, 1) // caught up: seq 2
	Append(t, in.Writer, Event("C", "{}"))
	Append(t, in.Writer, Event("D", "{}"), Event("E", "{}"))
	got := c.Wait(t, 3)
	if err := stop(); !errors.Is(err, ErrStop) {
		t.Fatalf("Tail returned %v; want the callback's error", err)
	}
	CheckSeqs(t, got, 2, 4)
	CheckSeqs(t, c.Events(), 2, 4)
}

// History appends a writer's life to the log — an election, brokers,
// topics with their partitions assigned, producers, a broker's death and a
// reassignment — and saves snapshots after the events numbered in
// snapshotAt (counted from 1 in the order appended; each must be the end of
// an append). It returns the state after each seq: states[s] is the state
// as of seq s (states[0] the empty one).
func History(t *testing.T, in Instance, snapshotAt ...int64) (states []*projection.State) {
	t.Helper()
	live := projection.New()
	states = []*projection.State{live.Clone()}
	appendApply := func(ps ...projection.Payload) {
		t.Helper()
		evs := make([]logq.Event, len(ps))
		for i, p := range ps {
			evs[i] = projection.NewEvent(p)
		}
		for _, e := range Append(t, in.Writer, evs...) {
			if err := projection.Apply(live, e); err != nil {
				t.Fatal(err)
			}
			states = append(states, live.Clone())
		}
		if slices.Contains(snapshotAt, live.Seq) {
			snap, err := projection.Encode(live)
			if err != nil {
				t.Fatal(err)
			}
			if err := in.Log.SaveSnapshot(Ctx(t), live.Seq, snap); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendApply(projection.WriterElected{Manager: "http://m1", Epoch: 1},
		projection.BrokerRegistered{BrokerID: 1, Address: "b1"},
		projection.BrokerRegistered{BrokerID: 2, Address: "b2"})
	for i := range 10 {
		topic := fmt.Sprintf("t%d", i)
		appendApply(projection.TopicCreated{Topic: topic, Partitions: 2},
			projection.PartitionAssigned{Topic: topic, Partition: 0, BrokerID: 1, Epoch: 1},
			projection.PartitionAssigned{Topic: topic, Partition: 1, BrokerID: 2, Epoch: 1})
		appendApply(projection.ProducerRegistered{ProducerID: live.NextIDs.Producer, Topic: topic})
	}
	appendApply(projection.BrokerStatusChanged{BrokerID: 2, Alive: false},
		projection.PartitionAssigned{Topic: "t3", Partition: 1, BrokerID: 1, Epoch: 2})
	return states
}

// SameState fails the test unless got renders as want.
func SameState(t *testing.T, what string, got, want *projection.State) {
	t.Helper()
	if g, w := projection.Render(got), projection.Render(want); g != w || got.Seq != want.Seq {
		t.Fatalf("%s: state at seq %d:\n%s\nwant (seq %d):\n%s", what, got.Seq, g, want.Seq, w)
	}
}

// testStateAt: the state as of any seq — from the snapshot at or before
// it, or from the start — equals the full replay's prefix.
func testStateAt(t *testing.T, in Instance) {
	ctx := Ctx(t)
	states := History(t, in, 7, 23)
	last := int64(len(states) - 1)
	full := projection.New()
	if n, err := eventlog.Replay(ctx, in.Log, full, 0); err != nil || int64(n) != last {
		t.Fatalf("Replay = %d events, %v; want %d", n, err, last)
	}
	SameState(t, "full replay", full, states[last])
	for _, seq := range []int64{0, 1, 6, 7, 8, 22, 23, 24, last - 1, last} {
		got, err := eventlog.StateAt(ctx, in.Log, seq)
		if err != nil {
			t.Fatalf("StateAt(%d): %v", seq, err)
		}
		SameState(t, fmt.Sprintf("StateAt(%d)", seq), got, states[seq])
		if seq > 0 {
			prefix := projection.New()
			if _, err := eventlog.Replay(ctx, in.Log, prefix, seq); err != nil {
				t.Fatal(err)
			}
			SameState(t, fmt.Sprintf("Replay to %d", seq), prefix, states[seq])
		}
	}
	if _, err := eventlog.StateAt(ctx, in.Log, last+1); !errors.Is(err, logq.ErrNotFound) {
		t.Errorf("StateAt(%d) past the end: %v; want ErrNotFound", last+1, err)
	}
}

// StartReplica makes a replica, starts it and runs it in the background
// until the test ends.
func StartReplica(t *testing.T, cfg eventlog.ReplicaConfig) *eventlog.Replica {
	t.Helper()
	r := eventlog.NewReplica(cfg)
	if err := r.Start(Ctx(t)); err != nil {
		t.Fatalf("start: %v", err)
	}
	RunReplica(t, r)
	return r
}

// RunReplica runs r.Run in the background until the test ends.
func RunReplica(t *testing.T, r *eventlog.Replica) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// WaitApplied waits (bounded by Timeout) until r has applied seq.
func WaitApplied(t *testing.T, r *eventlog.Replica, seq int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	defer cancel()
	if err := r.WaitApplied(ctx, seq); err != nil {
		t.Fatalf("WaitApplied(%d): %v", seq, err)
	}
}

// applyLog records what a replica applied, through OnApply.
type applyLog struct {
	mu                 sync.Mutex
	seqs               []int64
	fromTail, fromCall int
}

func (a *applyLog) onApply(_ *projection.State, events []logq.Event, fromTail bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range events {
		a.seqs = append(a.seqs, e.Seq)
	}
	if fromTail {
		a.fromTail += len(events)
	} else {
		a.fromCall += len(events)
	}
}

func (a *applyLog) get() (seqs []int64, fromTail, fromCall int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seqs), a.fromTail, a.fromCall
}

// testReplicaFollows: a replica starts from the newest snapshot (it never
// applies the events the snapshot covers), catches up to the end, then
// follows appends by its tail; its state is the full replay's.
func testReplicaFollows(t *testing.T, in Instance) {
	states := History(t, in, 10, 26)
	var applied applyLog
	r := StartReplica(t, eventlog.ReplicaConfig{Log: in.Log, OnApply: applied.onApply})
	if r.SnapshotSeq() != 26 {
		t.Fatalf("SnapshotSeq = %d; want 26 (the newest)", r.SnapshotSeq())
	}
	last := int64(len(states) - 1)
	if r.AppliedSeq() != last {
		t.Fatalf("after Start, AppliedSeq = %d; want the log's end, %d", r.AppliedSeq(), last)
	}
	SameState(t, "after Start", r.Clone(), states[last])
	if seqs, _, _ := applied.get(); len(seqs) == 0 || seqs[0] != 27 {
		t.Fatalf("Start applied seqs %v; want 27 on (after the snapshot)", seqs)
	}

	// The tail brings what is appended next.
	ev := projection.NewEvent(projection.TopicCreated{Topic: "later", Partitions: 1})
	stored := Append(t, in.Writer, ev)
	WaitApplied(t, r, stored[0].Seq)
	r.View(func(s *projection.State) {
		if _, ok := s.Topics["later"]; !ok || s.Seq != stored[0].Seq {
			t.Errorf("replica at seq %d without the topic appended at %d", s.Seq, stored[0].Seq)
		}
	})
	seqs, fromTail, _ := applied.get()
	if fromTail != 1 || !slices.Equal(seqs, seqsFrom(27, stored[0].Seq)) {
		t.Errorf("applied seqs %v (%d from the tail); want 27..%d, the last from the tail", seqs, fromTail, stored[0].Seq)
	}
	for _, seq := range []int64{3, 26, 30, last, stored[0].Seq} {
		got, err := r.StateAt(Ctx(t), seq)
		if err != nil {
			t.Fatalf("StateAt(%d): %v", seq, err)
		}
		if seq <= last {
			SameState(t, fmt.Sprintf("replica StateAt(%d)", seq), got, states[seq])
		} else if got.Seq != seq {
			t.Errorf("replica StateAt(%d) is at seq %d", seq, got.Seq)
		}
	}
}

func seqsFrom(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// testReplicaWriterApplied: the writer applies what it appended at once;
// the tail then delivers those events again and the replica skips them —
// each seq is applied exactly once, tail or not.
func testReplicaWriterApplied(t *testing.T, in Instance) {
	var applied applyLog
	r := eventlog.NewReplica(eventlog.ReplicaConfig{Log: in.Log, OnApply: applied.onApply})
	if err := r.Start(Ctx(t)); err != nil {
		t.Fatal(err)
	}
	// The writer applies its appends before the tail runs, so the tail
	// surely brings them again.
	var own []int64
	for i := range 5 {
		stored := Append(t, in.Writer, projection.NewEvent(projection.BrokerRegistered{BrokerID: int64(i + 1), Address: fmt.Sprint("b", i)}))
		if err := r.Apply(stored); err != nil {
			t.Fatalf("Apply(seq %d): %v", stored[0].Seq, err)
		}
		if r.AppliedSeq() != stored[0].Seq {
			t.Fatalf("after Apply, AppliedSeq = %d; want %d", r.AppliedSeq(), stored[0].Seq)
		}
		own = append(own, stored[0].Seq)
		if err := r.Apply(stored); err != nil { // again: a no-op
			t.Fatalf("Apply again: %v", err)
		}
	}
	RunReplica(t, r)
	// An event the writer does not apply itself comes by the tail; once it
	// is applied, the tail has delivered everything before it too.
	other := Append(t, in.Writer, projection.NewEvent(projection.TopicCreated{Topic: "t", Partitions: 1}))
	WaitApplied(t, r, other[0].Seq)
	seqs, fromTail, fromCall := applied.get()
	if want := append(own, other[0].Seq); !slices.Equal(seqs, want) {
		t.Fatalf("applied seqs %v; want each once: %v", seqs, want)
	}
	if fromCall != len(own) || fromTail != 1 {
		t.Errorf("applied %d by Apply and %d from the tail; want %d and 1", fromCall, fromTail, len(own))
	}
	// A refused event stops an Apply and leaves the state as it was.
	bad := logq.Event{Seq: other[0].Seq + 5, Type: projection.TypeTopicCreated, Data: []byte(`{"topic":"x","partitions":1}`)}
	if err := r.Apply([]logq.Event{bad}); err == nil {
		t.Error("Apply of an event past a gap succeeded")
	}
	if r.AppliedSeq() != other[0].Seq {
		t.Errorf("AppliedSeq = %d after a refused Apply; want %d", r.AppliedSeq(), other[0].Seq)
	}
}

// testReplicaWaitApplied: WaitApplied returns once the seq is applied, and
// with ETimeout when its context's deadline passes first.
func testReplicaWaitApplied(t *testing.T, in Instance) {
	r := StartReplica(t, eventlog.ReplicaConfig{Log: in.Log, Name: "the test replica"})
	if err := r.WaitApplied(Ctx(t), 0); err != nil {
		t.Fatalf("WaitApplied(0): %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := r.WaitApplied(ctx, 1); !errors.Is(err, logq.ErrTimeout) {
		t.Fatalf("WaitApplied(1) on an empty log: %v; want ErrTimeout", err)
	}
	cctx, ccancel := context.WithCancel(t.Context())
	ccancel()
	if err := r.WaitApplied(cctx, 1); !errors.Is(err, logq.ErrUnavailable) {
		t.Fatalf("WaitApplied(1), canceled: %v; want ErrUnavailable", err)
	}

	waited := make(chan error, 1)
	changed := r.Changed()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		waited <- r.WaitApplied(ctx, 2)
	}()
	Append(t, in.Writer, Event(projection.TypeBrokerRegistered, `{"broker_id": 1, "address": "b1"}`))
	select {
	case <-changed:
	case <-time.After(Timeout):
		t.Fatal("Changed not closed after an event was applied")
	}
	select {
	case err := <-waited:
		t.Fatalf("WaitApplied(2) returned %v with only seq 1 applied", err)
	default:
	}
	Append(t, in.Writer, Event(projection.TypeBrokerRegistered, `{"broker_id": 2, "address": "b2"}`))
	if err := <-waited; err != nil {
		t.Fatalf("WaitApplied(2): %v", err)
	}
	if r.AppliedSeq() != 2 {
		t.Fatalf("AppliedSeq = %d; want 2", r.AppliedSeq())
	}
}
