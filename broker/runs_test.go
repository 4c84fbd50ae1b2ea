package broker

import (
	"fmt"
	"strings"
	"testing"
)

// run is one run of an append's runs form (idempotent when seq >= 0).
func run(producer int64, epoch, seq int, payloads ...string) map[string]any {
	msgs := make([]map[string]any, len(payloads))
	for i, p := range payloads {
		msgs[i] = map[string]any{"producer_id": producer, "message": p}
	}
	r := map[string]any{"messages": msgs}
	if seq >= 0 {
		r["producer_epoch"], r["sequence"] = epoch, seq
	}
	return r
}

// appendRuns sends runs to partition 0 of orders and answers of one runs-form append, run by run: the base
// offset, or the error code, and "dup" for a duplicate.
func (b *testBroker) appendRuns(runs ...map[string]any) []string {
	b.t.Helper()
	status, out := b.do("POST", "/v1/append", map[string]any{"topic": "orders", "partition": 0, "runs": runs})
	if status != 200 {
		b.t.Fatalf("append of runs: %d %v", status, out)
	}
	var got []string
	for _, r := range out["runs"].([]any) {
		r := r.(map[string]any)
		switch {
		case r["error"] != nil:
			got = append(got, r["error"].(map[string]any)["code"].(string))
		case r["duplicate"] == true:
			got = append(got, fmt.Sprintf("dup@%v+%v", r["base_offset"], r["count"]))
		default:
			got = append(got, fmt.Sprintf("%v+%v", r["base_offset"], r["count"]))
		}
	}
	return got
}

// The runs form of an append: each run of one request is stored and
// answered on its own, with its exact offsets; a duplicate run answers its
// original offsets; a refused run (out of order, fenced producer, unknown
// producer) fails only itself, its neighbours are stored.
func TestAppendRunsHTTP(t *testing.T) {
	t.Parallel()
	b, _, _ := oneBroker(t, 1, Config{})
	b.appendHTTP("orders", 0, 9, "plain") // offset 0

	check := func(what string, got []string, want ...string) {
		t.Helper()
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("%s: runs answered %v; want %v", what, got, want)
		}
	}
	check("first", b.appendRuns(
		run(1, 0, 0, "a", "b"),
		run(2, 0, 0, "c"),
		run(3, 0, -1, "d"),
		run(1, 0, 5, "gap"),
		run(999, 0, 0, "nobody"),
		run(4, 0, 0, "e"),
	), "1+2", "3+1", "4+1", "out_of_order_sequence", "producer_not_found", "5+1")
	check("retries", b.appendRuns(
		run(1, 0, 0, "a", "b"), // a retry: its original offsets
		run(2, 0, 1, "f"),
		run(2, 0, 2, "g"),
		run(2, 0, 2, "g"), // retried within the same request
	), "dup@1+2", "6+1", "7+1", "dup@7+1")
	check("epochs", b.appendRuns(
		run(1, 1, 0, "h"),
		run(1, 0, 2, "stale"), // the epoch before: fenced
		run(4, 0, 1, "i"),
	), "8+1", "producer_fenced", "9+1")

	stored := allMessages(t, b.store, "orders", 0)
	var vals []string
	for i, m := range stored {
		if m.Offset != int64(i) {
			t.Fatalf("message %d at offset %d", i, m.Offset)
		}
		vals = append(vals, string(m.Value))
	}
	if got := strings.Join(vals, ","); got != "plain,a,b,c,d,e,f,g,h,i" {
		t.Fatalf("stored %s", got)
	}
}

// The runs form is refused (400, nothing stored) when malformed: beside
// messages or idempotence fields, empty, a run without messages, half of
// the idempotence fields, an idempotent run of two producers, or more
// messages in all than an append holds.
func TestAppendRunsInvalid(t *testing.T) {
	t.Parallel()
	b, _, _ := oneBroker(t, 1, Config{MaxAppendMessages: 3})
	mixed := run(1, 0, 0, "a")
	mixed["messages"] = append(mixed["messages"].([]map[string]any), map[string]any{"producer_id": 2, "message": "b"})
	halfIdem := run(1, 0, -1, "a")
	halfIdem["sequence"] = 0
	for name, body := range map[string]map[string]any{
		"runs and messages": {"runs": []any{run(1, 0, 0, "a")}, "messages": []any{map[string]any{"producer_id": 1, "message": "x"}}},
		"runs and sequence": {"runs": []any{run(1, 0, 0, "a")}, "producer_epoch": 0, "sequence": 0},
		"runs and message":  {"runs": []any{run(1, 0, 0, "a")}, "producer_id": 1, "message": "x"},
		"empty runs":        {"runs": []any{}},
		"run of nothing":    {"runs": []any{run(1, 0, 0)}},
		"half idempotent":   {"runs": []any{halfIdem}},
		"two producers":     {"runs": []any{mixed}},
		"too many":          {"runs": []any{run(1, 0, 0, "a", "b"), run(2, 0, 0, "c", "d")}},
	} {
		body["topic"], body["partition"] = "orders", 0
		if status, out := b.do("POST", "/v1/append", body); status != 400 || out["code"] != "invalid" {
			t.Errorf("%s: %d %v; want 400 invalid", name, status, out)
		}
	}
	if n := len(allMessages(t, b.store, "orders", 0)); n != 0 {
		t.Fatalf("%d messages stored; want none", n)
	}
}
