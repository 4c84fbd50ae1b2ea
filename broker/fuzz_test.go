package broker

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logq/logq/api"
	"github.com/logq/logq/internal/httpfuzz"
)

// Fuzz targets for hostile input (seed corpora in testdata/fuzz/):
//
//	go test ./broker -run '^$' -fuzz '^FuzzHandler$' -fuzztime 30s

// fuzzBroker is a broker without storage: every request is decoded and
// checked as usual, and whatever needs a partition ends in 503 (not
// registered) — which is all the HTTP layer needs to be fuzzed.
func fuzzBroker() *Broker {
	cfg := Config{DSN: "postgres://fuzz.invalid/x", ID: 0, Managers: []string{"http://fuzz.invalid"},
		MinSeqWait: time.Millisecond, MaxRequestBytes: 1 << 16, MaxMessageBytes: 1 << 10, MaxAppendMessages: 100}.WithDefaults()
	b := newBroker(cfg, zerolog.Nop())
	b.newReplica(nil) // never started: the state stays empty
	return b
}

var fuzzPaths = []string{"/v1/append", "/v1/consume", "/v1/read", "/v1/size", "/v1/partitions", "/healthz", "/metrics", "/", "/v1/nope"}
var fuzzMethods = []string{http.MethodPost, http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodHead}

// FuzzHandler sends any request to the broker's HTTP API: every answer is
// one of the documented statuses, and every failure a JSON body with a
// code and a message.
func FuzzHandler(f *testing.F) {
	f.Add(uint8(0), uint8(0), "", "", uint8(1), []byte(`{"topic":"t","partition":0,"messages":[{"producer_id":1,"message":"a"}]}`))
	f.Add(uint8(1), uint8(1), "topic=t&partition=0&consumer_id=1&max=5&wait_ms=0", "", uint8(0), []byte(nil))
	f.Add(uint8(1), uint8(2), "topic=t&partition=0&offset=-1", "", uint8(0), []byte(nil))
	f.Add(uint8(1), uint8(3), "topic=t&partition=x&consumer_id=1", "12", uint8(0), []byte(nil))
	f.Add(uint8(0), uint8(0), "", "-1", uint8(2), []byte("topic=t&partition=0&producer_id=1&message=%00"))
	f.Add(uint8(2), uint8(5), "", "", uint8(3), []byte("hello"))
	b := fuzzBroker()
	h := newServer(b).handler()
	f.Fuzz(func(t *testing.T, method, path uint8, query, minSeq string, ct uint8, body []byte) {
		r := httpfuzz.Request(fuzzMethods[int(method)%len(fuzzMethods)], fuzzPaths[int(path)%len(fuzzPaths)], query,
			httpfuzz.ContentType(ct), body)
		if minSeq != "" {
			r.Header.Set(api.HeaderMinSeq, minSeq)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r.WithContext(ctx))
		switch rec.Code {
		case 200, 400, 404, 405, 409, 413, 503:
		default:
			t.Fatalf("%s %s?%s: status %d: %s", r.Method, r.URL.Path, query, rec.Code, rec.Body)
		}
		if rec.Code == 200 || r.Method == http.MethodHead {
			return
		}
		var ans struct{ Status, Code, Message string }
		if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil || ans.Status != "failure" || ans.Code == "" || ans.Message == "" {
			t.Fatalf("%s %s: %d with body %q: want a JSON failure", r.Method, r.URL.Path, rec.Code, rec.Body)
		}
	})
}
