package decide

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

// FNV-1a(topic) picks where the ring of live brokers starts on ties. Over
// 3 brokers: "t" starts at broker 1, "a" at 2, "orders" at 3; over 2: "t"
// and "new" start at the second, "orders" at the first.

func TestCreateTopic(t *testing.T) {
	t.Parallel()
	create := func(name string, n int) func(*projection.State) (Decision, error) {
		return func(s *projection.State) (Decision, error) { return CreateTopic(s, name, n) }
	}
	runCases(t, []decisionCase{{
		name:   "6 partitions over 3 brokers: 2 each, round robin",
		before: brokers(1, 2, 3),
		run:    create("t", 6),
		want: Decision{Events: ev(projection.TopicCreated{Topic: "t", Partitions: 6},
			pa("t", 0, 1, 1), pa("t", 1, 2, 1), pa("t", 2, 3, 1), pa("t", 3, 1, 1), pa("t", 4, 2, 1), pa("t", 5, 3, 1))},
	}, {
		// The issue: the least-loaded broker used to get all six.
		name:   "6 partitions over 3 brokers, one of them empty: still 2 each, rounds start at the least loaded",
		before: cat(brokers(1, 2, 3), topic("old", 1, 2, 1, 2)),
		run:    create("t", 6),
		want: Decision{Events: ev(projection.TopicCreated{Topic: "t", Partitions: 6},
			pa("t", 0, 3, 1), pa("t", 1, 1, 1), pa("t", 2, 2, 1), pa("t", 3, 3, 1), pa("t", 4, 1, 1), pa("t", 5, 2, 1))},
	}, {
		name:   "the start rotates with the topic's hash on equal loads",
		before: brokers(1, 2, 3),
		run:    create("orders", 2),
		want:   Decision{Events: ev(projection.TopicCreated{Topic: "orders", Partitions: 2}, pa("orders", 0, 3, 1), pa("orders", 1, 1, 1))},
	}, {
		name:   "the start rotates with the load",
		before: cat(brokers(1, 2, 3), topic("a", 2)),
		run:    create("t", 1),
		want:   Decision{Events: ev(projection.TopicCreated{Topic: "t", Partitions: 1}, pa("t", 0, 1, 1))},
	}, {
		name:   "default count: one per live broker, dead ones skipped",
		before: cat(brokers(1, 2, 3), dead(2)),
		run:    create("orders", 0),
		want:   Decision{Events: ev(projection.TopicCreated{Topic: "orders", Partitions: 2}, pa("orders", 0, 1, 1), pa("orders", 1, 3, 1))},
	}, {
		name:   "existing topic",
		before: cat(brokers(1), topic("t", 1)),
		run:    create("t", 1),
		code:   logq.ETopicExists,
	}, {
		name:   "invalid name",
		before: brokers(1),
		run:    create("no spaces", 1),
		code:   logq.EInvalid,
	}, {
		name:   "too many partitions",
		before: brokers(1),
		run:    create("t", projection.MaxPartitions+1),
		code:   logq.EInvalid,
	}, {
		name:   "negative count",
		before: brokers(1),
		run:    create("t", -1),
		code:   logq.EInvalid,
	}, {
		name:   "no live broker",
		before: cat(brokers(1), dead(1)),
		run:    create("t", 1),
		code:   logq.EUnavailable,
	}})
}

func TestAddPartitions(t *testing.T) {
	t.Parallel()
	add := func(name string, count, expect int) func(*projection.State) (Decision, error) {
		return func(s *projection.State) (Decision, error) { return AddPartitions(s, name, count, expect) }
	}
	runCases(t, []decisionCase{{
		name:   "spread over the live brokers",
		before: cat(brokers(1, 2, 3), topic("t", 1, 2, 3)),
		run:    add("t", 3, 3),
		want: Decision{Events: ev(projection.PartitionsAdded{Topic: "t", Count: 3},
			pa("t", 3, 1, 1), pa("t", 4, 2, 1), pa("t", 5, 3, 1))},
	}, {
		name:   "the topic spreads before the load evens out",
		before: cat(brokers(1, 2, 3), topic("old", 3, 3, 3, 3), topic("t", 1)),
		run:    add("t", 2, -1),
		want:   Decision{Events: ev(projection.PartitionsAdded{Topic: "t", Count: 2}, pa("t", 1, 2, 1), pa("t", 2, 3, 1))},
	}, {
		name:   "dead brokers get none",
		before: cat(brokers(1, 2, 3), topic("t", 1, 2, 3), dead(3)),
		run:    add("t", 2, -1),
		want:   Decision{Events: ev(projection.PartitionsAdded{Topic: "t", Count: 2}, pa("t", 3, 2, 1), pa("t", 4, 1, 1))},
	}, {
		name:   "stale expectation",
		before: cat(brokers(1), topic("t", 1)),
		run:    add("t", 1, 2),
		code:   logq.EConflict,
	}, {
		name:   "zero count",
		before: cat(brokers(1), topic("t", 1)),
		run:    add("t", 0, -1),
		code:   logq.EInvalid,
	}, {
		name:   "past the maximum",
		before: cat(brokers(1), topic("t", 1)),
		run:    add("t", projection.MaxPartitions, -1),
		code:   logq.EInvalid,
	}, {
		name:   "unknown topic",
		before: brokers(1),
		run:    add("t", 1, -1),
		code:   logq.ETopicNotFound,
	}, {
		name:   "no live broker",
		before: cat(brokers(1), topic("t", 1), dead(1)),
		run:    add("t", 1, -1),
		code:   logq.EUnavailable,
	}})
}

func TestRemoveBroker(t *testing.T) {
	t.Parallel()
	remove := func(id int64) func(*projection.State) (Decision, error) {
		return func(s *projection.State) (Decision, error) { return RemoveBroker(s, id) }
	}
	runCases(t, []decisionCase{{
		name:   "its partitions spread over the others, then it is retired",
		before: cat(brokers(1, 2, 3), topic("t", 1, 2, 3, 1, 2, 3)),
		run:    remove(3),
		want: Decision{ID: 3, Events: ev(pa("t", 2, 2, 2), pa("t", 5, 1, 2), projection.BrokerRemoved{BrokerID: 3}),
			Effects: Effects{BrokersForgotten: []int64{3}}},
	}, {
		name:   "a topic on the removed broker alone spreads",
		before: cat(brokers(1, 2, 3), topic("big", 1, 1, 2, 2), topic("t", 3, 3)),
		run:    remove(3),
		want: Decision{ID: 3, Events: ev(pa("t", 0, 2, 2), pa("t", 1, 1, 2), projection.BrokerRemoved{BrokerID: 3}),
			Effects: Effects{BrokersForgotten: []int64{3}}},
	}, {
		name:   "a broker owning nothing, alone",
		before: cat(brokers(1, 2), topic("t", 1), dead(1)),
		run:    remove(2),
		want:   Decision{ID: 2, Events: ev(projection.BrokerRemoved{BrokerID: 2}), Effects: Effects{BrokersForgotten: []int64{2}}},
	}, {
		name:   "the last broker holding partitions",
		before: cat(brokers(1, 2), topic("t", 1), dead(2)),
		run:    remove(1),
		code:   logq.EConflict,
	}, {
		name:   "unknown",
		before: brokers(1),
		run:    remove(2),
		code:   logq.EBrokerNotFound,
	}, {
		name:   "removed already",
		before: cat(brokers(1, 2), ev(projection.BrokerRemoved{BrokerID: 2})),
		run:    remove(2),
		code:   logq.EBrokerRemoved,
	}})
}

func TestRebalance(t *testing.T) {
	t.Parallel()
	rebalance := func(s *projection.State) (Decision, error) { return Rebalance(s) }
	runCases(t, []decisionCase{{
		name:   "already balanced: no events",
		before: cat(brokers(1, 2, 3), topic("t", 1, 2, 3, 1, 2, 3), topic("u", 3)),
		run:    rebalance,
	}, {
		name:   "a broker joins: one partition moves to it",
		before: cat(brokers(1, 2, 3), topic("t", 1, 2, 3, 1, 2, 3), brokers(4)),
		run:    rebalance,
		want:   Decision{Events: ev(pa("t", 3, 4, 2))},
	}, {
		name:   "two brokers join a topic on one: 2 each",
		before: cat(brokers(1), topic("t", 1, 1, 1, 1, 1, 1), brokers(2, 3)),
		run:    rebalance,
		want:   Decision{Events: ev(pa("t", 2, 3, 2), pa("t", 3, 2, 2), pa("t", 4, 3, 2), pa("t", 5, 2, 2))},
	}, {
		// The issue: the totals are even, so "already balanced" was the
		// answer; every topic sat on one broker.
		name:   "even totals, every topic on one broker: each topic spreads",
		before: cat(brokers(1, 2, 3), topic("a", 1, 1, 1), topic("b", 2, 2, 2), topic("c", 3, 3, 3)),
		run:    rebalance,
		want: Decision{Events: ev(pa("a", 1, 3, 2), pa("a", 2, 2, 2), pa("b", 1, 3, 2), pa("b", 2, 1, 2),
			pa("c", 1, 2, 2), pa("c", 2, 1, 2))},
	}, {
		name:   "every topic spread, uneven totals: the load evens out, topics stay spread",
		before: cat(brokers(1, 2, 3), topic("a", 1, 2), topic("b", 1, 2), topic("c", 1, 2)),
		run:    rebalance,
		want:   Decision{Events: ev(pa("a", 0, 3, 2), pa("b", 1, 3, 2))},
	}, {
		name:   "an orphan is placed even when the rest is balanced",
		before: cat(brokers(1, 2, 3), topic("t", 1, 2, 3), dead(3)),
		run:    rebalance,
		want:   Decision{Events: ev(pa("t", 2, 2, 2))},
	}, {
		name:   "a dead broker gets nothing",
		before: cat(brokers(1, 2, 3), topic("t", 1, 1, 1, 1), dead(3)),
		run:    rebalance,
		want:   Decision{Events: ev(pa("t", 2, 2, 2), pa("t", 3, 2, 2))},
	}, {
		name:   "no live broker",
		before: cat(brokers(1), topic("t", 1), dead(1)),
		run:    rebalance,
		code:   logq.EUnavailable,
	}})
}

// TestRebalanceFromOneBroker: 13 partitions of three topics on one broker,
// two more live and one dead: 8 moves (5+4+4), each topic 2 per broker.
func TestRebalanceFromOneBroker(t *testing.T) {
	t.Parallel()
	s := fold(t, cat(brokers(1), topic("a", 1, 1, 1, 1, 1, 1), topic("b", 1, 1, 1, 1, 1, 1), topic("c", 1),
		brokers(2, 3, 4), dead(4))...)
	d, err := Rebalance(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 8 {
		t.Fatalf("%d moves, want 8:\n%s", len(d.Events), show(d))
	}
	apply(t, s, d.Events)
	if err := balanced(s); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if got := spread(s)[name]; !reflect.DeepEqual(got, map[int64]int{1: 2, 2: 2, 3: 2}) {
			t.Fatalf("topic %s spread %v", name, got)
		}
	}
}

// randomState is a cluster of 1 to 6 brokers (some dead, some removed)
// and up to 6 topics of 1 to 12 partitions on random brokers.
func randomState(t testing.TB, r *rand.Rand) *projection.State {
	n := 1 + r.IntN(6)
	var evs []projection.Payload
	for id := int64(1); id <= int64(n); id++ {
		evs = append(evs, brokers(id)...)
	}
	for i := range r.IntN(7) {
		owners := make([]int64, 1+r.IntN(12))
		for j := range owners {
			owners[j] = 1 + r.Int64N(int64(n))
		}
		evs = append(evs, topic(fmt.Sprintf("t%d", i), owners...)...)
	}
	for id := int64(1); id <= int64(n); id++ {
		if r.IntN(4) == 0 {
			evs = append(evs, dead(id)...)
		}
	}
	return fold(t, evs...)
}

// TestRebalanceProperties: on random clusters, rebalance leaves every
// topic and the total load within one over the live brokers, moves each
// partition at most once with the next epoch, is deterministic, and a
// second rebalance decides nothing.
func TestRebalanceProperties(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(12, 1))
	for i := range 2000 {
		s := randomState(t, r)
		d, err := Rebalance(s)
		if len(s.LiveBrokers()) == 0 {
			if logq.ErrorCode(err) != logq.EUnavailable {
				t.Fatalf("state %d: no live broker: %v", i, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("state %d: %v", i, err)
		}
		again, _ := Rebalance(s)
		if !reflect.DeepEqual(d, again) {
			t.Fatalf("state %d: not deterministic", i)
		}
		seen := map[string]bool{}
		for _, mv := range d.Moves() {
			k := fmt.Sprintf("%s/%d", mv.Topic, mv.Partition)
			if seen[k] || mv.Epoch != s.Topics[mv.Topic].Partitions[mv.Partition].Epoch+1 {
				t.Fatalf("state %d: move %+v (twice or wrong epoch)", i, mv)
			}
			seen[k] = true
		}
		apply(t, s, d.Events)
		if err := balanced(s); err != nil {
			t.Fatalf("state %d after %d moves: %v", i, len(d.Events), err)
		}
		if extra, _ := Rebalance(s); len(extra.Events) != 0 {
			t.Fatalf("state %d: a balanced cluster still moves:\n%s", i, show(extra))
		}
	}
}

// TestPlacementProperties: on random clusters, a new topic, its added
// partitions and a dead broker's partitions keep every topic within one
// over the live brokers, whenever the topic was before.
func TestPlacementProperties(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 3))
	within := func(s *projection.State, name string) bool {
		lo, hi := 1<<30, -1
		for _, id := range s.LiveBrokers() {
			n := spread(s)[name][id]
			lo, hi = min(lo, n), max(hi, n)
		}
		return hi-lo <= 1
	}
	for i := range 1000 {
		s := randomState(t, r)
		if len(s.LiveBrokers()) == 0 {
			continue
		}
		d, err := CreateTopic(s, "new", 1+r.IntN(20))
		if err != nil {
			t.Fatalf("state %d: %v", i, err)
		}
		apply(t, s, d.Events)
		if !within(s, "new") {
			t.Fatalf("state %d: new topic spread %v over %v", i, spread(s)["new"], s.LiveBrokers())
		}
		d, err = AddPartitions(s, "new", 1+r.IntN(20), -1)
		if err != nil {
			t.Fatalf("state %d: %v", i, err)
		}
		apply(t, s, d.Events)
		if !within(s, "new") {
			t.Fatalf("state %d: added partitions spread %v over %v", i, spread(s)["new"], s.LiveBrokers())
		}
		if live := s.LiveBrokers(); len(live) > 1 {
			victim := live[r.IntN(len(live))]
			d, err := RemoveBroker(s, victim)
			if err != nil {
				t.Fatalf("state %d: %v", i, err)
			}
			apply(t, s, d.Events)
			if !within(s, "new") {
				t.Fatalf("state %d: after removing %d, spread %v over %v", i, victim, spread(s)["new"], s.LiveBrokers())
			}
		}
	}
}
