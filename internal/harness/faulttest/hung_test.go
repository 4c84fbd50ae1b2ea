package faulttest

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logq/logq/api"
	"github.com/logq/logq/client"
)

// TestHungBrokerDelaysNoOtherPartition: against real processes at default
// timings (a hung broker keeps its partitions for the 60 s heartbeat
// timeout), one broker is stopped (SIGSTOP). A whole-topic consume_batch
// and a whole-topic fetch through a manager answer at once with every
// record of the healthy partitions, naming the stopped broker's partitions
// as skipped. After SIGCONT, the consumes the stopped broker received
// while stopped are refused by their deadline (they move nothing), so the
// consumer then gets exactly the rest: every record once, none lost.
func TestHungBrokerDelaysNoOtherPartition(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := startCluster(t, clusterOpts{defaultTimings: true})
	prod, err := c.admin.NewProducer(ctx, topicName, client.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	const perPartition = 20
	for i := range perPartition * numPartitions {
		if _, err := prod.Produce(ctx, client.Record{Value: fmt.Sprint("r", i), Partition: client.Partition(i % numPartitions)}); err != nil {
			t.Fatal(err)
		}
	}
	prod.Close()
	consumerID, err := c.admin.RegisterConsumer(ctx, topicName, nil)
	if err != nil {
		t.Fatal(err)
	}
	victim, info := c.busiestBroker(ctx)
	var stopped []int
	for _, p := range info.Partitions {
		stopped = append(stopped, p.Partition)
	}
	slices.Sort(stopped)
	victim.signal(syscall.SIGSTOP)
	defer func() {
		if victim.isStopped() {
			victim.signal(syscall.SIGCONT)
		}
	}()

	got := map[string]int{}
	var cb api.ConsumeBatchAnswer
	start := time.Now()
	// Normally about 2 s (the manager's bound on a broker that does not
	// answer); the slack is for a machine busy with the race detector.
	if err := c.getJSONWithin(ctx, 20*time.Second, fmt.Sprintf("%s/consumer/consume_batch?consumer_id=%d&max=1000", c.managers[0].url, consumerID), &cb); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	for _, m := range cb.Messages {
		got[m.Message]++
		if slices.Contains(stopped, m.Partition) {
			t.Fatalf("a record of stopped partition %d was consumed: %+v", m.Partition, m)
		}
	}
	skipped := slices.Clone(cb.Skipped)
	slices.Sort(skipped)
	t.Logf("with %s stopped (partitions %v): consume_batch answered %d records in %v, skipped %v",
		victim.name, stopped, len(cb.Messages), took.Round(time.Millisecond), skipped)
	if want := perPartition * (numPartitions - len(stopped)); len(cb.Messages) != want || !slices.Equal(skipped, stopped) {
		t.Fatalf("consume_batch answered %d records, skipped %v; want %d, skipped %v", len(cb.Messages), skipped, want, stopped)
	}
	if took > 5*time.Second {
		t.Errorf("consume_batch took %v with one broker stopped", took)
	}

	// Fetch, moving nothing: the healthy partitions' records, the stopped
	// ones named with their error.
	var pairs []string
	for p := range numPartitions {
		pairs = append(pairs, fmt.Sprintf("%d:0", p))
	}
	var fa api.FetchAnswer
	start = time.Now()
	if err := c.getJSONWithin(ctx, 20*time.Second, c.managers[0].url+"/consumer/fetch?topic="+topicName+"&max=1000&offsets="+url.QueryEscape(strings.Join(pairs, ",")), &fa); err != nil {
		t.Fatal(err)
	}
	var failed []int
	for _, p := range fa.Partitions {
		if p.Error != nil {
			failed = append(failed, p.Partition)
		}
	}
	t.Logf("fetch answered %d records in %v, partitions without an answer %v", len(fa.Messages), time.Since(start).Round(time.Millisecond), failed)
	if len(fa.Messages) != perPartition*(numPartitions-len(stopped)) || !slices.Equal(failed, stopped) {
		t.Fatalf("fetch answered %d records, failed %v; want %d, failed %v", len(fa.Messages), failed, perPartition*(numPartitions-len(stopped)), stopped)
	}

	victim.signal(syscall.SIGCONT)
	waitFor(t, ctx, "every record to be consumed", func() (bool, error) {
		var cb api.ConsumeBatchAnswer
		if err := c.getJSON(ctx, fmt.Sprintf("%s/consumer/consume_batch?consumer_id=%d&max=1000", c.managers[0].url, consumerID), &cb); err != nil {
			return false, nil // the resumed broker may answer late once
		}
		for _, m := range cb.Messages {
			got[m.Message]++
		}
		return len(got) == perPartition*numPartitions, nil
	})
	for v, n := range got {
		if n != 1 {
			t.Errorf("%s consumed %d times", v, n)
		}
	}
}
