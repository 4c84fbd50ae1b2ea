package bench

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logq/logq/internal/harness/bench/peer"
)

// The Kafka protocol rows (section "kafka", issue 14): the same shapes as
// the HTTP rows, with franz-go (kgo) clients against the brokers' Kafka
// listeners, each against the same baseline measured in the same run, in
// alternating rounds, and beside JetStream in the same shape:
//
//   - kafka_produce_batched: batchProducers kgo clients producing Messages
//     records asynchronously (idempotent, acks=all, kgo's own batching) vs
//     raw COPY;
//   - kafka_produce_unbatched: Clients kgo clients, each producing one
//     record per request (linger 0, acks=all) and waiting for its ack, vs
//     one INSERT per commit;
//   - kafka_fetch: one kgo consumer per partition reading back what the
//     batched produce stored vs raw indexed range reads.
//
// The kgo clients run in this process (also with DriverCommand: the driver
// speaks the Go client's HTTP API only).

// kafkaClient makes a kgo client of the cluster's Kafka listeners.
func (e *env) kafkaClient(opts ...kgo.Opt) (*kgo.Client, error) {
	seeds := strings.Split(e.cluster.KafkaBootstrap(), ",")
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, opts...)...)
}

// kafka runs the section.
func (e *env) kafka(ctx context.Context) error {
	if e.cluster.KafkaBootstrap() == "" {
		return fmt.Errorf("the brokers have no Kafka listeners")
	}
	if err := e.kafkaBatched(ctx); err != nil {
		return err
	}
	return e.kafkaUnbatched(ctx)
}

// kafkaBatched measures batched produce over Kafka against raw COPY, then
// fetching the same records back against raw range reads.
func (e *env) kafkaBatched(ctx context.Context) error {
	cfg := e.cfg
	const topic = "kafka"
	base, jsTopic, err := e.comparison(ctx, topic, "bench_kafka_copy")
	if err != nil {
		return err
	}
	defer base.drop(context.WithoutCancel(ctx))
	jsAcked := make([]int, cfg.Partitions)
	perPartition := make([]atomic.Int64, cfg.Partitions)

	var kafka, raw, js tally
	per := splitEven(cfg.Messages, cfg.Rounds)
	for r, n := range per {
		e.progress("Kafka batched produce, round %d/%d: raw COPY of %d rows", r+1, len(per), n)
		if err := e.measure(&raw, func() (time.Duration, error) {
			return base.copyRows(ctx, n, cfg.MessageSize, produceBatch/cfg.Partitions)
		}); err != nil {
			return err
		}
		e.progress("Kafka batched produce, round %d/%d: %d records from %d kgo producers", r+1, len(per), n, batchProducers)
		if err := e.measure(&kafka, func() (time.Duration, error) { return e.kafkaProduceBatched(ctx, topic, n, perPartition) }); err != nil {
			return err
		}
		if e.peer != nil {
			e.progress("Kafka batched produce, round %d/%d: %d messages to JetStream, asynchronous publish", r+1, len(per), n)
			if err := e.measure(&js, func() (time.Duration, error) {
				return e.peer.PublishAsync(ctx, jsTopic, batchProducers, n, 4*produceBatch, e.body, jsAcked)
			}); err != nil {
				return err
			}
		}
	}
	e.report.add(e.peerRate(rateRow(Row{
		CPU: cpuUse(cfg.Messages, kafka.cpu, raw.cpu),
		ID:  "kafka_produce_batched", Title: fmt.Sprintf("Kafka batched produce (%s msgs, %d B)", groupThousands(int64(cfg.Messages)), cfg.MessageSize),
		BaselineName: "raw COPY", Target: "≥ 0.90x",
		Note: fmt.Sprintf("%d franz-go clients (idempotent, acks=all, kgo's batching: up to %d records buffered each) to the brokers' Kafka listeners vs %d parallel COPY streams (%d rows per COPY); %d alternating rounds",
			batchProducers, 4*produceBatch, cfg.Partitions, produceBatch/cfg.Partitions, cfg.Rounds) +
			e.peerNote("%d connections publishing asynchronously (up to %d unacknowledged each) round robin to %d streams", batchProducers, 4*produceBatch, cfg.Partitions),
	}, cfg.Messages, kafka.d, raw.d, 0.9), "async publish", cfg.Messages, js.d, js.cpu, 0))

	// Fetch back what was produced: one kgo consumer per partition, from
	// after the warm-up message.
	var jsCons *peer.Consumers
	if e.peer != nil {
		if jsCons, err = e.peer.NewConsumers(ctx, jsTopic, "kafka"); err != nil {
			return err
		}
		defer jsCons.Close()
	}
	from := make([]int64, cfg.Partitions)
	for p := range from {
		from[p] = 1 // the warm-up message is at 0
	}
	baseFrom := make([]int64, cfg.Partitions)
	kafka, raw, js = tally{}, tally{}, tally{}
	for r, n := range per {
		e.progress("Kafka fetch, round %d/%d: raw range reads of %d rows", r+1, len(per), n)
		if err := e.measure(&raw, func() (time.Duration, error) {
			got, d, err := base.rangeRead(ctx, baseFrom, n, consumeBatch)
			if err == nil && got != n {
				err = fmt.Errorf("baseline read %d of %d rows: %w", got, n, errShort)
			}
			return d, err
		}); err != nil {
			return err
		}
		want := roundShare(len(per), r, cfg.Partitions, func(p int) int { return int(perPartition[p].Load()) })
		e.progress("Kafka fetch, round %d/%d: %d records, one kgo consumer per partition", r+1, len(per), n)
		if err := e.measure(&kafka, func() (time.Duration, error) { return e.kafkaFetch(ctx, topic, from, want) }); err != nil {
			return err
		}
		if err := e.peerFetchRound(ctx, &js, jsCons, jsAcked, "Kafka fetch", len(per), r); err != nil {
			return err
		}
	}
	e.report.add(e.peerRate(rateRow(Row{
		CPU: cpuUse(cfg.Messages, kafka.cpu, raw.cpu),
		ID:  "kafka_fetch", Title: fmt.Sprintf("Kafka fetch (%s msgs)", groupThousands(int64(cfg.Messages))),
		BaselineName: "raw range reads", Target: "≥ 0.50x",
		Note: fmt.Sprintf("%d franz-go consumers (one per partition, assigned, fetches of up to %d MiB per partition) vs %d parallel keyset range-read streams of %d rows",
			cfg.Partitions, kafkaFetchPartitionBytes>>20, cfg.Partitions, consumeBatch) +
			e.peerNote("%d durable pull consumers (one per stream), Fetch of up to %d", cfg.Partitions, consumeBatch),
	}, cfg.Messages, kafka.d, raw.d, 0.5), "pull", cfg.Messages, js.d, js.cpu, 0))
	return nil
}

// kafkaFetchPartitionBytes is the kgo consumers' fetch size per partition.
const kafkaFetchPartitionBytes = 4 << 20

// kafkaProduceBatched sends n records through batchProducers kgo clients,
// asynchronously, and returns the time until the last is acknowledged. It
// counts the acknowledgements per partition into acked.
func (e *env) kafkaProduceBatched(ctx context.Context, topic string, n int, acked []atomic.Int64) (time.Duration, error) {
	clients := make([]*kgo.Client, batchProducers)
	for i := range clients {
		cl, err := e.kafkaClient(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.MaxBufferedRecords(4*produceBatch), kgo.ProducerBatchMaxBytes(1<<20))
		if err != nil {
			return 0, err
		}
		defer cl.Close()
		if err := cl.Ping(ctx); err != nil {
			return 0, err
		}
		clients[i] = cl
	}
	var (
		failed atomic.Int64
		first  atomic.Value
	)
	counts := splitEven(n, batchProducers)
	d, err := parallel(len(clients), func(i int) error {
		cl := clients[i]
		for j := range counts[i] {
			cl.Produce(ctx, &kgo.Record{Value: payloadBytes(j, e.cfg.MessageSize)}, func(r *kgo.Record, err error) {
				if err != nil {
					if failed.Add(1) == 1 {
						first.Store(err)
					}
					return
				}
				acked[r.Partition].Add(1)
			})
		}
		return cl.Flush(ctx)
	})
	if err != nil {
		return 0, err
	}
	if f := failed.Load(); f > 0 {
		return 0, fmt.Errorf("%d records failed: %v", f, first.Load())
	}
	return d, nil
}

// kafkaFetch reads want[p] records of partition p from offset from[p] (and
// advances from), one kgo consumer per partition in parallel, and returns
// the time it took (including the clients' start: their first fetch).
func (e *env) kafkaFetch(ctx context.Context, topic string, from []int64, want []int) (time.Duration, error) {
	return parallel(len(want), func(p int) error {
		if want[p] == 0 {
			return nil
		}
		at := from[p]
		cl, err := e.kafkaClient(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {int32(p): kgo.NewOffset().At(at)}}),
			kgo.FetchMaxPartitionBytes(kafkaFetchPartitionBytes), kgo.FetchMaxBytes(2*kafkaFetchPartitionBytes))
		if err != nil {
			return err
		}
		defer cl.Close()
		got := 0
		for got < want[p] {
			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			fs := cl.PollFetches(fctx)
			cancel()
			if err := fs.Err(); err != nil {
				return fmt.Errorf("partition %d: %d of %d records fetched: %w", p, got, want[p], err)
			}
			got += fs.NumRecords()
		}
		from[p] = at + int64(want[p])
		return nil
	})
}

// kafkaUnbatched measures Clients kgo clients, each producing one record
// per request (linger 0, acks=all) and waiting for its acknowledgement,
// against one INSERT per commit from as many connections.
func (e *env) kafkaUnbatched(ctx context.Context) error {
	cfg := e.cfg
	const topic = "kafka_unbatched"
	base, jsTopic, err := e.comparison(ctx, topic, "bench_kafka_insert")
	if err != nil {
		return err
	}
	defer base.drop(context.WithoutCancel(ctx))
	clients := make([]*kgo.Client, cfg.Clients)
	defer func() {
		for _, cl := range clients {
			if cl != nil {
				cl.Close()
			}
		}
	}()
	for i := range clients {
		cl, err := e.kafkaClient(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
		if err != nil {
			return err
		}
		clients[i] = cl
		// One record each first: the connections are open and the
		// producer ids allocated before the clock starts.
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm-up")}).FirstErr(); err != nil {
			return fmt.Errorf("warm up: %w", err)
		}
	}

	return e.unbatchedRounds(ctx, base, jsTopic, unbatchedSpec{
		label: "Kafka unbatched produce",
		what:  fmt.Sprintf("records from %d kgo clients, one per request", cfg.Clients),
		send: func(ctx context.Context, n int) (loadResult, error) {
			return kafkaProduceEach(ctx, clients, n, cfg.MessageSize)
		},
		row: Row{ID: "kafka_produce_unbatched", Title: fmt.Sprintf("Kafka unbatched produce (%d clients)", cfg.Clients), Target: "≥ 2.00x",
			Note: fmt.Sprintf("%d franz-go clients (idempotent, acks=all, linger 0), each producing one record per request and waiting for its ack (%s records in all; p99 of produce → ack) vs %d connections each doing one INSERT per transaction",
				cfg.Clients, groupThousands(int64(cfg.UnbatchedMessages)), cfg.Clients) +
				e.peerNote("%d publishers, each a synchronous Publish at a time, round robin over %d streams", cfg.Clients, cfg.Partitions)},
		want: 2,
	})
}

// kafkaProduceEach produces n records from the clients, each one record at
// a time, waiting for its acknowledgement before the next.
func kafkaProduceEach(ctx context.Context, clients []*kgo.Client, n, size int) (loadResult, error) {
	var next atomic.Int64
	lats := make([][]time.Duration, len(clients))
	d, err := parallel(len(clients), func(i int) error {
		for {
			j := next.Add(1) - 1
			if j >= int64(n) {
				return nil
			}
			t0 := time.Now()
			if err := clients[i].ProduceSync(ctx, &kgo.Record{Value: payloadBytes(int(j), size)}).FirstErr(); err != nil {
				return err
			}
			lats[i] = append(lats[i], time.Since(t0))
		}
	})
	if err != nil {
		return loadResult{}, err
	}
	res := loadResult{d: d}
	for _, l := range lats {
		res.latencies = append(res.latencies, l...)
	}
	res.messages = len(res.latencies)
	return res, nil
}
