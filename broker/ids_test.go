package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/internal/pgtest"
)

// count counts the rows of a table on dsn.
func count(t *testing.T, dsn, table string) int {
	t.Helper()
	var n int
	if err := connect(t, dsn).QueryRow(pgtest.Context(t, time.Minute), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A broker refuses ids its state does not know, before any SQL: nothing
// is stored and no consumer_offsets row appears. Ids registered for
// another topic or partition are refused too; a registration the broker
// has not applied yet is honoured when the caller sends its seq.
func TestUnknownIDsRefused(t *testing.T) {
	t.Parallel()
	b, cp, dsn := oneBroker(t, 2, Config{})
	const unknown = 9999
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"append unknown producer", "POST", "/v1/append", appendBody("orders", 0, unknown, "x"), 404, logq.EProducerNotFound},
		{"append one unknown of two", "POST", "/v1/append", map[string]any{"topic": "orders", "partition": 0,
			"messages": []any{map[string]any{"producer_id": 1, "message": "a"}, map[string]any{"producer_id": unknown, "message": "b"}}}, 404, logq.EProducerNotFound},
		{"consume unknown consumer", "POST", "/v1/consume", map[string]any{"topic": "orders", "partition": 0, "consumer_id": unknown}, 404, logq.EConsumerNotFound},
		{"consume unknown consumer (GET)", "GET", fmt.Sprintf("/v1/consume?topic=orders&partition=0&consumer_id=%d", unknown), nil, 404, logq.EConsumerNotFound},
		{"size unknown consumer", "GET", fmt.Sprintf("/v1/size?topic=orders&partition=1&consumer_id=%d", unknown), nil, 404, logq.EConsumerNotFound},
	}
	for _, c := range cases {
		status, out := b.do(c.method, c.path, c.body)
		if status != c.status || out["code"] != c.code {
			t.Errorf("%s: %d %v; want %d %s", c.name, status, out, c.status, c.code)
		}
	}
	if n := count(t, dsn, "messages"); n != 0 {
		t.Fatalf("%d messages stored by refused appends", n)
	}
	if n := count(t, dsn, "consumer_offsets"); n != 0 {
		t.Fatalf("%d consumer_offsets rows made for an unknown consumer", n)
	}

	// Registered for another topic, or pinned to another partition: 400.
	cp.topic("other", 1)
	cp.append(clientEvents("other", nil, 200)...)
	one := 1
	seq := cp.register("orders", &one, 201)
	b.waitApplied(seq)
	for _, c := range []struct {
		name, method, path string
		body               any
	}{
		{"append for another topic", "POST", "/v1/append", appendBody("orders", 0, 200, "x")},
		{"append to another partition", "POST", "/v1/append", appendBody("orders", 0, 201, "x")},
		{"consume for another topic", "POST", "/v1/consume", map[string]any{"topic": "orders", "partition": 0, "consumer_id": 200}},
		{"consume another partition", "POST", "/v1/consume", map[string]any{"topic": "orders", "partition": 0, "consumer_id": 201}},
		{"size another partition", "GET", "/v1/size?topic=orders&partition=0&consumer_id=201", nil},
	} {
		status, out := b.do(c.method, c.path, c.body)
		if status != 400 || out["code"] != logq.EInvalid {
			t.Errorf("%s: %d %v; want 400 invalid", c.name, status, out)
		}
	}
	if n := count(t, dsn, "messages") + count(t, dsn, "consumer_offsets"); n != 0 {
		t.Fatalf("%d rows after refused requests", n)
	}

	// Registered ones work; the consumer's row is made by its first consume.
	if base := b.appendHTTP("orders", 1, 201, "a", "b"); base != 0 {
		t.Fatalf("append: base %d", base)
	}
	if ps, _ := b.consumeHTTP("orders", 1, 201, 10); len(ps) != 2 {
		t.Fatalf("consume: %v", ps)
	}
	if n := count(t, dsn, "consumer_offsets"); n != 1 {
		t.Fatalf("%d consumer_offsets rows; want 1", n)
	}

	// Registered a moment ago: the caller's min seq makes the broker wait.
	seq = cp.register("orders", nil, 300)
	hdr := []string{api.HeaderMinSeq, fmt.Sprint(seq)}
	if status, out := b.do("POST", "/v1/append", appendBody("orders", 0, 300, "fresh"), hdr...); status != 200 {
		t.Fatalf("append of a fresh producer with its min seq: %d %v", status, out)
	}
	seq = cp.register("orders", nil, 301)
	hdr = []string{api.HeaderMinSeq, fmt.Sprint(seq)}
	if status, out := b.do("GET", "/v1/size?topic=orders&partition=0&consumer_id=301", nil, hdr...); status != 200 || out["size"] != 1.0 {
		t.Fatalf("size of a fresh consumer with its min seq: %d %v", status, out)
	}
	seq = cp.register("orders", nil, 302)
	hdr = []string{api.HeaderMinSeq, fmt.Sprint(seq)}
	if status, out := b.do("POST", "/v1/consume", map[string]any{"topic": "orders", "partition": 0, "consumer_id": 302}, hdr...); status != 200 {
		t.Fatalf("consume of a fresh consumer with its min seq: %d %v", status, out)
	}
}
