package router

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logq/logq/api"
	"github.com/logq/logq/projection"
)

// hungBroker is a stand-in broker that serves consume and fetch for every
// partition but one, whose requests hang (a SIGSTOPped broker): they
// answer only when the caller gives up.
type hungBroker struct {
	srv  *httptest.Server
	hung int

	mu        sync.Mutex
	deadlines []int64 // deadline_ms of the healthy partitions' consumes
	hungSeen  int     // consumes of the hung partition
}

func newHungBroker(t *testing.T, hung int) *hungBroker {
	b := &hungBroker{hung: hung}
	release := make(chan struct{})
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var partition int
		switch r.URL.Path {
		case "/v1/consume":
			var req api.BrokerConsumeRequest
			body, _ := io.ReadAll(r.Body)
			json.Unmarshal(body, &req)
			partition = req.Partition
			b.mu.Lock()
			if partition == b.hung {
				b.hungSeen++
			} else {
				b.deadlines = append(b.deadlines, req.DeadlineMS)
			}
			b.mu.Unlock()
		case "/v1/size":
			partition, _ = strconv.Atoi(r.URL.Query().Get("partition"))
			if partition != b.hung {
				w.Header().Set("Content-Type", "application/json")
				json.NewEncoder(w).Encode(api.BrokerSizeAnswer{Status: "success", Topic: "t", Partition: partition, Size: 1, HighWatermark: 4, Position: 3})
				return
			}
		case "/v1/fetch":
			partition, _ = strconv.Atoi(r.URL.Query().Get("partition"))
		default:
			http.NotFound(w, r)
			return
		}
		if partition == b.hung {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		hw := int64(10)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(api.MessagesAnswer{Status: "success", Topic: "t", Partition: partition, HighWatermark: &hw,
			Messages: []api.StoredMessage{{Offset: 3, Message: "p" + strconv.Itoa(partition), Timestamp: 1000}}})
	}))
	t.Cleanup(b.srv.Close)
	t.Cleanup(func() { close(release) })
	return b
}

// A whole-topic consume asks the partitions concurrently: a hung broker's
// partition is skipped (named in the answer) after PartitionTimeout, its
// broker sent nothing that could move its position, and the healthy
// partitions' records are answered, their consumes carrying a deadline
// after which a broker must not move anything.
func TestWholeTopicConsumeSkipsHungPartition(t *testing.T) {
	t.Parallel()
	hb := newHungBroker(t, 1)
	rt := newTestRouter(t, hb.srv.URL, 3, projection.ConsumerRegistered{ConsumerID: 1, Topic: "t"})
	rt.cfg.PartitionTimeout = 200 * time.Millisecond
	start := time.Now()
	ans, err := rt.ConsumeBatch(httptest.NewRequest("GET", "/consumer/consume_batch?consumer_id=1&max=9", nil))
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	cb := decodeBatch(t, ans)
	var got []string
	for _, m := range cb.Messages {
		got = append(got, m.Message)
	}
	if strings.Join(got, ",") != "p0,p2" && strings.Join(got, ",") != "p2,p0" || len(cb.Skipped) != 1 || cb.Skipped[0] != 1 {
		t.Fatalf("consume_batch = %+v", cb)
	}
	if took > rt.cfg.BrokerTimeout {
		t.Fatalf("the consume took %v", took)
	}
	if p := rt.Paths(); p.Decoded != 2 || p.PassedThrough != 0 {
		t.Fatalf("paths %+v: the stand-in broker does not know shape=batch, so its two answers are decoded", p)
	}
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.hungSeen != 0 {
		t.Fatalf("the hung partition was sent %d consumes", hb.hungSeen)
	}
	if len(hb.deadlines) != 2 || hb.deadlines[0] <= start.UnixMilli() || hb.deadlines[0] > start.Add(rt.cfg.BrokerTimeout+time.Second).UnixMilli() {
		t.Fatalf("the healthy partitions' consumes carried deadlines %v (start %d)", hb.deadlines, start.UnixMilli())
	}
}

// A whole-topic fetch answers the healthy partitions' records and names
// the hung one with its error, its next offset unchanged.
func TestFetchSkipsHungPartition(t *testing.T) {
	t.Parallel()
	hb := newHungBroker(t, 1)
	rt := newTestRouter(t, hb.srv.URL, 3)
	rt.cfg.PartitionTimeout = 200 * time.Millisecond
	ans, err := rt.Fetch(httptest.NewRequest("GET", "/consumer/fetch?topic=t&offsets=0:3,1:5,2:3", nil))
	if err != nil {
		t.Fatal(err)
	}
	var fa api.FetchAnswer
	if err := api.Unmarshal(ans.(api.Encoded).Bytes(), &fa); err != nil {
		t.Fatal(err)
	}
	if len(fa.Messages) != 2 || fa.Messages[0].Message != "p0" || fa.Messages[1].Message != "p2" || fa.Messages[1].Timestamp != 1000 {
		t.Fatalf("fetch messages %+v", fa.Messages)
	}
	if len(fa.Partitions) != 3 || fa.Partitions[0].NextOffset != 4 || fa.Partitions[0].HighWatermark != 10 ||
		fa.Partitions[1].Error == nil || fa.Partitions[1].NextOffset != 5 || fa.Partitions[2].Error != nil {
		t.Fatalf("fetch partitions %+v", fa.Partitions)
	}
	// One partition that does not answer is that partition's error.
	if _, err := rt.Fetch(httptest.NewRequest("GET", "/consumer/fetch?topic=t&partition=1&offset=0", nil)); err == nil {
		t.Fatal("fetch of the hung partition alone succeeded")
	}
	// Bad input: 400 before any broker is asked.
	for _, q := range []string{"topic=t", "topic=t&partition=0", "topic=t&offset=1", "topic=t&partition=0&offset=0&offsets=1:0",
		"topic=t&offsets=0:x", "topic=t&offsets=0:1,0:2", "topic=t&offsets=7:0", "topic=nope&offsets=0:0", "topic=t&partition=0&offset=0&encoding=hex"} {
		if _, err := rt.Fetch(httptest.NewRequest("GET", "/consumer/fetch?"+q, nil)); err == nil {
			t.Errorf("fetch?%s succeeded", q)
		}
	}
}
