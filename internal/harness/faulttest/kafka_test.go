package faulttest

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestKafkaKillOwner: real Kafka clients (franz-go) against real logq
// processes with Kafka listeners (two managers, three brokers,
// PostgreSQL): two idempotent producers (acks=all) and a group consumer
// run while the broker owning the most partitions is killed with SIGKILL.
// The clients continue (NOT_LEADER_OR_FOLLOWER or a refused connection,
// a metadata refresh, the new owner); at the end every acknowledged record
// is stored exactly once (the ground truth is the messages table; a batch
// the dead broker stored but could not acknowledge is sent again with the
// same sequence and deduplicated) and was delivered to the group at least
// once. The group, made over Kafka, is the manager's: `logq groups
// describe` shows it with its committed offsets.
func TestKafkaKillOwner(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := startCluster(t, clusterOpts{kafka: true})
	var seeds []string
	for _, b := range c.brokers {
		seeds = append(seeds, b.kafkaAddr)
	}
	for _, b := range c.brokers {
		waitKafkaMetadata(t, ctx, b.kafkaAddr, len(c.brokers))
	}

	const (
		producers   = 2
		perProducer = 3000
		window      = 64 // records in flight per producer
		total       = producers * perProducer
	)
	victim, victimInfo := c.busiestBroker(ctx)
	victimParts := map[int32]bool{}
	for _, p := range victimInfo.Partitions {
		if p.Topic == topicName {
			victimParts[int32(p.Partition)] = true
		}
	}

	var (
		mu        sync.Mutex
		acked     = map[string][2]int64{} // value → partition, offset
		failed    = map[string]error{}
		killedAt  atomic.Int64 // unix nanos; 0 before the kill
		resumedAt atomic.Int64 // first ack on a victim's partition after the kill
		ackCount  atomic.Int64
	)
	// The group consumer runs from the start, through the kill.
	seen := map[string]int{}
	var seenMu sync.Mutex
	cons, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumerGroup("kfault"), kgo.ConsumeTopics(topicName),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(250*time.Millisecond),
		kgo.FetchMaxWait(time.Second), kgo.ClientID("kfault-consumer"))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	consCtx, stopCons := context.WithCancel(ctx)
	consDone := make(chan struct{})
	go func() {
		defer close(consDone)
		for consCtx.Err() == nil {
			fs := cons.PollFetches(consCtx)
			fs.EachRecord(func(r *kgo.Record) {
				seenMu.Lock()
				seen[string(r.Value)]++
				seenMu.Unlock()
			})
		}
	}()

	var wg sync.WaitGroup
	for p := range producers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topicName),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
			kgo.MetadataMinAge(250*time.Millisecond), kgo.ClientID(fmt.Sprintf("kfault-producer-%d", p)))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots := make(chan struct{}, window)
			for i := range perProducer {
				slots <- struct{}{}
				v := fmt.Sprintf("k%d-%d", p, i)
				cl.Produce(ctx, &kgo.Record{Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
					defer func() { <-slots }()
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						failed[v] = err
						return
					}
					acked[v] = [2]int64{int64(r.Partition), r.Offset}
					ackCount.Add(1)
					if k := killedAt.Load(); k != 0 && victimParts[r.Partition] && resumedAt.Load() == 0 {
						resumedAt.Store(time.Now().UnixNano())
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				t.Errorf("producer %d: flush: %v", p, err)
			}
		}()
	}

	// Mid-stream: a third of the records acknowledged, the owner dies.
	waitFor(t, ctx, "a third of the records to be acknowledged", func() (bool, error) {
		return ackCount.Load() >= total/3, nil
	})
	seqBefore := c.lastSeq(ctx)
	killTime := time.Now()
	killedAt.Store(killTime.UnixNano())
	victim.kill()
	ackedAtKill := ackCount.Load()
	moved := c.waitReassigned(ctx, victim, victimInfo)
	wg.Wait()
	if resumedAt.Load() == 0 {
		t.Fatalf("no record was acknowledged on %s's partitions after the kill", victim.name)
	}
	resumed := time.Duration(resumedAt.Load() - killTime.UnixNano())

	// Delivered to the group at least once.
	mu.Lock()
	ackedCopy := make(map[string][2]int64, len(acked))
	for k, v := range acked {
		ackedCopy[k] = v
	}
	nFailed := len(failed)
	for v, err := range failed {
		t.Errorf("record %s not acknowledged: %v", v, err)
		if len(failed) > 5 {
			break
		}
	}
	mu.Unlock()
	deliveredIn := waitFor(t, ctx, "the group to receive every acknowledged record", func() (bool, error) {
		seenMu.Lock()
		defer seenMu.Unlock()
		for v := range ackedCopy {
			if seen[v] == 0 {
				return false, nil
			}
		}
		return true, nil
	})
	// Commit what was consumed: the group's offsets, seen over HTTP.
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Errorf("commit: %v", err)
	}
	stopCons()
	<-consDone

	// Stored exactly once: the messages table is the ground truth.
	rows, err := c.db.Query(ctx, `SELECT partition, "offset", convert_from(value, 'UTF8') FROM messages WHERE topic = $1`, topicName)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	var storedRows int
	for rows.Next() {
		var (
			part  int64
			off   int64
			value string
		)
		if err := rows.Scan(&part, &off, &value); err != nil {
			t.Fatal(err)
		}
		storedRows++
		stored[value]++
		if a, ok := ackedCopy[value]; ok && (a[0] != part || a[1] != off) {
			t.Errorf("%s stored at %d/%d, acknowledged at %d/%d", value, part, off, a[0], a[1])
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	dups, lost := 0, 0
	for v, n := range stored {
		if n > 1 {
			dups += n - 1
			if dups < 5 {
				t.Errorf("%s stored %d times", v, n)
			}
		}
	}
	for v := range ackedCopy {
		if stored[v] == 0 {
			lost++
			if lost < 5 {
				t.Errorf("acknowledged record %s lost", v)
			}
		}
	}
	seenMu.Lock()
	redelivered := 0
	for _, n := range seen {
		redelivered += n - 1
	}
	seenMu.Unlock()
	t.Logf("%d records from %d idempotent kgo producers (acks=all), %d acknowledged when %s (%d partitions) was killed: "+
		"%d acknowledged, %d failed, %d rows stored, %d duplicated, %d lost; group: %d redelivered, all delivered %v after the last ack; "+
		"partitions moved in %v, first ack on a moved partition %v after the kill; %d broker(s) declared dead",
		total, producers, ackedAtKill, victim.name, len(victimParts), len(ackedCopy), nFailed, storedRows, dups, lost,
		redelivered, deliveredIn.Round(time.Millisecond), moved.Round(time.Millisecond), resumed.Round(time.Millisecond),
		c.brokerDeaths(ctx, seqBefore))
	if len(ackedCopy) != total || dups != 0 || lost != 0 {
		t.Fatalf("%d of %d acknowledged, %d duplicated, %d lost; want all, 0, 0", len(ackedCopy), total, dups, lost)
	}

	// One data plane: the group made over Kafka is the manager's.
	var urls []string
	for _, m := range c.managers {
		urls = append(urls, m.url)
	}
	out, err := exec.CommandContext(ctx, logqBin, "groups", "describe", "kfault", "--manager", strings.Join(urls, ","), "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("logq groups describe: %v\n%s", err, out)
	}
	var d struct {
		Group        string `json:"group"`
		State        string `json:"state"`
		ProtocolType string `json:"protocol_type"`
		Members      []struct {
			ClientID string `json:"client_id"`
		} `json:"members"`
		Partitions []struct {
			Partition int   `json:"partition"`
			Committed int64 `json:"committed_offset"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("logq groups describe: %v\n%s", err, out)
	}
	var committed int64
	for _, p := range d.Partitions {
		committed += max(p.Committed, 0)
	}
	if d.Group != "kfault" || d.ProtocolType != "consumer" || len(d.Members) != 1 || d.Members[0].ClientID != "kfault-consumer" ||
		len(d.Partitions) != numPartitions || committed < int64(total) {
		t.Errorf("logq groups describe: %s", out)
	}
}

// waitKafkaMetadata waits until the broker at addr shows n brokers and
// topic "faults" with a leader for every partition.
func waitKafkaMetadata(t *testing.T, ctx context.Context, addr string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topicName)
	req.Topics = append(req.Topics, rt)
	waitFor(t, ctx, addr+" to show the cluster over Kafka", func() (bool, error) {
		resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
		if err != nil {
			return false, err
		}
		if len(resp.Brokers) != n || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != numPartitions {
			return false, nil
		}
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != 0 || p.Leader < 0 {
				return false, kerr.ErrorForCode(p.ErrorCode)
			}
		}
		return true, nil
	})
}
