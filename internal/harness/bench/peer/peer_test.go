package peer

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func body(seq int) []byte { return fmt.Appendf(nil, "m%d:xxxxxxxxxxxxxxxx", seq) }

func index(b []byte) (int, bool) {
	end := 1
	for end < len(b) && b[end] >= '0' && b[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(string(b[1:end]))
	return n, len(b) > 1 && b[0] == 'm' && err == nil
}

// TestWorkloads runs every workload on a small scale and checks that each
// saw all its messages, and that Close removes the server's storage.
func TestWorkloads(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	dir := s.dir
	defer func() {
		s.Close()
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("storage %s left behind: %v", dir, err)
		}
	}()

	top, err := s.CreateTopic(ctx, "bench", 3)
	if err != nil {
		t.Fatal(err)
	}
	acked := make([]int, 3)
	if _, err := s.PublishAsync(ctx, top, 2, 1000, 100, body, acked); err != nil {
		t.Fatal(err)
	}
	if acked[0]+acked[1]+acked[2] != 1000 || acked[0] != 334 {
		t.Fatalf("acknowledged per partition %v, want 1000 in all, 334 on 0", acked)
	}
	cs, err := s.NewConsumers(ctx, top, "c")
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	for _, want := range [][]int{{100, 100, 100}, {234, 233, 233}} {
		if _, err := cs.Fetch(ctx, want, 64); err != nil {
			t.Fatal(err)
		}
	}

	res, err := s.PublishSync(ctx, SyncLoad{Topic: top, Publishers: 4, Messages: 200, Body: body})
	if err != nil || res.Messages != 200 || len(res.Latencies) != 200 {
		t.Fatalf("sync publish: %v, %d messages", err, res.Messages)
	}
	res, err = s.PublishSync(ctx, SyncLoad{Topic: top, Publishers: 4, For: 50 * time.Millisecond, Body: body})
	if err != nil || res.Messages == 0 {
		t.Fatalf("timed sync publish: %v, %d messages", err, res.Messages)
	}

	lt, err := s.CreateTopic(ctx, "latency", 3)
	if err != nil {
		t.Fatal(err)
	}
	lat, err := s.Latency(ctx, lt, 2000, 200, body, index)
	if err != nil {
		t.Fatal(err)
	}
	if len(lat.Publish) != 200 || len(lat.EndToEnd) != 200 || lat.Rate <= 0 {
		t.Fatalf("latency: %d publish, %d end to end, rate %v", len(lat.Publish), len(lat.EndToEnd), lat.Rate)
	}
	for i, d := range lat.EndToEnd {
		if d <= 0 {
			t.Fatalf("message %d: end-to-end latency %v", i, d)
		}
	}
}
