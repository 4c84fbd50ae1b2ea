package projection

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/logq/logq"
)

// Storage clusters (issue 17, DESIGN.md §6). A storage cluster is one
// PostgreSQL (with its own replicas and failover tooling) that brokers
// store records in. Each broker declares the one it writes to
// (BrokerRegistered.StorageCluster) and each partition belongs to one,
// fixed when the partition is created (TopicCreated.StorageClusters,
// PartitionsAdded.StorageClusters): a partition's records live only
// there, so only a broker of the same storage cluster may own it — the
// fold refuses a PartitionAssigned that crosses clusters.
//
// The cluster named DefaultStorageCluster always exists and is stored as
// "" (every broker and partition of a log written before storage clusters
// is on it); any other name must be registered (StorageClusterRegistered)
// before a broker or partition refers to it.

// TypeStorageClusterRegistered is the event type of StorageClusterRegistered.
const TypeStorageClusterRegistered = "StorageClusterRegistered"

// DefaultStorageCluster is the storage cluster of brokers and partitions
// that name none.
const DefaultStorageCluster = "default"

// MaxStorageClusterNameLen bounds a storage cluster's name.
const MaxStorageClusterNameLen = 64

// StorageClusterRegistered: a storage cluster became known, by name
// (registered by the writer when a broker first declares it, or by an
// admin). Names are never reused for another cluster and never removed.
type StorageClusterRegistered struct {
	Name string `json:"name"`
}

func (StorageClusterRegistered) EventType() string { return TypeStorageClusterRegistered }

// StorageCluster is a registered storage cluster.
type StorageCluster struct {
	Name string `json:"name"`
}

// NormStorageCluster returns the stored form of a storage cluster name:
// "" for the default cluster (named "" or DefaultStorageCluster).
func NormStorageCluster(name string) string {
	if name == DefaultStorageCluster {
		return ""
	}
	return name
}

// StorageClusterName returns the name to show for a stored cluster name
// ("" is DefaultStorageCluster).
func StorageClusterName(stored string) string {
	if stored == "" {
		return DefaultStorageCluster
	}
	return stored
}

// ValidateStorageClusterName reports whether name is a valid storage
// cluster name: 1 to 64 characters from [A-Za-z0-9._-].
func ValidateStorageClusterName(name string) error {
	if name == "" {
		return fmt.Errorf("storage cluster name is empty")
	}
	if len(name) > MaxStorageClusterNameLen {
		return fmt.Errorf("storage cluster name longer than %d characters", MaxStorageClusterNameLen)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("storage cluster name %q has a character outside [A-Za-z0-9._-]", name)
		}
	}
	return nil
}

// HasStorageCluster reports whether the cluster named name (either form of
// the default) is known.
func (s *State) HasStorageCluster(name string) bool {
	name = NormStorageCluster(name)
	if name == "" {
		return true
	}
	_, ok := s.StorageClusters[name]
	return ok
}

// StorageClusterNames returns the known storage clusters, stored form
// ("" first for the default), sorted.
func (s *State) StorageClusterNames() []string {
	return append([]string{""}, slices.Sorted(maps.Keys(s.StorageClusters))...)
}

// PartitionStorageCluster returns the stored storage cluster of a
// partition ("" for an unknown one, too).
func (s *State) PartitionStorageCluster(topic string, partition int) string {
	t, ok := s.Topics[topic]
	if !ok || partition < 0 || partition >= len(t.Partitions) {
		return ""
	}
	return t.Partitions[partition].StorageCluster
}

// BrokerStorageCluster returns the stored storage cluster of a broker.
func (s *State) BrokerStorageCluster(id int64) string {
	if b, ok := s.Brokers[id]; ok {
		return b.StorageCluster
	}
	return ""
}

func (s *State) checkStorageClusterRegistered(e logq.Event, p StorageClusterRegistered) error {
	if err := ValidateStorageClusterName(p.Name); err != nil {
		return invariant(e, "%v", err)
	}
	if s.HasStorageCluster(p.Name) {
		return invariant(e, "storage cluster %q already registered", p.Name)
	}
	return nil
}

// checkStorageClusterRefs checks the storage clusters that n new
// partitions name (none: all on the default).
func (s *State) checkStorageClusterRefs(e logq.Event, names []string, n int) error {
	if len(names) == 0 {
		return nil
	}
	if len(names) != n {
		return invariant(e, "%d storage clusters for %d partitions", len(names), n)
	}
	for _, name := range names {
		if !s.HasStorageCluster(name) {
			return invariant(e, "unknown storage cluster %q", name)
		}
	}
	return nil
}

// checkBrokerStorageCluster checks a BrokerRegistered's cluster: known,
// and not a change for a broker that owns partitions (their records are
// on its old cluster).
func (s *State) checkBrokerStorageCluster(e logq.Event, p BrokerRegistered) error {
	if !s.HasStorageCluster(p.StorageCluster) {
		return invariant(e, "unknown storage cluster %q", p.StorageCluster)
	}
	if b, ok := s.Brokers[p.BrokerID]; ok && b.StorageCluster != NormStorageCluster(p.StorageCluster) {
		if n := len(s.PartitionsOf(p.BrokerID)); n > 0 {
			return invariant(e, "broker %d owns %d partitions on storage cluster %q and cannot move to %q",
				p.BrokerID, n, StorageClusterName(b.StorageCluster), StorageClusterName(NormStorageCluster(p.StorageCluster)))
		}
	}
	return nil
}

// checkAssignedStorageCluster refuses an owner on another storage cluster
// than the partition's.
func (s *State) checkAssignedStorageCluster(e logq.Event, p PartitionAssigned) error {
	want := s.Topics[p.Topic].Partitions[p.Partition].StorageCluster
	if got := s.Brokers[p.BrokerID].StorageCluster; got != want {
		return invariant(e, "partition %s/%d is on storage cluster %q; broker %d is on %q",
			p.Topic, p.Partition, StorageClusterName(want), p.BrokerID, StorageClusterName(got))
	}
	return nil
}

func (s *State) mutateStorageClusterRegistered(p StorageClusterRegistered) {
	if s.StorageClusters == nil {
		s.StorageClusters = map[string]*StorageCluster{}
	}
	s.StorageClusters[p.Name] = &StorageCluster{Name: p.Name}
}

// setStorageClusters sets the clusters of partitions from.. of t.
func setStorageClusters(t *Topic, from int, names []string) {
	for i, name := range names {
		t.Partitions[from+i].StorageCluster = NormStorageCluster(name)
	}
}

func cloneStorageClusters(m map[string]*StorageCluster) map[string]*StorageCluster {
	if m == nil {
		return nil
	}
	c := make(map[string]*StorageCluster, len(m))
	for k, v := range m {
		sc := *v
		c[k] = &sc
	}
	return c
}

// The snapshot's storage section, after the groups section and before the
// security one, present only when some state is off the default cluster:
//
//	tag:      the byte storageTag
//	clusters: count, then each registered name (sorted)
//	brokers:  count, then id, cluster index (1-based into clusters) of each
//	          broker not on the default
//	topics:   count, then name, partition count, then each partition's
//	          cluster index (0 the default), of each topic with a partition
//	          not on the default
const storageTag = 0xB7

func appendStorageClusters(b []byte, s *State) []byte {
	names := slices.Sorted(maps.Keys(s.StorageClusters))
	index := make(map[string]int, len(names))
	for i, n := range names {
		index[n] = i + 1
	}
	var brokers []int64
	for _, id := range slices.Sorted(maps.Keys(s.Brokers)) {
		if s.Brokers[id].StorageCluster != "" {
			brokers = append(brokers, id)
		}
	}
	var topics []string
	for _, name := range s.TopicNames() {
		for _, p := range s.Topics[name].Partitions {
			if p.StorageCluster != "" {
				topics = append(topics, name)
				break
			}
		}
	}
	if len(names) == 0 && len(brokers) == 0 && len(topics) == 0 {
		return b
	}
	b = append(b, storageTag)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, n := range names {
		b = appendString(b, n)
	}
	b = binary.AppendUvarint(b, uint64(len(brokers)))
	for _, id := range brokers {
		b = binary.AppendVarint(b, id)
		b = binary.AppendUvarint(b, uint64(index[s.Brokers[id].StorageCluster]))
	}
	b = binary.AppendUvarint(b, uint64(len(topics)))
	for _, name := range topics {
		parts := s.Topics[name].Partitions
		b = appendString(b, name)
		b = binary.AppendUvarint(b, uint64(len(parts)))
		for _, p := range parts {
			b = binary.AppendUvarint(b, uint64(index[p.StorageCluster]))
		}
	}
	return b
}

func readStorageClusters(r *reader, s *State) {
	if r.err != nil || len(r.b) == 0 || r.b[0] != storageTag {
		return
	}
	r.b = r.b[1:]
	names := make([]string, r.count(1))
	for i := range names {
		names[i] = r.string()
	}
	if len(names) > 0 {
		s.StorageClusters = make(map[string]*StorageCluster, len(names))
		for _, n := range names {
			s.StorageClusters[n] = &StorageCluster{Name: n}
		}
	}
	cluster := func() string {
		k := r.uvarint()
		if r.err == nil && k > uint64(len(names)) {
			r.err = errTruncated
		}
		if r.err != nil || k == 0 {
			return ""
		}
		return names[k-1]
	}
	for n := r.count(2); n > 0 && r.err == nil; n-- {
		id := r.varint()
		name := cluster()
		if br, ok := s.Brokers[id]; ok {
			br.StorageCluster = name
		} else if r.err == nil {
			r.err = fmt.Errorf("decode snapshot: storage cluster of unknown broker %d", id)
		}
	}
	for n := r.count(2); n > 0 && r.err == nil; n-- {
		name := r.string()
		np := r.count(1)
		t, ok := s.Topics[name]
		if r.err == nil && (!ok || len(t.Partitions) != np) {
			r.err = fmt.Errorf("decode snapshot: storage clusters of unknown topic %q or partition count %d", name, np)
		}
		for i := 0; i < np && r.err == nil; i++ {
			t.Partitions[i].StorageCluster = cluster()
		}
	}
}
