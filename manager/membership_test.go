package manager

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/broker"
	"github.com/logq/logq/client"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

// Brokers joining and leaving at runtime: decommission, added partitions,
// rebalance.

// startMemberBroker starts a real broker with cfg (DSN and Managers set by
// the caller) on a loopback port, stopped when the test ends.
func startMemberBroker(t *testing.T, cfg broker.Config) *brokerNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = testLogger(t).With().Str("broker", ln.Addr().String()).Logger()
	b, err := broker.New(testCtx(t), cfg)
	if err != nil {
		ln.Close()
		t.Fatalf("broker.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &brokerNode{Broker: b, addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- b.Serve(ctx, ln) }()
	t.Cleanup(func() { n.stop(t) })
	return n
}

// waitRegistered waits until the manager sees every broker alive at its
// address and every broker has applied the log that far (so it knows its
// id and serves its partitions).
func waitRegistered(t *testing.T, m *node, brokers ...*brokerNode) {
	t.Helper()
	waitState(t, m, "brokers registered and alive", func(s *projection.State) bool {
		for _, b := range brokers {
			found := false
			for _, sb := range s.Brokers {
				found = found || (sb.Address == b.addr && sb.Alive)
			}
			if !found {
				return false
			}
		}
		return true
	})
	seq := m.AppliedSeq()
	ctx, cancel := context.WithTimeout(testCtx(t), 15*time.Second)
	defer cancel()
	for _, b := range brokers {
		if err := b.WaitApplied(ctx, seq); err != nil {
			t.Fatalf("broker %s: %v", b.addr, err)
		}
	}
}

func newTestClient(t *testing.T, managers ...string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Managers: managers, RetryTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ackedMsg is a message whose produce was acknowledged.
type ackedMsg struct {
	partition int
	offset    int64
}

// TestDecommissionUnderLoad: producers (the Go client, through a reader and
// the writer) keep producing while DELETE /brokers/{id} removes a broker.
// Every partition of the removed broker moves in the same append as its
// BrokerRemoved; every acknowledged message is present exactly once, where
// its ack said, with gap-free offsets; the removed broker, still running,
// is fenced (its direct appends fail), stops heartbeating, and its
// heartbeats are refused with 410.
func TestDecommissionUnderLoad(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	pool := newPool(t, dsn)
	w, r := startWriterAndReader(t, dsn)
	var bs []*brokerNode
	for range 3 {
		bs = append(bs, startMemberBroker(t, broker.Config{DSN: dsn, Managers: []string{r.url}, HeartbeatInterval: 50 * time.Millisecond}))
	}
	waitRegistered(t, w, bs...)
	ctx := testCtx(t)
	a := newAPI(t)
	c := newTestClient(t, r.url, w.url)
	if _, err := c.CreateTopic(ctx, "load", 6); err != nil {
		t.Fatal(err)
	}
	victim := bs[1]
	owned := w.State().PartitionsOf(victim.ID())
	if len(owned) != 2 {
		t.Fatalf("victim owns %v", owned)
	}

	// Four producers, each sending chunks of 25 and waiting for their acks,
	// until told to stop.
	const producers, chunk = 4, 25
	var (
		mu       sync.Mutex
		acked    = map[string]ackedMsg{}
		failures []error
		count    atomic.Int64
		progress = make(chan struct{}, 1)
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for i := range producers {
		p, err := c.NewProducer(ctx, "load", client.ProducerConfig{Linger: time.Millisecond, BatchSize: 10})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer p.Close()
			for n := 0; ; n += chunk {
				select {
				case <-stop:
					return
				default:
				}
				futures := make([]*client.Future, chunk)
				for j := range chunk {
					futures[j] = p.Send(ctx, client.Record{Value: fmt.Sprintf("p%d-%d", i, n+j)})
				}
				for j, f := range futures {
					ack, err := f.Wait(ctx)
					mu.Lock()
					if err != nil {
						failures = append(failures, err)
					} else {
						acked[fmt.Sprintf("p%d-%d", i, n+j)] = ackedMsg{ack.Partition, ack.Offset}
					}
					mu.Unlock()
				}
				count.Add(chunk)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	waitCount := func(target int64) {
		t.Helper()
		for count.Load() < target {
			select {
			case <-progress:
			case <-ctx.Done():
				t.Fatalf("produced %d of %d messages before the deadline", count.Load(), target)
			}
		}
	}

	waitCount(300)
	before := lastSeq(t, pool)
	start := time.Now()
	ans := a.ok("DELETE", fmt.Sprintf("%s/brokers/%d", r.url, victim.ID()), nil) // through the reader
	t.Logf("decommission answered in %v: %s", time.Since(start), ans.raw)
	seq := ans.int("seq")
	moved, _ := ans.body["moved"].([]any)
	if len(moved) != len(owned) {
		t.Fatalf("moved %d partitions, want %d: %s", len(moved), len(owned), ans.raw)
	}
	waitCount(count.Load() + 300) // keep producing after the move
	close(stop)
	wg.Wait()

	// The reassignments and the removal are one append, in that order.
	want := slices.Repeat([]string{projection.TypePartitionAssigned}, len(owned))
	want = append(want, projection.TypeBrokerRemoved)
	if got := eventTypes(t, pool, before); !slices.Equal(got, want) || seq != before+int64(len(want)) {
		t.Fatalf("events after %d: %v (answer seq %d), want %v", before, got, seq, want)
	}
	waitSeq(t, r, seq)
	s := r.State()
	if b := s.Brokers[victim.ID()]; !b.Removed || b.Alive {
		t.Fatalf("victim in the state: %+v", b)
	}
	if got := s.PartitionsOf(victim.ID()); len(got) != 0 {
		t.Fatalf("victim still owns %v", got)
	}
	for _, ref := range owned {
		p := s.Topics["load"].Partitions[ref.Partition]
		if p.Epoch != ref.Epoch+1 || p.Broker == victim.ID() || !s.Brokers[p.Broker].Alive {
			t.Fatalf("partition %d after the move: %+v", ref.Partition, p)
		}
	}

	// No acknowledged message lost, none twice, offsets gap-free.
	if len(failures) > 0 {
		t.Errorf("%d produces failed; first: %v", len(failures), failures[0])
	}
	cons, err := c.NewConsumer(ctx, "load", client.ConsumerConfig{MaxWait: -1, BatchSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	byPart := map[int][]client.Message{}
	for {
		msgs, err := cons.Poll(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			byPart[m.Partition] = append(byPart[m.Partition], m)
		}
	}
	seen := map[string]int{}
	for p, msgs := range byPart {
		for i, m := range msgs {
			if m.Offset != int64(i) {
				t.Fatalf("partition %d: message %d has offset %d (gap or reorder)", p, i, m.Offset)
			}
			seen[m.Value]++
		}
	}
	for v, at := range acked {
		if seen[v] != 1 {
			t.Fatalf("acknowledged message %q (partition %d offset %d) is stored %d times", v, at.partition, at.offset, seen[v])
		}
		if got := byPart[at.partition]; at.offset >= int64(len(got)) || got[at.offset].Value != v {
			t.Fatalf("acknowledged message %q is not at partition %d offset %d", v, at.partition, at.offset)
		}
	}
	t.Logf("%d messages acknowledged, %d stored, %d failed", len(acked), len(seen), len(failures))

	// The removed broker keeps running but is fenced. Its own view of the
	// log says it was removed: a direct append (once it has applied the
	// removal) is refused, for a partition it owned and for any other.
	for _, part := range []int{owned[0].Partition, (owned[0].Partition + 1) % 6} {
		body := fmt.Sprintf(`{"topic":"load","partition":%d,"producer_id":1,"message":"late"}`, part)
		req, _ := http.NewRequest("POST", "http://"+victim.addr+"/v1/append", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(api.HeaderMinSeq, fmt.Sprint(seq))
		resp, err := a.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusConflict && resp.StatusCode != http.StatusGone {
			t.Fatalf("append to the removed broker, partition %d: status %d", part, resp.StatusCode)
		}
	}
	// Its heartbeats are refused, with a message saying why, and its loop
	// stopped on that answer.
	hb := a.do("POST", fmt.Sprintf("%s/brokers/%d/heartbeat", r.url, victim.ID()), map[string]any{"address": victim.addr})
	if hb.status != http.StatusGone || hb.str("code") != logq.EBrokerRemoved || !strings.Contains(hb.str("message"), "removed") {
		t.Fatalf("heartbeat of the removed broker: %d %s", hb.status, hb.raw)
	}
	select {
	case <-victim.HeartbeatsStopped():
	case <-ctx.Done():
		t.Fatal("the removed broker kept heartbeating")
	}
	// Registering its address again is refused too (no silent new id).
	before = lastSeq(t, pool)
	reg := a.do("POST", w.url+"/brokers", map[string]any{"address": victim.addr})
	if reg.status != http.StatusGone || reg.str("code") != logq.EBrokerRemoved || !strings.Contains(reg.str("message"), "rejoin") {
		t.Fatalf("registering the removed broker's address: %d %s", reg.status, reg.raw)
	}
	if lastSeq(t, pool) != before {
		t.Fatal("a refused registration appended events")
	}
}

// TestMembershipBadInput: bad input to the membership endpoints gets a 4xx
// JSON failure with the right code and changes nothing, on the writer and
// through a reader; then the escape hatches work (rejoin).
func TestMembershipBadInput(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	pool := newPool(t, dsn)
	w := startManager(t, Config{Role: RoleWrite, DSN: dsn, MinSeqWait: 100 * time.Millisecond})
	waitWriter(t, w)
	r := startManager(t, Config{Role: RoleRead, DSN: dsn, MinSeqWait: 100 * time.Millisecond})
	a := newAPI(t)

	// Fixture: fake brokers 1..3, topic t with 3 partitions, broker 3
	// removed (its partition moved).
	for i := 1; i <= 3; i++ {
		a.ok("POST", w.url+"/brokers", map[string]any{"address": fmt.Sprintf("127.0.0.1:%d", i)})
	}
	a.ok("POST", w.url+"/topics", map[string]any{"topic_name": "t", "partitions": 3})
	rm := a.ok("DELETE", w.url+"/brokers/3", nil)
	if moved := rm.body["moved"].([]any); len(moved) != 1 {
		t.Fatalf("removing broker 3: %s", rm.raw)
	}
	waitSeq(t, r, rm.int("seq"))

	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"remove unknown broker", "DELETE", "/brokers/99", "", 404, logq.EBrokerNotFound},
		{"remove twice", "DELETE", "/brokers/3", "", 410, logq.EBrokerRemoved},
		{"remove non-numeric id", "DELETE", "/brokers/abc", "", 400, logq.EInvalid},
		{"remove id zero", "DELETE", "/brokers/0", "", 400, logq.EInvalid},
		{"remove negative id", "DELETE", "/brokers/-1", "", 400, logq.EInvalid},
		{"add zero partitions", "POST", "/topics/t/partitions", `{"count":0}`, 400, logq.EInvalid},
		{"add negative partitions", "POST", "/topics/t/partitions", `{"count":-2}`, 400, logq.EInvalid},
		{"add too many partitions", "POST", "/topics/t/partitions", `{"count":5000}`, 400, logq.EInvalid},
		{"add past the max", "POST", "/topics/t/partitions", `{"count":1022}`, 400, logq.EInvalid},
		{"add fraction", "POST", "/topics/t/partitions", `{"count":1.5}`, 400, logq.EInvalid},
		{"add count string", "POST", "/topics/t/partitions", `{"count":"lots"}`, 400, logq.EInvalid},
		{"add count missing", "POST", "/topics/t/partitions", `{}`, 400, logq.EInvalid},
		{"add malformed", "POST", "/topics/t/partitions", `{"count":`, 400, logq.EInvalid},
		{"add to unknown topic", "POST", "/topics/nope/partitions", `{"count":1}`, 404, logq.ETopicNotFound},
		{"add to invalid topic name", "POST", "/topics/a%20b/partitions", `{"count":1}`, 400, logq.EInvalid},
		{"add with a stale expectation", "POST", "/topics/t/partitions", `{"count":1,"expect_partitions":2}`, 409, logq.EConflict},
		{"rebalance with GET", "GET", "/rebalance", "", 405, logq.EInvalid},
		{"heartbeat unknown producer", "POST", "/producers/99/heartbeat", "", 404, logq.EProducerNotFound},
		{"heartbeat unknown consumer", "POST", "/consumers/99/heartbeat", "", 404, logq.EConsumerNotFound},
		{"heartbeat bad producer id", "POST", "/producers/x/heartbeat", "", 400, logq.EInvalid},
		{"heartbeat of a removed broker", "POST", "/brokers/3/heartbeat", `{}`, 410, logq.EBrokerRemoved},
		{"register a removed broker's address", "POST", "/brokers", `{"address":"127.0.0.1:3"}`, 410, logq.EBrokerRemoved},
		{"register a removed broker's id", "POST", "/brokers", `{"address":"127.0.0.1:9","broker_id":3}`, 410, logq.EBrokerRemoved},
		{"register with a bad rejoin", "POST", "/brokers", `{"address":"127.0.0.1:3","rejoin":"maybe"}`, 400, logq.EInvalid},
	}
	for _, n := range []*node{w, r} {
		for _, tc := range cases {
			before := lastSeq(t, pool)
			ans := a.do(tc.method, n.url+tc.path, tc.body, "application/json")
			if ans.status != tc.status || ans.str("code") != tc.code || ans.str("status") != "failure" || ans.str("message") == "" {
				t.Errorf("%s on %s: %d %s; want %d %s", tc.name, n.url, ans.status, ans.raw, tc.status, tc.code)
			}
			if after := lastSeq(t, pool); after != before {
				t.Errorf("%s on %s: the log moved from %d to %d", tc.name, n.url, before, after)
			}
		}
	}

	// The last live broker holding partitions cannot be removed.
	rm = a.ok("DELETE", r.url+"/brokers/2", nil)
	before := lastSeq(t, pool)
	ans := a.do("DELETE", r.url+"/brokers/1", nil)
	if ans.status != http.StatusConflict || ans.str("code") != logq.EConflict || !strings.Contains(ans.str("message"), "no other live broker") {
		t.Fatalf("removing the last broker: %d %s", ans.status, ans.raw)
	}
	if lastSeq(t, pool) != before {
		t.Fatal("a refused removal appended events")
	}

	// A removed broker's address may join again as a new broker, when asked
	// explicitly; it then keeps that new id.
	re := a.ok("POST", r.url+"/brokers", map[string]any{"address": "127.0.0.1:3", "rejoin": true})
	if id := re.int("broker_id"); id != 4 {
		t.Fatalf("rejoin got broker id %d, want 4: %s", id, re.raw)
	}
	if again := a.ok("POST", r.url+"/brokers", map[string]any{"address": "127.0.0.1:3"}).int("broker_id"); again != 4 {
		t.Fatalf("the rejoined address registered again got id %d", again)
	}
	waitSeq(t, r, re.int("seq"))
	s := r.State()
	if !s.Brokers[3].Removed || s.Brokers[4].Removed || !s.Brokers[4].Alive || s.Brokers[4].Address != "127.0.0.1:3" {
		t.Fatalf("after rejoin: %+v %+v", s.Brokers[3], s.Brokers[4])
	}
	// The joined broker takes partitions on a rebalance.
	rb := a.ok("POST", r.url+"/rebalance", nil)
	if moved := rb.body["moved"].([]any); len(moved) != 1 {
		t.Fatalf("rebalance onto the rejoined broker: %s", rb.raw)
	}
}

// TestAddPartitions: new partitions of an existing topic go to the
// least-loaded live brokers (PartitionsAdded, then PartitionAssigned at
// epoch 1, in one append), are served at once and used by round robin and
// by whole-topic consumers.
func TestAddPartitions(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	pool := newPool(t, dsn)
	w, r := startWriterAndReader(t, dsn)
	b1 := startMemberBroker(t, broker.Config{DSN: dsn, Managers: []string{w.url}})
	b2 := startMemberBroker(t, broker.Config{DSN: dsn, Managers: []string{r.url}})
	waitRegistered(t, w, b1, b2)
	a := newAPI(t)
	a.ok("POST", r.url+"/topics", map[string]any{"topic_name": "grow", "partitions": 2})
	pid := a.ok("POST", r.url+"/producer/register", map[string]any{"topic": "grow"}).int("producer_id")
	cid := a.ok("POST", r.url+"/consumer/register", map[string]any{"topic": "grow"}).int("consumer_id")

	before := lastSeq(t, pool)
	ans := a.ok("POST", r.url+"/topics/grow/partitions", map[string]any{"count": 3, "expect_partitions": 2})
	if ans.int("partitions") != 5 || ans.int("added") != 3 || ans.int("seq") != before+4 {
		t.Fatalf("add partitions: %s", ans.raw)
	}
	want := []string{projection.TypePartitionsAdded, projection.TypePartitionAssigned, projection.TypePartitionAssigned, projection.TypePartitionAssigned}
	if got := eventTypes(t, pool, before); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	waitSeq(t, r, ans.int("seq"))
	parts := r.State().Topics["grow"].Partitions
	var owners []int64
	for _, p := range parts {
		owners = append(owners, p.Broker)
		if p.Epoch != 1 {
			t.Fatalf("partition %+v", p)
		}
	}
	// Loads 1 and 1: the new ones go to the least loaded, lowest id first.
	if ids := []int64{b1.ID(), b2.ID()}; !slices.Equal(owners[2:], []int64{min(ids[0], ids[1]), max(ids[0], ids[1]), min(ids[0], ids[1])}) {
		t.Fatalf("owners %v", owners)
	}

	// Round robin now covers five partitions, each served from offset 0.
	got := map[int64]int64{}
	for i := range 10 {
		p := a.ok("POST", fmt.Sprintf("%s/producer/produce?min_seq=%d", r.url, ans.int("seq")),
			map[string]any{"producer_id": pid, "message": fmt.Sprint(i)})
		got[p.int("partition")]++
	}
	for p := range int64(5) {
		if got[p] != 2 {
			t.Fatalf("round robin over 5 partitions: %v", got)
		}
	}
	detail := a.ok("GET", r.url+"/topics/grow", nil)
	for _, p := range detail.body["partitions"].([]any) {
		p := p.(map[string]any)
		if p["writable"] != true || p["high_watermark"].(interface{ String() string }).String() != "2" {
			t.Fatalf("GET /topics/grow: %s", detail.raw)
		}
	}
	// The whole-topic consumer registered before sees all ten.
	if size := a.ok("GET", fmt.Sprintf("%s/size?consumer_id=%d", r.url, cid), nil).int("size"); size != 10 {
		t.Fatalf("size %d, want 10", size)
	}
	batch := a.ok("GET", fmt.Sprintf("%s/consumer/consume_batch?consumer_id=%d&max=100", r.url, cid), nil)
	if n := len(batch.body["messages"].([]any)); n != 10 {
		t.Fatalf("consumed %d of 10: %s", n, batch.raw)
	}
}

// TestRebalanceAfterJoin: a topic created on one broker is spread evenly
// once two more join and a rebalance runs: ownership moves with higher
// epochs, the data stays, producing and consuming carry on where they were,
// and a second rebalance moves nothing.
func TestRebalanceAfterJoin(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	pool := newPool(t, dsn)
	w, r := startWriterAndReader(t, dsn)
	b1 := startMemberBroker(t, broker.Config{DSN: dsn, Managers: []string{r.url}})
	waitRegistered(t, w, b1)
	a := newAPI(t)
	a.ok("POST", r.url+"/topics", map[string]any{"topic_name": "r", "partitions": 6})
	pid := a.ok("POST", r.url+"/producer/register", map[string]any{"topic": "r"}).int("producer_id")
	for p := range 6 {
		a.ok("POST", r.url+"/producer/produce", map[string]any{"producer_id": pid, "message": fmt.Sprintf("before-%d", p), "partition": p})
	}

	b2 := startMemberBroker(t, broker.Config{DSN: dsn, Managers: []string{r.url}})
	b3 := startMemberBroker(t, broker.Config{DSN: dsn, Managers: []string{w.url}})
	waitRegistered(t, w, b1, b2, b3)
	if n := len(w.State().PartitionsOf(b1.ID())); n != 6 {
		t.Fatalf("before the rebalance broker 1 owns %d", n)
	}

	before := lastSeq(t, pool)
	ans := a.ok("POST", r.url+"/rebalance", nil)
	moved := ans.body["moved"].([]any)
	if len(moved) != 4 || ans.int("seq") != before+4 {
		t.Fatalf("rebalance: %s", ans.raw)
	}
	if got := eventTypes(t, pool, before); !slices.Equal(got, slices.Repeat([]string{projection.TypePartitionAssigned}, 4)) {
		t.Fatalf("events %v", got)
	}
	waitSeq(t, r, ans.int("seq"))
	s := r.State()
	for _, b := range []*brokerNode{b1, b2, b3} {
		if n := len(s.PartitionsOf(b.ID())); n != 2 {
			t.Fatalf("broker %d owns %d partitions after the rebalance", b.ID(), n)
		}
	}
	for _, p := range s.Topics["r"].Partitions {
		if wantEpoch := map[bool]int64{true: 1, false: 2}[p.Broker == b1.ID()]; p.Epoch != wantEpoch {
			t.Fatalf("partition %+v", p)
		}
	}

	// Producing continues at the next offset on the new owners.
	for p := range 6 {
		got := a.ok("POST", r.url+"/producer/produce", map[string]any{"producer_id": pid, "message": fmt.Sprintf("after-%d", p), "partition": p})
		if got.int("offset") != 1 {
			t.Fatalf("partition %d after the move: %s", p, got.raw)
		}
	}
	cid := a.ok("POST", r.url+"/consumer/register", map[string]any{"topic": "r"}).int("consumer_id")
	batch := a.ok("GET", fmt.Sprintf("%s/consumer/consume_batch?consumer_id=%d&max=100", r.url, cid), nil)
	byPart := map[string][]string{}
	for _, m := range batch.body["messages"].([]any) {
		m := m.(map[string]any)
		k := fmt.Sprint(m["partition"])
		byPart[k] = append(byPart[k], m["message"].(string))
	}
	for p := range 6 {
		if got := byPart[fmt.Sprint(p)]; !slices.Equal(got, []string{fmt.Sprintf("before-%d", p), fmt.Sprintf("after-%d", p)}) {
			t.Fatalf("partition %d holds %v", p, got)
		}
	}

	// Balanced: nothing moves, nothing is appended.
	before = lastSeq(t, pool)
	again := a.ok("POST", w.url+"/rebalance", nil)
	if len(again.body["moved"].([]any)) != 0 || again.int("seq") != before || lastSeq(t, pool) != before {
		t.Fatalf("second rebalance: %s", again.raw)
	}
}
