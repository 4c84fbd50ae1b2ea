package projection_test

import (
	"strings"
	"testing"

	"github.com/logq/logq/projection"
)

// scBase is base with a second storage cluster "pg2" and a broker on it.
var scBase = append(append([]projection.Payload{}, base...),
	projection.StorageClusterRegistered{Name: "pg2"},
	projection.BrokerRegistered{BrokerID: 3, Address: "b3:9000", StorageCluster: "pg2"},
)

func TestStorageClusters(t *testing.T) {
	tests := []struct {
		name    string
		events  []projection.Payload
		wantErr string
		check   func(t *testing.T, s *projection.State)
	}{
		{"registered", nil, "", func(t *testing.T, s *projection.State) {
			if !s.HasStorageCluster("pg2") || !s.HasStorageCluster("default") || !s.HasStorageCluster("") || s.HasStorageCluster("pg3") {
				t.Errorf("clusters %v", s.StorageClusterNames())
			}
			if got := s.BrokerStorageCluster(3); got != "pg2" {
				t.Errorf("broker 3 on %q", got)
			}
			if got := s.BrokerStorageCluster(1); got != "" {
				t.Errorf("broker 1 on %q", got)
			}
		}},
		{"twice", []projection.Payload{projection.StorageClusterRegistered{Name: "pg2"}}, "already registered", nil},
		{"default is implicit", []projection.Payload{projection.StorageClusterRegistered{Name: "default"}}, "already registered", nil},
		{"bad name", []projection.Payload{projection.StorageClusterRegistered{Name: "a b"}}, "character outside", nil},
		{"empty name", []projection.Payload{projection.StorageClusterRegistered{Name: ""}}, "empty", nil},
		{"broker on unknown cluster", []projection.Payload{projection.BrokerRegistered{BrokerID: 4, Address: "b4:9000", StorageCluster: "pg9"}}, "unknown storage cluster", nil},
		{"broker naming the default", []projection.Payload{projection.BrokerRegistered{BrokerID: 4, Address: "b4:9000", StorageCluster: "default"}}, "", func(t *testing.T, s *projection.State) {
			if s.Brokers[4].StorageCluster != "" {
				t.Errorf("default stored as %q", s.Brokers[4].StorageCluster)
			}
		}},
		{"broker owning partitions cannot change cluster", []projection.Payload{projection.BrokerRegistered{BrokerID: 1, Address: "b1:9000", StorageCluster: "pg2"}}, "cannot move", nil},
		{"broker owning nothing can change cluster", []projection.Payload{projection.BrokerRegistered{BrokerID: 3, Address: "b3:9000"}}, "", func(t *testing.T, s *projection.State) {
			if s.Brokers[3].StorageCluster != "" {
				t.Errorf("broker 3 on %q", s.Brokers[3].StorageCluster)
			}
		}},
		{"topic over two clusters", []projection.Payload{
			projection.TopicCreated{Topic: "spread", Partitions: 2, StorageClusters: []string{"default", "pg2"}},
			projection.PartitionAssigned{Topic: "spread", Partition: 0, BrokerID: 1, Epoch: 1},
			projection.PartitionAssigned{Topic: "spread", Partition: 1, BrokerID: 3, Epoch: 1},
			projection.PartitionsAdded{Topic: "spread", Count: 1, StorageClusters: []string{"pg2"}},
			projection.PartitionAssigned{Topic: "spread", Partition: 2, BrokerID: 3, Epoch: 1},
		}, "", func(t *testing.T, s *projection.State) {
			for i, want := range []string{"", "pg2", "pg2"} {
				if got := s.PartitionStorageCluster("spread", i); got != want {
					t.Errorf("partition %d on %q, want %q", i, got, want)
				}
			}
			if got := s.PartitionStorageCluster("orders", 0); got != "" {
				t.Errorf("old partition on %q", got)
			}
		}},
		{"topic on unknown cluster", []projection.Payload{projection.TopicCreated{Topic: "x", Partitions: 1, StorageClusters: []string{"pg9"}}}, "unknown storage cluster", nil},
		{"topic with too few clusters", []projection.Payload{projection.TopicCreated{Topic: "x", Partitions: 2, StorageClusters: []string{"pg2"}}}, "1 storage clusters for 2 partitions", nil},
		{"partitions added with too many clusters", []projection.Payload{projection.PartitionsAdded{Topic: "orders", Count: 1, StorageClusters: []string{"pg2", "pg2"}}}, "2 storage clusters for 1 partitions", nil},
		{"assignment across clusters refused", []projection.Payload{projection.PartitionAssigned{Topic: "orders", Partition: 0, BrokerID: 3, Epoch: 2}}, "is on storage cluster \"default\"; broker 3 is on \"pg2\"", nil},
		{"assignment across clusters refused the other way", []projection.Payload{
			projection.TopicCreated{Topic: "x", Partitions: 1, StorageClusters: []string{"pg2"}},
			projection.PartitionAssigned{Topic: "x", Partition: 0, BrokerID: 1, Epoch: 1},
		}, "is on storage cluster \"pg2\"; broker 1 is on \"default\"", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := projection.New()
			evs := events(append(append([]projection.Payload{}, scBase...), tc.events...)...)
			if err := projection.ApplyAll(s, evs[:len(scBase)]); err != nil {
				t.Fatal(err)
			}
			var err error
			before := projection.Render(s)
			for _, e := range evs[len(scBase):] {
				before = projection.Render(s)
				if err = projection.Apply(s, e); err != nil {
					break
				}
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if projection.Render(s) != before {
					t.Fatal("a failed Apply changed the state")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
			// Snapshot and clone keep the storage clusters.
			b, _ := projection.Encode(s)
			d, err := projection.DecodeState(b)
			if err != nil || projection.Render(d) != projection.Render(s) || projection.Render(s.Clone()) != projection.Render(s) {
				t.Fatalf("snapshot/clone lost state: %v\n%s\nwant\n%s", err, projection.Render(d), projection.Render(s))
			}
		})
	}
}

// TestStorageClusterSnapshotSection: the section sits between groups and
// security (which stays last), round-trips, and a truncation inside it
// fails.
func TestStorageClusterSnapshotSection(t *testing.T) {
	s := projection.New()
	all := append(append([]projection.Payload{}, scBase...),
		projection.TopicCreated{Topic: "spread", Partitions: 2, StorageClusters: []string{"default", "pg2"}},
		projection.PartitionAssigned{Topic: "spread", Partition: 1, BrokerID: 3, Epoch: 1},
		projection.GroupRebalanced{Group: "g", Generation: 1, ProtocolType: "consumer", Protocol: "range", Leader: "m1",
			Members: []projection.GroupMember{{MemberID: "m1", Topics: []string{"spread"}}}},
		projection.PrincipalCreated{Name: "alice", Kind: "client"},
	)
	if err := projection.ApplyAll(s, events(all...)); err != nil {
		t.Fatal(err)
	}
	b, err := projection.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	d, err := projection.DecodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	if projection.Render(d) != projection.Render(s) {
		t.Fatalf("round trip:\n%s\nwant\n%s", projection.Render(d), projection.Render(s))
	}
	if d.Security == nil || d.Groups["g"] == nil || d.Topics["spread"].Partitions[1].StorageCluster != "pg2" {
		t.Fatal("a section was lost")
	}
	// Without storage state the snapshot is byte for byte what it was.
	plain := projection.New()
	if err := projection.ApplyAll(plain, events(base...)); err != nil {
		t.Fatal(err)
	}
	pb, _ := projection.Encode(plain)
	if strings.Contains(string(pb), "\xb7") {
		t.Error("storage section written for a state without storage clusters")
	}
}
