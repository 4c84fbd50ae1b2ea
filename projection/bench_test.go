package projection_test

import (
	"testing"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

// replayLog builds a realistic log of n events: a few brokers and topics,
// then mostly client registrations and liveness flips.
func replayLog(n int) []logq.Event {
	out := make([]logq.Event, 0, n)
	add := func(p projection.Payload) {
		e := projection.NewEvent(p)
		e.Seq, e.Epoch = int64(len(out)+1), 1
		out = append(out, e)
	}
	add(projection.WriterElected{Manager: "http://m1", Epoch: 1})
	for b := int64(1); b <= 3; b++ {
		add(projection.BrokerRegistered{BrokerID: b, Address: "127.0.0.1:900" + string(rune('0'+b))})
	}
	add(projection.TopicCreated{Topic: "orders", Partitions: 3})
	for p := 0; p < 3; p++ {
		add(projection.PartitionAssigned{Topic: "orders", Partition: p, BrokerID: int64(p + 1), Epoch: 1})
	}
	alive := true
	for id := int64(1); len(out) < n; id++ {
		switch id % 4 {
		case 0:
			alive = !alive
			add(projection.BrokerStatusChanged{BrokerID: 3, Alive: alive})
		case 1, 2:
			add(projection.ProducerRegistered{ProducerID: id, Topic: "orders"})
		default:
			add(projection.ConsumerRegistered{ConsumerID: id, Topic: "orders"})
		}
	}
	return out
}

func BenchmarkApply(b *testing.B) {
	log := replayLog(100_000)
	b.ResetTimer()
	b.ReportAllocs()
	for i := 0; i < b.N; {
		s := projection.New()
		for _, e := range log {
			if err := projection.Apply(s, e); err != nil {
				b.Fatal(err)
			}
			i++
			if i == b.N {
				break
			}
		}
	}
}
