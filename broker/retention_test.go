package broker

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/logq/logq/broker/storage"
	"github.com/logq/logq/broker/storage/pgstore"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// retentionBroker starts broker 1 owning topic orders (partitions
// partitions) with tiny segments and the clock, the retention loop idle
// until kicked, or (loop false) not running at all: steps only by
// RetentionStep.
func retentionBroker(t *testing.T, partitions int, cfg Config, clock *fakeClock, loop bool) (*testBroker, *controlPlane, string) {
	t.Helper()
	dsn := pgtest.NewDB(t)
	cp := newControlPlane(t, dsn)
	cp.brokers(1)
	owners := make([]int64, partitions)
	for i := range owners {
		owners[i] = 1
	}
	seq := cp.topic("orders", owners...)
	cfg.DSN, cfg.ID = dsn, 1
	cfg.SegmentOffsets = 10
	cfg.RetentionCheckInterval = time.Hour // steps run when kicked
	b := startBrokerWith(t, cfg, func(b *Broker) { b.ret.now, b.ret.noLoop = clock.Now, !loop })
	b.waitApplied(seq)
	return b, cp, dsn
}

// fill appends n messages to a partition in batches of 7.
func fill(b *testBroker, partition, n int) {
	for i := 0; i < n; i += 7 {
		var ps []string
		for j := i; j < min(i+7, n); j++ {
			ps = append(ps, fmt.Sprintf("m%d", j))
		}
		b.appendHTTP("orders", partition, 1, ps...)
	}
}

// waitLogStarts runs retention steps (kicking the loop, or calling
// RetentionStep when it does not run) until every partition's log start
// offset is want (from the broker's own view), failing after 30 s.
func waitLogStarts(t *testing.T, b *testBroker, want ...int64) {
	waitLogStartsKick(t, b, true, want...)
}

// waitLogStartsKick is waitLogStarts; with kick false it only waits for the
// loop's own steps.
func waitLogStartsKick(t *testing.T, b *testBroker, kick bool, want ...int64) {
	t.Helper()
	ctx := pgtest.Context(t, 30*time.Second)
	for {
		steps := b.RetentionSteps()
		ok := true
		for p, w := range want {
			if got, known := b.logStartOf(partKey{"orders", p}); !known || got != w {
				ok = false
			}
		}
		if ok {
			return
		}
		if b.ret.noLoop {
			if _, err := b.RetentionStep(ctx); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if kick {
			b.KickRetention()
		}
		if err := b.WaitRetentionSteps(ctx, steps+1); err != nil {
			var got []any
			for p := range want {
				v, known := b.logStartOf(partKey{"orders", p})
				got = append(got, fmt.Sprintf("%d(known %t)", v, known))
			}
			t.Fatalf("log starts %v; want %v: %v", got, want, err)
		}
	}
}

// TestRetentionByTime: the loop drops the segments older than the topic's
// retention.ms on every partition it owns, going on at once while more is
// due; the log start moves, and size, consume and /v1/partitions count
// from it.
func TestRetentionByTime(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Now()}
	b, cp, _ := retentionBroker(t, 2, Config{RetentionMaxSegments: 2}, clock, true)
	fill(b, 0, 35)
	fill(b, 1, 35)
	b.waitApplied(cp.append(projection.TopicConfigChanged{Topic: "orders", RetentionMs: 60_000}))

	// Nothing is old yet.
	rep, err := b.RetentionStep(pgtest.Context(t, time.Minute))
	if err != nil || rep.Dropped != 0 || rep.Partitions != 2 {
		t.Fatalf("step = %+v, %v; want 2 partitions, nothing dropped", rep, err)
	}
	clock.Add(2 * time.Minute)
	// Six segments are due, two per step: one kick, and the loop goes on
	// by itself until done (TestRetentionStepBounded checks the bound).
	b.KickRetention()
	waitLogStartsKick(t, b, false, 30, 30)
	for p := range 2 {
		ps, offs := b.consumeHTTP("orders", p, 9, 100)
		if len(offs) != 5 || offs[0] != 30 || ps[0] != "m30" {
			t.Fatalf("partition %d: a new consumer got %v at %v; want m30.. from offset 30", p, ps, offs)
		}
	}
	status, out := b.do("GET", "/v1/size?topic=orders&partition=0&consumer_id=8", nil)
	if status != 200 || out["size"].(float64) != 5 || out["position"].(float64) != 30 {
		t.Fatalf("size: %d %v; want size 5 from position 30", status, out)
	}
	status, out = b.do("GET", "/v1/partitions", nil)
	if status != 200 {
		t.Fatalf("partitions: %d %v", status, out)
	}
	for _, p := range out["partitions"].([]any) {
		if p.(map[string]any)["log_start_offset"].(float64) != 30 {
			t.Fatalf("partitions: %v; want log_start_offset 30", out)
		}
	}
	// Appends go on after the drops.
	if base := b.appendHTTP("orders", 0, 1, "after"); base != 35 {
		t.Fatalf("append after retention at %d; want 35", base)
	}
}

// TestRetentionStepBounded: one step drops at most RetentionMaxSegments
// segments over all partitions, and says when more are due.
func TestRetentionStepBounded(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Now()}
	b, cp, _ := retentionBroker(t, 2, Config{RetentionMaxSegments: 2}, clock, false)
	fill(b, 0, 35)
	fill(b, 1, 35)
	b.waitApplied(cp.append(projection.TopicConfigChanged{Topic: "orders", RetentionMs: 60_000}))
	clock.Add(2 * time.Minute)
	ctx := pgtest.Context(t, time.Minute)
	for i, want := range []RetentionReport{
		{Partitions: 1, Dropped: 2, More: true}, // the budget ends in the first partition
		{Partitions: 2, Dropped: 2, More: true},
		{Partitions: 2, Dropped: 2, More: true}, // the budget is spent: maybe more
		{Partitions: 2, Dropped: 0},
	} {
		rep, err := b.RetentionStep(ctx)
		if err != nil || rep != want {
			t.Fatalf("step %d = %+v, %v; want %+v", i+1, rep, err, want)
		}
	}
	for p := range 2 {
		if start, _ := b.logStartOf(partKey{"orders", p}); start != 30 {
			t.Fatalf("partition %d: log start %d; want 30", p, start)
		}
	}
}

// TestRetentionDefaults: the cluster default applies to topics without a
// config, a topic's -1 keeps forever whatever the default, and the
// default default keeps everything.
func TestRetentionDefaults(t *testing.T) {
	t.Parallel()
	t.Run("forever by default", func(t *testing.T) {
		t.Parallel()
		clock := &fakeClock{now: time.Now()}
		b, _, _ := retentionBroker(t, 1, Config{}, clock, false)
		fill(b, 0, 45)
		clock.Add(100 * 365 * 24 * time.Hour)
		rep, err := b.RetentionStep(pgtest.Context(t, time.Minute))
		if err != nil || rep.Dropped != 0 {
			t.Fatalf("step = %+v, %v; want nothing dropped", rep, err)
		}
		if start, _ := b.logStartOf(partKey{"orders", 0}); start != 0 {
			t.Fatalf("log start %d; want 0", start)
		}
	})
	t.Run("cluster default and topic override", func(t *testing.T) {
		t.Parallel()
		clock := &fakeClock{now: time.Now()}
		b, cp, _ := retentionBroker(t, 1, Config{RetentionBytes: 1}, clock, false)
		fill(b, 0, 45)
		b.waitApplied(cp.append(projection.TopicConfigChanged{Topic: "orders", RetentionMs: -1, RetentionBytes: -1}))
		if rep, err := b.RetentionStep(pgtest.Context(t, time.Minute)); err != nil || rep.Dropped != 0 {
			t.Fatalf("step with the topic at -1 = %+v, %v; want nothing dropped", rep, err)
		}
		b.waitApplied(cp.append(projection.TopicConfigChanged{Topic: "orders"})) // back to the default: 1 byte
		waitLogStarts(t, b, 40)
	})
}

// TestRetentionFencedBroker: a broker whose partition storage gave to a
// newer owner drops nothing of it.
func TestRetentionFencedBroker(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Now()}
	b, _, dsn := retentionBroker(t, 1, Config{RetentionBytes: 1}, clock, false)
	fill(b, 0, 35)
	other := pgstore.New(connect(t, dsn))
	ctx := pgtest.Context(t, time.Minute)
	if _, err := other.Claim(ctx, "orders", 0, 2, 2); err != nil {
		t.Fatal(err)
	}
	before, err := other.Segments(ctx, "orders", 0)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := b.RetentionStep(ctx)
	if err != nil || rep.Dropped != 0 {
		t.Fatalf("step by the fenced broker = %+v, %v; want nothing dropped", rep, err)
	}
	after, err := other.Segments(ctx, "orders", 0)
	if err != nil || len(after) != len(before) {
		t.Fatalf("segments %d -> %d (%v); want unchanged", len(before), len(after), err)
	}
	// The new owner may.
	res, err := other.Retain(ctx, "orders", 0, 2, storage.RetentionPolicy{MaxBytes: 1}, clock.Now(), 10)
	if err != nil || res.LogStart != 30 {
		t.Fatalf("retain by the new owner = %+v, %v; want log start 30", res, err)
	}
}
