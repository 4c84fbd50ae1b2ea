package client

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
)

// TestDirectRunsCoalesce proves that the direct idempotent appends of a
// Client's producers coalesce: while directInFlight appends to a partition
// are held at the broker, the next ones queue and reach it as one request
// of as many runs; each caller gets its own run's offset, and a refused
// run fails only its caller.
func TestDirectRunsCoalesce(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	arrived := make(chan api.AppendRequest, 64)
	var mu sync.Mutex
	held, next := 0, int64(0)
	broker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req api.AppendRequest
		if r.URL.Path != "/v1/append" || json.NewDecoder(r.Body).Decode(&req) != nil {
			w.WriteHeader(400)
			return
		}
		arrived <- req
		mu.Lock()
		hold := held < directInFlight
		held++
		mu.Unlock()
		if hold {
			<-release
		}
		mu.Lock()
		defer mu.Unlock()
		if req.Runs == nil {
			json.NewEncoder(w).Encode(api.AppendAnswer{Status: api.StatusSuccess, BaseOffset: next, Count: len(req.Messages)})
			next += int64(len(req.Messages))
			return
		}
		ans := api.AppendAnswer{Status: api.StatusSuccess, Runs: make([]api.AppendRunAnswer, len(req.Runs))}
		for i, run := range req.Runs {
			if *run.Sequence == 7 {
				ans.Runs[i].Error = &api.ItemFailure{Code: logq.EOutOfOrderSequence, Message: "out of order"}
				continue
			}
			ans.Runs[i].BaseOffset, ans.Runs[i].Count = next, len(run.Messages)
			next += int64(len(run.Messages))
		}
		json.NewEncoder(w).Encode(ans)
	}))
	defer broker.Close()
	defer open() // first: a failed test leaves no request held
	c, err := New(Config{Managers: []string{"http://manager.invalid"}, NoEnv: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	type result struct {
		producer int64
		seq      int64
		base     int64
		err      error
	}
	results := make(chan result, 64)
	send := func(producer, seq int64) {
		epoch := int64(0)
		base, err := c.appendRun(t.Context(), broker.URL, "t", 0, api.AppendRun{ProducerEpoch: &epoch, Sequence: &seq,
			Messages: []api.AppendMessage{{ProducerID: producer, Message: "m"}}})
		results <- result{producer, seq, base, err}
	}
	var wg sync.WaitGroup
	for i := range directInFlight {
		wg.Go(func() { send(int64(i+1), 0) })
		<-arrived // one at a time: two started together may go as one
	}
	const queued = 6
	for i := range queued {
		seq := int64(0)
		if i == queued-1 {
			seq = 7 // refused
		}
		wg.Go(func() { send(int64(10+i), seq) })
	}
	lane := c.directLane(directLaneKey{broker.URL, "t", 0})
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
	open()
	wg.Wait()
	close(results)
	if req := <-arrived; len(req.Runs) != queued || len(arrived) != 0 {
		t.Fatalf("the third request carried %d runs (%d more requests); want %d runs", len(req.Runs), len(arrived), queued)
	}
	seen := map[int64]bool{}
	for r := range results {
		if r.seq == 7 {
			var e *Error
			if !errors.Is(r.err, ErrOutOfOrderSequence) || !errors.As(r.err, &e) || e.StatusCode != http.StatusConflict || retryable(r.err) {
				t.Fatalf("the refused run answered %v; want a 409 out_of_order_sequence", r.err)
			}
			continue
		}
		if r.err != nil || seen[r.base] || r.base < 0 || r.base >= directInFlight+queued-1 {
			t.Fatalf("producer %d answered %d, %v (seen %v)", r.producer, r.base, r.err, seen)
		}
		seen[r.base] = true
	}
	if len(seen) != directInFlight+queued-1 {
		t.Fatalf("%d distinct offsets", len(seen))
	}
}

// A part of directAlone records or more goes at once, alone: it does not
// wait behind the appends in flight.
func TestDirectLargePartGoesAlone(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	arrived := make(chan int, 8)
	var mu sync.Mutex
	held := 0
	broker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req api.AppendRequest
		if json.NewDecoder(r.Body).Decode(&req) != nil {
			w.WriteHeader(400)
			return
		}
		arrived <- len(req.Messages)
		mu.Lock()
		hold := held < directInFlight
		held++
		mu.Unlock()
		if hold {
			<-release
		}
		json.NewEncoder(w).Encode(api.AppendAnswer{Status: api.StatusSuccess, Count: len(req.Messages)})
	}))
	defer broker.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer open() // first: no request stays held
	c, err := New(Config{Managers: []string{"http://manager.invalid"}, NoEnv: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	run := func(producer int64, n int) api.AppendRun {
		epoch, seq := int64(0), int64(0)
		msgs := make([]api.AppendMessage, n)
		for i := range msgs {
			msgs[i] = api.AppendMessage{ProducerID: producer, Message: "m"}
		}
		return api.AppendRun{ProducerEpoch: &epoch, Sequence: &seq, Messages: msgs}
	}
	for i := range directInFlight {
		wg.Go(func() { c.appendRun(t.Context(), broker.URL, "t", 0, run(int64(i+1), 1)) })
		<-arrived // one at a time: two started together may go as one
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.appendRun(t.Context(), broker.URL, "t", 0, run(9, directAlone))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the large part waited behind the held ones")
	}
	if n := <-arrived; n != directAlone {
		t.Fatalf("the broker got %d messages; want the large part alone", n)
	}
}

// A broker that refuses the runs form as a whole (400, as one of an older
// release would) gets each run again alone: every producer still gets its
// own answer.
func TestDirectRunsRefusedSentAlone(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	arrived := make(chan int, 64) // runs of each request; 0: the single form
	var mu sync.Mutex
	held, next := 0, int64(0)
	broker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req api.AppendRequest
		if json.NewDecoder(r.Body).Decode(&req) != nil {
			w.WriteHeader(400)
			return
		}
		arrived <- len(req.Runs)
		if req.Runs != nil {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(api.ErrorBody{Status: api.StatusFailure, Code: logq.EInvalid, Message: "messages is required"})
			return
		}
		mu.Lock()
		hold := held < directInFlight
		held++
		mu.Unlock()
		if hold {
			<-release
		}
		mu.Lock()
		defer mu.Unlock()
		json.NewEncoder(w).Encode(api.AppendAnswer{Status: api.StatusSuccess, BaseOffset: next, Count: len(req.Messages)})
		next += int64(len(req.Messages))
	}))
	defer broker.Close()
	defer open()
	c, err := New(Config{Managers: []string{"http://manager.invalid"}, NoEnv: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	offsets := make(chan int64, 16)
	var wg sync.WaitGroup
	send := func(producer int64) {
		epoch, seq := int64(0), int64(0)
		base, err := c.appendRun(t.Context(), broker.URL, "t", 0, api.AppendRun{ProducerEpoch: &epoch, Sequence: &seq,
			Messages: []api.AppendMessage{{ProducerID: producer, Message: "m"}}})
		if err != nil {
			t.Errorf("producer %d: %v", producer, err)
		}
		offsets <- base
	}
	for i := range directInFlight {
		wg.Go(func() { send(int64(i + 1)) })
		<-arrived // one at a time: two started together may go as one
	}
	const queued = 3
	for i := range queued {
		wg.Go(func() { send(int64(10 + i)) })
	}
	lane := c.directLane(directLaneKey{broker.URL, "t", 0})
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
	open()
	wg.Wait()
	close(offsets)
	seen := map[int64]bool{}
	for o := range offsets {
		if seen[o] {
			t.Fatalf("offset %d answered twice", o)
		}
		seen[o] = true
	}
	if first := <-arrived; first != queued || len(arrived) != queued {
		t.Fatalf("a request of %d runs, then %d more; want %d runs refused, then each alone", first, len(arrived), queued)
	}
}
