package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/logq/logq/client"
	"github.com/logq/logq/internal/harness/devcluster"
	"github.com/logq/logq/internal/pgtest"
)

// consumeAll polls until want messages have arrived (or the context ends).
func consumeAll(ctx context.Context, t *testing.T, cons *client.Consumer, want int) []client.Message {
	t.Helper()
	var got []client.Message
	for len(got) < want {
		msgs, err := cons.Poll(ctx, client.MaxPoll)
		if err != nil {
			t.Fatalf("poll after %d of %d messages: %v", len(got), want, err)
		}
		got = append(got, msgs...)
	}
	return got
}

// clientWithTopic returns a client configured by cfg, with a new topic of
// three partitions.
func clientWithTopic(ctx context.Context, t *testing.T, cfg client.Config, topic string) *client.Client {
	t.Helper()
	c := newClient(t, cfg)
	if _, err := c.CreateTopic(ctx, topic, 3); err != nil {
		t.Fatal(err)
	}
	return c
}

// checkAcked consumes all of topic and checks that every acknowledged
// value is at its offset (there may be more: at-least-once).
func checkAcked(ctx context.Context, t *testing.T, c *client.Client, topic string, acked map[string]client.Ack) {
	t.Helper()
	cons, err := c.NewConsumer(ctx, topic, client.ConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	size, err := cons.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	at := map[client.Ack]string{}
	for _, m := range consumeAll(ctx, t, cons, int(size)) {
		at[client.Ack{Topic: topic, Partition: m.Partition, Offset: m.Offset}] = m.Value
	}
	for v, ack := range acked {
		if at[ack] != v {
			t.Fatalf("acknowledged %s at %+v, found %q there", v, ack, at[ack])
		}
	}
}

func TestProduceConsume10000InOrderPerPartition(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Through the reader: writes are forwarded, reads wait for our seq.
	c := newClient(t, client.Config{Managers: []string{cl.Managers[1].URL, cl.Managers[0].URL}})
	if _, err := c.CreateTopic(ctx, "orders", 3); err != nil {
		t.Fatal(err)
	}
	info, err := c.DescribeTopic(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Partitions) != 3 {
		t.Fatalf("partitions = %+v", info.Partitions)
	}
	p, err := c.NewProducer(ctx, "orders", client.ProducerConfig{BatchSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	const n = 10000
	futs := make([]*client.Future, n)
	for i := range futs {
		rec := client.Record{Value: fmt.Sprintf("m%05d", i)}
		if i%2 == 0 {
			rec.Key = fmt.Sprintf("k%d", i%20)
		}
		futs[i] = p.Send(ctx, rec)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// Per partition: the values in send order, and offsets gap-free.
	sent := map[int][]string{}
	keyPart := map[string]int{}
	for i, f := range futs {
		ack, err := f.Wait(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if int64(len(sent[ack.Partition])) != ack.Offset {
			t.Fatalf("message %d acked at %d/%d; want offset %d", i, ack.Partition, ack.Offset, len(sent[ack.Partition]))
		}
		sent[ack.Partition] = append(sent[ack.Partition], fmt.Sprintf("m%05d", i))
		if i%2 == 0 {
			k := fmt.Sprintf("k%d", i%20)
			if prev, ok := keyPart[k]; ok && prev != ack.Partition {
				t.Fatalf("key %s went to partitions %d and %d", k, prev, ack.Partition)
			}
			keyPart[k] = ack.Partition
		}
	}
	if len(sent) != 3 {
		t.Fatalf("messages went to %d partitions; want 3", len(sent))
	}

	cons, err := c.NewConsumer(ctx, "orders", client.ConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	if size, err := cons.Size(ctx); err != nil || size != n {
		t.Fatalf("size = %d, %v; want %d", size, err, n)
	}
	got := consumeAll(ctx, t, cons, n)
	if len(got) != n {
		t.Fatalf("consumed %d messages; want %d", len(got), n)
	}
	byPart := map[int][]string{}
	for _, m := range got {
		if int64(len(byPart[m.Partition])) != m.Offset {
			t.Fatalf("partition %d: offset %d after %d messages", m.Partition, m.Offset, len(byPart[m.Partition]))
		}
		byPart[m.Partition] = append(byPart[m.Partition], m.Value)
	}
	for part, vals := range sent {
		if fmt.Sprint(vals) != fmt.Sprint(byPart[part]) {
			t.Fatalf("partition %d: consumed order differs from produced order", part)
		}
	}
	if size, err := cons.Size(ctx); err != nil || size != 0 {
		t.Fatalf("size after consuming = %d, %v; want 0", size, err)
	}
	if msgs, err := cons.Poll(ctx, 10); err != nil || len(msgs) != 0 {
		t.Fatalf("poll at the end = %v, %v; want nothing", msgs, err)
	}
}

func TestDirectProducerAndIterator(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Config{Readers: -1})
	ctx := pgtest.Context(t, 60*time.Second)
	c := clientWithTopic(ctx, t, client.Config{Managers: cl.ManagerURLs()}, "direct")
	p, err := c.NewProducer(ctx, "direct", client.ProducerConfig{Direct: true, BatchSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	var futs []*client.Future
	for i := 0; i < n; i++ {
		futs = append(futs, p.Send(ctx, client.Record{Value: fmt.Sprint(i), Key: fmt.Sprint(i % 7)}))
	}
	// An explicit partition.
	explicit, err := p.Produce(ctx, client.Record{Value: "explicit", Partition: client.Partition(2)})
	if err != nil || explicit.Partition != 2 {
		t.Fatalf("explicit partition: %+v, %v", explicit, err)
	}
	p.Close()
	for i, f := range futs {
		if _, err := f.Wait(ctx); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	cons, err := c.NewConsumer(ctx, "direct", client.ConsumerConfig{BatchSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := 0
	ictx, icancel := context.WithCancel(ctx)
	defer icancel()
	for m, err := range cons.Messages(ictx) {
		if err != nil {
			t.Fatal(err)
		}
		if m.Topic != "direct" {
			t.Fatalf("message %+v", m)
		}
		seen++
		if seen == n+1 {
			break
		}
	}
	if size, err := cons.Size(ctx); err != nil || size != 0 {
		t.Fatalf("size = %d, %v", size, err)
	}
}

func TestTypedErrorsFromALiveCluster(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Config{Brokers: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newClient(t, client.Config{Managers: cl.ManagerURLs()})

	_, err := c.DescribeTopic(ctx, "nope")
	if !errors.Is(err, client.ErrTopicNotFound) {
		t.Fatalf("describe unknown topic: %v", err)
	}
	var ce *client.Error
	if !errors.As(err, &ce) || ce.StatusCode != 404 || ce.Message == "" {
		t.Fatalf("error %#v: want HTTP 404 with a message", err)
	}
	if _, err := c.NewConsumer(ctx, "nope", client.ConsumerConfig{}); !errors.Is(err, client.ErrTopicNotFound) {
		t.Fatalf("consumer on unknown topic: %v", err)
	}
	if _, err := c.CreateTopic(ctx, "t", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTopic(ctx, "t", 1); !errors.Is(err, client.ErrTopicExists) {
		t.Fatalf("create twice: %v", err)
	}
	if _, err := c.CreateTopic(ctx, "bad name!", 1); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("bad topic name: %v", err)
	}
	if _, err := c.Size(ctx, "t", 999); !errors.Is(err, client.ErrConsumerNotFound) {
		t.Fatalf("size of unknown consumer: %v", err)
	}
	p, err := c.NewProducer(ctx, "t", client.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Produce(ctx, client.Record{Value: "x", Partition: client.Partition(5)}); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("produce to a partition that does not exist: %v", err)
	}
}

func TestWriterFailoverLosesNoAcknowledgedMessage(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Config{Auto: true, Readers: 1, Brokers: 3})
	ctx := pgtest.Context(t, 90*time.Second)
	c := clientWithTopic(ctx, t, client.Config{Managers: cl.ManagerURLs(), MaxBackoff: 200 * time.Millisecond}, "fo")
	p, err := c.NewProducer(ctx, "fo", client.ProducerConfig{BatchSize: 50, Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	var (
		mu    sync.Mutex
		acked = map[string]client.Ack{}
		fails []error
	)
	produce := func(from, to int) {
		var wg sync.WaitGroup
		for i := from; i < to; i++ {
			v := fmt.Sprintf("v%d", i)
			f := p.Send(ctx, client.Record{Value: v})
			wg.Go(func() {
				ack, err := f.Wait(ctx)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					fails = append(fails, err)
					return
				}
				acked[v] = ack
			})
		}
		wg.Wait()
	}
	produce(0, 500)

	// Stop the writer while a producer keeps sending.
	stopped := make(chan error, 1)
	go func() { stopped <- cl.Managers[0].Stop() }()
	produce(500, 1000)
	if err := <-stopped; err != nil {
		t.Fatalf("stop writer: %v", err)
	}
	// The survivor takes over control-plane writes: the client retries its
	// 503s until then.
	if _, err := c.CreateTopic(ctx, "after-failover", 1); err != nil {
		t.Fatalf("create topic after failover: %v", err)
	}
	produce(1000, 1500)

	mu.Lock()
	if len(fails) > 0 {
		t.Errorf("%d sends failed; first: %v", len(fails), fails[0])
	}
	total := len(acked)
	mu.Unlock()
	if total != 1500 {
		t.Fatalf("acked %d of 1500", total)
	}

	// Every acknowledged message is there, at its offset (retries may add
	// duplicates: at-least-once).
	checkAcked(ctx, t, c, "fo", acked)
}

func TestDirectProducerFallsBackWhenABrokerDies(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Config{Readers: -1, Brokers: 3,
		HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: time.Second})
	ctx := pgtest.Context(t, 60*time.Second)
	c := clientWithTopic(ctx, t, client.Config{Managers: cl.ManagerURLs(), MaxBackoff: 100 * time.Millisecond}, "d")
	p, err := c.NewProducer(ctx, "d", client.ProducerConfig{Direct: true, BatchSize: 20})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	acked := map[string]client.Ack{}
	send := func(from, to int) {
		var futs []*client.Future
		for i := from; i < to; i++ {
			futs = append(futs, p.Send(ctx, client.Record{Value: fmt.Sprint(i)}))
		}
		for i, f := range futs {
			ack, err := f.Wait(ctx)
			if err != nil {
				t.Fatalf("message %d: %v", from+i, err)
			}
			acked[fmt.Sprint(from+i)] = ack
		}
	}
	send(0, 90)
	// Its partitions are reassigned after the heartbeat timeout; meanwhile
	// the producer goes through the manager, which waits or retries.
	if err := cl.Brokers[0].Stop(); err != nil {
		t.Fatal(err)
	}
	send(90, 300)
	checkAcked(ctx, t, c, "d", acked)
}

// Many direct idempotent producers of one Client, one record at a time:
// their appends to a partition coalesce (runs of one broker request), and
// every record is acknowledged at an offset of its own and stored once.
func TestDirectProducersCoalesced(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Config{Readers: -1})
	ctx := pgtest.Context(t, 60*time.Second)
	c := clientWithTopic(ctx, t, client.Config{Managers: cl.ManagerURLs()}, "dcoal")
	const producers, each = 16, 20
	type key struct {
		partition int
		offset    int64
	}
	var mu sync.Mutex
	acked := map[key]string{}
	var wg sync.WaitGroup
	for i := range producers {
		p, err := c.NewProducer(ctx, "dcoal", client.ProducerConfig{Direct: true, Linger: -1, BatchSize: 1, HeartbeatInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		wg.Go(func() {
			for j := range each {
				v := fmt.Sprintf("%d.%d", i, j)
				ack, err := p.Produce(ctx, client.Record{Value: v})
				if err != nil {
					t.Errorf("%s: %v", v, err)
					return
				}
				mu.Lock()
				if prev, dup := acked[key{ack.Partition, ack.Offset}]; dup {
					t.Errorf("%s and %s both acknowledged at %+v", prev, v, ack)
				}
				acked[key{ack.Partition, ack.Offset}] = v
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	cons, err := c.NewConsumer(ctx, "dcoal", client.ConsumerConfig{BatchSize: 500, MaxWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	msgs := consumeAll(ctx, t, cons, producers*each)
	for _, m := range msgs {
		if acked[key{m.Partition, m.Offset}] != m.Value {
			t.Fatalf("stored %q at %d/%d, acknowledged there: %q", m.Value, m.Partition, m.Offset, acked[key{m.Partition, m.Offset}])
		}
	}
}
