package projection_test

import (
	"fmt"
	"testing"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

// scaleState is the control plane's state at scale k of the largest one
// the repo benchmarks today (the cold start of docs/benchmarks.md: 5
// brokers, 20 topics of 6 partitions, 300,000 producers and 200,000
// consumers), spread over k storage clusters, with 1,000·k consumer
// groups of 5 members: 5k brokers, 120k partitions, 500,000k clients.
func scaleState(k int) *projection.State {
	s := projection.New()
	s.Seq, s.WriterEpoch, s.Writer = int64(1_000_000*k), 1, "http://127.0.0.1:8080"
	s.StorageClusters = map[string]*projection.StorageCluster{}
	cluster := func(i int) string {
		if i%k == 0 {
			return ""
		}
		return fmt.Sprintf("pg%d", i%k+1)
	}
	for c := 1; c < k; c++ {
		s.StorageClusters[cluster(c)] = &projection.StorageCluster{Name: cluster(c)}
	}
	brokers := 5 * k
	for b := 1; b <= brokers; b++ {
		s.Brokers[int64(b)] = &projection.Broker{ID: int64(b), Address: fmt.Sprintf("10.0.%d.%d:9092", b/250, b%250), Alive: true,
			StorageCluster: cluster(b)}
	}
	for t := 0; t < 20*k; t++ {
		name := fmt.Sprintf("topic-%04d", t)
		parts := make([]projection.Partition, 6)
		for p := range parts {
			// Broker b is on cluster b mod k: pick one of the partition's cluster.
			c := (t*6 + p) % k
			b := int64(c + k*((t*6+p)/k%5))
			if b == 0 {
				b = int64(k)
			}
			parts[p] = projection.Partition{Index: p, Broker: b, Epoch: 1, StorageCluster: cluster(int(b))}
		}
		s.Topics[name] = &projection.Topic{Name: name, Partitions: parts}
	}
	for i := int64(1); i <= int64(300_000*k); i++ {
		s.Producers[i] = &projection.Producer{ID: i, Topic: fmt.Sprintf("topic-%04d", i%int64(20*k))}
	}
	for i := int64(1); i <= int64(200_000*k); i++ {
		s.Consumers[i] = &projection.Consumer{ID: i, Topic: fmt.Sprintf("topic-%04d", i%int64(20*k)), Inactive: i%3 == 0}
	}
	for g := 0; g < 1000*k; g++ {
		grp := &projection.Group{Name: fmt.Sprintf("group-%05d", g), Generation: 3, ProtocolType: "consumer", Protocol: "range"}
		for m := 0; m < 5; m++ {
			grp.Members = append(grp.Members, projection.GroupMember{MemberID: fmt.Sprintf("member-%d-%d", g, m),
				SessionTimeoutMS: 45000, RebalanceTimeoutMS: 60000, Topics: []string{fmt.Sprintf("topic-%04d", g%(20*k))}})
		}
		grp.Leader = grp.Members[0].MemberID
		s.Groups[grp.Name] = grp
	}
	s.NextIDs = projection.NextIDs{Broker: int64(brokers + 1), Producer: int64(300_000*k + 1), Consumer: int64(200_000*k + 1)}
	return s
}

// BenchmarkControlPlaneScale encodes and decodes the snapshot of the
// control plane's state at 1× and 10× today's largest (scaleState),
// reporting its size: what a manager loads on start, before the events
// after the snapshot (docs/scaling.md).
//
//	go test ./projection -run '^$' -bench ControlPlaneScale -benchtime 3x
func BenchmarkControlPlaneScale(b *testing.B) {
	for _, k := range []int{1, 10} {
		s := scaleState(k)
		snap, err := projection.Encode(s)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("x%d/encode", k), func(b *testing.B) {
			for b.Loop() {
				if _, err := projection.Encode(s); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(snap)), "snapshot-bytes")
		})
		b.Run(fmt.Sprintf("x%d/decode", k), func(b *testing.B) {
			for b.Loop() {
				if _, err := projection.DecodeState(snap); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(snap)), "snapshot-bytes")
		})
	}
}

// BenchmarkApplyControlPlaneEvents folds the events a storage-cluster
// deployment adds to the log, one kind at a time, on a state at 1× scale:
// per broker (a registration declaring its storage cluster), per
// partition (an assignment, checked against the partition's storage
// cluster) and per group event (a rebalance of 5 members).
//
//	go test ./projection -run '^$' -bench ApplyControlPlaneEvents
func BenchmarkApplyControlPlaneEvents(b *testing.B) {
	base := scaleState(1)
	kinds := []struct {
		name string
		ev   func(i int) projection.Payload
	}{
		{"broker", func(i int) projection.Payload {
			return projection.BrokerRegistered{BrokerID: int64(i%5 + 1), Address: fmt.Sprintf("10.1.0.%d:9092", i%200), StorageCluster: ""}
		}},
		{"partition", func(i int) projection.Payload {
			t, p := i/6%20, i%6
			return projection.PartitionAssigned{Topic: fmt.Sprintf("topic-%04d", t), Partition: p, BrokerID: base.Topics[fmt.Sprintf("topic-%04d", t)].Partitions[p].Broker, Epoch: int64(2 + i/120)}
		}},
		{"group", func(i int) projection.Payload {
			g := &projection.GroupRebalanced{Group: fmt.Sprintf("group-%05d", i%1000), Generation: int64(4 + i/1000), ProtocolType: "consumer", Protocol: "range"}
			for m := 0; m < 5; m++ {
				g.Members = append(g.Members, projection.GroupMember{MemberID: fmt.Sprintf("member-%d-%d", i%1000, m), SessionTimeoutMS: 45000, RebalanceTimeoutMS: 60000,
					Topics: []string{"topic-0001"}})
			}
			g.Leader = g.Members[0].MemberID
			return *g
		}},
	}
	for _, kind := range kinds {
		b.Run(kind.name, func(b *testing.B) {
			const n = 20_000
			events := make([]logq.Event, n)
			for i := range events {
				events[i] = projection.NewEvent(kind.ev(i))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; {
				b.StopTimer()
				s := base.Clone()
				b.StartTimer()
				for j := 0; j < n && i < b.N; j, i = j+1, i+1 {
					e := events[j]
					e.Seq = s.Seq + 1
					if err := projection.Apply(s, e); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
