package broker

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/logq/logq/broker/storage"
)

// Records of bytes travel as base64 with "encoding":"base64", text ones as
// text; keys, headers and timestamps round-trip; fetch moves nothing and
// answers the marks.
func TestRecordsHTTP(t *testing.T) {
	t.Parallel()
	b, _, _ := oneBroker(t, 1, Config{})
	bin := []byte{0, 0xff, 0xfe, 'x'}
	b64 := base64.StdEncoding.EncodeToString
	status, out := b.do("POST", "/v1/append", map[string]any{"topic": "orders", "partition": 0, "messages": []map[string]any{
		{"producer_id": 1, "message": "text", "key": "k", "headers": []map[string]any{{"key": "h", "value": "v"}, {"key": "n", "value": nil}}},
		{"producer_id": 1, "message": b64(bin), "key": b64([]byte{0xff}), "encoding": "base64", "timestamp": 1_600_000_000_123,
			"headers": []map[string]any{{"key": "b", "value": b64([]byte{0xc3, 0x28})}}},
		{"producer_id": 1, "message": "a\u0000b"}, // NUL is a byte like any other
	}})
	if status != 200 || out["base_offset"].(float64) != 0 {
		t.Fatalf("append: %d %v", status, out)
	}
	stored := allMessages(t, b.store, "orders", 0)
	if len(stored) != 3 || string(stored[0].Value) != "text" || string(stored[0].Key) != "k" ||
		len(stored[0].Headers) != 2 || stored[0].Headers[1].Value != nil || string(stored[0].Headers[0].Value) != "v" ||
		string(stored[1].Value) != string(bin) || string(stored[1].Key) != "\xff" || stored[1].Timestamp.UnixMilli() != 1_600_000_000_123 ||
		string(stored[1].Headers[0].Value) != "\xc3\x28" || string(stored[2].Value) != "a\x00b" {
		t.Fatalf("stored %+v", stored)
	}

	status, out = b.do("GET", "/v1/fetch?topic=orders&partition=0&offset=0", nil)
	if status != 200 || out["high_watermark"].(float64) != 3 || out["log_start_offset"].(float64) != 0 {
		t.Fatalf("fetch: %d %v", status, out)
	}
	msgs := out["messages"].([]any)
	m0, m1 := msgs[0].(map[string]any), msgs[1].(map[string]any)
	if m0["message"] != "text" || m0["key"] != "k" || m0["encoding"] != nil || m0["headers"].([]any)[1].(map[string]any)["value"] != nil {
		t.Fatalf("text record answered %v", m0)
	}
	if m1["encoding"] != "base64" || m1["message"] != b64(bin) || m1["key"] != b64([]byte{0xff}) || m1["timestamp"].(float64) != 1_600_000_000_123 ||
		m1["headers"].([]any)[0].(map[string]any)["value"] != b64([]byte{0xc3, 0x28}) {
		t.Fatalf("binary record answered %v", m1)
	}
	// base64 always, when asked.
	status, out = b.do("GET", "/v1/fetch?topic=orders&partition=0&offset=0&max=1&encoding=base64", nil)
	if m := out["messages"].([]any)[0].(map[string]any); status != 200 || m["encoding"] != "base64" || m["message"] != b64([]byte("text")) || m["key"] != b64([]byte("k")) {
		t.Fatalf("fetch in base64: %d %v", status, out)
	}
	// Fetching moved nothing: the consumer still starts at 0.
	if ps, offs := b.consumeHTTP("orders", 0, 1, 10); len(ps) != 3 || offs[0] != 0 || ps[0] != "text" {
		t.Fatalf("consume after fetches: %v %v", ps, offs)
	}
	// Past the end is out of range (416), at the end is empty.
	if status, out := b.do("GET", "/v1/fetch?topic=orders&partition=0&offset=4", nil); status != 416 || out["code"] != "offset_out_of_range" {
		t.Fatalf("fetch past the end: %d %v", status, out)
	}
	if status, out := b.do("GET", "/v1/fetch?topic=orders&partition=0&offset=3", nil); status != 200 || len(out["messages"].([]any)) != 0 {
		t.Fatalf("fetch at the end: %d %v", status, out)
	}
}

// A fetch at the high watermark with wait_ms returns as soon as a record
// is committed there.
func TestFetchLongPoll(t *testing.T) {
	t.Parallel()
	b, _, _ := oneBroker(t, 1, Config{})
	b.appendHTTP("orders", 0, 1, "a")
	type answer struct {
		status int
		out    map[string]any
	}
	got := make(chan answer, 1)
	start := time.Now()
	go func() {
		status, out, _ := b.request("GET", "/v1/fetch?topic=orders&partition=0&offset=1&wait_ms=20000", nil)
		got <- answer{status, out}
	}()
	b.appendHTTP("orders", 0, 1, "b")
	a := await(t, got)
	if a.status != 200 || len(a.out["messages"].([]any)) != 1 || a.out["messages"].([]any)[0].(map[string]any)["message"] != "b" {
		t.Fatalf("long-polled fetch: %d %v", a.status, a.out)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("the fetch waited %v after the append", d)
	}
}

// GET /v1/offsets: earliest, latest and by timestamp.
func TestOffsetsHTTP(t *testing.T) {
	t.Parallel()
	b, _, _ := oneBroker(t, 1, Config{})
	for i, ts := range []int64{1000, 3000, 2000} {
		status, out := b.do("POST", "/v1/append", map[string]any{"topic": "orders", "partition": 0,
			"messages": []map[string]any{{"producer_id": 1, "message": fmt.Sprint(i), "timestamp": ts}}})
		if status != 200 {
			t.Fatalf("append: %d %v", status, out)
		}
	}
	for _, c := range []struct {
		at   string
		want float64
	}{{"earliest", 0}, {"latest", 3}, {"", 3}, {"0", 0}, {"1500", 1}, {"2500", 1}, {"3000", 1}, {"3001", -1}} {
		status, out := b.do("GET", "/v1/offsets?topic=orders&partition=0&at="+c.at, nil)
		if status != 200 || out["offset"].(float64) != c.want || out["high_watermark"].(float64) != 3 || out["log_start_offset"].(float64) != 0 {
			t.Errorf("offsets at %q: %d %v; want %v", c.at, status, out, c.want)
		}
	}
}

// An idempotent append retried is answered with the original offset and
// stored once; a gap and an old epoch are refused (409).
func TestIdempotentAppendHTTP(t *testing.T) {
	t.Parallel()
	b, _, _ := oneBroker(t, 1, Config{})
	body := func(epoch, seq int, payloads ...string) map[string]any {
		m := appendBody("orders", 0, 1, payloads...)
		m["producer_epoch"], m["sequence"] = epoch, seq
		return m
	}
	b.appendHTTP("orders", 0, 1, "plain")
	for i := range 3 {
		status, out := b.do("POST", "/v1/append", body(0, 0, "a", "b"))
		if status != 200 || out["base_offset"].(float64) != 1 || (out["duplicate"] == true) != (i > 0) {
			t.Fatalf("append %d: %d %v", i, status, out)
		}
	}
	if status, out := b.do("POST", "/v1/append", body(0, 3, "gap")); status != 409 || out["code"] != "out_of_order_sequence" {
		t.Fatalf("gap: %d %v", status, out)
	}
	if status, out := b.do("POST", "/v1/append", body(1, 0, "c")); status != 200 || out["base_offset"].(float64) != 3 {
		t.Fatalf("new epoch: %d %v", status, out)
	}
	if status, out := b.do("POST", "/v1/append", body(0, 2, "d")); status != 409 || out["code"] != "producer_fenced" {
		t.Fatalf("old epoch: %d %v", status, out)
	}
	if n := len(allMessages(t, b.store, "orders", 0)); n != 4 {
		t.Fatalf("%d messages stored; want 4", n)
	}
}

// segments keeps each partition's requests in order, merges the plain ones
// next to each other, and gives every idempotent request a storage batch
// of its own, all in one Append.
func TestCommitSegments(t *testing.T) {
	pa, pb := &partition{partKey: partKey{"t", 0}}, &partition{partKey: partKey{"t", 1}}
	idem := &storage.Idempotence{ProducerID: 1}
	reqs := []*appendReq{
		{part: pa, msgs: msgsOf(1, "a1")},
		{part: pa, msgs: msgsOf(1, "a2")},
		{part: pb, msgs: msgsOf(1, "b1"), idem: idem},
		{part: pa, msgs: msgsOf(1, "a3"), idem: idem},
		{part: pb, msgs: msgsOf(1, "b2")},
		{part: pa, msgs: msgsOf(1, "a4")},
		{part: pb, msgs: msgsOf(1, "b3")},
	}
	var got []string
	for _, g := range segments(reqs) {
		s := fmt.Sprintf("%d:", g.part.partition)
		for _, r := range g.reqs {
			s += string(r.msgs[0].Value)
		}
		got = append(got, s)
	}
	want := []string{"0:a1a2", "0:a3", "0:a4", "1:b1", "1:b2b3"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("segments = %v; want %v", got, want)
	}
	if g := segments(reqs[:2]); len(g) != 1 || len(g[0].reqs) != 2 {
		t.Fatalf("plain requests: %d segments", len(g))
	}
}

// Idempotent and plain appends of one partition, committed together by
// one lane, get their own offsets in order (one transaction).
func TestGroupCommitIdempotent(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	c := newCommitter(s, DefaultMaxBatchMessages, DefaultMaxBatchBytes)
	go c.run()
	defer func() { c.close(fmt.Errorf("done")); c.wait(context.Background()) }()
	p := claimPartition(t, s, c, "t", 0, 1)
	type res struct {
		r   appendResult
		err error
	}
	const n = 20
	done := make(chan res, 2*n)
	for i := range n {
		go func() {
			r, err := c.submitIdem(t.Context(), p, msgsOf(int64(100+i), "i"), &storage.Idempotence{ProducerID: int64(100 + i)})
			done <- res{r, err}
		}()
		go func() {
			r, err := c.submitIdem(t.Context(), p, msgsOf(1, "p"), nil)
			done <- res{r, err}
		}()
	}
	seen := map[int64]bool{}
	for range 2 * n {
		r := await(t, done)
		if r.err != nil || r.r.dup || seen[r.r.base] {
			t.Fatalf("append: %+v, %v (seen %v)", r.r, r.err, seen)
		}
		seen[r.r.base] = true
	}
	if msgs := allMessages(t, s, "t", 0); len(msgs) != 2*n {
		t.Fatalf("%d messages stored; want %d", len(msgs), 2*n)
	}
	// Each idempotent producer's retry is a duplicate at its offset.
	r, err := c.submitIdem(t.Context(), p, msgsOf(105, "i"), &storage.Idempotence{ProducerID: 105})
	if err != nil || !r.dup {
		t.Fatalf("retry: %+v, %v", r, err)
	}
}

// A consume past its deadline_ms moves nothing (the router gave up on it).
func TestConsumeDeadline(t *testing.T) {
	t.Parallel()
	b, _, _ := oneBroker(t, 1, Config{})
	b.appendHTTP("orders", 0, 1, "a", "b")
	past := time.Now().Add(-time.Second).UnixMilli()
	status, out := b.do("POST", "/v1/consume", map[string]any{"topic": "orders", "partition": 0, "consumer_id": 1, "max": 10, "deadline_ms": past})
	if status != 503 || out["code"] != "timeout" {
		t.Fatalf("consume past its deadline: %d %v", status, out)
	}
	future := time.Now().Add(time.Minute).UnixMilli()
	status, out = b.do("POST", "/v1/consume", map[string]any{"topic": "orders", "partition": 0, "consumer_id": 1, "max": 10, "deadline_ms": future})
	if ps, _ := payloadsOf(out); status != 200 || len(ps) != 2 {
		t.Fatalf("consume before its deadline: %d %v; want both messages (nothing moved before)", status, out)
	}
}
