package manager

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/logq/logq"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

// TestWriterAndReaders: one writer, two readers, in both tail modes. Every
// write made on the writer is visible on both readers; min_seq gives
// read-your-writes; writes sent to a reader succeed through forwarding.
func TestWriterAndReaders(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			dsn := pgtest.NewDB(t)
			pool := newPool(t, dsn)
			w := startManager(t, Config{Name: "w", Role: RoleWrite, DSN: dsn, TailMode: mode})
			waitWriter(t, w)
			r1 := startManager(t, Config{Name: "r1", Role: RoleRead, DSN: dsn, TailMode: mode})
			r2 := startManager(t, Config{Name: "r2", Role: RoleRead, DSN: dsn, TailMode: mode})
			readers := []*node{r1, r2}
			a := newAPI(t)

			// Brokers (addresses only: the control plane does not call them
			// here). The same address keeps its id.
			b1 := a.ok("POST", w.url+"/brokers", map[string]any{"address": "127.0.0.1:1"}).int("broker_id")
			b2 := a.ok("POST", r1.url+"/brokers", map[string]any{"address": "127.0.0.1:2"}).int("broker_id") // forwarded
			if again := a.ok("POST", r2.url+"/brokers", map[string]any{"address": "127.0.0.1:1"}).int("broker_id"); again != b1 {
				t.Fatalf("same address got broker id %d, want %d", again, b1)
			}
			if b1 != 1 || b2 != 2 {
				t.Fatalf("broker ids %d, %d; want 1, 2", b1, b2)
			}

			// Writes on the writer; reads with min_seq on the readers see them.
			for i := range 10 {
				name := fmt.Sprintf("topic-%d", i)
				ans := a.ok("POST", w.url+"/topics", map[string]any{"topic_name": name, "partitions": 4})
				seq := ans.int("seq")
				if seq <= 0 {
					t.Fatalf("create topic answered seq %d", seq)
				}
				for _, r := range readers {
					got := a.ok("GET", fmt.Sprintf("%s/topics?min_seq=%d", r.url, seq), nil)
					if !containsJSON(got.body["topics"], name) {
						t.Fatalf("reader %s at min_seq %d does not list %s: %s", r.url, seq, name, got.raw)
					}
				}
			}

			// A write sent to a reader is forwarded; the reader answers with
			// the writer's seq and has applied it (read-your-writes on the
			// same manager without min_seq).
			prod := a.ok("POST", r1.url+"/producer/register", map[string]any{"topic": "topic-3"})
			if prod.int("producer_id") != 1 {
				t.Fatalf("producer id: %s", prod.raw)
			}
			list := a.ok("GET", r1.url+"/producers", nil)
			if !containsID(list.body["producers"], "producer_id", 1) {
				t.Fatalf("reader r1 does not list its forwarded producer: %s", list.raw)
			}
			list = a.ok("GET", fmt.Sprintf("%s/producers?min_seq=%d", r2.url, prod.int("seq")), nil)
			if !containsID(list.body["producers"], "producer_id", 1) {
				t.Fatalf("reader r2 does not list producer 1 at its seq: %s", list.raw)
			}
			// Registering a producer for an unknown topic creates it.
			auto := a.ok("POST", r2.url+"/producer/register", map[string]any{"topic": "fresh", "partition": "1"})
			cons := a.ok("POST", r2.url+"/consumer/register", map[string]any{"topic": "fresh", "partition_id": 1})
			got := a.ok("GET", fmt.Sprintf("%s/consumers?min_seq=%d", r1.url, cons.int("seq")), nil)
			if !containsID(got.body["consumers"], "consumer_id", cons.int("consumer_id")) {
				t.Fatalf("consumers on r1: %s", got.raw)
			}
			detail := a.ok("GET", fmt.Sprintf("%s/topics/fresh?min_seq=%d", r1.url, auto.int("seq")), nil)
			parts, _ := detail.body["partitions"].([]any)
			if len(parts) != 2 { // one per live broker
				t.Fatalf("auto-created topic: %s", detail.raw)
			}
			owners := map[any]bool{} // one partition on each broker (decide's placement)
			for i, p := range parts {
				p := p.(map[string]any)
				owners[p["broker_id"]] = true
				if p["epoch"] != json.Number("1") || p["writable"] != true {
					t.Fatalf("partition %d: %v", i, p)
				}
			}
			if !owners[json.Number("1")] || !owners[json.Number("2")] {
				t.Fatalf("auto-created topic not spread: %s", detail.raw)
			}

			// A heartbeat through a reader reaches the writer.
			a.ok("POST", r2.url+"/brokers/1/heartbeat", map[string]any{})

			// All three agree on the whole state.
			want := w.AppliedSeq()
			if want != lastSeq(t, pool) {
				t.Fatalf("writer applied %d, log ends at %d", want, lastSeq(t, pool))
			}
			for _, r := range readers {
				waitSeq(t, r, want)
				if g, w := projection.Render(r.State()), projection.Render(w.State()); g != w {
					t.Fatalf("reader %s state differs from the writer's:\n%s\nwant:\n%s", r.url, g, w)
				}
			}
			st := a.ok("GET", fmt.Sprintf("%s/state?min_seq=%d", r2.url, want), nil)
			if st.int("seq") != want {
				t.Fatalf("GET /state seq %d, want %d", st.int("seq"), want)
			}
			evs := a.ok("GET", r1.url+"/events?from=0&limit=3", nil)
			if n := len(evs.body["events"].([]any)); n != 3 {
				t.Fatalf("GET /events limit=3 returned %d events", n)
			}
			types := eventTypes(t, pool, 0)
			if types[0] != projection.TypeWriterElected {
				t.Fatalf("first event %s, want WriterElected", types[0])
			}

			h := a.ok("GET", w.url+"/healthz", nil)
			if h.str("role") != "writer" || h.str("writer") != w.url {
				t.Fatalf("writer healthz: %s", h.raw)
			}
			h = a.ok("GET", r1.url+"/healthz", nil)
			if h.str("role") != "reader" || h.str("writer") != w.url {
				t.Fatalf("reader healthz: %s", h.raw)
			}
			metrics := a.do("GET", r1.url+"/metrics", nil)
			for _, name := range []string{"logq_manager_applied_seq", "logq_manager_http_requests_total", "logq_manager_reader_lag_seconds"} {
				if metrics.status != 200 || !strings.Contains(metrics.raw, name) {
					t.Fatalf("metrics lack %s: %d", name, metrics.status)
				}
			}

			// With the writer gone, a reader refuses writes with a clear 503.
			w.stop(t)
			ans := a.do("POST", r1.url+"/topics", map[string]any{"topic_name": "late"})
			if ans.status != http.StatusServiceUnavailable || ans.str("status") != "failure" {
				t.Fatalf("write with no writer: %d %s", ans.status, ans.raw)
			}
		})
	}
}

// TestAutoFailover: three auto managers; the writer dies (its Serve is
// cancelled, then another's database session is killed) and a reader takes
// over and accepts writes, in both tail modes.
func TestAutoFailover(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			dsn := pgtest.NewDB(t)
			pool := newPool(t, dsn)
			a := newAPI(t)
			first := startManager(t, Config{Name: "a", Role: RoleAuto, DSN: dsn, TailMode: mode})
			waitWriter(t, first)
			others := []*node{
				startManager(t, Config{Name: "b", Role: RoleAuto, DSN: dsn, TailMode: mode}),
				startManager(t, Config{Name: "c", Role: RoleAuto, DSN: dsn, TailMode: mode}),
			}
			a.ok("POST", others[0].url+"/brokers", map[string]any{"address": "127.0.0.1:1"})
			created := a.ok("POST", others[1].url+"/topics", map[string]any{"name": "before", "partitions": 2})
			for _, n := range others {
				waitSeq(t, n, created.int("seq"))
				if n.IsWriter() {
					t.Fatalf("%s is a writer too", n.url)
				}
			}

			// Kill 1: stop the writer's server, which releases its lock.
			start := time.Now()
			first.stop(t)
			next := waitAnyWriter(t, others)
			ans := a.ok("POST", next.url+"/topics", map[string]any{"topic_name": "after-stop"})
			took := time.Since(start)
			t.Logf("%s: takeover after a stopped writer: %v (writer %s, seq %d)", mode, took, next.url, ans.int("seq"))
			if took > 3*time.Second {
				t.Errorf("takeover took %v, target 3s", took)
			}
			checkElected(t, pool, next.url)

			// The other reader forwards to the new writer.
			other := others[0]
			if other == next {
				other = others[1]
			}
			fwd := a.ok("POST", other.url+"/producer/register", map[string]any{"topic": "after-stop"})
			waitSeq(t, other, fwd.int("seq"))

			// Kill 2: terminate the new writer's database session, as if its
			// host vanished. It stops writing at once and competes again;
			// whoever wins writes with a higher epoch.
			epoch := next.State().WriterEpoch
			pid := writerPID(t, next)
			start = time.Now()
			killBackend(t, dsn, pid)
			var leader *node
			waitFor(t, 20*time.Second, "a writer with a newer epoch", func() bool {
				for _, n := range others {
					if s := n.State(); n.IsWriter() && s.WriterEpoch > epoch && s.Writer == n.url {
						leader = n
						return true
					}
				}
				return false
			}, others...)
			ans = a.ok("POST", leader.url+"/topics", map[string]any{"topic_name": "after-kill"})
			t.Logf("%s: takeover after a killed writer session: %v (writer %s, seq %d)", mode, time.Since(start), leader.url, ans.int("seq"))
			checkElected(t, pool, leader.url)
			for _, n := range others {
				waitSeq(t, n, ans.int("seq"))
				if n != leader && n.IsWriter() {
					t.Fatalf("two writers: %s and %s", leader.url, n.url)
				}
			}
			// Nothing was lost: both survivors agree with the log.
			for _, n := range others {
				waitSeq(t, n, lastSeq(t, pool))
				names := n.State().TopicNames()
				if !slices.Equal(names, []string{"after-kill", "after-stop", "before"}) {
					t.Fatalf("%s topics %v", n.url, names)
				}
			}
		})
	}
}

// waitAnyWriter waits until one of nodes is the writer and returns it.
func waitAnyWriter(t *testing.T, nodes []*node) *node {
	t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(t), 20*time.Second)
	defer cancel()
	won := make(chan *node, len(nodes))
	for _, n := range nodes {
		go func() {
			if n.WaitWriter(ctx) == nil {
				won <- n
			}
		}()
	}
	select {
	case n := <-won:
		cancel()
		return n
	case <-ctx.Done():
		t.Fatal("no manager became the writer")
		return nil
	}
}

// waitFor waits until cond holds, re-checking whenever one of nodes
// applies an event or changes role, with a deadline.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool, nodes ...*node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(t), timeout)
	defer cancel()
	for !cond() {
		wake := make(chan struct{}, 2*len(nodes))
		wctx, wcancel := context.WithCancel(ctx)
		for _, n := range nodes {
			applied := n.replica.Changed()
			n.roleMu.Lock()
			role := n.roleChanged
			n.roleMu.Unlock()
			go func() {
				select {
				case <-applied:
				case <-role:
				case <-wctx.Done():
				}
				wake <- struct{}{}
			}()
		}
		if cond() {
			wcancel()
			return
		}
		select {
		case <-wake:
		case <-ctx.Done():
		}
		wcancel()
		if ctx.Err() != nil {
			if !cond() {
				t.Fatalf("timed out waiting for %s", what)
			}
			return
		}
	}
}

// checkElected checks that the last WriterElected names url.
func checkElected(t *testing.T, pool *pgxpool.Pool, url string) {
	t.Helper()
	events, err := eventlog.List(testCtx(t), pool, eventlog.Filter{Types: []string{projection.TypeWriterElected}, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	p, err := projection.Decode(last)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.(projection.WriterElected).Manager; got != url {
		t.Fatalf("last WriterElected names %s, want %s", got, url)
	}
}

// writerPID is the backend pid of n's writer session.
func writerPID(t *testing.T, n *node) uint32 {
	t.Helper()
	n.wmu.Lock()
	defer n.wmu.Unlock()
	if n.writer == nil {
		t.Fatalf("%s is not the writer", n.url)
	}
	return n.writer.BackendPID()
}

// killBackend terminates a PostgreSQL backend.
func killBackend(t *testing.T, dsn string, pid uint32) {
	t.Helper()
	ctx := testCtx(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_terminate_backend($1)", int32(pid)).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate backend %d: %v %v", pid, ok, err)
	}
}

// TestHeartbeatTimeout: a broker silent past the timeout is declared dead
// and its partitions move to a live broker with a higher epoch; its next
// heartbeat revives it and its old partitions stay where they are. All of
// it as events, with the injected clock and CheckLiveness called directly.
func TestHeartbeatTimeout(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	pool := newPool(t, dsn)
	clk := newFakeClock()
	w := startManager(t, Config{Role: RoleWrite, DSN: dsn, Now: clk.Now, LivenessCheckInterval: time.Hour})
	waitWriter(t, w)
	r := startManager(t, Config{Role: RoleRead, DSN: dsn})
	a := newAPI(t)
	ctx := testCtx(t)

	a.ok("POST", r.url+"/brokers", map[string]any{"address": "127.0.0.1:1"})
	a.ok("POST", r.url+"/brokers", map[string]any{"address": "127.0.0.1:2"})
	a.ok("POST", r.url+"/topics", map[string]any{"topic_name": "t", "partitions": 4})
	owners := func(n *node) []int64 {
		var out []int64
		for _, p := range n.State().Topics["t"].Partitions {
			out = append(out, p.Broker)
		}
		return out
	}
	// Round robin from where FNV-1a("t") starts the ring of two brokers.
	if got := owners(w); !slices.Equal(got, []int64{2, 1, 2, 1}) {
		t.Fatalf("initial owners %v", got)
	}

	clk.Advance(30 * time.Second)
	a.ok("POST", r.url+"/brokers/1/heartbeat", map[string]any{}) // through the reader
	clk.Advance(29 * time.Second)
	if evs, err := w.CheckLiveness(ctx, clk.Now()); err != nil || len(evs) != 0 {
		t.Fatalf("at 59s: %v %v", evs, err)
	}
	before := lastSeq(t, pool)
	clk.Advance(2 * time.Second) // broker 2 silent for 61 s, broker 1 for 31 s
	evs, err := w.CheckLiveness(ctx, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []string{projection.TypeBrokerStatusChanged, projection.TypePartitionAssigned, projection.TypePartitionAssigned}
	if got := eventTypes(t, pool, before); !slices.Equal(got, wantTypes) {
		t.Fatalf("events %v, want %v", got, wantTypes)
	}
	if len(evs) != 3 || evs[0].Seq != before+1 {
		t.Fatalf("CheckLiveness returned %v", evs)
	}
	dead, _ := projection.Decode(evs[0])
	if dead != (projection.BrokerStatusChanged{BrokerID: 2, Alive: false}) {
		t.Fatalf("first event %+v", dead)
	}
	waitSeq(t, r, evs[2].Seq)
	s := r.State()
	if s.Brokers[2].Alive || !s.Brokers[1].Alive {
		t.Fatalf("liveness on the reader: %+v %+v", s.Brokers[1], s.Brokers[2])
	}
	for i, p := range s.Topics["t"].Partitions {
		wantEpoch := int64(1)
		if i%2 == 0 { // moved from broker 2
			wantEpoch = 2
		}
		if p.Broker != 1 || p.Epoch != wantEpoch {
			t.Fatalf("partition %d: %+v", i, p)
		}
	}
	brokers := a.ok("GET", r.url+"/brokers", nil)
	if b := brokers.body["brokers"].([]any)[1].(map[string]any); b["alive"] != false || len(b["partitions"].([]any)) != 0 {
		t.Fatalf("GET /brokers: %s", brokers.raw)
	}
	// Round robin skips nothing now (all on broker 1) and a second check is
	// a no-op.
	if evs, err := w.CheckLiveness(ctx, clk.Now()); err != nil || len(evs) != 0 {
		t.Fatalf("second check: %v %v", evs, err)
	}

	// A late heartbeat revives broker 2; partitions stay on broker 1.
	before = lastSeq(t, pool)
	hb := a.ok("POST", r.url+"/brokers/2/heartbeat", map[string]any{})
	if got := eventTypes(t, pool, before); !slices.Equal(got, []string{projection.TypeBrokerStatusChanged}) {
		t.Fatalf("revival events %v", got)
	}
	waitSeq(t, r, hb.int("seq"))
	if !r.State().Brokers[2].Alive || !slices.Equal(owners(r), []int64{1, 1, 1, 1}) {
		t.Fatalf("after revival: %+v owners %v", r.State().Brokers[2], owners(r))
	}
	// A reader cannot run the check.
	if _, err := r.CheckLiveness(ctx, clk.Now()); logq.ErrorCode(err) != logq.ENotWriter {
		t.Fatalf("CheckLiveness on a reader: %v", err)
	}

	// Both brokers silent: both dead, nothing to move to; the first to come
	// back gets every partition.
	clk.Advance(61 * time.Second)
	evs, err = w.CheckLiveness(ctx, clk.Now())
	if err != nil || len(evs) != 2 {
		t.Fatalf("both dead: %v %v", evs, err)
	}
	a.ok("POST", w.url+"/brokers/2/heartbeat", map[string]any{})
	s = w.State()
	if !s.Brokers[2].Alive || s.Brokers[1].Alive || !slices.Equal(owners(w), []int64{2, 2, 2, 2}) {
		t.Fatalf("after broker 2 returned alone: owners %v", owners(w))
	}
}

// TestLivenessTicker: the writer's own ticker runs the check with the
// injected clock.
func TestLivenessTicker(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	clk := newFakeClock()
	w := startManager(t, Config{Role: RoleWrite, DSN: dsn, Now: clk.Now, LivenessCheckInterval: 5 * time.Millisecond})
	waitWriter(t, w)
	a := newAPI(t)
	a.ok("POST", w.url+"/brokers", map[string]any{"address": "127.0.0.1:1"})
	clk.Advance(DefaultHeartbeatTimeout)
	waitState(t, w, "broker 1 dead", func(s *projection.State) bool { return !s.Brokers[1].Alive })
}

// TestNewWriterRestartsTimers: a writer elected late in a broker's (or a
// client's) timeout gives it a whole timeout afresh.
func TestNewWriterRestartsTimers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		producer bool
		timeout  time.Duration
		want     []string
	}{
		{"broker", false, DefaultHeartbeatTimeout, []string{projection.TypeBrokerStatusChanged}},
		// The (fake) broker and the producer, both silent for a whole timeout.
		{"producer", true, DefaultClientTimeout, []string{projection.TypeBrokerStatusChanged, projection.TypeClientStatusChanged}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dsn := pgtest.NewDB(t)
			clk := newFakeClock()
			cfg := Config{Role: RoleAuto, DSN: dsn, Now: clk.Now, LivenessCheckInterval: time.Hour}
			first := startManager(t, cfg)
			waitWriter(t, first)
			second := startManager(t, cfg)
			a := newAPI(t)
			a.ok("POST", first.url+"/brokers", map[string]any{"address": "127.0.0.1:1"})
			var pid int64
			if tc.producer {
				pid = a.ok("POST", first.url+"/producer/register", map[string]any{"topic": "t"}).int("producer_id")
			}

			clk.Advance(59 * time.Second)
			first.stop(t)
			waitWriter(t, second)
			clk.Advance(2 * time.Second) // 61 s since the heartbeat, 2 s since the election
			ctx := testCtx(t)
			if evs, err := second.CheckLiveness(ctx, clk.Now()); err != nil || len(evs) != 0 {
				t.Fatalf("new writer changed liveness at once: %v %v", evs, err)
			}
			clk.Advance(tc.timeout)
			evs, err := second.CheckLiveness(ctx, clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, e := range evs {
				types = append(types, e.Type)
			}
			if !slices.Equal(types, tc.want) {
				t.Fatalf("after a whole timeout: %v, want %v", types, tc.want)
			}
			if tc.producer && !second.State().Producers[pid].Inactive {
				t.Fatal("producer still active")
			}
		})
	}
}

// TestRestartRebuildsState: a manager started on an existing log, with a
// snapshot in the middle, has the same state as the one that wrote it.
func TestRestartRebuildsState(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	w := startManager(t, Config{Role: RoleWrite, DSN: dsn, SnapshotEvery: 5, LivenessCheckInterval: time.Hour})
	waitWriter(t, w)
	a := newAPI(t)
	a.ok("POST", w.url+"/brokers", map[string]any{"address": "127.0.0.1:1"})
	for i := range 10 {
		a.ok("POST", w.url+"/producer/register", map[string]any{"topic": fmt.Sprintf("t%d", i%3)})
	}
	w.maybeSnapshot(testCtx(t)) // the ticker's job, run by hand (its ticker is idle)
	pool := newPool(t, dsn)
	snap, _, err := eventlog.LatestSnapshotAtOrBefore(testCtx(t), pool, math.MaxInt64)
	if err != nil || snap != w.AppliedSeq() {
		t.Fatalf("snapshot at %d (%v), want %d", snap, err, w.AppliedSeq())
	}
	for i := range 3 {
		a.ok("POST", w.url+"/consumer/register", map[string]any{"topic": fmt.Sprintf("t%d", i)})
	}
	want := projection.Render(w.State())
	w.stop(t)
	r := startManager(t, Config{Role: RoleRead, DSN: dsn})
	if got := projection.Render(r.State()); got != want {
		t.Fatalf("restarted state:\n%s\nwant:\n%s", got, want)
	}
}

func containsJSON(list any, s string) bool {
	l, _ := list.([]any)
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

func containsID(list any, key string, id int64) bool {
	l, _ := list.([]any)
	for _, v := range l {
		if m, ok := v.(map[string]any); ok && m[key] == json.Number(fmt.Sprint(id)) {
			return true
		}
	}
	return false
}
