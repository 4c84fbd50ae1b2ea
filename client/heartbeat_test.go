package client_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/logq/logq/client"
)

// TestIdleHeartbeats: an idle producer and consumer heartbeat on their own
// (to /producers/{id}/heartbeat and /consumers/{id}/heartbeat); one with a
// negative interval never does; Close stops them, and the Client's Close
// stops those never closed (goleak, in TestMain, checks that nothing is
// left running).
func TestIdleHeartbeats(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		once  sync.Once
		beats = map[string]int{}
	)
	enough := make(chan struct{})
	s := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			failure(w, "invalid", "unexpected "+r.Method+" "+r.URL.Path)
			return
		}
		mu.Lock()
		beats[r.URL.Path]++
		if beats["/producers/7/heartbeat"] >= 3 && beats["/consumers/8/heartbeat"] >= 3 {
			once.Do(func() { close(enough) })
		}
		mu.Unlock()
		writeJSON(w, 200, map[string]any{"status": "success", "active": true, "seq": 1})
	})
	c := newClient(t, client.Config{Managers: []string{s.URL}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := c.NewProducer(ctx, "t", client.ProducerConfig{ID: 7, HeartbeatInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := c.NewConsumer(ctx, "t", client.ConsumerConfig{ID: 8, HeartbeatInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	silent, err := c.NewConsumer(ctx, "t", client.ConsumerConfig{ID: 9, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	// Never closed: the Client's Close (at cleanup) stops it.
	if _, err := c.NewConsumer(ctx, "t", client.ConsumerConfig{ID: 10, HeartbeatInterval: 5 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-enough:
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("heartbeats seen: %v", beats)
	}
	p.Close()
	cons.Close()
	silent.Close()
	cons.Close() // twice is fine
	mu.Lock()
	defer mu.Unlock()
	if n := beats["/consumers/9/heartbeat"]; n != 0 {
		t.Fatalf("a consumer with heartbeats disabled sent %d", n)
	}
	for path := range beats {
		if path != "/producers/7/heartbeat" && path != "/consumers/8/heartbeat" && path != "/consumers/10/heartbeat" {
			t.Fatalf("unexpected request to %s", path)
		}
	}
}
