package client_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/logq/logq/client"
	"github.com/logq/logq/internal/harness/devcluster"
	"github.com/logq/logq/internal/pgtest"
)

// TestDirectConsumer: consumers polling the brokers directly see every
// message once, in order within each partition: for the whole topic, for
// one partition, and after resuming by ID.
func TestDirectConsumer(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Config{Readers: -1})
	ctx := pgtest.Context(t, 60*time.Second)
	c := clientWithTopic(ctx, t, client.Config{Managers: cl.ManagerURLs()}, "dc")
	p, err := c.NewProducer(ctx, "dc", client.ProducerConfig{BatchSize: 250})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	var futs []*client.Future
	for i := range n {
		futs = append(futs, p.Send(ctx, client.Record{Value: fmt.Sprint(i), Key: fmt.Sprint(i % 11)}))
	}
	p.Close()
	perPartition := map[int]int{}
	for i, f := range futs {
		ack, err := f.Wait(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		perPartition[ack.Partition]++
	}

	check := func(name string, msgs []client.Message, want int, only *int) {
		t.Helper()
		if len(msgs) != want {
			t.Fatalf("%s: %d messages, want %d", name, len(msgs), want)
		}
		seen := map[string]bool{}
		next := map[int]int64{}
		for _, m := range msgs {
			if m.Topic != "dc" || seen[m.Value] || (only != nil && m.Partition != *only) {
				t.Fatalf("%s: unexpected %+v", name, m)
			}
			if m.Offset < next[m.Partition] {
				t.Fatalf("%s: partition %d offset %d after %d", name, m.Partition, m.Offset, next[m.Partition])
			}
			seen[m.Value], next[m.Partition] = true, m.Offset+1
		}
	}

	whole, err := c.NewConsumer(ctx, "dc", client.ConsumerConfig{Direct: true, MaxWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer whole.Close()
	check("whole topic", consumeAll(ctx, t, whole, n), n, nil)
	if msgs, err := whole.Poll(ctx, 10); err != nil || len(msgs) != 0 {
		t.Fatalf("poll past the end: %d messages, %v", len(msgs), err)
	}

	one, err := c.NewConsumer(ctx, "dc", client.ConsumerConfig{Direct: true, Partition: client.Partition(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	half := perPartition[1] / 2
	first, err := one.Poll(ctx, half)
	if err != nil {
		t.Fatal(err)
	}
	// Resume by ID: the rest of partition 1, and nothing else.
	again, err := c.NewConsumer(ctx, "dc", client.ConsumerConfig{ID: one.ID(), Direct: true})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	rest := consumeAll(ctx, t, again, perPartition[1]-len(first))
	check("one partition, resumed", append(first, rest...), perPartition[1], client.Partition(1))
	if size, err := again.Size(ctx); err != nil || size != 0 {
		t.Fatalf("size = %d, %v", size, err)
	}
}
