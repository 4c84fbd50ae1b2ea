package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logq/logq/client"
	"github.com/logq/logq/internal/harness/bench/openloop"
	"github.com/logq/logq/internal/harness/bench/peer"
)

// How the Go client is used for the throughput figures.
const (
	batchProducers = 3     // concurrent producers of the batched produce
	produceBatch   = 5000  // their batch size (records per request)
	consumeBatch   = 10000 // records per poll of the batched consume
)

// topic creates a topic with one partition per broker and returns once
// every partition has taken an append (so its broker serves it).
func (e *env) topic(ctx context.Context, name string) error {
	return e.topicOf(ctx, name, e.cfg.Partitions)
}

// topicOf creates a topic of the given partitions (spread over the
// brokers) and returns once every partition has taken an append.
func (e *env) topicOf(ctx context.Context, name string, partitions int) error {
	if _, err := e.client.CreateTopic(ctx, name, partitions); err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	p, err := e.client.NewProducer(ctx, name, client.ProducerConfig{Linger: -1, HeartbeatInterval: -1})
	if err != nil {
		return err
	}
	defer p.Close()
	for part := range partitions {
		if _, err := p.Produce(ctx, client.Record{Value: "warm-up", Partition: client.Partition(part)}); err != nil {
			return fmt.Errorf("warm up topic %s: %w", name, err)
		}
	}
	return nil
}

// comparison sets up a run measured against a baseline: topic on logq
// (with its warm-up messages) and on the peer when there is one, and the
// baseline's table, which the caller drops when done.
func (e *env) comparison(ctx context.Context, topic, table string) (*baseline, peer.Topic, error) {
	if err := e.topic(ctx, topic); err != nil {
		return nil, peer.Topic{}, err
	}
	base, err := newBaseline(ctx, e.db, table, e.cfg.Partitions)
	if err != nil {
		return nil, peer.Topic{}, err
	}
	var jsTopic peer.Topic
	if e.peer != nil {
		if jsTopic, err = e.peer.CreateTopic(ctx, topic, e.cfg.Partitions); err != nil {
			base.drop(context.WithoutCancel(ctx))
			return nil, peer.Topic{}, err
		}
	}
	return base, jsTopic, nil
}

// produceAndConsume measures batched produce against raw COPY, then
// batched consume of the same messages against raw range reads.
func (e *env) produceAndConsume(ctx context.Context) error {
	cfg := e.cfg
	const topic = "bench"
	base, jsTopic, err := e.comparison(ctx, topic, "bench_copy")
	if err != nil {
		return err
	}
	defer base.drop(context.WithoutCancel(ctx))
	jsAcked := make([]int, cfg.Partitions) // messages acknowledged per partition by JetStream

	var logq, raw, js tally
	perPartition := make([]atomic.Int64, cfg.Partitions) // messages acknowledged per partition
	per := splitEven(cfg.Messages, cfg.Rounds)
	for r, n := range per {
		e.progress("batched produce, round %d/%d: raw COPY of %d rows", r+1, len(per), n)
		if err := e.measure(&raw, func() (time.Duration, error) {
			return base.copyRows(ctx, n, cfg.MessageSize, produceBatch/cfg.Partitions)
		}); err != nil {
			return err
		}
		e.progress("batched produce, round %d/%d: %d messages through the Go client", r+1, len(per), n)
		if err := e.measure(&logq, func() (time.Duration, error) { return e.load.produceBatched(ctx, topic, n, perPartition) }); err != nil {
			return err
		}
		if e.peer != nil {
			e.progress("batched produce, round %d/%d: %d messages to JetStream, asynchronous publish", r+1, len(per), n)
			if err := e.measure(&js, func() (time.Duration, error) {
				return e.peer.PublishAsync(ctx, jsTopic, batchProducers, n, 4*produceBatch, e.body, jsAcked)
			}); err != nil {
				return err
			}
		}
	}
	e.report.add(e.peerRate(rateRow(Row{
		CPU: cpuUse(cfg.Messages, logq.cpu, raw.cpu),
		ID:  "produce_batched", Title: fmt.Sprintf("batched produce (%s msgs, %d B)", groupThousands(int64(cfg.Messages)), cfg.MessageSize),
		BaselineName: "raw COPY", Target: "≥ 0.90x",
		Note: fmt.Sprintf("%d Go producers (client.Producer, batches of %d, via the managers) vs %d parallel COPY streams (one per partition, %d rows per COPY) into a same-shaped table; %d alternating rounds",
			batchProducers, produceBatch, cfg.Partitions, produceBatch/cfg.Partitions, cfg.Rounds) +
			e.peerNote("%d connections publishing asynchronously (up to %d unacknowledged each) round robin to %d streams, one per partition",
				batchProducers, 4*produceBatch, cfg.Partitions),
	}, cfg.Messages, logq.d, raw.d, 0.9), "async publish", cfg.Messages, js.d, js.cpu, 1.2))

	// Consume what was produced: one consumer per partition, each reading
	// its partition in polls of consumeBatch, against one range-read
	// stream per partition over the baseline's copy of the rows.
	// A second set of consumers reads the same messages again (every
	// consumer sees every message) straight from the brokers.
	from := make([]int64, cfg.Partitions)
	consumers, err := e.load.consumers(ctx, topic, cfg.Partitions, false)
	if err != nil {
		return err
	}
	defer consumers.close()
	direct, err := e.load.consumers(ctx, topic, cfg.Partitions, true)
	if err != nil {
		return err
	}
	defer direct.close()
	var jsCons *peer.Consumers
	if e.peer != nil {
		if jsCons, err = e.peer.NewConsumers(ctx, jsTopic, "bench"); err != nil {
			return err
		}
		defer jsCons.Close()
	}
	logq, raw, js = tally{}, tally{}, tally{}
	var viaBrokers tally
	for r, n := range per {
		e.progress("batched consume, round %d/%d: raw range reads of %d rows", r+1, len(per), n)
		if err := e.measure(&raw, func() (time.Duration, error) {
			got, d, err := base.rangeRead(ctx, from, n, consumeBatch)
			if err == nil && got != n {
				err = fmt.Errorf("baseline read %d of %d rows: %w", got, n, errShort)
			}
			return d, err
		}); err != nil {
			return err
		}
		e.progress("batched consume, round %d/%d: %d messages through the Go client", r+1, len(per), n)
		want := roundShare(len(per), r, cfg.Partitions, func(p int) int { return int(perPartition[p].Load()) })
		if err := e.measure(&logq, func() (time.Duration, error) { return consumers.consume(ctx, want) }); err != nil {
			return err
		}
		e.progress("batched consume, round %d/%d: the same messages, direct from the brokers", r+1, len(per))
		if err := e.measure(&viaBrokers, func() (time.Duration, error) { return direct.consume(ctx, want) }); err != nil {
			return err
		}
		if err := e.peerFetchRound(ctx, &js, jsCons, jsAcked, "batched consume", len(per), r); err != nil {
			return err
		}
	}
	e.report.add(e.peerRate(rateRow(Row{
		CPU: cpuUse(cfg.Messages, logq.cpu, raw.cpu),
		ID:  "consume_batched", Title: fmt.Sprintf("batched consume (%s msgs)", groupThousands(int64(cfg.Messages))),
		BaselineName: "raw range reads", Target: "≥ 0.50x",
		Note: fmt.Sprintf("%d Go consumers (one per partition, Poll of up to %d, via the managers) vs %d parallel keyset range-read streams of %d rows on the primary key",
			cfg.Partitions, consumeBatch, cfg.Partitions, consumeBatch) +
			e.peerNote("%d durable pull consumers (one per stream, acks off, each on its own connection), Fetch of up to %d", cfg.Partitions, consumeBatch),
	}, cfg.Messages, logq.d, raw.d, 0.5), "pull", cfg.Messages, js.d, js.cpu, 1.2))
	e.report.add(e.peerRate(rateRow(Row{
		CPU: cpuUse(cfg.Messages, viaBrokers.cpu, raw.cpu),
		ID:  "consume_batched_direct", Title: "batched consume, direct to brokers",
		BaselineName: "raw range reads", Target: "≥ 0.50x",
		Note: fmt.Sprintf("the same, with ConsumerConfig.Direct: %d other consumers read the same messages again from the brokers, no manager in between",
			cfg.Partitions),
	}, cfg.Messages, viaBrokers.d, raw.d, 0.5), "pull", cfg.Messages, js.d, js.cpu, 1.2))
	return nil
}

// rateRow completes a throughput row: n messages in d (logq) and in base
// (the baseline), passing when the ratio is at least want.
func rateRow(row Row, n int, d, base time.Duration, want float64) Row {
	row.Unit = "msgs/s"
	row.Value = float64(n) / d.Seconds()
	row.Baseline = float64(n) / base.Seconds()
	row.Ratio = row.Value / row.Baseline
	row.Pass = pass(row.Ratio >= want)
	return row
}

// peerRate adds the peer's figure to a throughput row: n messages in d,
// using cpu; the row is unchanged when the peer was not measured. With
// want > 0 the row's target also asks for want × the peer's rate
// (DESIGN.md §5).
func (e *env) peerRate(row Row, name string, n int, d time.Duration, cpu cpuTime, want float64) Row {
	if e.peer == nil || d <= 0 {
		return row
	}
	row.PeerName = name
	row.Peer = float64(n) / d.Seconds()
	row.PeerRatio = row.Value / row.Peer
	if want > 0 {
		row.Target += fmt.Sprintf(", ≥ %.2fx JetStream", want)
		row.Pass = pass(*row.Pass && row.PeerRatio >= want)
	}
	if row.CPU != nil && cpu.ok {
		row.CPU.Peer = float64(cpu.self) / float64(time.Microsecond) / float64(n)
	}
	return row
}

// peerNote is the part of a row's note on how the peer was measured, ""
// without it.
func (e *env) peerNote(format string, args ...any) string {
	if e.peer == nil {
		return ""
	}
	return "; JetStream: " + fmt.Sprintf(format, args...)
}

// body is the peer's message with sequence number seq: payload's, as bytes.
func (e *env) body(seq int) []byte { return payloadBytes(seq, e.cfg.MessageSize) }

// splitEven splits n into k near-equal positive parts.
// roundShare is round r's share (of rounds) of each of n partitions'
// counts.
func roundShare(rounds, r, n int, count func(p int) int) []int {
	out := make([]int, n)
	for p := range out {
		out[p] = splitEven(count(p), rounds)[r]
	}
	return out
}

// peerFetchRound reads round r's share of what JetStream acknowledged per
// stream with jsCons, measured into m; nothing without the peer.
func (e *env) peerFetchRound(ctx context.Context, m *tally, jsCons *peer.Consumers, acked []int, what string, rounds, r int) error {
	if jsCons == nil {
		return nil
	}
	e.progress("%s, round %d/%d: the same count from JetStream, pull consumers", what, r+1, rounds)
	want := roundShare(rounds, r, len(acked), func(p int) int { return acked[p] })
	return e.measure(m, func() (time.Duration, error) { return jsCons.Fetch(ctx, want, consumeBatch) })
}

func splitEven(n, k int) []int {
	k = max(1, min(k, n))
	out := make([]int, k)
	for i := range out {
		out[i] = n / k
		if i < n%k {
			out[i]++
		}
	}
	return out
}

// produceBatched sends n messages of size bytes through batchProducers
// concurrent producers and returns the time until the last is
// acknowledged. It counts the messages acknowledged per partition into
// acked.
func produceBatched(ctx context.Context, c *client.Client, topic string, n, size int, acked []atomic.Int64) (time.Duration, error) {
	producers := make([]*client.Producer, batchProducers)
	for i := range producers {
		p, err := c.NewProducer(ctx, topic, client.ProducerConfig{
			BatchSize: produceBatch, BatchBytes: 16 << 20, Buffer: 4 * produceBatch, HeartbeatInterval: -1,
		})
		if err != nil {
			return 0, err
		}
		defer p.Close()
		producers[i] = p
	}
	var (
		wg     sync.WaitGroup
		failed atomic.Int64
		first  atomic.Value
	)
	start := time.Now()
	for i, p := range producers {
		count := splitEven(n, batchProducers)[i]
		wg.Go(func() {
			acks := make(chan *client.Future, 4*produceBatch)
			done := make(chan struct{})
			go func() { // check every acknowledgement, in order
				defer close(done)
				for f := range acks {
					ack, err := f.Wait(ctx)
					if err != nil {
						if failed.Add(1) == 1 {
							first.Store(err)
						}
						continue
					}
					acked[ack.Partition].Add(1)
				}
			}()
			for j := range count {
				acks <- p.Send(ctx, client.Record{Value: payload(j, size)})
			}
			close(acks)
			<-done
		})
	}
	wg.Wait()
	d := time.Since(start)
	if n := failed.Load(); n > 0 {
		return 0, fmt.Errorf("%d messages failed: %v", n, first.Load())
	}
	return d, nil
}

// openConsumers registers one consumer per partition of topic (direct:
// reading from the brokers) and reads the warm-up message of each.
func openConsumers(ctx context.Context, c *client.Client, topic string, partitions int, direct bool) ([]*client.Consumer, error) {
	var out []*client.Consumer
	for p := range partitions {
		cons, err := c.NewConsumer(ctx, topic, client.ConsumerConfig{Partition: client.Partition(p), MaxWait: -1, HeartbeatInterval: -1, Direct: direct})
		if err != nil {
			closeAll(out)
			return nil, err
		}
		out = append(out, cons)
		if msgs, err := cons.Poll(ctx, 1); err != nil || len(msgs) != 1 {
			closeAll(out)
			return nil, fmt.Errorf("consume the warm-up message of partition %d: %v (%d messages)", p, err, len(msgs))
		}
	}
	return out, nil
}

// openProducers registers n unbatched producers (one message per
// request) on topic; direct ones send to the brokers.
func openProducers(ctx context.Context, c *client.Client, topic string, n int, direct bool) ([]*client.Producer, error) {
	var out []*client.Producer
	for range n {
		p, err := c.NewProducer(ctx, topic, client.ProducerConfig{Linger: -1, BatchSize: 1, HeartbeatInterval: -1, Direct: direct})
		if err != nil {
			closeAll(out)
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func closeAll[T interface{ Close() error }](xs []T) {
	for _, x := range xs {
		x.Close()
	}
}

// consumeBatched reads want[p] messages from the consumer of partition p,
// the consumers in parallel, and returns the time it took.
func consumeBatched(ctx context.Context, consumers []*client.Consumer, wants []int) (time.Duration, error) {
	return parallel(len(consumers), func(i int) error {
		want := wants[i]
		for got := 0; got < want; {
			msgs, err := consumers[i].Poll(ctx, min(consumeBatch, want-got))
			if err != nil {
				return err
			}
			if len(msgs) == 0 {
				return fmt.Errorf("partition %d: %d of %d messages consumed, then none: %w", i, got, want, errShort)
			}
			got += len(msgs)
		}
		return nil
	})
}

// unbatched measures Clients concurrent producers, each sending one
// message per request and waiting for its acknowledgement, against one
// INSERT per commit from as many connections.
func (e *env) unbatched(ctx context.Context) error {
	cfg := e.cfg
	const topic = "unbatched"
	base, jsTopic, err := e.comparison(ctx, topic, "bench_insert")
	if err != nil {
		return err
	}
	defer base.drop(context.WithoutCancel(ctx))
	producers, err := e.load.producers(ctx, topic, cfg.Clients, false)
	if err != nil {
		return err
	}
	defer producers.close()

	if err := e.unbatchedRounds(ctx, base, jsTopic, unbatchedSpec{
		label: "unbatched produce",
		what:  fmt.Sprintf("messages from %d producers, one per request", cfg.Clients),
		send:  func(ctx context.Context, n int) (loadResult, error) { return producers.each(ctx, n, time.Time{}) },
		row: Row{ID: "produce_unbatched", Title: fmt.Sprintf("unbatched produce (%d clients)", cfg.Clients), Target: "≥ 1.00x",
			Note: fmt.Sprintf("%d producers, each sending one message per request and waiting for its ack (%s messages in all; p99 of send → ack) vs %d connections each doing one INSERT per transaction",
				cfg.Clients, groupThousands(int64(cfg.UnbatchedMessages)), cfg.Clients) +
				e.peerNote("%d publishers, each on its own connection, each a synchronous Publish (waits for its ack) at a time, round robin over %d streams", cfg.Clients, cfg.Partitions)},
		want: 1,
	}); err != nil {
		return err
	}
	return e.unbatchedDirect(ctx)
}

// unbatchedDirect is unbatched with ProducerConfig.Direct: the producers
// send to the owning brokers, no manager in between.
func (e *env) unbatchedDirect(ctx context.Context) error {
	cfg := e.cfg
	const topic = "unbatched_direct"
	base, jsTopic, err := e.comparison(ctx, topic, "bench_insert_direct")
	if err != nil {
		return err
	}
	defer base.drop(context.WithoutCancel(ctx))
	producers, err := e.load.producers(ctx, topic, cfg.Clients, true)
	if err != nil {
		return err
	}
	defer producers.close()
	return e.unbatchedRounds(ctx, base, jsTopic, unbatchedSpec{
		label: "unbatched produce, direct to brokers",
		what:  fmt.Sprintf("messages from %d direct producers, one per request", cfg.Clients),
		send:  func(ctx context.Context, n int) (loadResult, error) { return producers.each(ctx, n, time.Time{}) },
		row: Row{ID: "produce_unbatched_direct", Title: "unbatched produce, direct to brokers", Target: "≥ 1.00x",
			Note: fmt.Sprintf("the same, with ProducerConfig.Direct: %d producers (one Client) send one message per Produce straight to the owning brokers, no manager in between; the Client coalesces its producers' concurrent appends to a partition into one broker request, as the managers do", cfg.Clients)},
		want: 1,
	})
}

// unbatchedSpec is one unbatched-produce row: what sends the messages one
// per request (send), and how the row reads (row's ID, Title, Target and
// Note; want the ratio it needs).
type unbatchedSpec struct {
	label, what string // progress: "<label>, round r/R: n <what>"
	send        func(ctx context.Context, n int) (loadResult, error)
	row         Row
	want        float64
}

// unbatchedRounds measures s.send against one INSERT per commit from as
// many connections (base) and JetStream's synchronous publishers (when
// the bench has the peer), in alternating rounds, and reports the row.
func (e *env) unbatchedRounds(ctx context.Context, base *baseline, jsTopic peer.Topic, s unbatchedSpec) error {
	cfg := e.cfg
	var sent, raw, js tally
	var lats, peerLat []time.Duration
	per := splitEven(cfg.UnbatchedMessages, cfg.Rounds)
	for r, n := range per {
		e.progress("%s, round %d/%d: %d INSERTs, one per commit, from %d connections", s.label, r+1, len(per), n, cfg.Clients)
		if err := e.measure(&raw, func() (time.Duration, error) { return base.insertPerCommit(ctx, n, cfg.Clients, cfg.MessageSize) }); err != nil {
			return err
		}
		e.progress("%s, round %d/%d: %d %s", s.label, r+1, len(per), n, s.what)
		if err := e.measure(&sent, func() (time.Duration, error) {
			res, err := s.send(ctx, n)
			lats = append(lats, res.latencies...)
			return res.d, err
		}); err != nil {
			return err
		}
		if e.peer != nil {
			e.progress("%s, round %d/%d: %d messages to JetStream from %d synchronous publishers", s.label, r+1, len(per), n, cfg.Clients)
			if err := e.measure(&js, func() (time.Duration, error) {
				res, err := e.peer.PublishSync(ctx, peer.SyncLoad{Topic: jsTopic, Publishers: cfg.Clients, Messages: n, Body: e.body})
				peerLat = append(peerLat, res.Latencies...)
				return res.Duration, err
			}); err != nil {
				return err
			}
		}
	}
	row := s.row
	row.CPU = cpuUse(cfg.UnbatchedMessages, sent.cpu, raw.cpu)
	row.BaselineName = "INSERT per commit"
	row = rateRow(row, cfg.UnbatchedMessages, sent.d, raw.d, s.want)
	row.Figures = latencyFigures(lats, 0.99)
	row = e.peerRate(row, "sync publish", cfg.UnbatchedMessages, js.d, js.cpu, 0)
	if e.peer != nil {
		row.PeerFigures = latencyFigures(peerLat, 0.99)
	}
	e.report.add(row)
	return nil
}

// loadResult is what a closed-loop load measured.
type loadResult struct {
	messages  int
	d         time.Duration
	latencies []time.Duration // of each produce, send → ack
}

// produceEach sends messages from the producers, each one message at a
// time, waiting for its acknowledgement before the next: n messages in
// all, or when until is set, as many as they can until then.
func produceEach(ctx context.Context, producers []*client.Producer, n, size int, until time.Time) (loadResult, error) {
	var next atomic.Int64
	lats := make([][]time.Duration, len(producers))
	d, err := parallel(len(producers), func(i int) error {
		for {
			j := next.Add(1) - 1
			if until.IsZero() && j >= int64(n) {
				return nil
			}
			t0 := time.Now()
			if !until.IsZero() && t0.After(until) {
				return nil
			}
			if _, err := producers[i].Produce(ctx, client.Record{Value: payload(int(j), size)}); err != nil {
				return err
			}
			lats[i] = append(lats[i], time.Since(t0))
		}
	})
	if err != nil {
		return loadResult{}, err
	}
	res := loadResult{d: d, latencies: slices.Concat(lats...)}
	res.messages = len(res.latencies)
	return res, nil
}

// latency produces at a fixed rate for LatencyFor and measures each
// message's produce latency (Send → acknowledged) and end-to-end latency
// (Send → received by a consumer long-polling the topic).
func (e *env) latency(ctx context.Context) error {
	cfg := e.cfg
	const topic = "latency"
	if err := e.topic(ctx, topic); err != nil {
		return err
	}
	cons, err := e.client.NewConsumer(ctx, topic, client.ConsumerConfig{MaxWait: time.Second, BatchSize: 1000, HeartbeatInterval: -1})
	if err != nil {
		return err
	}
	defer cons.Close()
	for got := 0; got < cfg.Partitions; { // the warm-up messages
		msgs, err := cons.Poll(ctx, cfg.Partitions-got)
		if err != nil {
			return err
		}
		got += len(msgs)
	}
	prod, err := e.client.NewProducer(ctx, topic, client.ProducerConfig{Linger: -1, HeartbeatInterval: -1})
	if err != nil {
		return err
	}
	defer prod.Close()

	n := int(float64(cfg.Rate) * cfg.LatencyFor.Seconds())
	sent := make([]time.Time, n)
	e2e := make([]time.Duration, n)
	var sentCount atomic.Int64 // how many of sent are set (published in order)

	// The consumer: records when each message arrives.
	cctx, cancel := context.WithTimeout(ctx, cfg.LatencyFor+time.Minute)
	defer cancel()
	consumed := make(chan error, 1)
	go func() {
		got := 0
		for m, err := range cons.Messages(cctx) {
			if err != nil {
				consumed <- err
				return
			}
			now := time.Now()
			i, ok := parseIndex(m.Value)
			if !ok || i < 0 || i >= n || int64(i) >= sentCount.Load() || e2e[i] != 0 {
				consumed <- fmt.Errorf("unexpected message %q at %d/%d", m.Value, m.Partition, m.Offset)
				return
			}
			e2e[i] = now.Sub(sent[i])
			if got++; got == n {
				consumed <- nil
				return
			}
		}
	}()

	e.progress("latency: %d messages at %d/s, produce and end to end", n, cfg.Rate)
	// Acknowledgements complete in send order (one batch at a time).
	acks := openloop.NewAcks(n, sent, func(f *client.Future) error {
		_, err := f.Wait(ctx)
		return err
	})
	start := time.Now()
	interval := time.Second / time.Duration(cfg.Rate)
	for i := range n {
		openloop.Pace(start, i, interval)
		sent[i] = time.Now()
		sentCount.Store(int64(i + 1))
		acks.Add(prod.Send(ctx, client.Record{Value: payload(i, cfg.MessageSize)}))
	}
	acked, err := acks.Close()
	if err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	if err := <-consumed; err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	rate := float64(n) / time.Since(start).Seconds()
	title := fmt.Sprintf("produce latency @ %s msgs/s", groupThousands(int64(cfg.Rate)))
	figs := latencyFigures(acked, 0.5, 0.99, 0.999)
	prodRow := Row{ID: "produce_latency", Title: title, ValueName: "p50", Value: figs[0].Value, Unit: "ms", Figures: figs[1:],
		Target: "p99 ≤ 10 ms", Pass: pass(figs[1].Value <= 10),
		Note: fmt.Sprintf("one producer (no linger: a batch leaves as soon as the previous one is acknowledged), Send → ack, %s messages, achieved %.0f msgs/s",
			groupThousands(int64(n)), rate)}
	figs = latencyFigures(e2e, 0.5, 0.99, 0.999)
	e2eRow := Row{ID: "e2e_latency", Title: fmt.Sprintf("end-to-end latency @ %s msgs/s", groupThousands(int64(cfg.Rate))),
		ValueName: "p50", Value: figs[0].Value, Unit: "ms", Figures: figs[1:],
		Target: "p99 ≤ 20 ms", Pass: pass(figs[1].Value <= 20),
		Note: "Send → received by one consumer of the whole topic long-polling (Messages, polls of up to 1000)"}
	if e.peer != nil {
		jsTopic, err := e.peer.CreateTopic(ctx, topic, cfg.Partitions)
		if err != nil {
			return err
		}
		e.progress("latency: %d messages at %d/s to JetStream, publish and end to end", n, cfg.Rate)
		res, err := e.peer.Latency(ctx, jsTopic, cfg.Rate, n, e.body, parseIndexBytes)
		if err != nil {
			return err
		}
		prodRow = peerLatency(prodRow, res.Publish)
		prodRow.Note += fmt.Sprintf("; JetStream: one connection publishing asynchronously round robin to %d streams, publish → ack, achieved %.0f msgs/s", cfg.Partitions, res.Rate)
		e2eRow = peerLatency(e2eRow, res.EndToEnd)
		e2eRow.Note += fmt.Sprintf("; JetStream: publish → received by %d pull consumers (Consume, up to 1000 buffered), one per stream, on one connection", cfg.Partitions)
	}
	e.report.add(prodRow)
	e.report.add(e2eRow)
	return nil
}

// peerLatency adds the peer's latency samples to a latency row (p50 as
// the headline, p99 and p999 as figures) with the ratio of the p99s.
func peerLatency(row Row, samples []time.Duration) Row {
	figs := latencyFigures(samples, 0.5, 0.99, 0.999)
	row.Peer, row.PeerFigures = figs[0].Value, figs[1:]
	for _, f := range row.Figures {
		if f.Name == "p99" && figs[1].Value > 0 {
			row.PeerRatio, row.PeerRatioName = f.Value/figs[1].Value, "p99"
		}
	}
	return row
}

// parseIndexBytes is parseIndex of a message body.
func parseIndexBytes(b []byte) (int, bool) { return parseIndex(string(b)) }

// parseIndex reads the sequence number payload wrote into a message.
func parseIndex(s string) (int, bool) {
	if len(s) < 2 || s[0] != 'm' {
		return 0, false
	}
	end := 1
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(s[1:end])
	return n, err == nil
}
