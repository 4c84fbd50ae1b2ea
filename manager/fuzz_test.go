package manager

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/internal/httpfuzz"
	"github.com/logq/logq/projection"
)

// Fuzz targets for hostile input (seed corpora in testdata/fuzz/):
//
//	go test ./manager -run '^$' -fuzz '^FuzzHandlers$' -fuzztime 30s

// fuzzManager is a manager without a database: a reader whose state names
// itself as the writer (so control-plane writes are refused with 503
// not_writer at once), with topic t (3 partitions) on a fake broker,
// producers 1 (topic t) and 2 (partition 1) and consumers 1 and 2.
func fuzzManager(t testing.TB, brokerURL string) *Manager {
	cfg := Config{DSN: "postgres://fuzz.invalid/x", AdvertiseURL: "http://fuzz-manager.invalid", Role: RoleRead,
		MinSeqWait: time.Millisecond, BrokerTimeout: time.Second, MaxBodyBytes: 1 << 16,
		MaxMessageBytes: 1 << 10, MaxBatchMessages: 100, Logger: zerolog.Nop(),
		AllowedHosts: []string{"example.com"}, // httptest.NewRequest's Host
	}.withDefaults()
	m := newManager(cfg, zerolog.Nop())
	m.newReplica(nil) // never started: the events below are applied by hand
	one := 1
	events := []projection.Payload{
		projection.WriterElected{Manager: cfg.AdvertiseURL, Epoch: 1},
		projection.BrokerRegistered{BrokerID: 1, Address: strings.TrimPrefix(brokerURL, "http://")},
		projection.TopicCreated{Topic: "t", Partitions: 3},
		projection.PartitionAssigned{Topic: "t", Partition: 0, BrokerID: 1, Epoch: 1},
		projection.PartitionAssigned{Topic: "t", Partition: 1, BrokerID: 1, Epoch: 1},
		projection.PartitionAssigned{Topic: "t", Partition: 2, BrokerID: 1, Epoch: 1},
		projection.ProducerRegistered{ProducerID: 1, Topic: "t"},
		projection.ProducerRegistered{ProducerID: 2, Topic: "t", Partition: &one},
		projection.ConsumerRegistered{ConsumerID: 1, Topic: "t"},
		projection.ConsumerRegistered{ConsumerID: 2, Topic: "t", Partition: &one},
	}
	for i, p := range events {
		e := projection.NewEvent(p)
		e.Seq = int64(i + 1)
		if err := m.replica.Apply([]logq.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// fakeBroker answers the broker API: appends succeed (and are counted),
// consumes find nothing, sizes are 0.
type fakeBroker struct {
	appended atomic.Int64
}

func (fb *fakeBroker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/v1/append":
		var req api.AppendRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
			w.WriteHeader(400)
			io.WriteString(w, `{"status":"failure","code":"invalid","message":"bad append"}`)
			return
		}
		fb.appended.Add(int64(len(req.Messages)))
		json.NewEncoder(w).Encode(map[string]any{"status": "success", "base_offset": 0, "count": len(req.Messages)})
	case "/v1/consume":
		io.WriteString(w, `{"status":"success","messages":[]}`)
	case "/v1/size":
		io.WriteString(w, `{"status":"success","size":0}`)
	case "/v1/partitions":
		io.WriteString(w, `{"status":"success","partitions":[]}`)
	default:
		w.WriteHeader(404)
		io.WriteString(w, `{"status":"failure","code":"not_found","message":"no route"}`)
	}
}

// Every route but GET /events (which reads the database).
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/producer/produce"}, {"POST", "/producer/produce_batch"},
	{"GET", "/consumer/consume"}, {"POST", "/consumer/consume"},
	{"GET", "/consumer/consume_batch"}, {"POST", "/consumer/consume_batch"}, {"GET", "/size"},
	{"POST", "/topics"}, {"POST", "/producer/register"}, {"POST", "/consumer/register"},
	{"POST", "/brokers"}, {"POST", "/brokers/1/heartbeat"}, {"POST", "/brokers/x/heartbeat"},
	{"GET", "/topics"}, {"GET", "/topics/t"}, {"GET", "/topics/nope"}, {"GET", "/brokers"},
	{"GET", "/producers"}, {"GET", "/consumers"}, {"GET", "/state"}, {"GET", "/healthz"}, {"GET", "/metrics"},
	{"DELETE", "/topics"}, {"GET", "/no/such/route"}, {"PUT", "/producer/produce"},
}

// FuzzHandlers sends any parameters to every route of a manager (no
// database; a fake broker): every answer is a documented status with a
// JSON failure body when it fails, and a produce that fails appended
// nothing — no half-applied batch.
func FuzzHandlers(f *testing.F) {
	f.Add(uint8(0), "", uint8(1), []byte(`{"producer_id":1,"message":"hello","key":"k"}`))
	f.Add(uint8(1), "", uint8(1), []byte(`{"producer_id":1,"messages":["a",{"message":"b","partition":2},{"message":"c","key":"k"}]}`))
	f.Add(uint8(1), "", uint8(1), []byte(`{"producer_id":2,"messages":["a",{"message":"b","partition":2}]}`))
	f.Add(uint8(1), "", uint8(1), []byte(`{"producer_id":1,"messages":["a",{"message":"b","partition":7}]}`))
	f.Add(uint8(1), "", uint8(1), []byte(`{"producer_id":1,"messages":["a","b\u0000"]}`))
	f.Add(uint8(4), "consumer_id=1&max=5&wait_ms=10", uint8(0), []byte(nil))
	f.Add(uint8(2), "topic=t&consumer_id=2&min_seq=3", uint8(0), []byte(nil))
	f.Add(uint8(6), "consumer_id=1", uint8(0), []byte(nil))
	f.Add(uint8(7), "", uint8(2), []byte(`topic_name=x&partitions=2`))
	f.Add(uint8(11), "", uint8(1), []byte(`{"address":"127.0.0.1:9"}`))
	f.Add(uint8(0), "", uint8(2), []byte(`producer_id=1&message=%FF`))
	fb := &fakeBroker{}
	broker := httptest.NewServer(fb)
	f.Cleanup(broker.Close)
	m := fuzzManager(f, broker.URL)
	f.Cleanup(m.peers.CloseIdleConnections)
	f.Fuzz(func(t *testing.T, route uint8, query string, ct uint8, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		r := httpfuzz.Request(rt.method, rt.path, query, httpfuzz.ContentType(ct), body)
		// Long polls end with the context: the answer is then a success
		// with what was found, or 503.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		before := fb.appended.Load()
		rec := httptest.NewRecorder()
		m.handler.ServeHTTP(rec, r.WithContext(ctx))
		switch rec.Code {
		case 200, 400, 404, 405, 409, 413, 503:
		default:
			t.Fatalf("%s %s?%s: status %d: %s", rt.method, rt.path, query, rec.Code, rec.Body)
		}
		if rec.Code == 200 {
			return
		}
		var ans struct{ Status, Code, Message string }
		if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil || ans.Status != "failure" || ans.Code == "" || ans.Message == "" {
			t.Fatalf("%s %s: %d with body %q: want a JSON failure", rt.method, rt.path, rec.Code, rec.Body)
		}
		if rec.Code < 500 && fb.appended.Load() != before {
			t.Fatalf("%s %s answered %d %s but appended %d messages", rt.method, rt.path, rec.Code, ans.Message, fb.appended.Load()-before)
		}
	})
}
