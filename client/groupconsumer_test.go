package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/client"
	"github.com/logq/logq/internal/harness/devcluster"
)

// produceN sends n keyed records to topic and waits for their acks.
func produceN(ctx context.Context, t *testing.T, c *client.Client, topic string, from, n int) {
	t.Helper()
	p, err := c.NewProducer(ctx, topic, client.ProducerConfig{Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	futs := make([]*client.Future, n)
	for i := range n {
		futs[i] = p.Send(ctx, client.Record{Key: fmt.Sprint("k", i%17), Value: fmt.Sprint("v", from+i)})
	}
	for _, f := range futs {
		if _, err := f.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// groupLoad polls a group consumer in the background and keeps what it
// got.
type groupLoad struct {
	gc   *client.GroupConsumer
	mu   sync.Mutex
	got  map[string]int // value → deliveries
	last map[int]int64  // partition → last offset delivered
	errs []error
	once sync.Once
	stop chan struct{}
	done chan struct{}
}

func pollInBackground(t *testing.T, gc *client.GroupConsumer) *groupLoad {
	l := &groupLoad{gc: gc, got: map[string]int{}, last: map[int]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			select {
			case <-l.stop:
				return
			default:
			}
			msgs, err := gc.Poll(context.Background(), 0)
			l.mu.Lock()
			if err != nil {
				l.errs = append(l.errs, err)
			}
			for _, m := range msgs {
				if prev, ok := l.last[m.Partition]; ok && m.Offset <= prev && l.got[m.Value] == 0 {
					t.Errorf("partition %d: offset %d after %d, first delivery of %s", m.Partition, m.Offset, prev, m.Value)
				}
				l.last[m.Partition] = m.Offset
				l.got[m.Value]++
			}
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *groupLoad) halt() {
	l.once.Do(func() { close(l.stop) })
	<-l.done
}

func (l *groupLoad) values() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.got))
	for k, v := range l.got {
		out[k] = v
	}
	return out
}

// waitUntil polls cond until it holds or ctx ends.
func waitUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// TestGroupConsumerAtLeastOnce: two members share a topic; every record
// reaches the group; a member that closes commits what it returned and
// its partitions move to the other, which goes on from the committed
// offsets; at the end the committed offsets are the partitions' ends.
func TestGroupConsumerAtLeastOnce(t *testing.T) {
	t.Parallel()
	for _, assignor := range []string{"range", "cooperative-sticky"} {
		t.Run(assignor, func(t *testing.T) {
			t.Parallel()
			testGroupConsumerAtLeastOnce(t, assignor)
		})
	}
}

func testGroupConsumerAtLeastOnce(t *testing.T, assignor string) {
	cl := startCluster(t, devcluster.Config{Brokers: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := newClient(t, client.Config{Managers: cl.ManagerURLs()})
	if _, err := c.CreateTopic(ctx, "orders", 4); err != nil {
		t.Fatal(err)
	}
	produceN(ctx, t, c, "orders", 0, 200)
	cfg := client.GroupConsumerConfig{Assignor: assignor, SessionTimeout: 6 * time.Second, HeartbeatInterval: 100 * time.Millisecond,
		AutoCommitInterval: 200 * time.Millisecond, MaxWait: 200 * time.Millisecond, BatchSize: 20}
	a, err := c.NewGroupConsumer(ctx, "g", []string{"orders"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	la := pollInBackground(t, a)
	waitUntil(ctx, t, "a to get some records", func() bool { return len(la.values()) >= 50 })
	b, err := c.NewGroupConsumer(ctx, "g", []string{"orders"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	lb := pollInBackground(t, b)
	produceN(ctx, t, c, "orders", 200, 200)
	union := func() map[string]int {
		u := la.values()
		for k, v := range lb.values() {
			u[k] += v
		}
		return u
	}
	waitUntil(ctx, t, "the group to get all 400 records", func() bool { return len(union()) == 400 })
	waitUntil(ctx, t, "both members to have partitions", func() bool {
		return len(a.Assignment()["orders"]) > 0 && len(b.Assignment()["orders"]) > 0
	})
	// a closes: it commits and leaves; b gets its partitions, from a's commits.
	la.halt()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(ctx, t, "b to get every partition", func() bool { return len(b.Assignment()["orders"]) == 4 })
	produceN(ctx, t, c, "orders", 400, 100)
	waitUntil(ctx, t, "b to get the last 100", func() bool { return len(union()) == 500 })
	lb.halt()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	redelivered := 0
	for v, n := range union() {
		if n > 1 {
			redelivered += n - 1
		}
		_ = v
	}
	t.Logf("500 records, %d redelivered", redelivered)
	if redelivered > 400 {
		t.Errorf("%d redeliveries: b did not start from a's commits", redelivered)
	}
	// Everything is committed: the offsets are the ends.
	offs, err := c.FetchOffsets(ctx, "g", "orders")
	if err != nil {
		t.Fatal(err)
	}
	ends, err := c.ListOffsets(ctx, "orders", nil, client.OffsetLatest)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range offs {
		if o.Offset != ends[i].Offset {
			t.Errorf("partition %d: committed %d, end %d", o.Partition, o.Offset, ends[i].Offset)
		}
	}
}

// TestGroupConsumerResetPolicy: without a committed offset a consumer
// starts by its policy (earliest: every record; latest: only new ones);
// a committed offset out of range (past the end here, below the log start
// after retention alike: 416) is reset by the policy too.
func TestGroupConsumerResetPolicy(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Config{Brokers: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := newClient(t, client.Config{Managers: cl.ManagerURLs()})
	if _, err := c.CreateTopic(ctx, "t", 2); err != nil {
		t.Fatal(err)
	}
	produceN(ctx, t, c, "t", 0, 10)
	cfg := client.GroupConsumerConfig{SessionTimeout: 6 * time.Second, MaxWait: 100 * time.Millisecond, NoAutoCommit: true}
	pollUntil := func(gc *client.GroupConsumer, want int) []string {
		t.Helper()
		var got []string
		for len(got) < want {
			msgs, err := gc.Poll(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				got = append(got, m.Value)
			}
		}
		return got
	}

	// earliest (the default): the 10 records.
	e, err := c.NewGroupConsumer(ctx, "early", []string{"t"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := pollUntil(e, 10); len(got) != 10 {
		t.Fatalf("earliest got %v", got)
	}
	if err := e.Close(ctx); err != nil { // commits
		t.Fatal(err)
	}
	if offs, _ := c.FetchOffsets(ctx, "early", "t"); offs[0].Offset+offs[1].Offset != 10 {
		t.Fatalf("committed after close: %v", offs)
	}

	// latest: nothing of the 10; the next record.
	lcfg := cfg
	lcfg.ResetPolicy = client.ResetLatest
	l, err := c.NewGroupConsumer(ctx, "late", []string{"t"}, lcfg)
	if err != nil {
		t.Fatal(err)
	}
	if msgs, err := l.Poll(ctx, 0); err != nil || len(msgs) != 0 {
		t.Fatalf("latest polled %v, %v", msgs, err)
	}
	produceN(ctx, t, c, "t", 10, 1)
	if got := pollUntil(l, 1); !slices.Equal(got, []string{"v10"}) {
		t.Fatalf("latest got %v", got)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// Out of range: offsets past the end, reset to earliest: all 11.
	if _, err := c.ResetOffsets(ctx, "far", api.ResetOffsetsRequest{Topic: "t", To: api.ResetToOffset, Offset: 1000}); err != nil {
		t.Fatal(err)
	}
	f, err := c.NewGroupConsumer(ctx, "far", []string{"t"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := pollUntil(f, 11); len(got) != 11 {
		t.Fatalf("after out of range got %v", got)
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.NewGroupConsumer(ctx, "bad", []string{"t"}, client.GroupConsumerConfig{ResetPolicy: "middle"}); err == nil {
		t.Fatal("reset policy middle accepted")
	}
}

// holdTransport holds every request while held (a stopped process).
type holdTransport struct {
	mu   sync.Mutex
	gate chan struct{}
}

func newHoldTransport() *holdTransport {
	g := make(chan struct{})
	close(g)
	return &holdTransport{gate: g}
}

func (h *holdTransport) hold() {
	h.mu.Lock()
	h.gate = make(chan struct{})
	h.mu.Unlock()
}

func (h *holdTransport) release() {
	h.mu.Lock()
	close(h.gate)
	h.mu.Unlock()
}

func (h *holdTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	g := h.gate
	h.mu.Unlock()
	select {
	case <-g:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestGroupConsumerRefusedCommitRejoins: a member held past its session
// timeout is removed; its partitions go to the other member; its commit
// afterwards is refused (its generation is over, nothing stored), it
// rejoins, and the group still gets every record.
func TestGroupConsumerRefusedCommitRejoins(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Config{Brokers: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := newClient(t, client.Config{Managers: cl.ManagerURLs()})
	if _, err := c.CreateTopic(ctx, "t", 2); err != nil {
		t.Fatal(err)
	}
	produceN(ctx, t, c, "t", 0, 100)
	tr := newHoldTransport()
	zc := newClient(t, client.Config{Managers: cl.ManagerURLs(), HTTPClient: &http.Client{Transport: tr}, RetryTimeout: 3 * time.Second})
	cfg := client.GroupConsumerConfig{SessionTimeout: 6 * time.Second, HeartbeatInterval: 200 * time.Millisecond,
		MaxWait: 100 * time.Millisecond, NoAutoCommit: true}
	z, err := zc.NewGroupConsumer(ctx, "g", []string{"t"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.NewGroupConsumer(ctx, "g", []string{"t"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	lo := pollInBackground(t, o)
	defer lo.halt()
	got := map[string]int{}
	waitUntil(ctx, t, "the partitions to be shared", func() bool {
		msgs, err := z.Poll(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			got[m.Value]++
		}
		return len(z.Assignment()["t"]) == 1 && len(o.Assignment()["t"]) == 1
	})
	old := z.Member().Assignment()
	tr.hold()
	waitUntil(ctx, t, "the other member to get both partitions", func() bool { return len(o.Assignment()["t"]) == 2 })
	if err := o.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := c.FetchOffsets(ctx, "g", "t")
	tr.release()
	err = z.Commit(ctx)
	if !errors.Is(err, logq.ErrUnknownMemberID) && !errors.Is(err, logq.ErrIllegalGeneration) && !errors.Is(err, logq.ErrRebalanceInProgress) {
		t.Fatalf("the removed member's commit: %v; want it refused", err)
	}
	if after, _ := c.FetchOffsets(ctx, "g", "t"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a refused commit stored offsets: %v → %v", before, after)
	}
	waitUntil(ctx, t, "the removed member to rejoin with a partition", func() bool {
		msgs, err := z.Poll(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			got[m.Value]++
		}
		a := z.Member().Assignment()
		return a.MemberID != old.MemberID && len(z.Assignment()["t"]) == 1 && len(o.Assignment()["t"]) == 1
	})
	produceN(ctx, t, c, "t", 100, 50)
	waitUntil(ctx, t, "the group to get all 150", func() bool {
		msgs, err := z.Poll(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			got[m.Value]++
		}
		other := lo.values()
		n := 0
		for i := range 150 {
			if got[fmt.Sprint("v", i)] > 0 || other[fmt.Sprint("v", i)] > 0 {
				n++
			}
		}
		return n == 150
	})
	if err := z.Close(ctx); err != nil {
		t.Fatal(err)
	}
	lo.halt()
	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
