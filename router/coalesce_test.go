package router

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

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
	for range coalesceInFlight {
		wg.Go(produce)
	}
	var sizes []int
	for range coalesceInFlight {
		sizes = append(sizes, <-arrived)
	}
	const queued = 10
	for range queued {
		wg.Go(produce)
	}
	lane := rt.appendLane("t", 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		lane.mu.Lock()
		n := len(lane.queue)
		lane.mu.Unlock()
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
