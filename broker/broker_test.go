package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/broker/storage/storagetest"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

// oneBroker starts broker 1 owning topic "orders" with n partitions.
func oneBroker(t *testing.T, n int, cfg Config) (*testBroker, *controlPlane, string) {
	t.Helper()
	dsn := pgtest.NewDB(t)
	cp := newControlPlane(t, dsn)
	cp.brokers(1)
	owners := make([]int64, n)
	for i := range owners {
		owners[i] = 1
	}
	seq := cp.topic("orders", owners...)
	cfg.DSN, cfg.ID = dsn, 1
	b := startBroker(t, cfg)
	b.waitApplied(seq)
	return b, cp, dsn
}

func TestAppendConsumeRoundTrip(t *testing.T) {
	t.Parallel()
	b, _, _ := oneBroker(t, 2, Config{})

	if base := b.appendHTTP("orders", 1, 5, "a", "b"); base != 0 {
		t.Fatalf("base %d", base)
	}
	// A single message at the top level is the same as a batch of one.
	status, out := b.do("POST", "/v1/append", map[string]any{"topic": "orders", "partition": "1", "producer_id": "5", "message": "c", "key": "k"})
	if status != 200 || out["base_offset"].(float64) != 2 || out["count"].(float64) != 1 || out["status"] != "success" {
		t.Fatalf("single append: %d %v", status, out)
	}
	ps, offs := b.consumeHTTP("orders", 1, 9, 10)
	if strings.Join(ps, ",") != "a,b,c" || offs[2] != 2 {
		t.Fatalf("consume: %v %v", ps, offs)
	}
	status, out = b.do("POST", "/v1/consume", map[string]any{"topic": "orders", "partition": 1, "consumer_id": 9})
	if status != 200 || len(out["messages"].([]any)) != 0 {
		t.Fatalf("consume at the end: %d %v; want an empty list", status, out)
	}
	// GET with query parameters works too.
	status, out = b.do("GET", "/v1/consume?topic=orders&partition=1&consumer_id=10", nil)
	if ps, _ := payloadsOf(out); status != 200 || len(ps) != 1 || ps[0] != "a" {
		t.Fatalf("GET consume: %d %v", status, out)
	}
	status, out = b.do("GET", "/v1/read?topic=orders&partition=1&offset=2", nil)
	msgs := out["messages"].([]any)
	if status != 200 || len(msgs) != 1 || msgs[0].(map[string]any)["key"] != "k" || out["high_watermark"].(float64) != 3 {
		t.Fatalf("read: %d %v", status, out)
	}
	status, out = b.do("GET", "/v1/size?topic=orders&partition=1&consumer_id=10", nil)
	if status != 200 || out["size"].(float64) != 2 || out["position"].(float64) != 1 || out["high_watermark"].(float64) != 3 {
		t.Fatalf("size: %d %v", status, out)
	}
	status, out = b.do("GET", "/v1/partitions", nil)
	if status != 200 || out["broker_id"].(float64) != 1 || len(out["partitions"].([]any)) != 2 {
		t.Fatalf("partitions: %d %v", status, out)
	}
	p1 := out["partitions"].([]any)[1].(map[string]any)
	if p1["partition"].(float64) != 1 || p1["high_watermark"].(float64) != 3 || p1["epoch"].(float64) != 1 {
		t.Fatalf("partitions[1] = %v", p1)
	}
	status, out = b.do("GET", "/healthz", nil)
	if status != 200 || out["status"] != "success" {
		t.Fatalf("healthz: %d %v", status, out)
	}
	resp, err := b.client.Get(b.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"logq_broker_appended_messages_total 3", `logq_broker_high_watermark{partition="1",topic="orders"} 3`, "logq_broker_group_commit_messages_bucket"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// 64 producers × 1,000 messages over 3 partitions, half over HTTP (in
// batches of varying size), half straight into group commit one message
// at a time: offsets per partition are 0..n-1, each producer's messages
// keep their order within a partition, every acknowledged message is
// stored where its answer said.
func TestConcurrentProducers(t *testing.T) {
	t.Parallel()
	// Two lanes for three partitions: one lane commits two partitions per
	// transaction, the other one.
	b, _, _ := oneBroker(t, 3, Config{CommitLanes: 2})
	const producers, each, parts = 64, 1000, 3
	type ack struct {
		partition int
		offset    int64
		payload   string
	}
	acks := make([][]ack, producers)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			producer := int64(p + 1)
			sizes := []int{1, 7, 25, 50}
			for i := 0; i < each; {
				part := (p + i) % parts
				n := 1
				if p%2 == 0 { // HTTP, batched
					n = min(sizes[(i/7)%len(sizes)], each-i)
				}
				payloads := make([]string, n)
				for j := range payloads {
					payloads[j] = fmt.Sprintf("%d:%d", producer, i+j)
				}
				var base int64
				if p%2 == 0 {
					status, out := b.do("POST", "/v1/append", appendBody("orders", part, producer, payloads...))
					if status != 200 {
						t.Errorf("append: %d %v", status, out)
						return
					}
					base = int64(out["base_offset"].(float64))
				} else {
					var err error
					base, err = b.append(context.Background(), "orders", part, msgsOf(producer, payloads...))
					if err != nil {
						t.Error(err)
						return
					}
				}
				for j, pl := range payloads {
					acks[p] = append(acks[p], ack{part, base + int64(j), pl})
				}
				i += n
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	stored := make([][]storedMessage, parts)
	total := 0
	for part := range parts {
		stored[part] = allMessages(t, b.store, "orders", part)
		checkGapFree(t, fmt.Sprint("partition ", part), stored[part])
		total += len(stored[part])
		// Each producer's messages in order within the partition.
		last := map[int64]int{}
		for _, m := range stored[part] {
			var prod int64
			var seq int
			fmt.Sscanf(string(m.Value), "%d:%d", &prod, &seq)
			if prev, ok := last[prod]; ok && seq <= prev {
				t.Fatalf("partition %d: producer %d's message %d stored after its message %d", part, prod, seq, prev)
			}
			last[prod] = seq
			if m.ProducerID != prod {
				t.Fatalf("offset %d: producer_id %d, payload %q", m.Offset, m.ProducerID, string(m.Value))
			}
		}
	}
	if total != producers*each {
		t.Fatalf("%d messages stored; want %d", total, producers*each)
	}
	for _, as := range acks {
		for _, a := range as {
			if got := string(stored[a.partition][a.offset].Value); got != a.payload {
				t.Fatalf("acknowledged %q at %d/%d, stored %q there", a.payload, a.partition, a.offset, got)
			}
		}
	}
	for part := range parts {
		p, err := b.servedPartition("orders", part)
		if err != nil {
			t.Fatal(err)
		}
		if hw := p.hw.Load(); hw != int64(len(stored[part])) {
			t.Errorf("partition %d: high watermark %d, %d stored", part, hw, len(stored[part]))
		}
	}
}

// A partition reassigned to another broker at a higher epoch: the old
// owner can no longer append (409 fenced, naming the partition), and the
// new one continues the offsets where the old one left off.
func TestReassignmentFencesOldOwner(t *testing.T) {
	t.Parallel()
	for _, mode := range []eventlog.Mode{eventlog.ModeNotify, eventlog.ModeLogical} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			testReassignment(t, mode)
		})
	}
}

func testReassignment(t *testing.T, mode eventlog.Mode) {
	dsn := pgtest.NewDB(t)
	cp := newControlPlane(t, dsn)
	cp.brokers(1, 2)
	seq := cp.topic("orders", 1)
	b1 := startBroker(t, Config{DSN: dsn, ID: 1, TailMode: mode})
	b2 := startBroker(t, Config{DSN: dsn, ID: 2, TailMode: mode})
	b1.waitApplied(seq)
	b2.waitApplied(seq)
	for i := range 5 {
		b1.appendHTTP("orders", 0, 1, fmt.Sprint("old-", i))
	}
	status, out := b2.do("POST", "/v1/append", appendBody("orders", 0, 1, "x"))
	if status != 409 || out["code"] != logq.EFenced || !strings.Contains(out["message"].(string), "orders/0") {
		t.Fatalf("append to a non-owner: %d %v; want 409 fenced naming orders/0", status, out)
	}

	seq = cp.append(projection.PartitionAssigned{Topic: "orders", Partition: 0, BrokerID: 2, Epoch: 2})
	b2.waitApplied(seq)
	// Storage fences the old owner even before it has seen the event...
	_, err := storagetest.AppendOne(context.Background(), b1.store, "orders", 0, 1, msgsOf(1, "stale"))
	if !errors.Is(err, logq.ErrFenced) {
		t.Fatalf("stale-epoch append: %v; want fenced", err)
	}
	// ...and once it has, it says so itself.
	b1.waitApplied(seq)
	for _, path := range []string{"/v1/append", "/v1/consume"} {
		status, out = b1.do("POST", path, map[string]any{"topic": "orders", "partition": 0, "consumer_id": 1, "messages": []any{map[string]any{"producer_id": 1, "message": "late"}}})
		if status != 409 || out["code"] != logq.EFenced || !strings.Contains(out["message"].(string), "orders/0") {
			t.Fatalf("%s on the old owner: %d %v; want 409 fenced naming orders/0", path, status, out)
		}
	}
	if base := b2.appendHTTP("orders", 0, 1, "new-0", "new-1"); base != 5 {
		t.Fatalf("new owner's first offset %d; want 5", base)
	}
	msgs := allMessages(t, b2.store, "orders", 0)
	checkGapFree(t, "orders/0", msgs)
	if len(msgs) != 7 || string(msgs[4].Value) != "old-4" || string(msgs[5].Value) != "new-0" {
		t.Fatalf("stored %v", msgs)
	}
	// And back: broker 1 takes over again at epoch 3.
	seq = cp.append(projection.PartitionAssigned{Topic: "orders", Partition: 0, BrokerID: 1, Epoch: 3})
	b1.waitApplied(seq)
	if base := b1.appendHTTP("orders", 0, 1, "again"); base != 7 {
		t.Fatalf("offset after taking it back: %d; want 7", base)
	}
}

// A broker with a partition it cannot claim (storage already at a newer
// epoch) does not serve it, and Min-Seq waits are bounded.
func TestMinSeqHeader(t *testing.T) {
	t.Parallel()
	b, cp, _ := oneBroker(t, 1, Config{})
	// A seq the broker has not applied yet: it waits for it.
	next := b.AppliedSeq() + 1
	done := make(chan struct{})
	go func() {
		defer close(done)
		status, out := b.do("GET", "/v1/partitions", nil, api.HeaderMinSeq, fmt.Sprint(next))
		if status != 200 {
			t.Errorf("partitions with min seq: %d %v", status, out)
		}
	}()
	cp.append(projection.TopicCreated{Topic: "other", Partitions: 1})
	await(t, done)
	// A seq that never comes: 503 timeout after MinSeqWait.
	start := time.Now()
	status, out := b.do("GET", "/v1/partitions", nil, api.HeaderMinSeq, "1000000")
	if status != 503 || out["code"] != logq.ETimeout {
		t.Fatalf("unreachable min seq: %d %v; want 503 timeout", status, out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("min-seq wait took %v", d)
	}
	status, out = b.do("GET", "/v1/partitions", nil, api.HeaderMinSeq, "x")
	if status != 400 || out["code"] != logq.EInvalid {
		t.Fatalf("bad min seq: %d %v", status, out)
	}
}
