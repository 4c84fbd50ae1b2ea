package bench

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/logq/logq/client"
)

// loadGen is where the Go client of the throughput and scaling figures
// runs: in this process (localLoad), beside the managers and brokers, or
// in a driver process of its own (driverLoad, Config.DriverCommand), so
// that its CPU time is apart from the servers'.
type loadGen interface {
	// produceBatched sends n messages through batchProducers producers
	// and returns the time until the last was acknowledged, counting the
	// acknowledgements per partition into acked.
	produceBatched(ctx context.Context, topic string, n int, acked []atomic.Int64) (time.Duration, error)
	// producers registers n unbatched producers on topic (direct:
	// sending to the brokers, ProducerConfig.Direct).
	producers(ctx context.Context, topic string, n int, direct bool) (producerSet, error)
	// consumers registers one consumer per partition of topic and reads
	// the warm-up message of each.
	consumers(ctx context.Context, topic string, partitions int, direct bool) (consumerSet, error)
	close()
}

// producerSet is a set of unbatched producers.
type producerSet interface {
	// each is produceEach on the set.
	each(ctx context.Context, n int, until time.Time) (loadResult, error)
	close()
}

// consumerSet is one consumer per partition of a topic.
type consumerSet interface {
	// consume is consumeBatched on the set.
	consume(ctx context.Context, wants []int) (time.Duration, error)
	close()
}

// localLoad runs the client in this process.
type localLoad struct {
	c    *client.Client
	size int
}

func (l localLoad) produceBatched(ctx context.Context, topic string, n int, acked []atomic.Int64) (time.Duration, error) {
	return produceBatched(ctx, l.c, topic, n, l.size, acked)
}

func (l localLoad) producers(ctx context.Context, topic string, n int, direct bool) (producerSet, error) {
	ps, err := openProducers(ctx, l.c, topic, n, direct)
	return localProducers{ps, l.size}, err
}

func (l localLoad) consumers(ctx context.Context, topic string, partitions int, direct bool) (consumerSet, error) {
	cs, err := openConsumers(ctx, l.c, topic, partitions, direct)
	return localConsumers(cs), err
}

func (localLoad) close() {}

type localProducers struct {
	ps   []*client.Producer
	size int
}

func (l localProducers) each(ctx context.Context, n int, until time.Time) (loadResult, error) {
	return produceEach(ctx, l.ps, n, l.size, until)
}

func (l localProducers) close() { closeAll(l.ps) }

type localConsumers []*client.Consumer

func (l localConsumers) consume(ctx context.Context, wants []int) (time.Duration, error) {
	return consumeBatched(ctx, l, wants)
}

func (l localConsumers) close() { closeAll(l) }
