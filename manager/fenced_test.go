package manager

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logq/logq/internal/pgtest"
)

// scriptedBroker is a stand-in for a broker that answers /v1/append from a
// script, to provoke answers a real broker gives only in races (fenced).
// Everything else in this package's tests uses real brokers.
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
		b.minSeqs = append(b.minSeqs, r.Header.Get(HeaderMinSeq))
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

// TestFencedAnswerIsRetriedOnce: a broker's 409 fenced makes the manager
// refresh (bounded wait for a newer event) and retry once; a second fenced
// answer goes back to the client. Every request carries the manager's
// applied seq in X-Logq-Min-Seq.
func TestFencedAnswerIsRetriedOnce(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	w := startManager(t, Config{Role: RoleWrite, DSN: dsn, MinSeqWait: 100 * time.Millisecond})
	waitWriter(t, w)
	sb := newScriptedBroker(t, http.StatusConflict, http.StatusConflict, http.StatusConflict)
	a := newAPI(t)
	a.ok("POST", w.url+"/brokers", map[string]any{"address": strings.TrimPrefix(sb.srv.URL, "http://")})
	pid := a.ok("POST", w.url+"/producer/register", map[string]any{"topic": "t"}).int("producer_id")
	seq := strconv.FormatInt(w.AppliedSeq(), 10)

	// Fenced twice: the client gets the second answer.
	ans := a.do("POST", w.url+"/producer/produce", map[string]any{"producer_id": pid, "message": "m"})
	if ans.status != http.StatusConflict || ans.str("code") != "fenced" {
		t.Fatalf("twice fenced: %d %s", ans.status, ans.raw)
	}
	// Fenced once: the retry succeeds.
	ans = a.ok("POST", w.url+"/producer/produce", map[string]any{"producer_id": pid, "message": "m"})
	if ans.int("offset") != 7 || ans.int("partition") != 0 {
		t.Fatalf("retried produce: %s", ans.raw)
	}
	calls := sb.calls()
	if len(calls) != 4 {
		t.Fatalf("broker saw %d appends, want 4", len(calls))
	}
	for i, c := range calls {
		if c != seq {
			t.Fatalf("append %d carried %s %q, want %s", i, HeaderMinSeq, c, seq)
		}
	}
}
