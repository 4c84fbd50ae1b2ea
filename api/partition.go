package api

import (
	"hash/fnv"
	"sync/atomic"

	"github.com/logq/logq"
)

// KeyPartition is the partition of a key among n: FNV-1a (32 bits) of the
// key modulo n.
func KeyPartition(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// Partitioner chooses the partitions of one producer's messages, in the
// one order manager, broker and client use: the producer's registered
// (fixed) partition, else the explicit one, else the key's hash, else round
// robin over the writable partitions. An explicit partition that
// contradicts the registered one is refused (400), never ignored.
type Partitioner struct {
	Topic      string
	ProducerID int64
	N          int            // the topic's partitions
	Fixed      *int           // the producer's registered partition, if any
	Writable   []int          // partitions writable now, for round robin
	RR         *atomic.Uint64 // the round-robin counter
}

// Pick chooses the partition of one message.
func (pt *Partitioner) Pick(explicit *int, key *string) (int, error) {
	switch {
	case pt.Fixed != nil:
		if explicit != nil && *explicit != *pt.Fixed {
			return 0, logq.Errorf(logq.EInvalid, "producer %d is registered for partition %d, not %d", pt.ProducerID, *pt.Fixed, *explicit)
		}
		return *pt.Fixed, nil
	case explicit != nil:
		if *explicit >= pt.N {
			return 0, logq.Errorf(logq.EInvalid, "topic %q has partitions 0..%d; no partition %d", pt.Topic, pt.N-1, *explicit)
		}
		return *explicit, nil
	case key != nil:
		return KeyPartition(*key, pt.N), nil
	case len(pt.Writable) == 0:
		return 0, logq.Errorf(logq.EUnavailable, "no partition of topic %q has a live broker; retry", pt.Topic)
	}
	return pt.Writable[int((pt.RR.Add(1)-1)%uint64(len(pt.Writable)))], nil
}

// CheckProducer refuses (400) an append to topic/partition by a producer
// registered for another topic or pinned to another partition: what the
// partitioner would never have chosen.
func CheckProducer(producerID int64, regTopic string, regPartition *int, topic string, partition int) error {
	if regTopic != topic {
		return logq.Errorf(logq.EInvalid, "producer %d is registered for topic %q, not %q", producerID, regTopic, topic)
	}
	if regPartition != nil && *regPartition != partition {
		return logq.Errorf(logq.EInvalid, "producer %d is registered for partition %d, not %d", producerID, *regPartition, partition)
	}
	return nil
}
