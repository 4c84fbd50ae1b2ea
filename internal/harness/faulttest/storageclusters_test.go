package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logq/logq/client"
	"github.com/logq/logq/internal/pgtest"
)

// partLoad is the load on one partition: appends one after the other,
// straight to a manager (no client retry, so every refusal is seen), and
// what each answered.
type partLoad struct {
	partition int
	storage   string

	mu       sync.Mutex
	acks     map[int64]string // offset → the value acknowledged there
	statuses map[int]int      // HTTP status → count, of the appends that failed
	lastAck  time.Time
	firstAck time.Time // the first acknowledgement after the resume began
	message  string    // the last refusal's message
	// during the outage (sent after the halt returned, answered before the
	// resume began)
	outAcks, outFails, out503 int
}

// TestStorageClusterOutage: two storage clusters (the control plane's
// PostgreSQL, and a second one for half the brokers); topic "faults"
// spreads its partitions over both. Under load on every partition, the
// second cluster's PostgreSQL is stopped: only its partitions stop
// acknowledging, with 503s, while the first cluster's keep going and keep
// their owners; its partitions stay on its brokers (never moved to a broker
// of the other PostgreSQL, where their records are not). When it returns,
// its partitions acknowledge again, and every acknowledged record of every
// partition is read back at its offset.
func TestStorageClusterOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pg2, dsn2 := pgtest.NewServer(t)
	c := startCluster(t, clusterOpts{brokers: 4, brokerArgs: func(i int) []string {
		if i%2 == 1 {
			return []string{"--data-db", dsn2, "--storage-cluster", "pg2"}
		}
		return nil
	}})
	info, err := c.admin.DescribeTopic(ctx, topicName)
	if err != nil {
		t.Fatal(err)
	}
	owners := map[int]int64{}
	perCluster := map[string]int{}
	loads := make([]*partLoad, len(info.Partitions))
	for i, p := range info.Partitions {
		owners[p.Partition] = p.BrokerID
		perCluster[p.StorageCluster]++
		loads[i] = &partLoad{partition: p.Partition, storage: p.StorageCluster, acks: map[int64]string{}, statuses: map[int]int{}}
	}
	if perCluster["default"] != numPartitions/2 || perCluster["pg2"] != numPartitions/2 {
		t.Fatalf("topic spread over storage clusters %v; want %d on each", perCluster, numPartitions/2)
	}
	producer, err := c.admin.RegisterProducer(ctx, topicName, nil)
	if err != nil {
		t.Fatal(err)
	}
	seq := c.admin.Seq()
	for _, m := range c.managers { // the load asks every manager in turn
		waitFor(t, ctx, m.name+" to know the producer", func() (bool, error) {
			h, err := c.health(ctx, m)
			return err == nil && h.Seq >= seq, nil
		})
	}

	// Phases, as seen by the load: 0 before the outage, 1 during, 2 after.
	var phaseMu sync.RWMutex
	phase := 0
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, l := range loads {
		wg.Go(func() {
			for n := 0; loadCtx.Err() == nil; n++ {
				value := fmt.Sprintf("p%d-%d", l.partition, n)
				body, _ := json.Marshal(map[string]any{"producer_id": producer, "partition": l.partition, "message": value})
				phaseMu.RLock()
				sentIn := phase
				phaseMu.RUnlock()
				status, ans, err := c.postRaw(loadCtx, c.managers[n%len(c.managers)].url+"/producer/produce", "application/json", bytes.NewReader(body))
				phaseMu.RLock()
				during := sentIn == 1 && phase == 1
				phaseMu.RUnlock()
				l.mu.Lock()
				switch {
				case err == nil && status == 200:
					off, _ := ans["offset"].(float64)
					l.acks[int64(off)] = value
					l.lastAck = time.Now()
					phaseMu.RLock()
					if phase == 2 && l.firstAck.IsZero() {
						l.firstAck = l.lastAck
					}
					phaseMu.RUnlock()
					if during {
						l.outAcks++
					}
				case loadCtx.Err() != nil:
				default:
					if err != nil {
						status = -1 // no answer
					}
					l.statuses[status]++
					if m, ok := ans["message"].(string); ok {
						l.message = m
					}
					if during {
						l.outFails++
						if status == 503 {
							l.out503++
						}
					}
				}
				failed := status != 200
				l.mu.Unlock()
				if failed {
					// A refusal comes back at once; do not spin on it.
					select {
					case <-loadCtx.Done():
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		})
	}
	defer func() { stopLoad(); wg.Wait() }()
	acked := func(storage string) (n int) {
		for _, l := range loads {
			if l.storage == storage {
				l.mu.Lock()
				n += len(l.acks)
				l.mu.Unlock()
			}
		}
		return n
	}
	waitFor(t, ctx, "every partition to take 20 appends", func() (bool, error) {
		for _, l := range loads {
			l.mu.Lock()
			n := len(l.acks)
			l.mu.Unlock()
			if n < 20 {
				return false, nil
			}
		}
		return true, nil
	})

	// The outage.
	before1, before2 := acked("default"), acked("pg2")
	at := time.Now()
	if err := pg2.Halt(); err != nil {
		t.Fatalf("stop storage cluster pg2's PostgreSQL: %v", err)
	}
	phaseMu.Lock()
	phase = 1
	phaseMu.Unlock()
	halted := time.Now()
	// Twice the heartbeat timeout: the liveness rules run meanwhile, and
	// nothing moves (the brokers of pg2 are alive; their storage is not).
	waitFor(t, ctx, "pg2's partitions to refuse appends and default's to take 100 more each", func() (bool, error) {
		if time.Since(halted) < 2*heartbeatTimeout {
			return false, nil
		}
		for _, l := range loads {
			l.mu.Lock()
			ok := l.storage == "pg2" && l.outFails >= 10 || l.storage == "default" && l.outAcks >= 100
			l.mu.Unlock()
			if !ok {
				return false, nil
			}
		}
		return true, nil
	})
	// Ownership did not leave the storage cluster (nor move at all).
	during, err := c.admin.DescribeTopic(ctx, topicName)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range during.Partitions {
		if p.BrokerID != owners[p.Partition] {
			t.Errorf("partition %d (%s) moved from broker %d to %d during the outage", p.Partition, p.StorageCluster, owners[p.Partition], p.BrokerID)
		}
	}
	outage := time.Since(halted)
	mid1, mid2 := acked("default"), acked("pg2")

	// The return.
	back := time.Now()
	phaseMu.Lock()
	phase = 2
	phaseMu.Unlock()
	if err := pg2.Resume(ctx); err != nil {
		t.Fatalf("start storage cluster pg2's PostgreSQL again: %v", err)
	}
	started := time.Since(back)
	waitFor(t, ctx, "pg2's partitions to acknowledge again", func() (bool, error) {
		for _, l := range loads {
			l.mu.Lock()
			ok := !l.firstAck.IsZero()
			l.mu.Unlock()
			if !ok {
				return false, nil
			}
		}
		return true, nil
	})
	var resumed time.Duration
	for _, l := range loads {
		resumed = max(resumed, l.firstAck.Sub(back))
	}
	waitFor(t, ctx, "20 more appends on every partition", func() (bool, error) { return acked("pg2") >= mid2+20*numPartitions/2, nil })
	stopLoad()
	wg.Wait()

	// Figures, and the refusals' kind.
	for _, l := range loads {
		t.Logf("partition %d (storage %s, broker %d): %d acknowledged; during the outage %d acknowledged, %d refused (%d with 503); all refusals by status %v; last refusal %q",
			l.partition, l.storage, owners[l.partition], len(l.acks), l.outAcks, l.outFails, l.out503, l.statuses, l.message)
		switch l.storage {
		case "pg2":
			if l.outAcks != 0 {
				t.Errorf("partition %d on the stopped storage cluster acknowledged %d appends", l.partition, l.outAcks)
			}
			if !strings.Contains(l.message, `storage cluster "pg2"`) {
				t.Errorf("partition %d: the refusal %q does not name the storage cluster", l.partition, l.message)
			}
			if l.out503 != l.outFails {
				t.Errorf("partition %d: %d of %d refusals during the outage were not 503: %v", l.partition, l.outFails-l.out503, l.outFails, l.statuses)
			}
		case "default":
			if l.outFails != 0 {
				t.Errorf("partition %d on the running storage cluster refused %d appends during the outage: %v", l.partition, l.outFails, l.statuses)
			}
		}
	}
	t.Logf("storage cluster outage: halt took %v, outage %v; default cluster acknowledged %d appends during it (%.0f/s), pg2 %d; "+
		"its PostgreSQL started again in %v and every one of its partitions acknowledged again %v after the start began; acknowledged before/during/after: default %d/%d/%d, pg2 %d/%d/%d",
		halted.Sub(at).Round(time.Millisecond), outage.Round(time.Millisecond), mid1-before1, float64(mid1-before1)/outage.Seconds(), mid2-before2,
		started.Round(time.Millisecond), resumed.Round(time.Millisecond), before1, mid1-before1, acked("default")-mid1, before2, mid2-before2, acked("pg2")-mid2)

	// Nothing acknowledged is lost: every acknowledged value is read back
	// at its offset, from each storage cluster.
	for _, l := range loads {
		var next int64
		for {
			f, err := c.admin.Fetch(ctx, topicName, l.partition, next, client.FetchOptions{Max: 1000})
			if err != nil {
				t.Fatalf("partition %d: fetch from %d: %v", l.partition, next, err)
			}
			for _, m := range f.Messages {
				if want, ok := l.acks[m.Offset]; ok && m.Value != want {
					t.Errorf("partition %d offset %d holds %q; %q was acknowledged there", l.partition, m.Offset, m.Value, want)
				}
				delete(l.acks, m.Offset)
			}
			if len(f.Messages) == 0 || f.NextOffset >= f.HighWatermark {
				break
			}
			next = f.NextOffset
		}
		if len(l.acks) > 0 {
			t.Errorf("partition %d (%s): %d acknowledged records not read back", l.partition, l.storage, len(l.acks))
		}
	}
}
