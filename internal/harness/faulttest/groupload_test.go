package faulttest

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logq/logq/api"
	"github.com/logq/logq/client"
)

// Group consumption in the workload: numGroups consumer groups of
// groupMembers members each (the Go client's GroupConsumer, at least
// once), every group reading the whole topic. Each group must receive
// every acknowledged record at least once by the end (GROUP-MISSING 0,
// whatever the fault); redeliveries (after a rebalance, or a member's
// commit lost to the fault) are allowed and counted.
const (
	numGroups    = 2
	groupMembers = 2
	// groupSession is the members' session timeout (the managers'
	// minimum by default): long enough that no fault of the suite but a
	// member's own death ends a session.
	groupSession = 6 * time.Second
)

// groupMemberLoad is one member of a group and what it received.
type groupMemberLoad struct {
	group int
	index int
	cl    *client.Client
	tr    *countingTransport
	pause *pausableTransport // holds every request of the member: a stopped consumer process
	gc    *client.GroupConsumer

	receiver       // partition → deliveries, in the order received
	closeErr error // guarded by mu
}

func groupName(i int) string { return fmt.Sprintf("faults-group-%d", i) }

func groupConsumerConfig() client.GroupConsumerConfig {
	return client.GroupConsumerConfig{SessionTimeout: groupSession, HeartbeatInterval: 500 * time.Millisecond,
		AutoCommitInterval: 500 * time.Millisecond, MaxWait: 300 * time.Millisecond, BatchSize: 200}
}

// startGroupMembers joins the members of every group.
func startGroupMembers(ctx context.Context, t *testing.T, c *cluster) []*groupMemberLoad {
	t.Helper()
	var out []*groupMemberLoad
	for g := range numGroups {
		for i := range groupMembers {
			tr := newCountingTransport()
			pause := &pausableTransport{base: tr, gate: make(chan struct{})}
			pause.resume()
			cl, err := client.New(client.Config{Managers: groupManagerURLs(c), HTTPClient: &http.Client{Transport: pause},
				RetryTimeout: 60 * time.Second, MinBackoff: 20 * time.Millisecond, MaxBackoff: 250 * time.Millisecond,
				RequestTimeout: 15 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			gc, err := cl.NewGroupConsumer(ctx, groupName(g), []string{topicName}, groupConsumerConfig())
			if err != nil {
				t.Fatalf("group %d member %d: %v", g, i, err)
			}
			out = append(out, &groupMemberLoad{group: g, index: i, cl: cl, tr: tr, pause: pause, gc: gc, receiver: receiver{got: map[int][]received{}}})
		}
	}
	return out
}

// run polls until stop is set, then closes the member (it commits what it
// received and leaves), or until ctx is cancelled.
func (m *groupMemberLoad) run(ctx context.Context, stop *atomic.Bool) {
	m.pollUntil(ctx, stop, func(ctx context.Context) ([]client.Message, error) { return m.gc.Poll(ctx, 0) })
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := m.gc.Close(cctx)
	m.mu.Lock()
	m.closeErr = err
	m.mu.Unlock()
}

// groupDeliveries is, per group, the offsets received of each partition
// (by any member) and how many times.
func (w *workload) groupDeliveries() []map[int]map[int64]int {
	out := make([]map[int]map[int64]int, numGroups)
	for g := range out {
		out[g] = map[int]map[int64]int{}
	}
	for _, m := range w.groupMembers {
		m.mu.Lock()
		for p, got := range m.got {
			if out[m.group][p] == nil {
				out[m.group][p] = map[int64]int{}
			}
			for _, r := range got {
				out[m.group][p][r.offset]++
			}
		}
		m.mu.Unlock()
	}
	return out
}

// waitGroupsDrained waits (bounded: a group that misses records is the
// checker's finding, not a hang) until every group has received every
// stored record.
func waitGroupsDrained(ctx context.Context, t *testing.T, c *cluster, w *workload) time.Duration {
	t.Helper()
	start := time.Now()
	drained := tryWaitFor(ctx, 60*time.Second, func() (bool, error) {
		snap, err := readSnapshot(ctx, c)
		if err != nil {
			return false, err
		}
		for _, byPart := range w.groupDeliveries() {
			for p := range numPartitions {
				for off := range snap.next[p] {
					if byPart[p][off] == 0 {
						return false, nil
					}
				}
			}
		}
		return true, nil
	})
	if !drained {
		t.Logf("the groups did not receive every stored record within a minute")
	}
	return time.Since(start)
}

// memberState is what a group member had received at a check.
type memberState struct {
	group, index int
	got          map[int][]received
}

// snapshotGroups copies what the members have received (before the
// database's snapshot, as the consumers' copies).
func snapshotGroups(w *workload) []memberState {
	members := make([]memberState, len(w.groupMembers))
	for i, m := range w.groupMembers {
		m.mu.Lock()
		members[i] = memberState{group: m.group, index: m.index, got: map[int][]received{}}
		for p, g := range m.got {
			members[i].got[p] = append([]received(nil), g...)
		}
		m.mu.Unlock()
	}
	return members
}

// checkGroups adds the groups' figures to r: every delivery is the record
// stored at its offset; at the end, every acknowledged record reached
// every group.
func checkGroups(pr *problems, r *report, w *workload, members []memberState, snap *snapshot, prods []prodState, final bool) {
	seen := make([]map[[2]int64]bool, numGroups) // group → (partition, offset)
	for g := range seen {
		seen[g] = map[[2]int64]bool{}
	}
	for _, m := range members {
		for p, got := range m.got {
			for _, g := range got {
				r.GroupDelivered++
				k := [2]int64{int64(p), g.offset}
				if seen[m.group][k] {
					r.GroupRedelivered++
				}
				seen[m.group][k] = true
				switch {
				case g.offset >= int64(len(snap.rows[p])):
					pr.add("group %d member %d partition %d: received offset %d beyond the partition's end %d", m.group, m.index, p, g.offset, len(snap.rows[p]))
				case snap.rows[p][g.offset].payload != g.value:
					pr.add("group %d member %d partition %d offset %d: received %q, stored %q", m.group, m.index, p, g.offset,
						truncate(g.value, 40), truncate(snap.rows[p][g.offset].payload, 40))
				}
			}
		}
	}
	if !final {
		return
	}
	for g := range numGroups {
		for i, ps := range prods {
			for seq, a := range ps.acks {
				if !seen[g][[2]int64{int64(a.partition), a.offset}] {
					r.GroupMissing++
					pr.add("group %d never received producer %d seq %d (acknowledged at %d/%d): MISSING", g, i, seq, a.partition, a.offset)
				}
			}
		}
	}
	for _, m := range w.groupMembers {
		m.mu.Lock()
		if m.closeErr != nil {
			pr.add("group %d member %d: close (commit and leave): %v", m.group, m.index, m.closeErr)
		}
		m.mu.Unlock()
	}
}

// injectGroupMemberStop: a member of each group stops (its requests held,
// as a SIGSTOPped consumer process's) past its session timeout, under
// load. The group rebalances without it: the other member gets every
// partition, from the committed offsets. Then it resumes, a zombie: its
// commits for the old generation are refused, it rejoins and the group
// rebalances again. Every acknowledged record must still reach every group
// (redeliveries allowed).
func injectGroupMemberStop(ctx context.Context, t *testing.T, c *cluster, w *workload) (time.Time, []string) {
	var stopped, others []*groupMemberLoad
	for g := range numGroups {
		stopped = append(stopped, w.groupMembers[g*groupMembers])
		others = append(others, w.groupMembers[g*groupMembers+1])
	}
	at := time.Now()
	for _, m := range stopped {
		m.pause.pause()
	}
	moved := waitFor(t, ctx, "the other members to get every partition", func() (bool, error) {
		for _, m := range others {
			if len(m.gc.Assignment()[topicName]) != numPartitions {
				return false, nil
			}
		}
		return true, nil
	})
	for _, m := range stopped {
		m.pause.resume()
	}
	back := waitFor(t, ctx, "the resumed members to have rejoined with partitions", func() (bool, error) {
		for g := range numGroups {
			d, err := c.admin.DescribeGroup(ctx, groupName(g))
			if err != nil || d.State != api.GroupStable || len(d.Members) != groupMembers {
				return false, err
			}
			for _, m := range d.Members {
				if len(m.Assignment[topicName]) == 0 {
					return false, nil
				}
			}
		}
		return true, nil
	})
	return at, []string{fmt.Sprintf("stopped a member of each group (session timeout %v): the other had every partition %v later; "+
		"resumed (zombies: a fetch in flight delivers again what the other had taken over), they had rejoined with partitions %v after that", groupSession, moved.Round(time.Millisecond), back.Round(time.Millisecond))}
}

// groupManagerURLs lists every manager of c: the group members' clients
// move on when one dies.
func groupManagerURLs(c *cluster) []string {
	urls := make([]string, len(c.managers))
	for i, m := range c.managers {
		urls[i] = m.url
	}
	return urls
}
