package decide

import (
	"hash/fnv"
	"slices"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

// Storage clusters (issue 17, projection/storagecluster.go): a partition's
// records live on its storage cluster (one PostgreSQL) only, so placement,
// takeover and rebalance choose among the live brokers of the partition's
// cluster, never another; a partition whose cluster has no live broker
// stays where it is (unavailable, 503) until one comes back. A new topic's
// partitions are spread round robin over the clusters that have live
// brokers, then over each cluster's brokers. Moving a partition to
// another cluster is not supported: no decision produces it and the fold
// refuses it.

// within restricts c.live to the live brokers of storage cluster sc (stored
// form) and returns the function that restores it.
func (c *cluster) within(sc string) (restore func()) {
	prev := c.live
	var live []int64
	for _, id := range c.all {
		if c.sc[id] == sc {
			live = append(live, id)
		}
	}
	c.live = live
	return func() { c.live = prev }
}

// storageClusters returns the storage clusters (stored form) that have a
// live broker, sorted.
func (c *cluster) storageClusters() []string {
	var out []string
	for _, id := range c.all {
		if !slices.Contains(out, c.sc[id]) {
			out = append(out, c.sc[id])
		}
	}
	slices.Sort(out)
	return out
}

// spreadNew picks the storage clusters of n new partitions of topic: each
// goes to the cluster with a live broker that holds the fewest of the
// topic's partitions so far, ties broken on the ring of those clusters
// rotated by FNV-1a(topic) (so that topics do not all start on the same
// one). The names are in the events' form ("default" for the default);
// nil when all go to the default (the events then look as before storage
// clusters).
func (c *cluster) spreadNew(topic string, n int) []string {
	clusters := c.storageClusters()
	if len(clusters) == 0 || len(clusters) == 1 && clusters[0] == "" {
		return nil
	}
	held := map[string]int{}
	if t, ok := c.s.Topics[topic]; ok {
		for _, p := range t.Partitions {
			held[p.StorageCluster]++
		}
	}
	h := fnv.New32a()
	h.Write([]byte(topic))
	start := int(h.Sum32() % uint32(len(clusters)))
	out := make([]string, n)
	for i := range out {
		best := -1
		for k := range clusters {
			j := (start + k) % len(clusters)
			if best < 0 || held[clusters[j]] < held[clusters[best]] {
				best = j
			}
		}
		held[clusters[best]]++
		out[i] = projection.StorageClusterName(clusters[best])
	}
	return out
}

// RegisterStorageCluster decides an admin's registration of a storage
// cluster by name: StorageClusterRegistered, or nothing when it is known
// already (the default always is). A bad name is logq.EInvalid.
func RegisterStorageCluster(s *projection.State, name string) (Decision, error) {
	if err := projection.ValidateStorageClusterName(name); err != nil {
		return Decision{}, logq.Errorf(logq.EInvalid, "%v", err)
	}
	if s.HasStorageCluster(name) {
		return Decision{}, nil
	}
	return Decision{Events: []projection.Payload{projection.StorageClusterRegistered{Name: name}}}, nil
}

// RegisterStorageBroker is RegisterKafkaBroker for a broker that declares
// the storage cluster it writes to (storageCluster; "" or "default": the
// default). A cluster not known yet is registered first
// (StorageClusterRegistered). A change of cluster alone is a
// BrokerRegistered; it is refused (logq.EConflict) while the broker owns
// partitions, whose records are on its old cluster.
func RegisterStorageBroker(s *projection.State, address, kafkaAddress, storageCluster string, wantID int64, rejoin bool, now time.Time) (Decision, error) {
	sc := projection.NormStorageCluster(storageCluster)
	if sc != "" {
		if err := projection.ValidateStorageClusterName(sc); err != nil {
			return Decision{}, logq.Errorf(logq.EInvalid, "storage_cluster: %v", err)
		}
	}
	d, id, err := registerBroker(s, address, wantID, rejoin, now)
	if err != nil {
		return Decision{}, err
	}
	b, known := s.Brokers[id]
	if known && b.StorageCluster != sc {
		if owned := s.PartitionsOf(id); len(owned) > 0 {
			old := projection.StorageClusterName(b.StorageCluster)
			return Decision{}, logq.Errorf(logq.EConflict,
				"broker %d owns %d partitions on storage cluster %q, whose records are there, and cannot declare storage cluster %q; "+
					"start it with --storage-cluster %s again, or decommission it (its partitions move to another broker of %q) and start it as a new broker",
				id, len(owned), old, projection.StorageClusterName(sc), old, old)
		}
	}
	if known && b.Alive && b.Address == address && b.KafkaAddress == kafkaAddress && b.StorageCluster == sc {
		return d, nil
	}
	if !s.HasStorageCluster(sc) {
		d.Events = append(d.Events, projection.StorageClusterRegistered{Name: sc})
	}
	c := newCluster(s, map[int64]bool{id: true})
	c.sc[id] = sc
	d.Events = append(d.Events, projection.BrokerRegistered{BrokerID: id, Address: address, KafkaAddress: kafkaAddress, StorageCluster: sc})
	d.Events = append(d.Events, c.reassignOrphans()...)
	return d, nil
}

// storageLive returns the live brokers of storage cluster sc (stored form).
func (c *cluster) storageLive(sc string) []int64 {
	defer c.within(sc)()
	return c.live
}
