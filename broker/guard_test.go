package broker

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBrowserSafety: the broker refuses a cross-site append and a rebound
// Host with 403 (nothing stored) and serves the same append as curl sends it.
func TestBrowserSafety(t *testing.T) {
	t.Parallel()
	b, _, _ := oneBroker(t, 1, Config{})
	body := appendBody("orders", 0, 5, "forged")
	for _, h := range [][]string{
		{"Origin", "http://evil.example"},
		{"Sec-Fetch-Site", "cross-site"},
	} {
		status, out := b.do("POST", "/v1/append", body, h...)
		if status != http.StatusForbidden || out["code"] != "forbidden" || out["status"] != "failure" {
			t.Errorf("append with %v: %d %v, want 403 forbidden", h, status, out)
		}
	}
	req, _ := http.NewRequest("POST", b.url+"/v1/append", strings.NewReader(`{"topic":"orders","partition":0,"producer_id":5,"message":"rebound"}`))
	req.Host = "attacker.example"
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("append with Host attacker.example: %d, want 403", resp.StatusCode)
	}
	if got, _ := b.consumeHTTP("orders", 0, 1, 10); len(got) != 0 {
		t.Fatalf("refused appends stored %q", got)
	}
	if base := b.appendHTTP("orders", 0, 5, "real"); base != 0 {
		t.Fatalf("curl-style append: base %d, want 0", base)
	}
	status, out := b.do("POST", "/v1/append", appendBody("orders", 0, 5, "same-origin"), "Origin", b.url)
	if status != http.StatusOK {
		t.Fatalf("same-origin append: %d %v", status, out)
	}
}

// TestRequestLimit: long-poll consumes fill MaxRequests; the next request
// gets 503 with Retry-After and /healthz still answers.
func TestRequestLimit(t *testing.T) {
	t.Parallel()
	b, _, _ := oneBroker(t, 1, Config{MaxRequests: 2})
	ctx, stop := context.WithCancel(context.Background())
	polls := make(chan int, 2) // a poll's status (0: transport error)
	poll := func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", b.url+"/v1/consume",
			strings.NewReader(`{"topic":"orders","partition":0,"consumer_id":1,"wait_ms":30000}`))
		resp, err := b.client.Do(req)
		if err != nil {
			polls <- 0
			return
		}
		resp.Body.Close()
		polls <- resp.StatusCode
	}
	for range 2 {
		go poll()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := b.client.Get(b.url + "/v1/partitions")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
			break
		}
		select {
		case status := <-polls:
			if status != http.StatusOK && status != http.StatusServiceUnavailable {
				t.Fatalf("a long poll ended with %d", status)
			}
			go poll() // ended early, or came while a probe held a slot: again
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 503 with two long polls and MaxRequests 2 (last %d)", resp.StatusCode)
		}
	}
	if status, out := b.do("GET", "/healthz", nil); status != http.StatusOK {
		t.Fatalf("/healthz at the limit: %d %v", status, out)
	}
	stop()
	for range 2 {
		<-polls
	}
}
