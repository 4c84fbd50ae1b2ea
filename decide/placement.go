package decide

import (
	"hash/fnv"
	"slices"

	"github.com/logq/logq/projection"
)

// cluster is what placement decides against: the state with the liveness
// changes decided in the same batch (alive overrides), and the partitions
// each live broker owns, in all and per topic. Placing or moving a
// partition updates the counts, never the state.
type cluster struct {
	s     *projection.State
	live  []int64                  // live brokers, sorted (those of one storage cluster while rebalancing it)
	all   []int64                  // every live broker, sorted
	sc    map[int64]string         // live broker → its storage cluster (stored form; storagecluster.go)
	load  map[int64]int            // live broker → partitions owned
	count map[string]map[int64]int // topic → live broker → partitions owned
	owner map[string]map[int]int64 // topic → partition → owner decided so far (changed ones only)
}

// newCluster counts ownership in s, with alive overriding the liveness of
// the brokers it names (a broker registered, revived, declared dead or
// removed in the same decision).
func newCluster(s *projection.State, alive map[int64]bool) *cluster {
	c := &cluster{s: s, load: map[int64]int{}, count: map[string]map[int64]int{}, owner: map[string]map[int]int64{}}
	for id, b := range s.Brokers {
		if v, ok := alive[id]; ok {
			if v && !b.Removed {
				c.load[id] = 0
			}
		} else if b.Alive && !b.Removed {
			c.load[id] = 0
		}
	}
	for id, v := range alive {
		if _, known := s.Brokers[id]; v && !known {
			c.load[id] = 0 // registered in this decision
		}
	}
	for id := range c.load {
		c.live = append(c.live, id)
	}
	slices.Sort(c.live)
	c.all = c.live
	c.sc = make(map[int64]string, len(c.live))
	for _, id := range c.live {
		if b, ok := s.Brokers[id]; ok {
			c.sc[id] = b.StorageCluster
		}
	}
	for name, t := range s.Topics {
		c.count[name] = map[int64]int{}
		for _, p := range t.Partitions {
			if _, ok := c.load[p.Broker]; ok {
				c.load[p.Broker]++
				c.count[name][p.Broker]++
			}
		}
	}
	return c
}

func (c *cluster) isLive(id int64) bool {
	_, ok := c.load[id]
	return id != 0 && ok
}

// ownerOf is the partition's owner as decided so far.
func (c *cluster) ownerOf(topic string, p projection.Partition) int64 {
	if id, ok := c.owner[topic][p.Index]; ok {
		return id
	}
	return p.Broker
}

// ring returns each live broker's position on the ring of live brokers
// rotated to start at FNV-1a(topic) modulo their number.
func (c *cluster) ring(topic string) map[int64]int {
	h := fnv.New32a()
	h.Write([]byte(topic))
	n := len(c.live)
	start := int(h.Sum32() % uint32(n))
	pos := make(map[int64]int, n)
	for i, id := range c.live {
		pos[id] = (i - start + n) % n
	}
	return pos
}

// less orders brokers as receivers of a partition of topic: fewest of the
// topic, then fewest in all, then by ring position.
func (c *cluster) less(topic string, ring map[int64]int, a, b int64) bool {
	ca, cb := c.count[topic][a], c.count[topic][b]
	if ca != cb {
		return ca < cb
	}
	if c.load[a] != c.load[b] {
		return c.load[a] < c.load[b]
	}
	return ring[a] < ring[b]
}

// place picks the live broker of storage cluster sc for a new or orphaned
// partition of topic and counts the partition against it. It returns 0
// when no broker of sc is live.
func (c *cluster) place(topic, sc string) int64 {
	defer c.within(sc)()
	if len(c.live) == 0 {
		return 0
	}
	ring := c.ring(topic)
	best := c.live[0]
	for _, id := range c.live[1:] {
		if c.less(topic, ring, id, best) {
			best = id
		}
	}
	c.add(topic, best, 1)
	return best
}

func (c *cluster) add(topic string, id int64, n int) {
	if c.count[topic] == nil {
		c.count[topic] = map[int64]int{}
	}
	c.count[topic][id] += n
	c.load[id] += n
}

// assign records that partition p of topic goes to id.
func (c *cluster) assign(topic string, p projection.Partition, id int64) {
	if c.owner[topic] == nil {
		c.owner[topic] = map[int]int64{}
	}
	c.owner[topic][p.Index] = id
}

// placeNew decides the storage clusters (spread, see spreadNew) and the
// first assignments (epoch 1) of partitions from..to-1 of topic. clusters
// is nil when every one is on the default storage cluster.
func (c *cluster) placeNew(topic string, from, to int) (clusters []string, out []projection.Payload) {
	clusters = c.spreadNew(topic, to-from)
	out = make([]projection.Payload, 0, to-from)
	for i := from; i < to; i++ {
		sc := ""
		if clusters != nil {
			sc = projection.NormStorageCluster(clusters[i-from])
		}
		out = append(out, projection.PartitionAssigned{Topic: topic, Partition: i, BrokerID: c.place(topic, sc), Epoch: 1})
	}
	return clusters, out
}

// reassignOrphans moves every partition that is unassigned or on a broker
// not live to a live broker (place), with the next epoch, topics in name
// order. Nothing moves when no broker is live.
func (c *cluster) reassignOrphans() []projection.Payload {
	if len(c.live) == 0 {
		return nil
	}
	var out []projection.Payload
	for _, name := range c.s.TopicNames() {
		for _, p := range c.s.Topics[name].Partitions {
			if c.isLive(p.Broker) {
				continue
			}
			id := c.place(name, p.StorageCluster)
			if id == 0 {
				continue // no live broker on its storage cluster: it waits (unavailable)
			}
			c.assign(name, p, id)
			out = append(out, projection.PartitionAssigned{Topic: name, Partition: p.Index, BrokerID: id, Epoch: p.Epoch + 1})
		}
	}
	return out
}

// rebalance decides the moves that even out, over the live brokers, first
// every topic's partitions and then the total load, each to within one,
// moving ownership only; see the package doc. Orphans are placed first.
// Every partition changes owner at most once, with the next epoch, and the
// result is deterministic for a given state. No moves on a balanced
// cluster.
func (c *cluster) rebalance() []projection.PartitionAssigned {
	if len(c.live) == 0 {
		return nil
	}
	c.reassignOrphans()
	names := c.s.TopicNames()
	// Each storage cluster on its own: a partition never leaves its own.
	for _, sc := range c.storageClusters() {
		restore := c.within(sc)
		c.rebalanceWithin(names)
		restore()
	}
	var out []projection.PartitionAssigned
	for _, name := range names {
		for _, p := range c.s.Topics[name].Partitions {
			if id := c.ownerOf(name, p); id != p.Broker {
				out = append(out, projection.PartitionAssigned{Topic: name, Partition: p.Index, BrokerID: id, Epoch: p.Epoch + 1})
			}
		}
	}
	return out
}

// rebalanceWithin evens out the partitions over c.live (the live brokers
// of one storage cluster).
func (c *cluster) rebalanceWithin(names []string) {
	if len(c.live) == 0 {
		return
	}
	// Each topic within one: from the broker with most of it (the most
	// loaded on ties) to the one with least (placement's order).
	for _, name := range names {
		ring := c.ring(name)
		for {
			src, dst := c.live[0], c.live[0]
			for _, id := range c.live[1:] {
				if n, m := c.count[name][id], c.count[name][src]; n > m || n == m && c.load[id] > c.load[src] {
					src = id
				}
				if c.less(name, ring, id, dst) {
					dst = id
				}
			}
			if c.count[name][src]-c.count[name][dst] <= 1 || !c.move(name, src, dst) {
				break
			}
		}
	}
	// The total within one, keeping every topic within one: the giver
	// holds one more of the topic than the receiver, and one exists
	// whenever the loads differ by two or more.
	for {
		src, dst := c.live[0], c.live[0]
		for _, id := range c.live[1:] {
			if c.load[id] > c.load[src] {
				src = id
			}
			if c.load[id] < c.load[dst] {
				dst = id
			}
		}
		if c.load[src]-c.load[dst] <= 1 {
			break
		}
		moved := false
		for _, name := range names { // a partition that returns home first
			if c.count[name][src] > c.count[name][dst] && c.hasHomecoming(name, src, dst) {
				moved = c.move(name, src, dst)
				break
			}
		}
		for _, name := range names {
			if moved {
				break
			}
			if c.count[name][src] > c.count[name][dst] {
				moved = c.move(name, src, dst)
			}
		}
		if !moved {
			break // cannot happen while every topic is within one
		}
	}
}

// hasHomecoming reports whether src holds a partition of topic that dst
// owned in the state (moving it back undoes a move instead of adding one).
func (c *cluster) hasHomecoming(topic string, src, dst int64) bool {
	for _, p := range c.s.Topics[topic].Partitions {
		if c.ownerOf(topic, p) == src && p.Broker == dst {
			return true
		}
	}
	return false
}

// move moves one partition of topic from src to dst: preferably one that
// dst owned in the state, else the highest-numbered one src owned in the
// state, else the highest-numbered one. It reports whether src had one.
func (c *cluster) move(topic string, src, dst int64) bool {
	parts := c.s.Topics[topic].Partitions
	pick, rank := -1, 0
	for i := len(parts) - 1; i >= 0; i-- {
		p := parts[i]
		if c.ownerOf(topic, p) != src {
			continue
		}
		r := 1
		switch p.Broker {
		case dst:
			r = 3
		case src:
			r = 2
		}
		if r > rank {
			pick, rank = i, r
		}
	}
	if pick < 0 {
		return false
	}
	c.assign(topic, parts[pick], dst)
	c.add(topic, src, -1)
	c.add(topic, dst, 1)
	return true
}
