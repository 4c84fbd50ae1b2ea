package manager

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/logq/logq/api"
	"github.com/logq/logq/broker"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

// brokerNode is a real broker serving on a loopback port.
type brokerNode struct {
	*broker.Broker
	addr   string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// startBroker starts a broker that registers with the given managers.
func startBroker(t *testing.T, dsn string, managers ...string) *brokerNode {
	t.Helper()
	return startMemberBroker(t, broker.Config{DSN: dsn, Managers: managers})
}

func (n *brokerNode) stop(t *testing.T) {
	n.once.Do(func() {
		n.cancel()
		select {
		case err := <-n.done:
			if err != nil {
				t.Errorf("broker %s: Serve: %v", n.addr, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("broker %s: Serve did not return", n.addr)
		}
		n.Close()
	})
}

// consumed is one message a consumer got.
type consumed struct {
	partition int64
	offset    int64
	message   string
}

// TestProduceConsumeThroughBrokers: produce and consume through a writer and
// a reader to two real brokers: round robin, keys, explicit partitions,
// batches, long-poll, size, high watermarks; then a broker dies, its
// partition moves (injected clock) and the data is still all there.
func TestProduceConsumeThroughBrokers(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	clk := newFakeClock()
	// Client liveness is another test's business: a day of client timeout
	// keeps the clock jump below from making the clients inactive.
	w := startManager(t, Config{Role: RoleWrite, DSN: dsn, Now: clk.Now, LivenessCheckInterval: time.Hour, ClientTimeout: 24 * time.Hour})
	waitWriter(t, w)
	r := startManager(t, Config{Role: RoleRead, DSN: dsn})
	b1 := startBroker(t, dsn, r.url) // registers through the reader
	b2 := startBroker(t, dsn, w.url)
	waitState(t, w, "two live brokers", func(s *projection.State) bool { return len(s.LiveBrokers()) == 2 })
	a := newAPI(t)

	a.ok("POST", r.url+"/topics", map[string]any{"topic_name": "orders", "partitions": 3})
	pid := a.ok("POST", r.url+"/producer/register", map[string]any{"topic": "orders"}).int("producer_id")

	// Round robin: 30 messages, 10 per partition, offsets 0..9 in order.
	next := map[int64]int64{}
	sent := map[int64][]string{}
	produce := func(body map[string]any) (int64, int64) {
		t.Helper()
		body["producer_id"] = pid
		ans := a.ok("POST", r.url+"/producer/produce", body)
		p, off := ans.int("partition"), ans.int("offset")
		if off != next[p] {
			t.Fatalf("partition %d: offset %d, want %d", p, off, next[p])
		}
		next[p]++
		sent[p] = append(sent[p], body["message"].(string))
		return p, off
	}
	for i := range 30 {
		produce(map[string]any{"message": fmt.Sprintf("rr-%d", i)})
	}
	for p := range int64(3) {
		if next[p] != 10 {
			t.Fatalf("round robin: %v", next)
		}
	}
	// Keys always land on KeyPartition; explicit partitions are honoured.
	for i := range 9 {
		key := fmt.Sprintf("user-%d", i%3)
		if p, _ := produce(map[string]any{"message": "k", "key": key}); p != int64(api.KeyPartition(key, 3)) {
			t.Fatalf("key %s went to %d, want %d", key, p, api.KeyPartition(key, 3))
		}
	}
	if p, _ := produce(map[string]any{"message": "explicit", "partition_index": "2"}); p != 2 {
		t.Fatalf("explicit partition 2 went to %d", p)
	}
	total := int64(30 + 9 + 1)

	cid := a.ok("POST", r.url+"/consumer/register", map[string]any{"topic": "orders"}).int("consumer_id")
	sizeURL := fmt.Sprintf("%s/size?topic=orders&consumer_id=%d", r.url, cid)
	if got := a.ok("GET", sizeURL, nil).int("size"); got != total {
		t.Fatalf("size %d, want %d", got, total)
	}
	detail := a.ok("GET", w.url+"/topics/orders", nil)
	var hw int64
	for _, p := range detail.body["partitions"].([]any) {
		hw += answer{body: p.(map[string]any)}.int("high_watermark")
	}
	if hw != total {
		t.Fatalf("high watermarks sum to %d, want %d: %s", hw, total, detail.raw)
	}

	// Consume one by one (through the writer this time) until null; every
	// partition's messages come in order.
	consumeAll := func(base string) []consumed {
		t.Helper()
		var out []consumed
		for {
			ans := a.ok("GET", fmt.Sprintf("%s/consumer/consume?topic=orders&consumer_id=%d", base, cid), nil)
			if ans.body["message"] == nil {
				return out
			}
			out = append(out, consumed{ans.int("partition"), ans.int("offset"), ans.str("message")})
		}
	}
	got := consumeAll(w.url)
	checkConsumed(t, got, sent, 0)
	if got := a.ok("GET", sizeURL, nil).int("size"); got != 0 {
		t.Fatalf("size after consuming everything: %d", got)
	}

	// consume takes wait_ms as consume_batch does: with nothing left it
	// long-polls that long (it used to answer at once, the field ignored).
	start := time.Now()
	if ans := a.ok("GET", fmt.Sprintf("%s/consumer/consume?consumer_id=%d&wait_ms=300", r.url, cid), nil); ans.body["message"] != nil {
		t.Fatalf("consume with nothing left: %s", ans.raw)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("consume with wait_ms=300 and nothing left answered after %v", waited)
	}

	// Batch produce: 100 messages, results in request order, offsets
	// contiguous per partition.
	var items []any
	for i := range 100 {
		switch i % 4 {
		case 0:
			items = append(items, fmt.Sprintf("b-%d", i))
		case 1:
			items = append(items, map[string]any{"message": fmt.Sprintf("b-%d", i), "key": "batch-key"})
		case 2:
			items = append(items, map[string]any{"message": fmt.Sprintf("b-%d", i), "partition": 1})
		default:
			items = append(items, map[string]any{"message": fmt.Sprintf("b-%d", i)})
		}
	}
	batch := a.ok("POST", r.url+"/producer/produce_batch", map[string]any{"topic": "orders", "producer_id": pid, "messages": items})
	results := batch.body["results"].([]any)
	if len(results) != 100 {
		t.Fatalf("batch results: %s", batch.raw)
	}
	before := len(got)
	for i, res := range results {
		res := answer{body: res.(map[string]any)}
		p, off := res.int("partition"), res.int("offset")
		if off != next[p] {
			t.Fatalf("batch item %d: partition %d offset %d, want %d: %s", i, p, off, next[p], batch.raw)
		}
		next[p]++
		sent[p] = append(sent[p], fmt.Sprintf("b-%d", i))
	}
	var batchGot []consumed
	for len(batchGot) < 100 {
		ans := a.ok("GET", fmt.Sprintf("%s/consumer/consume_batch?consumer_id=%d&max=30", r.url, cid), nil)
		msgs := ans.body["messages"].([]any)
		if len(msgs) == 0 || len(msgs) > 30 {
			t.Fatalf("consume_batch returned %d messages after %d", len(msgs), len(batchGot))
		}
		for _, m := range msgs {
			m := answer{body: m.(map[string]any)}
			batchGot = append(batchGot, consumed{m.int("partition"), m.int("offset"), m.str("message")})
		}
	}
	checkConsumed(t, append(got, batchGot...), sent, before)

	// Long-poll: a waiting consume_batch gets a message produced meanwhile.
	polled := make(chan answer, 1)
	go func() {
		polled <- a.do("GET", fmt.Sprintf("%s/consumer/consume_batch?consumer_id=%d&wait_ms=20000", r.url, cid), nil)
	}()
	produce(map[string]any{"message": "late", "partition": 0})
	select {
	case ans := <-polled:
		msgs, _ := ans.body["messages"].([]any)
		if ans.status != 200 || len(msgs) != 1 || msgs[0].(map[string]any)["message"] != "late" {
			t.Fatalf("long poll: %s", ans.raw)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("long poll did not return")
	}

	// Broker 2 dies; after the timeout its partition moves to broker 1,
	// which serves it with everything acknowledged so far.
	s := w.State()
	moved, owned := 0, 0
	for _, p := range s.Topics["orders"].Partitions {
		if p.Broker == b2.ID() {
			moved, owned = p.Index, owned+1
		}
	}
	b2.stop(t)
	clk.Advance(DefaultHeartbeatTimeout + time.Second)
	// Broker 1's own heartbeats run on real time (every 15 s): send one for
	// it at the advanced clock.
	a.ok("POST", fmt.Sprintf("%s/brokers/%d/heartbeat", r.url, b1.ID()), map[string]any{"address": b1.addr})
	evs, err := w.CheckLiveness(testCtx(t), clk.Now())
	if err != nil || len(evs) != 1+owned {
		t.Fatalf("broker death: %v %v", evs, err)
	}
	waitSeq(t, r, evs[len(evs)-1].Seq)
	p, off := produce(map[string]any{"message": "after-move", "partition": moved})
	if p != int64(moved) {
		t.Fatalf("produced to %d, want %d", p, moved)
	}
	rest := consumeAll(r.url)
	if len(rest) != 1 || rest[0].message != "after-move" || rest[0].offset != off {
		t.Fatalf("after the move: %v", rest)
	}
	if got := a.ok("GET", sizeURL, nil).int("size"); got != 0 {
		t.Fatalf("size at the end: %d", got)
	}
}

// checkConsumed checks that got (from index from on) holds every message
// sent after the first from, each partition's in order, none twice.
func checkConsumed(t *testing.T, got []consumed, sent map[int64][]string, from int) {
	t.Helper()
	pos := map[int64]int64{}
	for _, c := range got[:from] {
		pos[c.partition] = c.offset + 1
	}
	for _, c := range got[from:] {
		if c.offset != pos[c.partition] {
			t.Fatalf("partition %d: got offset %d, want %d", c.partition, c.offset, pos[c.partition])
		}
		if want := sent[c.partition][c.offset]; c.message != want {
			t.Fatalf("partition %d offset %d: %q, want %q", c.partition, c.offset, c.message, want)
		}
		pos[c.partition]++
	}
	for p, msgs := range sent {
		if pos[p] != int64(len(msgs)) {
			t.Fatalf("partition %d: consumed up to %d of %d", p, pos[p], len(msgs))
		}
	}
}
