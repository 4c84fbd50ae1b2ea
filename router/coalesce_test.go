package router

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/projection"
)

// TestAppendsCoalesce proves the coalescing path is taken: while
// coalesceInFlight appends to a partition are held at the broker, ten
// single-message produces to it queue and then reach the broker as one
// append of ten messages, each producer getting its own offset.
func TestAppendsCoalesce(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	arrived := make(chan int, 32)
	var mu sync.Mutex
	next := int64(0)
	broker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req api.AppendRequest
		if r.URL.Path != "/v1/append" || json.NewDecoder(r.Body).Decode(&req) != nil {
			w.WriteHeader(400)
			return
		}
		arrived <- len(req.Messages)
		<-release
		mu.Lock()
		base := next
		next += int64(len(req.Messages))
		mu.Unlock()
		json.NewEncoder(w).Encode(api.AppendAnswer{Status: api.StatusSuccess, Topic: req.Topic, Partition: req.Partition, BaseOffset: base, Count: len(req.Messages)})
	}))
	defer broker.Close()
	one := 1 // producer 2 is pinned to partition 1
	rt := newTestRouter(t, broker.URL, 3, projection.ProducerRegistered{ProducerID: 2, Topic: "t", Partition: &one})

	type result struct {
		err    error
		offset int64
	}
	results := make(chan result, 32)
	produce := func() {
		ans, err := rt.Produce(httptest.NewRequest("POST", "/producer/produce", strings.NewReader(`{"producer_id":2,"message":"m"}`)))
		pa, _ := ans.(api.ProduceAnswer)
		results <- result{err, pa.Offset}
	}
	var wg sync.WaitGroup
	var sizes []int
	for range coalesceInFlight {
		// One at a time: two produces started together may go as one
		// append (the first to lead takes both), and the second never
		// arrives alone.
		wg.Go(produce)
		sizes = append(sizes, <-arrived)
	}
	const queued = 10
	for range queued {
		wg.Go(produce)
	}
	lane := rt.appendLane("t", 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := lane.Queued()
		if n == queued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d appends queued, want %d", n, queued)
		}
		runtime.Gosched() // polling a condition, bounded by the deadline
	}
	close(release)
	wg.Wait()
	close(results)
	sizes = append(sizes, <-arrived)
	if len(arrived) != 0 || sizes[0] != 1 || sizes[1] != 1 || sizes[2] != queued {
		t.Fatalf("broker appends of %v messages (and %d more); want [1 1 %d]", sizes, len(arrived), queued)
	}
	seen := map[int64]bool{}
	for r := range results {
		if r.err != nil || seen[r.offset] || r.offset < 0 || r.offset >= coalesceInFlight+queued {
			t.Fatalf("produce answered %v at offset %d (seen %v)", r.err, r.offset, seen)
		}
		seen[r.offset] = true
	}
}

// runsBroker is a stand-in broker for idempotent appends to partition 0:
// it holds the first coalesceInFlight requests until release is closed,
// reports each request's runs (a single-form request as one run), and
// answers each run with the next offsets, or with refuse's error for it.
type runsBroker struct {
	t       *testing.T
	release chan struct{}
	arrived chan []api.AppendRun
	refuse  func(run api.AppendRun) *api.ItemFailure
	noRuns  bool // refuse the runs form (400), as an older broker would

	opened sync.Once
	mu     sync.Mutex
	held   int
	next   int64
	seen   map[[2]int64]int64 // producer, sequence → base offset, for duplicates
}

func newRunsBroker(t *testing.T, refuse func(api.AppendRun) *api.ItemFailure) (*runsBroker, *httptest.Server) {
	b := &runsBroker{t: t, release: make(chan struct{}), arrived: make(chan []api.AppendRun, 64), refuse: refuse, seen: map[[2]int64]int64{}}
	srv := httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(srv.Close)
	t.Cleanup(b.open) // first: a failed test leaves no request held
	return b, srv
}

// open lets the held requests go on (once).
func (b *runsBroker) open() { b.opened.Do(func() { close(b.release) }) }

func (b *runsBroker) serve(w http.ResponseWriter, r *http.Request) {
	var req api.AppendRequest
	if r.URL.Path != "/v1/append" || json.NewDecoder(r.Body).Decode(&req) != nil {
		w.WriteHeader(400)
		return
	}
	if req.Runs != nil && b.noRuns { // as a broker of an older release answers
		b.arrived <- req.Runs
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(api.ErrorBody{Status: api.StatusFailure, Code: logq.EInvalid, Message: "messages is required"})
		return
	}
	runs, single := req.Runs, req.Runs == nil
	if single {
		runs = []api.AppendRun{{ProducerEpoch: req.ProducerEpoch, Sequence: req.Sequence, Messages: req.Messages}}
	}
	// Offsets are given in arrival order, the held requests' too (stored,
	// their answers held): once released, a held request and the one its
	// answer lets the router send may reach the answer in either order.
	b.arrived <- runs
	b.mu.Lock()
	hold := b.held < coalesceInFlight
	b.held++
	ans := api.AppendAnswer{Status: api.StatusSuccess, Topic: req.Topic, Partition: req.Partition, Runs: make([]api.AppendRunAnswer, len(runs))}
	for i, run := range runs {
		a := &ans.Runs[i]
		if f := b.refuse(run); f != nil {
			a.Error = f
			continue
		}
		k := [2]int64{run.Messages[0].ProducerID, *run.Sequence}
		if base, ok := b.seen[k]; ok {
			a.BaseOffset, a.Count, a.Duplicate = base, len(run.Messages), true
			continue
		}
		b.seen[k] = b.next
		a.BaseOffset, a.Count = b.next, len(run.Messages)
		b.next += int64(len(run.Messages))
		ans.Count += a.Count
	}
	b.mu.Unlock()
	if hold {
		<-b.release
	}
	if single {
		if f := ans.Runs[0].Error; f != nil {
			w.WriteHeader(logq.HTTPStatus(f.Code))
			json.NewEncoder(w).Encode(api.ErrorBody{Status: api.StatusFailure, Code: f.Code, Message: f.Message})
			return
		}
		ans.BaseOffset, ans.Count, ans.Duplicate, ans.Runs = ans.Runs[0].BaseOffset, ans.Runs[0].Count, ans.Runs[0].Duplicate, nil
	}
	json.NewEncoder(w).Encode(ans)
}

// idemResult is one idempotent produce's answer.
type idemResult struct {
	producer, seq int
	err           error
	ans           api.ProduceAnswer
}

// coalesceIdempotent sends coalesceInFlight idempotent produces (producers
// 1, 2, sequence 0), waits until the broker holds them, then sends
// queued's (producer, sequence) produces, waits until all are queued in
// the lane and lets the broker answer; it returns every answer and the
// runs of each broker request in arrival order.
func coalesceIdempotent(t *testing.T, rt *Router, b *runsBroker, queued [][2]int) ([]idemResult, [][]api.AppendRun) {
	results := make(chan idemResult, 64)
	produce := func(producer, seq int) {
		body := fmt.Sprintf(`{"producer_id":%d,"message":"m%d.%d","partition":0,"producer_epoch":0,"sequence":%d}`, producer, producer, seq, seq)
		ans, err := rt.Produce(httptest.NewRequest("POST", "/producer/produce", strings.NewReader(body)))
		pa, _ := ans.(api.ProduceAnswer)
		results <- idemResult{producer, seq, err, pa}
	}
	var wg sync.WaitGroup
	var arrived [][]api.AppendRun
	for i := range coalesceInFlight {
		// One at a time, each held at the broker before the next (two
		// started together may go as one append).
		wg.Go(func() { produce(i+1, 0) })
		arrived = append(arrived, <-b.arrived)
	}
	for _, q := range queued {
		wg.Go(func() { produce(q[0], q[1]) })
	}
	lane := rt.appendLane("t", 0)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := lane.Queued()
		if n == len(queued) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d appends queued, want %d", n, len(queued))
		}
		runtime.Gosched() // polling a condition, bounded by the deadline
	}
	b.open()
	wg.Wait()
	close(results)
	for len(b.arrived) > 0 {
		arrived = append(arrived, <-b.arrived)
	}
	var out []idemResult
	for r := range results {
		out = append(out, r)
	}
	return out, arrived
}

// TestIdempotentAppendsCoalesce proves that idempotent appends coalesce:
// while coalesceInFlight appends to a partition are held at the broker,
// idempotent produces of several producers queue and reach the broker as
// one append of as many runs, each with its own producer and sequence;
// each caller gets its own run's answer: exact offsets, a duplicate's
// original offset, a refused run's error (its neighbours unharmed).
func TestIdempotentAppendsCoalesce(t *testing.T) {
	t.Parallel()
	b, srv := newRunsBroker(t, func(run api.AppendRun) *api.ItemFailure {
		if *run.Sequence == 7 {
			return &api.ItemFailure{Code: logq.EOutOfOrderSequence, Message: "sequence 7 does not follow 0"}
		}
		return nil
	})
	var more []projection.Payload
	for id := int64(1); id <= 8; id++ {
		more = append(more, projection.ProducerRegistered{ProducerID: id, Topic: "t"})
	}
	rt := newTestRouter(t, srv.URL, 1, more...)
	// Producers 3..7 at sequence 0; producer 1 again at 1; producer 2's
	// sequence 0 again (a retry: a duplicate); producer 8 out of order.
	queued := [][2]int{{3, 0}, {4, 0}, {5, 0}, {6, 0}, {7, 0}, {1, 1}, {2, 0}, {8, 7}}
	results, arrived := coalesceIdempotent(t, rt, b, queued)

	if len(arrived) != coalesceInFlight+1 || len(arrived[0]) != 1 || len(arrived[1]) != 1 || len(arrived[2]) != len(queued) {
		var sizes []int
		for _, runs := range arrived {
			sizes = append(sizes, len(runs))
		}
		t.Fatalf("broker appends of %v runs; want [1 1 %d]", sizes, len(queued))
	}
	// The coalesced runs are the queued produces (in their arrival order),
	// and their offsets follow the runs' order.
	want := map[[2]int]int64{} // producer, sequence → offset the broker gave its run
	for k := range coalesceInFlight {
		want[[2]int{k + 1, 0}] = -1 // held: offset 0 or 1
	}
	next := int64(coalesceInFlight)
	for i, run := range arrived[2] {
		if run.ProducerEpoch == nil || run.Sequence == nil || len(run.Messages) != 1 {
			t.Fatalf("run %d is %+v; want one idempotent message", i, run)
		}
		k := [2]int{int(run.Messages[0].ProducerID), int(*run.Sequence)}
		if _, dup := want[k]; dup || k[1] == 7 {
			continue
		}
		want[k] = next
		next++
	}
	if len(want) != len(queued)+coalesceInFlight-2 { // neither the duplicate nor the refused run is a key of its own
		t.Fatalf("runs %+v are not the queued produces %v", arrived[2], queued)
	}
	offsets := map[int64]bool{}
	for _, r := range results {
		k := [2]int{r.producer, r.seq}
		switch {
		case r.seq == 7:
			if logq.ErrorCode(r.err) != logq.EOutOfOrderSequence {
				t.Fatalf("the refused run answered %v %+v; want out_of_order_sequence", r.err, r.ans)
			}
			continue
		case r.err != nil:
			t.Fatalf("producer %d seq %d: %v", r.producer, r.seq, r.err)
		case r.ans.Duplicate:
			continue // checked below
		case want[k] >= 0 && r.ans.Offset != want[k], offsets[r.ans.Offset]:
			t.Fatalf("producer %d seq %d at offset %d; want %d (answered: %v)", r.producer, r.seq, r.ans.Offset, want[k], offsets)
		}
		offsets[r.ans.Offset] = true
	}
	dups := 0
	for _, r := range results {
		if r.ans.Duplicate {
			dups++
			var orig int64 = -1
			for _, o := range results {
				if o.producer == r.producer && o.seq == r.seq && !o.ans.Duplicate {
					orig = o.ans.Offset
				}
			}
			if r.ans.Offset != orig {
				t.Fatalf("the duplicate of producer %d seq %d answered offset %d; the original is at %d", r.producer, r.seq, r.ans.Offset, orig)
			}
		}
	}
	if dups != 1 || len(offsets) != int(next) {
		t.Fatalf("%d duplicates, %d distinct offsets; want 1 and %d", dups, len(offsets), next)
	}
}

// A run answered fenced (the broker's storage epoch moved past this
// manager's view) is sent once more, alone; the runs beside it are not
// resent.
func TestFencedRunResent(t *testing.T) {
	t.Parallel()
	var once sync.Once
	b, srv := newRunsBroker(t, func(run api.AppendRun) *api.ItemFailure {
		var f *api.ItemFailure
		if run.Messages[0].ProducerID == 4 {
			once.Do(func() { f = &api.ItemFailure{Code: logq.EFenced, Message: "partition 0 of t is fenced"} })
		}
		return f
	})
	var more []projection.Payload
	for id := int64(1); id <= 4; id++ {
		more = append(more, projection.ProducerRegistered{ProducerID: id, Topic: "t"})
	}
	rt := newTestRouter(t, srv.URL, 1, more...)
	results, arrived := coalesceIdempotent(t, rt, b, [][2]int{{3, 0}, {4, 0}})
	for _, r := range results {
		if r.err != nil {
			t.Fatalf("producer %d: %v", r.producer, r.err)
		}
	}
	if len(arrived) != coalesceInFlight+2 || len(arrived[2]) != 2 || len(arrived[3]) != 1 || arrived[3][0].Messages[0].ProducerID != 4 {
		t.Fatalf("broker requests %+v; want the fenced run of producer 4 resent alone", arrived)
	}
}

// An idempotent append of coalesceAlone messages or more goes to the
// broker at once, alone: it does not wait behind the appends in flight.
func TestLargeIdempotentAppendGoesAlone(t *testing.T) {
	t.Parallel()
	b, srv := newRunsBroker(t, func(api.AppendRun) *api.ItemFailure { return nil })
	var more []projection.Payload
	for id := int64(1); id <= 3; id++ {
		more = append(more, projection.ProducerRegistered{ProducerID: id, Topic: "t"})
	}
	rt := newTestRouter(t, srv.URL, 1, more...)
	rt.cfg.MaxBatchMessages = coalesceAlone
	rt.cfg.BrokerTimeout = time.Minute // the held appends do not time out and free the lane
	var wg sync.WaitGroup
	defer wg.Wait()
	defer b.open()
	for i := range coalesceInFlight {
		wg.Go(func() {
			body := fmt.Sprintf(`{"producer_id":%d,"message":"m","partition":0,"producer_epoch":0,"sequence":0}`, i+1)
			rt.Produce(httptest.NewRequest("POST", "/producer/produce", strings.NewReader(body)))
		})
		<-b.arrived // one at a time: two started together may go as one
	}
	msgs := strings.TrimSuffix(strings.Repeat(`"x",`, coalesceAlone), ",")
	done := make(chan error, 1)
	go func() {
		_, err := rt.ProduceBatch(httptest.NewRequest("POST", "/producer/produce_batch", strings.NewReader(
			`{"producer_id":3,"partition":0,"producer_epoch":0,"sequence":0,"messages":[`+msgs+`]}`)))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the large append waited behind the held ones")
	}
	if runs := <-b.arrived; len(runs) != 1 || len(runs[0].Messages) != coalesceAlone {
		t.Fatalf("the broker got %d runs; want the large append alone", len(runs))
	}
}

// A broker that refuses the runs form as a whole (400: a broker of an
// older release, during a rollout) gets each run again alone, in the
// single form: every caller still gets its own answer.
func TestRunsRefusedSentAlone(t *testing.T) {
	t.Parallel()
	b, srv := newRunsBroker(t, func(api.AppendRun) *api.ItemFailure { return nil })
	b.noRuns = true
	var more []projection.Payload
	for id := int64(1); id <= 5; id++ {
		more = append(more, projection.ProducerRegistered{ProducerID: id, Topic: "t"})
	}
	rt := newTestRouter(t, srv.URL, 1, more...)
	results, arrived := coalesceIdempotent(t, rt, b, [][2]int{{3, 0}, {4, 0}, {5, 0}})
	seen := map[int64]bool{}
	for _, r := range results {
		if r.err != nil || seen[r.ans.Offset] {
			t.Fatalf("producer %d: %v at %d (seen %v)", r.producer, r.err, r.ans.Offset, seen)
		}
		seen[r.ans.Offset] = true
	}
	if len(arrived) != coalesceInFlight+1+3 || len(arrived[2]) != 3 {
		t.Fatalf("broker requests of %d runs; want the held 2, the refused runs form, then 3 alone", len(arrived))
	}
	for _, runs := range arrived[3:] {
		if len(runs) != 1 {
			t.Fatalf("a run resent with %d others", len(runs)-1)
		}
	}
}
