package manager

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/logq/logq/broker"
	"github.com/logq/logq/client"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

// clientStatusEvents decodes the events after seq, which must all be
// ClientStatusChanged.
func clientStatusEvents(t *testing.T, pool *pgxpool.Pool, after int64) []projection.ClientStatusChanged {
	t.Helper()
	events, err := eventlog.Read(testCtx(t), pool, after, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []projection.ClientStatusChanged
	for _, e := range events {
		p, err := projection.Decode(e)
		if err != nil {
			t.Fatal(err)
		}
		c, ok := p.(projection.ClientStatusChanged)
		if !ok {
			t.Fatalf("unexpected %s at seq %d", e.Type, e.Seq)
		}
		out = append(out, c)
	}
	return out
}

func jsonNumber(n int64) json.Number { return json.Number(fmt.Sprint(n)) }

// clientEntry finds one client in a GET /producers or /consumers answer.
func clientEntry(t *testing.T, ans answer, list, idField string, id int64) map[string]any {
	t.Helper()
	for _, v := range ans.body[list].([]any) {
		m := v.(map[string]any)
		if m[idField] == jsonNumber(id) {
			return m
		}
	}
	t.Fatalf("%s %d not listed: %s", idField, id, ans.raw)
	return nil
}

// TestClientLiveness: producers and consumers heard from through a reader
// (any request counts; the reader forwards what it heard) stay active; one
// silent past the client timeout is shown inactive, and active again on its
// next request or heartbeat; each change is one event. GET /producers and
// /consumers (relayed by a reader to the writer, which holds the times) show
// status, last seen and lag. The Go client's idle heartbeats keep a
// consumer active. All with the injected clock and CheckLiveness called
// directly: no waiting on time.
func TestClientLiveness(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	clk := newFakeClock()
	t0 := clk.Now()
	// Brokers heartbeat on real time: a day of broker timeout keeps the
	// clock jumps below from killing them. The flush ticker is idle (an
	// hour): the test flushes by hand, or a kick does.
	w := startManager(t, Config{Role: RoleWrite, DSN: dsn, Now: clk.Now, LivenessCheckInterval: time.Hour,
		HeartbeatTimeout: 24 * time.Hour, ClientSeenFlush: time.Hour})
	waitWriter(t, w)
	r := startManager(t, Config{Role: RoleRead, DSN: dsn, ClientSeenFlush: time.Hour, MinSeqWait: 300 * time.Millisecond})
	b := startMemberBroker(t, broker.Config{DSN: dsn, Managers: []string{w.url}})
	waitRegistered(t, w, b)
	a := newAPI(t)
	ctx := testCtx(t)
	pool := newPool(t, dsn)

	a.ok("POST", r.url+"/topics", map[string]any{"topic_name": "t", "partitions": 2})
	pid := a.ok("POST", r.url+"/producer/register", map[string]any{"topic": "t"}).int("producer_id")
	reg := a.ok("POST", r.url+"/consumer/register", map[string]any{"topic": "t"})
	cid := reg.int("consumer_id")
	waitSeq(t, r, reg.int("seq"))
	produce := func(base string) {
		t.Helper()
		a.ok("POST", base+"/producer/produce", map[string]any{"producer_id": pid, "message": "m"})
	}
	for range 6 {
		produce(r.url)
	}
	a.ok("GET", fmt.Sprintf("%s/consumer/consume_batch?consumer_id=%d&max=2", r.url, cid), nil)
	if err := r.flushSeen(ctx); err != nil {
		t.Fatal(err)
	}

	// 30 s later the producer is heard from again (through the reader),
	// the consumer is not.
	clk.Advance(30 * time.Second)
	produce(r.url)
	if err := r.flushSeen(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(31 * time.Second)
	before := lastSeq(t, pool)
	evs, err := w.CheckLiveness(ctx, clk.Now())
	if err != nil || len(evs) != 1 {
		t.Fatalf("CheckLiveness at 61 s: %v %v", evs, err)
	}
	if got := clientStatusEvents(t, pool, before); !slices.Equal(got, []projection.ClientStatusChanged{{Client: "consumer", ID: cid, Active: false}}) {
		t.Fatalf("events %+v", got)
	}
	if evs, err := w.CheckLiveness(ctx, clk.Now()); err != nil || len(evs) != 0 {
		t.Fatalf("a second check changed something: %v %v", evs, err)
	}
	waitSeq(t, r, evs[0].Seq)

	// The listings, through the reader (relayed to the writer).
	cons := a.ok("GET", r.url+"/consumers", nil)
	c := clientEntry(t, cons, "consumers", "consumer_id", cid)
	if c["active"] != false || c["last_seen"] != t0.Format(time.RFC3339Nano) || c["idle_ms"] != jsonNumber(61000) ||
		c["lag"] != jsonNumber(5) || c["lag_known"] != true || c["topic"] != "t" || c["partition"] != nil {
		t.Fatalf("consumer listing: %v", c)
	}
	prods := a.ok("GET", r.url+"/producers?topic=t", nil)
	p := clientEntry(t, prods, "producers", "producer_id", pid)
	if p["active"] != true || p["idle_ms"] != jsonNumber(31000) || p["last_seen"] != t0.Add(30*time.Second).Format(time.RFC3339Nano) {
		t.Fatalf("producer listing: %v", p)
	}
	if other := a.ok("GET", w.url+"/producers?topic=other", nil); len(other.body["producers"].([]any)) != 0 {
		t.Fatalf("topic filter: %s", other.raw)
	}

	// Its next request (a size, through the reader) makes it active again:
	// the reader forwards at once for a client shown inactive, the writer
	// checks at once.
	before = lastSeq(t, pool)
	if size := a.ok("GET", fmt.Sprintf("%s/size?consumer_id=%d", r.url, cid), nil).int("size"); size != 5 {
		t.Fatalf("size %d", size)
	}
	waitState(t, r, "consumer active again", func(s *projection.State) bool { return !s.Consumers[cid].Inactive })
	if got := clientStatusEvents(t, pool, before); !slices.Equal(got, []projection.ClientStatusChanged{{Client: "consumer", ID: cid, Active: true}}) {
		t.Fatalf("events %+v", got)
	}

	// Both silent for a minute: both inactive, in one append.
	clk.Advance(61 * time.Second)
	before = lastSeq(t, pool)
	if evs, err := w.CheckLiveness(ctx, clk.Now()); err != nil || len(evs) != 2 {
		t.Fatalf("both silent: %v %v", evs, err)
	}
	// Times refreshed without hearing from anyone (as after a stall of the
	// writer process) revive nobody: only a sign of life does.
	w.clients.mu.Lock()
	for k := range w.clients.seen {
		w.clients.seen[k] = clk.Now()
	}
	w.clients.mu.Unlock()
	if evs, err := w.CheckLiveness(ctx, clk.Now()); err != nil || len(evs) != 0 {
		t.Fatalf("refreshed times revived clients: %v %v", evs, err)
	}
	// A produce straight to the writer revives the producer; an explicit
	// heartbeat through the reader revives the consumer (synchronously: its
	// answer carries the seq of the change).
	produce(w.url)
	waitState(t, w, "producer active again", func(s *projection.State) bool { return !s.Producers[pid].Inactive })
	hb := a.ok("POST", fmt.Sprintf("%s/consumers/%d/heartbeat", r.url, cid), nil)
	if hb.int("consumer_id") != cid || hb.body["active"] != true {
		t.Fatalf("heartbeat: %s", hb.raw)
	}
	waitSeq(t, r, hb.int("seq"))
	if r.State().Consumers[cid].Inactive {
		t.Fatal("consumer still inactive at its heartbeat's seq")
	}
	got := clientStatusEvents(t, pool, before)
	want := []projection.ClientStatusChanged{
		{Client: "producer", ID: pid, Active: false}, {Client: "consumer", ID: cid, Active: false},
		{Client: "producer", ID: pid, Active: true}, {Client: "consumer", ID: cid, Active: true},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events %+v, want %+v", got, want)
	}
	// A heartbeat of an active client is no event.
	before = lastSeq(t, pool)
	if again := a.ok("POST", fmt.Sprintf("%s/producers/%d/heartbeat", w.url, pid), nil); again.int("seq") != before {
		t.Fatalf("heartbeat of an active producer: %s", again.raw)
	}
	if lastSeq(t, pool) != before {
		t.Fatal("a heartbeat of an active client appended events")
	}

	// The Go client: an idle consumer heartbeats on its own.
	clk.Advance(61 * time.Second)
	if evs, err := w.CheckLiveness(ctx, clk.Now()); err != nil || len(evs) != 2 {
		t.Fatalf("silent again: %v %v", evs, err)
	}
	cl := newTestClient(t, r.url)
	gc, err := cl.NewConsumer(ctx, "t", client.ConsumerConfig{ID: cid, HeartbeatInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, w, "the Go consumer's heartbeat", func(s *projection.State) bool { return !s.Consumers[cid].Inactive })
	gc.Close()
	if !w.State().Producers[pid].Inactive {
		t.Fatal("the producer became active without a sign of life")
	}
	list, err := cl.Consumers(ctx, "t")
	if err != nil || len(list) != 1 || !list[0].Active || list[0].Lag != 6 || !list[0].LagKnown || list[0].LastSeen == nil {
		t.Fatalf("client.Consumers: %+v %v", list, err)
	}

	// A client heartbeat to a manager that is not the writer, forwarded
	// by nobody, fails cleanly when no writer is known.
	w.stop(t)
	ans := a.do("POST", fmt.Sprintf("%s/producers/%d/heartbeat", r.url, pid), nil)
	if ans.status != http.StatusServiceUnavailable || ans.str("status") != "failure" {
		t.Fatalf("heartbeat without a writer: %d %s", ans.status, ans.raw)
	}
	// The listing falls back to the reader's own state, without times.
	prods = a.ok("GET", r.url+"/producers", nil)
	if p := clientEntry(t, prods, "producers", "producer_id", pid); p["active"] != false || p["last_seen"] != nil {
		t.Fatalf("fallback listing: %v", p)
	}
}
