package router

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/projection"
)

// scriptedBroker is a stand-in for a broker that answers /v1/append from a
// script, to provoke answers a real broker gives only in races (fenced).
type scriptedBroker struct {
	srv *httptest.Server

	mu      sync.Mutex
	answers []int    // status of each successive append; 200 once exhausted
	minSeqs []string // X-Logq-Min-Seq of each append
}

func newScriptedBroker(t *testing.T, answers ...int) *scriptedBroker {
	b := &scriptedBroker{answers: answers}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/append" {
			http.NotFound(w, r)
			return
		}
		b.mu.Lock()
		b.minSeqs = append(b.minSeqs, r.Header.Get(api.HeaderMinSeq))
		status := http.StatusOK
		if len(b.answers) > 0 {
			status, b.answers = b.answers[0], b.answers[1:]
		}
		b.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status != http.StatusOK {
			json.NewEncoder(w).Encode(map[string]string{"status": "failure", "code": "fenced", "message": "partition moved"})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"status": "success", "base_offset": 7, "count": 1})
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *scriptedBroker) calls() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.minSeqs...)
}

// TestFencedAnswerIsRetriedOnce: a broker's 409 fenced makes the router
// refresh (bounded wait for a newer event) and retry once; a second fenced
// answer goes back to the client. Every request carries the applied seq in
// X-Logq-Min-Seq.
func TestFencedAnswerIsRetriedOnce(t *testing.T) {
	t.Parallel()
	sb := newScriptedBroker(t, http.StatusConflict, http.StatusConflict, http.StatusConflict)
	rt := newTestRouter(t, sb.srv.URL, 1, projection.ProducerRegistered{ProducerID: 1, Topic: "t"})
	var seq int64
	rt.cfg.State.View(func(s *projection.State) { seq = s.Seq })
	produce := func() (any, error) {
		return rt.Produce(httptest.NewRequest("POST", "/producer/produce", strings.NewReader(`{"producer_id":1,"message":"m"}`)))
	}

	// Fenced twice: the client gets the second answer.
	if _, err := produce(); logq.ErrorCode(err) != logq.EFenced {
		t.Fatalf("twice fenced: %v", err)
	}
	// Fenced once: the retry succeeds.
	ans, err := produce()
	if pa, ok := ans.(api.ProduceAnswer); err != nil || !ok || pa.Offset != 7 || pa.Partition != 0 {
		t.Fatalf("retried produce: %+v %v", ans, err)
	}
	calls := sb.calls()
	if len(calls) != 4 {
		t.Fatalf("broker saw %d appends, want 4", len(calls))
	}
	for i, c := range calls {
		if c != strconv.FormatInt(seq, 10) {
			t.Fatalf("append %d carried %s %q, want %d", i, api.HeaderMinSeq, c, seq)
		}
	}
}
