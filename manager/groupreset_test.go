package manager

import (
	"fmt"
	"testing"

	"github.com/logq/logq"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

// TestGroupResetOffsetsFromBrokers: the default offset resolver asks the
// brokers (GET /v1/offsets through the router), so reset-offsets to
// earliest, latest and a datetime work over HTTP: earliest is the log
// start, latest the high watermark, a datetime the first record at or
// after it (the high watermark when none is that late).
func TestGroupResetOffsetsFromBrokers(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	w := startManager(t, Config{Role: RoleWrite, DSN: dsn})
	waitWriter(t, w)
	startBroker(t, dsn, w.url)
	waitState(t, w, "a live broker", func(s *projection.State) bool { return len(s.LiveBrokers()) == 1 })
	a := newAPI(t)
	a.ok("POST", w.url+"/topics", map[string]any{"topic_name": "orders", "partitions": 2})
	pid := a.ok("POST", w.url+"/producer/register", map[string]any{"topic": "orders"}).int("producer_id")
	// Partition 0: records at 1000, 2000, …, 5000 ms; partition 1: two at 3000 ms.
	for i := range 5 {
		a.ok("POST", w.url+"/producer/produce", map[string]any{"producer_id": pid, "message": fmt.Sprint(i), "partition": 0, "timestamp": (i + 1) * 1000})
	}
	for i := range 2 {
		a.ok("POST", w.url+"/producer/produce", map[string]any{"producer_id": pid, "message": fmt.Sprint(i), "partition": 1, "timestamp": 3000})
	}
	reset := func(body map[string]any) map[int]int64 {
		t.Helper()
		body["topic"] = "orders"
		ans := a.ok("POST", w.url+"/groups/g/offsets/reset", body)
		out := map[int]int64{}
		for _, o := range ans.body["offsets"].([]any) {
			m := o.(map[string]any)
			var p int
			var off int64
			fmt.Sscan(fmt.Sprint(m["partition"]), &p)
			fmt.Sscan(fmt.Sprint(m["offset"]), &off)
			out[p] = off
		}
		// What was answered is what is stored.
		got := a.ok("GET", w.url+"/groups/g/offsets?topic=orders", nil).body["offsets"].([]any)
		for _, o := range got {
			m := o.(map[string]any)
			var p int
			var off int64
			fmt.Sscan(fmt.Sprint(m["partition"]), &p)
			fmt.Sscan(fmt.Sprint(m["offset"]), &off)
			if want, ok := out[p]; ok && want != off {
				t.Errorf("reset %v answered %d for partition %d, stored %d", body, want, p, off)
			}
		}
		return out
	}
	for _, c := range []struct {
		body map[string]any
		want map[int]int64
	}{
		{map[string]any{"to": "latest"}, map[int]int64{0: 5, 1: 2}},
		{map[string]any{"to": "earliest"}, map[int]int64{0: 0, 1: 0}},
		{map[string]any{"to": "datetime", "timestamp_ms": 2500}, map[int]int64{0: 2, 1: 0}},
		{map[string]any{"to": "datetime", "timestamp_ms": 4000}, map[int]int64{0: 3, 1: 2}}, // none in 1 that late: its end
		{map[string]any{"to": "datetime", "timestamp_ms": 9000, "partitions": []int{0}}, map[int]int64{0: 5}},
	} {
		if got := reset(c.body); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("reset %v = %v; want %v", c.body, got, c.want)
		}
	}
	wantGroupError(t, a.do("POST", w.url+"/groups/g/offsets/reset", map[string]any{"topic": "nope", "to": "earliest"}), 404, logq.ETopicNotFound)
	wantGroupError(t, a.do("POST", w.url+"/groups/g/offsets/reset", map[string]any{"topic": "orders", "to": "earliest", "partitions": []int{7}}), 404, logq.ETopicNotFound)
}
