package decide

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

// onCluster registers brokers at hN:9000 on storage cluster sc
// (registered first when it is not the default).
func onCluster(sc string, ids ...int64) []projection.Payload {
	var out []projection.Payload
	if projection.NormStorageCluster(sc) != "" {
		out = append(out, projection.StorageClusterRegistered{Name: sc})
	}
	for _, id := range ids {
		out = append(out, projection.BrokerRegistered{BrokerID: id, Address: addr(id), StorageCluster: sc})
	}
	return out
}

// spreadTopic creates a topic with a partition per owner, each on the
// given storage cluster.
func spreadTopic(name string, clusters []string, owners ...int64) []projection.Payload {
	out := []projection.Payload{projection.TopicCreated{Topic: name, Partitions: len(owners), StorageClusters: clusters}}
	for i, id := range owners {
		out = append(out, projection.PartitionAssigned{Topic: name, Partition: i, BrokerID: id, Epoch: 1})
	}
	return out
}

func TestStorageClusterDecisions(t *testing.T) {
	two := cat(brokers(1, 2), onCluster("pg2", 3, 4))
	// orders: 0 default on 1, 1 pg2 on 3, 2 default on 2, 3 pg2 on 4.
	orders := spreadTopic("orders", []string{"default", "pg2", "default", "pg2"}, 1, 3, 2, 4)
	runCases(t, []decisionCase{
		{name: "a broker declaring a new cluster registers it first", before: brokers(1),
			run: func(s *projection.State) (Decision, error) {
				return RegisterStorageBroker(s, addr(2), "", "pg2", 0, false, t0)
			},
			want: Decision{ID: 2, Events: ev(projection.StorageClusterRegistered{Name: "pg2"},
				projection.BrokerRegistered{BrokerID: 2, Address: addr(2), StorageCluster: "pg2"}),
				Effects: Effects{BrokersHeard: map[int64]time.Time{2: t0}}}},
		{name: "a known cluster is not registered again", before: two,
			run: func(s *projection.State) (Decision, error) {
				return RegisterStorageBroker(s, addr(5), "", "pg2", 0, false, t0)
			},
			want: Decision{ID: 5, Events: ev(projection.BrokerRegistered{BrokerID: 5, Address: addr(5), StorageCluster: "pg2"}),
				Effects: Effects{BrokersHeard: map[int64]time.Time{5: t0}}}},
		{name: "the same declaration again is no event", before: two,
			run: func(s *projection.State) (Decision, error) {
				return RegisterStorageBroker(s, addr(3), "", "pg2", 0, false, t0)
			},
			want: Decision{ID: 3, Effects: Effects{BrokersHeard: map[int64]time.Time{3: t0}}}},
		{name: "\"default\" is the default", before: two,
			run: func(s *projection.State) (Decision, error) {
				return RegisterStorageBroker(s, addr(1), "", "default", 0, false, t0)
			},
			want: Decision{ID: 1, Effects: Effects{BrokersHeard: map[int64]time.Time{1: t0}}}},
		{name: "a broker owning nothing may change cluster", before: two,
			run: func(s *projection.State) (Decision, error) {
				return RegisterStorageBroker(s, addr(3), "", "pg3", 0, false, t0)
			},
			want: Decision{ID: 3, Events: ev(projection.StorageClusterRegistered{Name: "pg3"},
				projection.BrokerRegistered{BrokerID: 3, Address: addr(3), StorageCluster: "pg3"}),
				Effects: Effects{BrokersHeard: map[int64]time.Time{3: t0}}}},
		{name: "a broker owning partitions may not change cluster", before: cat(two, orders),
			run: func(s *projection.State) (Decision, error) {
				return RegisterStorageBroker(s, addr(3), "", "default", 0, false, t0)
			},
			code: logq.EConflict},
		{name: "a bad cluster name", before: two,
			run: func(s *projection.State) (Decision, error) {
				return RegisterStorageBroker(s, addr(5), "", "no spaces", 0, false, t0)
			},
			code: logq.EInvalid},
		{name: "a dead broker's partitions go to its own cluster only", before: cat(two, orders),
			run: func(s *projection.State) (Decision, error) {
				return CheckLiveness(s, Liveness{Brokers: map[int64]time.Time{1: t0, 2: t0, 3: t0.Add(-time.Hour), 4: t0}},
					Timeouts{Heartbeat: time.Minute}, t0), nil
			},
			want: Decision{Events: ev(projection.BrokerStatusChanged{BrokerID: 3, Alive: false}, pa("orders", 1, 4, 2))}},
		{name: "a cluster without live brokers keeps its partitions where they are", before: cat(two, orders, dead(4)),
			run: func(s *projection.State) (Decision, error) {
				return CheckLiveness(s, Liveness{Brokers: map[int64]time.Time{1: t0, 2: t0, 3: t0.Add(-time.Hour)}},
					Timeouts{Heartbeat: time.Minute}, t0), nil
			},
			want: Decision{Events: ev(projection.BrokerStatusChanged{BrokerID: 3, Alive: false})}},
		{name: "a broker of the cluster coming back takes its orphans", before: cat(two, orders, dead(4), dead(3)),
			run: func(s *projection.State) (Decision, error) { return Heartbeat(s, 4, "", t0) },
			want: Decision{ID: 4, Events: ev(projection.BrokerStatusChanged{BrokerID: 4, Alive: true}, pa("orders", 1, 4, 2)),
				Effects: Effects{BrokersHeard: map[int64]time.Time{4: t0}}}},
		{name: "a broker of another cluster coming back takes none", before: cat(two, orders, dead(4), dead(3), dead(2)),
			run: func(s *projection.State) (Decision, error) { return Heartbeat(s, 2, "", t0) },
			want: Decision{ID: 2, Events: ev(projection.BrokerStatusChanged{BrokerID: 2, Alive: true}),
				Effects: Effects{BrokersHeard: map[int64]time.Time{2: t0}}}},
		{name: "removing the last live broker of a cluster that owns partitions is refused", before: cat(two, orders, dead(4)),
			run:  func(s *projection.State) (Decision, error) { return RemoveBroker(s, 3) },
			code: logq.EConflict},
		{name: "removing a broker hands its partitions within its cluster", before: cat(two, orders),
			run: func(s *projection.State) (Decision, error) { return RemoveBroker(s, 3) },
			want: Decision{ID: 3, Events: ev(pa("orders", 1, 4, 2), projection.BrokerRemoved{BrokerID: 3}),
				Effects: Effects{BrokersForgotten: []int64{3}}}},
		{name: "a new topic spreads round robin over clusters, then brokers", before: two,
			run: func(s *projection.State) (Decision, error) { return CreateTopic(s, "t", 4) },
			want: Decision{Events: ev(projection.TopicCreated{Topic: "t", Partitions: 4, StorageClusters: []string{"pg2", "default", "pg2", "default"}},
				pa("t", 0, 4, 1), pa("t", 1, 2, 1), pa("t", 2, 3, 1), pa("t", 3, 1, 1))}},
		{name: "clusters without live brokers get no new partitions", before: cat(two, dead(3), dead(4)),
			run:  func(s *projection.State) (Decision, error) { return CreateTopic(s, "t", 2) },
			want: Decision{Events: ev(projection.TopicCreated{Topic: "t", Partitions: 2}, pa("t", 0, 2, 1), pa("t", 1, 1, 1))}},
		{name: "added partitions even out the clusters", before: cat(two, orders),
			run: func(s *projection.State) (Decision, error) { return AddPartitions(s, "orders", 2, -1) },
			want: Decision{Events: ev(projection.PartitionsAdded{Topic: "orders", Count: 2, StorageClusters: []string{"default", "pg2"}},
				pa("orders", 4, 1, 1), pa("orders", 5, 3, 1))}},
		{name: "rebalance stays within each cluster", before: cat(brokers(1), onCluster("pg2", 3),
			spreadTopic("orders", []string{"default", "default", "pg2", "pg2"}, 1, 1, 3, 3), brokers(2), onCluster("pg2", 4)[1:]),
			run:  func(s *projection.State) (Decision, error) { return Rebalance(s) },
			want: Decision{Events: ev(pa("orders", 1, 2, 2), pa("orders", 3, 4, 2))}},
		{name: "an admin registers a cluster", before: brokers(1),
			run:  func(s *projection.State) (Decision, error) { return RegisterStorageCluster(s, "pg2") },
			want: Decision{Events: ev(projection.StorageClusterRegistered{Name: "pg2"})}},
		{name: "registering a known cluster is no event", before: two,
			run:  func(s *projection.State) (Decision, error) { return RegisterStorageCluster(s, "pg2") },
			want: Decision{}},
		{name: "the default needs no registration", before: nil,
			run:  func(s *projection.State) (Decision, error) { return RegisterStorageCluster(s, "default") },
			want: Decision{}},
	})
}

// randomClusterState builds a random cluster of 1 to 7 brokers over up to
// three storage clusters, with topics placed by CreateTopic and some
// brokers dead afterwards (their partitions left in place).
func randomClusterState(t *testing.T, r *rand.Rand) *projection.State {
	s := projection.New()
	names := []string{"default", "pg2", "pg3"}[:1+r.IntN(3)]
	for id := int64(1); id <= int64(1+r.IntN(7)); id++ {
		d, err := RegisterStorageBroker(s, addr(id), "", names[r.IntN(len(names))], 0, false, t0)
		if err != nil {
			t.Fatal(err)
		}
		apply(t, s, d.Events)
	}
	for i := range r.IntN(4) {
		d, err := CreateTopic(s, fmt.Sprintf("t%d", i), 1+r.IntN(12))
		if err != nil {
			t.Fatal(err)
		}
		apply(t, s, d.Events)
	}
	for _, id := range s.LiveBrokers() {
		if r.IntN(4) == 0 {
			apply(t, s, dead(id))
		}
	}
	return s
}

// checkStorage fails when a partition is owned by a broker of another
// storage cluster than its own.
func checkStorage(t *testing.T, i int, s *projection.State, when string) {
	t.Helper()
	for _, name := range s.TopicNames() {
		for _, p := range s.Topics[name].Partitions {
			if p.Broker != 0 && s.Brokers[p.Broker].StorageCluster != p.StorageCluster {
				t.Fatalf("state %d %s: %s/%d on %q owned by broker %d on %q", i, when, name, p.Index, p.StorageCluster, p.Broker, s.Brokers[p.Broker].StorageCluster)
			}
		}
	}
}

// liveClusters returns the storage clusters with a live broker, and the
// live brokers of each.
func liveClusters(s *projection.State) map[string][]int64 {
	out := map[string][]int64{}
	for _, id := range s.LiveBrokers() {
		sc := s.Brokers[id].StorageCluster
		out[sc] = append(out[sc], id)
	}
	return out
}

// TestStorageClusterProperties: on random clusters over several storage
// clusters, no decision ever puts a partition on another cluster than its
// own; a new topic is spread within one over the clusters with live
// brokers, and within one over each cluster's brokers; takeover leaves a
// partition of a cluster without live brokers in place; rebalance
// balances each cluster on its own.
func TestStorageClusterProperties(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(17, 2))
	for i := range 1500 {
		s := randomClusterState(t, r)
		checkStorage(t, i, s, "built")
		live := liveClusters(s)
		if len(live) == 0 {
			continue
		}
		// A new topic: within one over clusters, then over each one's brokers.
		n := 1 + r.IntN(20)
		d, err := CreateTopic(s, "new", n)
		if err != nil {
			t.Fatalf("state %d: %v", i, err)
		}
		apply(t, s, d.Events)
		checkStorage(t, i, s, "after CreateTopic")
		per := map[string]int{}
		perBroker := map[int64]int{}
		for _, p := range s.Topics["new"].Partitions {
			per[p.StorageCluster]++
			perBroker[p.Broker]++
		}
		lo, hi := 1<<30, -1
		for sc, ids := range live {
			lo, hi = min(lo, per[sc]), max(hi, per[sc])
			blo, bhi := 1<<30, -1
			for _, id := range ids {
				blo, bhi = min(blo, perBroker[id]), max(bhi, perBroker[id])
			}
			if bhi-blo > 1 {
				t.Fatalf("state %d: new topic over cluster %q's brokers %v: %v", i, sc, ids, perBroker)
			}
		}
		if hi-lo > 1 || len(per) > len(live) {
			t.Fatalf("state %d: new topic over clusters %v: %v", i, live, per)
		}
		// Takeover: every orphan of a cluster with a live broker moves
		// there; the others stay.
		before := s.Clone()
		d = CheckLiveness(s, Liveness{Brokers: map[int64]time.Time{}}, Timeouts{Heartbeat: time.Minute}, t0) // times every live broker
		apply(t, s, d.Events)
		if live := s.LiveBrokers(); len(live) > 1 {
			victim := live[r.IntN(len(live))]
			lv := Liveness{Brokers: map[int64]time.Time{}}
			for _, id := range live {
				lv.Brokers[id] = t0
			}
			lv.Brokers[victim] = t0.Add(-time.Hour)
			before = s.Clone()
			d = CheckLiveness(s, lv, Timeouts{Heartbeat: time.Minute}, t0)
			apply(t, s, d.Events)
			checkStorage(t, i, s, "after a death")
			after := liveClusters(s)
			for _, name := range s.TopicNames() {
				for j, p := range s.Topics[name].Partitions {
					_, hasLive := after[p.StorageCluster]
					wasOrphan := !before.Brokers[before.Topics[name].Partitions[j].Broker].Alive || before.Topics[name].Partitions[j].Broker == victim
					switch {
					case hasLive && !s.Brokers[p.Broker].Alive:
						t.Fatalf("state %d: %s/%d left on dead broker %d though cluster %q has %v", i, name, j, p.Broker, p.StorageCluster, after[p.StorageCluster])
					case !hasLive && wasOrphan && p.Broker != before.Topics[name].Partitions[j].Broker:
						t.Fatalf("state %d: %s/%d moved off a cluster without live brokers", i, name, j)
					}
				}
			}
		}
		// Rebalance: each cluster balanced on its own, and stable.
		d, err = Rebalance(s)
		if err != nil {
			t.Fatalf("state %d: %v", i, err)
		}
		apply(t, s, d.Events)
		checkStorage(t, i, s, "after Rebalance")
		for sc, ids := range liveClusters(s) {
			if err := balancedWithin(s, sc, ids); err != nil {
				t.Fatalf("state %d: cluster %q: %v", i, sc, err)
			}
		}
		if extra, _ := Rebalance(s); len(extra.Events) != 0 {
			t.Fatalf("state %d: a balanced cluster still moves:\n%s", i, show(extra))
		}
		again, _ := Rebalance(before)
		if again2, _ := Rebalance(before); !reflect.DeepEqual(again, again2) {
			t.Fatalf("state %d: rebalance not deterministic", i)
		}
	}
}

// balancedWithin is balanced for the partitions of storage cluster sc over
// its live brokers ids.
func balancedWithin(s *projection.State, sc string, ids []int64) error {
	load := map[int64]int{}
	for _, name := range s.TopicNames() {
		counts := map[int64]int{}
		for _, p := range s.Topics[name].Partitions {
			if p.StorageCluster == sc {
				counts[p.Broker]++
			}
		}
		lo, hi := 1<<30, -1
		for _, id := range ids {
			lo, hi = min(lo, counts[id]), max(hi, counts[id])
			load[id] += counts[id]
		}
		if hi-lo > 1 {
			return fmt.Errorf("topic %s spread %v over %v", name, counts, ids)
		}
	}
	lo, hi := 1<<30, -1
	for _, id := range ids {
		lo, hi = min(lo, load[id]), max(hi, load[id])
	}
	if hi-lo > 1 {
		return fmt.Errorf("loads %v", load)
	}
	return nil
}
