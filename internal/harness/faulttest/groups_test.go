package faulttest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/client"
)

// pausableTransport stands for a client process that is stopped: while
// paused, every request waits (as a SIGSTOPped process sends nothing).
type pausableTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	gate chan struct{} // closed: requests pass
}

func newPausableTransport() *pausableTransport {
	g := make(chan struct{})
	close(g)
	return &pausableTransport{base: http.DefaultTransport.(*http.Transport).Clone(), gate: g}
}

func (p *pausableTransport) pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gate = make(chan struct{})
}

func (p *pausableTransport) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

func (p *pausableTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p.mu.Lock()
	gate := p.gate
	p.mu.Unlock()
	select {
	case <-gate:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	return p.base.RoundTrip(req)
}

func (p *pausableTransport) CloseIdleConnections() {
	if c, ok := p.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// pollingMember polls a group consumer in the background until stopped.
type pollingMember struct {
	gc     *client.GroupConsumer
	cancel context.CancelFunc
	done   chan struct{}
}

func pollMember(gc *client.GroupConsumer) *pollingMember {
	ctx, cancel := context.WithCancel(context.Background())
	pm := &pollingMember{gc: gc, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(pm.done)
		for ctx.Err() == nil {
			gc.Poll(ctx, 0)
		}
	}()
	return pm
}

func (pm *pollingMember) stop() {
	pm.cancel()
	<-pm.done
}

// TestGroupMemberDeathAndZombie, against real processes: a group member
// whose process is killed (kill -9 of `logq consume --group`), and one
// whose client stops without leaving (its requests held, as a stopped
// process's), lose their partitions to the live member within their
// session timeout (the time is logged); the stopped one, a zombie once its
// session has ended, cannot commit for its old generation: the commit is
// refused and nothing is stored.
func TestGroupMemberDeathAndZombie(t *testing.T) {
	c := startCluster(t, clusterOpts{brokers: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const group = "deaths"
	urls := make([]string, len(c.managers))
	for i, m := range c.managers {
		urls[i] = m.url
	}
	p, err := c.admin.NewProducer(ctx, topicName, client.ProducerConfig{Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 600 {
		p.Send(ctx, client.Record{Key: fmt.Sprint(i % 50), Value: payload(0, int64(i))})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	p.Close()

	live, _ := newClient(t, c)
	defer live.Close()
	cfg := client.GroupConsumerConfig{SessionTimeout: groupSession, HeartbeatInterval: 300 * time.Millisecond,
		AutoCommitInterval: 300 * time.Millisecond, MaxWait: 200 * time.Millisecond}
	partitionsOf := func(gc *client.GroupConsumer) int { return len(gc.Assignment()[topicName]) }

	// 1. A member's process is killed: `logq consume --group` (session
	// timeout 10 s, the client's default).
	cli := newProc(t, t.TempDir(), "consumer", []string{"consume", "--topic", topicName, "--group", group, "--follow",
		"--manager", strings.Join(urls, ",")})
	cli.start()
	waitFor(t, ctx, "the CLI member to join", func() (bool, error) {
		d, err := c.admin.DescribeGroup(ctx, group)
		if errors.Is(err, logq.ErrGroupNotFound) {
			return false, nil
		}
		return err == nil && d.State == api.GroupStable && len(d.Members) == 1, err
	})
	l, err := live.NewGroupConsumer(ctx, group, []string{topicName}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	lp := pollMember(l)
	defer lp.stop()
	waitFor(t, ctx, "the partitions to be shared", func() (bool, error) {
		d, err := c.admin.DescribeGroup(ctx, group)
		return err == nil && d.State == api.GroupStable && len(d.Members) == 2 && partitionsOf(l) == numPartitions/2, err
	})
	killed := time.Now()
	cli.kill()
	waitFor(t, ctx, "the live member to get the killed one's partitions", func() (bool, error) { return partitionsOf(l) == numPartitions, nil })
	moved := time.Since(killed)
	t.Logf("kill -9 of a `logq consume --group` member (session timeout %v): its partitions moved after %v", client.DefaultGroupSessionTimeout, moved.Round(time.Millisecond))
	if moved > client.DefaultGroupSessionTimeout+3*time.Second {
		t.Errorf("the killed member's partitions moved after %v; want within its session timeout %v (and the rebalance)", moved, client.DefaultGroupSessionTimeout)
	}

	// 2. A member stopped without leaving: its client's requests held.
	tr := newPausableTransport()
	zc, err := client.New(client.Config{Managers: urls, HTTPClient: &http.Client{Transport: tr}, RetryTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer zc.Close()
	z, err := zc.NewGroupConsumer(ctx, group, []string{topicName}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the zombie-to-be to get partitions", func() (bool, error) {
		if _, err := z.Poll(ctx, 0); err != nil {
			return false, err
		}
		d, err := c.admin.DescribeGroup(ctx, group)
		return err == nil && d.State == api.GroupStable && len(d.Members) == 2 && partitionsOf(z) == numPartitions/2 &&
			partitionsOf(l) == numPartitions/2, err
	})
	if err := z.Commit(ctx); err != nil {
		t.Fatalf("the member's commit before it stops: %v", err)
	}
	old := z.Member().Assignment()
	zpart := old.Partitions[topicName][0]
	stopped := time.Now()
	tr.pause()
	waitFor(t, ctx, "the live member to get the stopped one's partitions", func() (bool, error) { return partitionsOf(l) == numPartitions, nil })
	moved = time.Since(stopped)
	t.Logf("a member stopped without leaving (session timeout %v): its partitions moved after %v", groupSession, moved.Round(time.Millisecond))
	if moved > groupSession+3*time.Second {
		t.Errorf("the stopped member's partitions moved after %v; want within its session timeout %v (and the rebalance)", moved, groupSession)
	}
	if err := l.Commit(ctx); err != nil {
		t.Fatalf("the live member's commit: %v", err)
	}
	before, err := c.admin.FetchOffsets(ctx, group, topicName)
	if err != nil {
		t.Fatal(err)
	}
	// The zombie's commit, as its old generation: refused, nothing stored.
	_, zerr := c.admin.CommitOffsets(ctx, group, api.CommitOffsetsRequest{MemberID: old.MemberID, Generation: old.Generation,
		Offsets: []api.CommittedOffset{{Topic: topicName, Partition: zpart, Offset: 1 << 40}}})
	if !errors.Is(zerr, logq.ErrUnknownMemberID) && !errors.Is(zerr, logq.ErrIllegalGeneration) {
		t.Errorf("the zombie's commit (member %s, generation %d): %v; want unknown_member_id or illegal_generation", old.MemberID, old.Generation, zerr)
	}
	after, err := c.admin.FetchOffsets(ctx, group, topicName)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, after) {
		t.Errorf("the zombie's refused commit changed the offsets: %v → %v", before, after)
	}
	t.Logf("the zombie's commit for generation %d was refused (%v); the offsets stayed %v", old.Generation, zerr, after)

	tr.resume()
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	defer ccancel()
	z.Close(cctx) // it may have to rejoin first; its leave ends it either way
	lp.stop()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
