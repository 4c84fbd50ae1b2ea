package devclustertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// Client is an HTTP client without kept connections: nothing lingers for
// goleak when the cluster stops.
var Client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// Call sends a request with a JSON body (nil: none), checks the answer is
// a success and decodes it into a map.
func Call(t testing.TB, method, url string, body any) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != http.StatusOK || out["status"] != "success" {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	return out
}

// Num is a JSON number from a Call answer, as an int64.
func Num(t testing.TB, v any) int64 {
	t.Helper()
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("%v is not a number", v)
	}
	return int64(f)
}

// Traffic is what SendTraffic sent through the cluster.
type Traffic struct {
	Topic     string
	Produced  int
	Consumer  int64 // consumer of the whole topic, consumed some
	Consumed  int
	Consumer2 int64 // consumer of partition 0 only, consumed nothing
	Producer  int64
	Seq       int64 // seq of the last write
}

// SendTraffic creates a topic of 3 partitions through the manager at mgr,
// produces n messages round robin (one request each), consumes k of them
// with one consumer and registers a second consumer for partition 0.
func SendTraffic(t testing.TB, mgr, topic string, n, k int) Traffic {
	t.Helper()
	tr := Traffic{Topic: topic, Produced: n, Consumed: k}
	Call(t, "POST", mgr+"/topics", map[string]any{"topic_name": topic, "partitions": 3})
	tr.Producer = Num(t, Call(t, "POST", mgr+"/producer/register", map[string]any{"topic": topic})["producer_id"])
	for i := range n {
		Call(t, "POST", mgr+"/producer/produce", map[string]any{"topic": topic, "producer_id": tr.Producer, "message": fmt.Sprintf("m-%d", i)})
	}
	tr.Consumer = Num(t, Call(t, "POST", mgr+"/consumer/register", map[string]any{"topic": topic})["consumer_id"])
	for range k {
		ans := Call(t, "GET", fmt.Sprintf("%s/consumer/consume?topic=%s&consumer_id=%d", mgr, topic, tr.Consumer), nil)
		if ans["message"] == nil {
			t.Fatalf("consume: no message: %v", ans)
		}
	}
	ans := Call(t, "POST", mgr+"/consumer/register", map[string]any{"topic": topic, "partition": 0})
	tr.Consumer2, tr.Seq = Num(t, ans["consumer_id"]), Num(t, ans["seq"])
	return tr
}

// Eventually retries check (which reports what is still wrong, "" when
// all is well) until it passes or the deadline; no sleeping, a ticker.
func Eventually(t testing.TB, timeout time.Duration, check func() string) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		msg := check()
		if msg == "" {
			return
		}
		select {
		case <-deadline.C:
			t.Fatalf("after %v: %s", timeout, msg)
		case <-tick.C:
		}
	}
}
