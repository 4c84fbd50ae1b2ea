package broker

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logq/logq"
	"github.com/logq/logq/internal/httpfuzz"
	"github.com/logq/logq/projection"
)

// Fuzz targets for hostile input (seed corpora in testdata/fuzz/):
//
//	go test ./broker -run '^$' -fuzz '^FuzzDecodeAppend$' -fuzztime 30s
//	go test ./broker -run '^$' -fuzz '^FuzzHandler$' -fuzztime 30s

// FuzzDecodeAppend feeds the append decoders any query string, content type
// and body. Each either decodes or returns a 400/413 error — never a panic
// or an internal error — and the fast path (one struct decode) and the
// lenient path (query, form, aliases) agree whenever both accept.
func FuzzDecodeAppend(f *testing.F) {
	f.Add("", uint8(1), []byte(`{"topic":"t","partition":0,"messages":[{"producer_id":1,"message":"a"}]}`))
	f.Add("", uint8(1), []byte(`{"topic":"t","partition":2,"messages":[{"producer_id":1,"key":"k","message":"a"},{"producer_id":2,"message":"b"}]}`))
	f.Add("topic=t&partition=1", uint8(0), []byte(`{"producer_id":"7","message":"x","key":null}`))
	f.Add("", uint8(2), []byte(`topic=t&partition_id=3&producer_id=1&message=hello`))
	f.Add("", uint8(1), []byte(`{"topic":"t","partition":0,"messages":[{"producer_id":1,"message":"a\u0000"}]}`))
	f.Add("", uint8(1), []byte(`{"topic":"t","Topic":"u","partition":0,"messages":[{"producer_id":1,"message":"a"}]}`))
	f.Add("", uint8(1), []byte("{\"topic\":\"t\",\"partition\":0,\"messages\":[{\"producer_id\":1,\"message\":\"\xff\"}]}"))
	f.Add("", uint8(1), []byte(`[[[[[[[[[[`))
	f.Add("", uint8(1), []byte(`{"topic":"t","partition":1e3,"messages":null,"message":"m","producer_id":1}`))
	const maxBody, maxMessage = 1 << 16, 64
	f.Fuzz(func(t *testing.T, query string, ct uint8, body []byte) {
		r := httpfuzz.Request(http.MethodPost, "/v1/append", query, httpfuzz.ContentType(ct), body)
		q, err := readRequest(httptest.NewRecorder(), r, maxBody)
		if err != nil {
			if !httpfuzz.ClientError(err) {
				t.Fatalf("readRequest: %v (code %s)", err, logq.ErrorCode(err))
			}
			return
		}
		ftopic, fpart, fmsgs, fok := fastAppend(q)
		var ferr error
		if fok {
			ferr = checkAppend(ftopic, fpart, fmsgs, maxMessage)
			if !httpfuzz.ClientError(ferr) {
				t.Fatalf("checkAppend: %v", ferr)
			}
		}
		p, lerr := q.params()
		var (
			ltopic string
			lpart  int
			lmsgs  []message
		)
		if lerr == nil {
			ltopic, lpart, lerr = p.topicPartition()
		}
		if lerr == nil {
			lmsgs, lerr = p.appendMessages(maxMessage)
		}
		if !httpfuzz.ClientError(lerr) {
			t.Fatalf("lenient decode: %v (code %s)", lerr, logq.ErrorCode(lerr))
		}
		if lerr == nil {
			if ltopic == "" || lpart < 0 || lpart >= projection.MaxPartitions || len(lmsgs) == 0 {
				t.Fatalf("accepted %q/%d with %d messages", ltopic, lpart, len(lmsgs))
			}
			for _, m := range lmsgs {
				if err := checkMessage(m, maxMessage); err != nil || m.ProducerID < 1 {
					t.Fatalf("accepted a bad message %+v: %v", m, err)
				}
			}
		}
		// The fast path decodes into a struct, which matches keys without
		// regard to case ("Topic" is topic); the lenient path matches them
		// exactly. Bodies with such keys are out of the comparison.
		if fok && ferr == nil && lerr == nil && !foldedKeys(q.body) {
			if ftopic != ltopic || fpart != lpart || !reflect.DeepEqual(fmsgs, lmsgs) {
				t.Fatalf("the fast and lenient decoders disagree:\nfast    %q/%d %+v\nlenient %q/%d %+v", ftopic, fpart, fmsgs, ltopic, lpart, lmsgs)
			}
		}
	})
}

// foldedKeys reports whether a JSON body has an object key that matches
// one of the append's field names only when case is ignored.
func foldedKeys(body []byte) bool {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return false
	}
	names := []string{"topic", "partition", "messages", "producer_id", "key", "message"}
	var walk func(v any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				for _, n := range names {
					if k != n && strings.EqualFold(k, n) {
						return true
					}
				}
				if walk(x) {
					return true
				}
			}
		case []any:
			for _, x := range v {
				if walk(x) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

// fuzzBroker is a broker without storage: every request is decoded and
// checked as usual, and whatever needs a partition ends in 503 (not
// registered) — which is all the HTTP layer needs to be fuzzed.
func fuzzBroker() *Broker {
	cfg := Config{DSN: "postgres://fuzz.invalid/x", ID: 0, Managers: []string{"http://fuzz.invalid"},
		MinSeqWait: time.Millisecond, MaxRequestBytes: 1 << 16, MaxMessageBytes: 1 << 10, MaxAppendMessages: 100}.WithDefaults()
	b := &Broker{
		cfg:           cfg,
		log:           zerolog.Nop(),
		metrics:       newMetrics(),
		parts:         map[partKey]*partition{},
		refused:       map[partKey]int64{},
		reconcileCh:   make(chan struct{}, 1),
		closing:       make(chan struct{}),
		heartbeatDone: make(chan struct{}),
	}
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
			r.Header.Set(MinSeqHeader, minSeq)
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
