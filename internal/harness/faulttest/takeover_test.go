package faulttest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/logq/logq/client"
)

// takeoverBound is the longest takeover after kill -9 of a broker this test
// accepts, at default timings (DESIGN's target is 2 s; the heartbeat
// timeout alone would be 60 s).
const takeoverBound = 10 * time.Second

// TestBrokerKillTakeover measures, at default timings (heartbeats every
// 15 s, a 60 s heartbeat timeout), the time from kill -9 of a broker until
// every partition it owned accepts a partition-pinned append again: the
// broker's database session ends with its process, the writer reads the
// released session lock and moves its partitions at once. The probe client
// retries with a 50 ms backoff so that the figure is the cluster's, not
// the client's backoff. Each round restarts the victim and rebalances.
func TestBrokerKillTakeover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := startCluster(t, clusterOpts{defaultTimings: true})
	probe, err := client.New(client.Config{Managers: c.admin.Managers(), MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond, RetryTimeout: 2 * takeoverBound})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	prod, err := probe.NewProducer(ctx, topicName, client.ProducerConfig{Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()

	const rounds = 3
	var took []time.Duration
	for round := 1; round <= rounds; round++ {
		// The writer has seen every broker holding its session lock (a
		// broker killed before that gets the heartbeat timeout).
		waitFor(t, ctx, "the writer to watch every broker's session", func() (bool, error) {
			wr, _ := c.writer(ctx)
			if wr == nil {
				return false, nil
			}
			n, err := c.metric(ctx, wr, "logq_manager_broker_session_watched", "")
			return int(n) == len(c.brokers), err
		})
		victim, info := c.busiestBroker(ctx)
		at := time.Now()
		victim.kill()
		var worst time.Duration
		for _, p := range info.Partitions {
			if _, err := prod.Produce(ctx, client.Record{Value: "after kill", Partition: client.Partition(p.Partition)}); err != nil {
				t.Fatalf("round %d: append to partition %d of killed %s: %v", round, p.Partition, victim.name, err)
			}
			worst = time.Since(at)
		}
		took = append(took, worst)
		t.Logf("round %d: kill -9 %s (%d partitions): every one accepted appends again %v after the kill",
			round, victim.name, len(info.Partitions), worst.Round(time.Millisecond))
		if worst > takeoverBound {
			t.Errorf("round %d: takeover took %v; want at most %v", round, worst, takeoverBound)
		}
		victim.start()
		c.waitHealthy(ctx, victim)
		c.waitBrokersAlive(ctx)
		if _, _, err := c.admin.Rebalance(ctx); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(took)
	t.Logf("takeover after kill -9 at default timings over %d rounds: min %v, median %v, max %v",
		len(took), took[0].Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
}
