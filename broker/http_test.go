package broker

import (
	"strings"
	"testing"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/internal/pgtest"
)

// Bad input on every endpoint is a 4xx JSON error, and appends nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	b, _, _ := oneBroker(t, 2, Config{MaxMessageBytes: 1024, MaxRequestBytes: 64 << 10})
	msg := func(fields string) string {
		return `{"topic":"orders","partition":0,"messages":[{` + fields + `}]}`
	}
	big := strings.Repeat("x", 2000)
	cases := []struct {
		name, method, path string
		body               string
		status             int
	}{
		{"malformed JSON", "POST", "/v1/append", `{"topic":`, 400},
		{"not an object", "POST", "/v1/append", `[1,2]`, 400},
		{"trailing data", "POST", "/v1/append", `{"topic":"orders"} {}`, 400},
		{"bare string", "POST", "/v1/append", `"hello"`, 400},
		{"topic missing", "POST", "/v1/append", `{"partition":0,"messages":[{"producer_id":1,"message":"m"}]}`, 400},
		{"topic not a string", "POST", "/v1/append", `{"topic":5,"partition":0,"messages":[{"producer_id":1,"message":"m"}]}`, 400},
		{"topic invalid", "POST", "/v1/append", `{"topic":"a b","partition":0,"messages":[{"producer_id":1,"message":"m"}]}`, 400},
		{"partition missing", "POST", "/v1/append", `{"topic":"orders","messages":[{"producer_id":1,"message":"m"}]}`, 400},
		{"partition negative", "POST", "/v1/append", `{"topic":"orders","partition":-1,"messages":[{"producer_id":1,"message":"m"}]}`, 400},
		{"partition fractional", "POST", "/v1/append", `{"topic":"orders","partition":1.5,"messages":[{"producer_id":1,"message":"m"}]}`, 400},
		{"partition a word", "POST", "/v1/append", `{"topic":"orders","partition":"one","messages":[{"producer_id":1,"message":"m"}]}`, 400},
		{"partition a bool", "POST", "/v1/append", `{"topic":"orders","partition":true,"messages":[{"producer_id":1,"message":"m"}]}`, 400},
		{"partition huge", "POST", "/v1/append", `{"topic":"orders","partition":99999999999999999999,"messages":[{"producer_id":1,"message":"m"}]}`, 400},
		{"messages missing", "POST", "/v1/append", `{"topic":"orders","partition":0}`, 400},
		{"messages empty", "POST", "/v1/append", `{"topic":"orders","partition":0,"messages":[]}`, 400},
		{"messages not an array", "POST", "/v1/append", `{"topic":"orders","partition":0,"messages":{"message":"m"}}`, 400},
		{"message not an object", "POST", "/v1/append", `{"topic":"orders","partition":0,"messages":["m"]}`, 400},
		{"message null", "POST", "/v1/append", `{"topic":"orders","partition":0,"messages":[null]}`, 400},
		{"message text missing", "POST", "/v1/append", msg(`"producer_id":1`), 400},
		{"message text an object", "POST", "/v1/append", msg(`"producer_id":1,"message":{"a":5}`), 400},
		{"producer missing", "POST", "/v1/append", msg(`"message":"m"`), 400},
		{"producer zero", "POST", "/v1/append", msg(`"producer_id":0,"message":"m"`), 400},
		{"producer negative", "POST", "/v1/append", msg(`"producer_id":-3,"message":"m"`), 400},
		{"producer an object", "POST", "/v1/append", msg(`"producer_id":{},"message":"m"`), 400},
		{"key a number", "POST", "/v1/append", msg(`"producer_id":1,"message":"m","key":7`), 400},
		{"base64 invalid", "POST", "/v1/append", msg(`"producer_id":1,"message":"!!","encoding":"base64"`), 400},
		{"base64 key invalid", "POST", "/v1/append", msg(`"producer_id":1,"message":"YQ==","key":"*","encoding":"base64"`), 400},
		{"encoding unknown", "POST", "/v1/append", msg(`"producer_id":1,"message":"m","encoding":"hex"`), 400},
		{"headers not a list", "POST", "/v1/append", msg(`"producer_id":1,"message":"m","headers":{"a":"b"}`), 400},
		{"header key missing", "POST", "/v1/append", msg(`"producer_id":1,"message":"m","headers":[{"value":"b"}]`), 400},
		{"header value a number", "POST", "/v1/append", msg(`"producer_id":1,"message":"m","headers":[{"key":"a","value":5}]`), 400},
		{"timestamp negative", "POST", "/v1/append", msg(`"producer_id":1,"message":"m","timestamp":-1`), 400},
		{"timestamp a word", "POST", "/v1/append", msg(`"producer_id":1,"message":"m","timestamp":"now"`), 400},
		{"sequence without epoch", "POST", "/v1/append", `{"topic":"orders","partition":0,"sequence":0,"messages":[{"producer_id":1,"message":"m"}]}`, 400},
		{"epoch without sequence", "POST", "/v1/append", `{"topic":"orders","partition":0,"producer_epoch":0,"messages":[{"producer_id":1,"message":"m"}]}`, 400},
		{"sequence negative", "POST", "/v1/append", `{"topic":"orders","partition":0,"producer_epoch":0,"sequence":-1,"messages":[{"producer_id":1,"message":"m"}]}`, 400},
		{"fetch below zero", "GET", "/v1/fetch?topic=orders&partition=0&offset=-1", "", 400},
		{"fetch past the end", "GET", "/v1/fetch?topic=orders&partition=0&offset=5", "", 416},
		{"fetch max_bytes zero", "GET", "/v1/fetch?topic=orders&partition=0&offset=0&max_bytes=0", "", 400},
		{"fetch encoding unknown", "GET", "/v1/fetch?topic=orders&partition=0&offset=0&encoding=hex", "", 400},
		{"offsets at unknown", "GET", "/v1/offsets?topic=orders&partition=0&at=yesterday", "", 400},
		{"offsets partition missing", "GET", "/v1/offsets?topic=orders&at=latest", "", 400},
		{"size encoding", "GET", "/v1/size?topic=orders&partition=0&consumer_id=1&encoding=base64", "", 400},
		{"one bad message of two", "POST", "/v1/append", `{"topic":"orders","partition":0,"messages":[{"producer_id":1,"message":"ok"},{"producer_id":1}]}`, 400},
		{"message too large", "POST", "/v1/append", msg(`"producer_id":1,"message":"` + big + `"`), 413},
		{"body too large", "POST", "/v1/append", msg(`"producer_id":1,"message":"` + strings.Repeat("y", 70<<10) + `"`), 413},
		{"single message without producer", "POST", "/v1/append", `{"topic":"orders","partition":0,"message":"m"}`, 400},
		{"partition not owned", "POST", "/v1/append", `{"topic":"orders","partition":5,"messages":[{"producer_id":1,"message":"m"}]}`, 409},
		{"unknown topic", "POST", "/v1/append", `{"topic":"nope","partition":0,"messages":[{"producer_id":1,"message":"m"}]}`, 400}, // producer 1 is registered for orders

		{"consume malformed", "POST", "/v1/consume", `{"topic":"orders",`, 400},
		{"consume consumer missing", "POST", "/v1/consume", `{"topic":"orders","partition":0}`, 400},
		{"consume consumer zero", "POST", "/v1/consume", `{"topic":"orders","partition":0,"consumer_id":0}`, 400},
		{"consume consumer a word", "POST", "/v1/consume", `{"topic":"orders","partition":0,"consumer_id":"me"}`, 400},
		{"consume partition negative", "POST", "/v1/consume", `{"topic":"orders","partition":-1,"consumer_id":1}`, 400},
		{"consume topic missing", "POST", "/v1/consume", `{"partition":0,"consumer_id":1}`, 400},
		{"consume max zero", "POST", "/v1/consume", `{"topic":"orders","partition":0,"consumer_id":1,"max":0}`, 400},
		{"consume max too big", "POST", "/v1/consume", `{"topic":"orders","partition":0,"consumer_id":1,"max":10000000}`, 400},
		{"consume wait negative", "POST", "/v1/consume", `{"topic":"orders","partition":0,"consumer_id":1,"wait_ms":-5}`, 400},
		{"consume wait too long", "POST", "/v1/consume", `{"topic":"orders","partition":0,"consumer_id":1,"wait_ms":99999999}`, 400},
		{"consume query bad", "GET", "/v1/consume?topic=orders&partition=x&consumer_id=1", "", 400},

		{"read offset negative", "GET", "/v1/read?topic=orders&partition=0&offset=-1", "", 400},
		{"read max zero", "GET", "/v1/read?topic=orders&partition=0&max=0", "", 400},
		{"read partition missing", "GET", "/v1/read?topic=orders", "", 400},

		{"size consumer missing", "GET", "/v1/size?topic=orders&partition=0", "", 400},
		{"size max", "GET", "/v1/size?topic=orders&partition=0&consumer_id=1&max=3", "", 400},
		{"size wait_ms", "GET", "/v1/size?topic=orders&partition=0&consumer_id=1&wait_ms=10", "", 400},
		{"size partition negative", "GET", "/v1/size?topic=orders&partition=-2&consumer_id=1", "", 400},
		{"size topic invalid", "GET", "/v1/size?topic=a%2Fb&partition=0&consumer_id=1", "", 400},

		{"partitions bad min seq", "GET", "/v1/partitions", "", 400}, // header set below
		{"append by GET", "GET", "/v1/append", "", 405},
		{"consume by DELETE", "DELETE", "/v1/consume", "", 405},
		{"no such route", "GET", "/v2/nothing", "", 404},
	}
	for _, c := range cases {
		var body any
		if c.body != "" {
			body = c.body
		}
		var header []string
		if c.name == "partitions bad min seq" {
			header = []string{api.HeaderMinSeq, "-1"}
		}
		status, out := b.do(c.method, c.path, body, header...)
		if status != c.status {
			t.Errorf("%s: status %d (%v); want %d", c.name, status, out, c.status)
			continue
		}
		if out["status"] != "failure" || out["code"] == "" || out["message"] == "" {
			t.Errorf("%s: answer %v; want a JSON failure with code and message", c.name, out)
		}
		if m, _ := out["message"].(string); strings.Contains(m, "pgx") || strings.Contains(m, "SQLSTATE") {
			t.Errorf("%s: message leaks internals: %q", c.name, m)
		}
	}
	for part := range 2 {
		if msgs := allMessages(t, b.store, "orders", part); len(msgs) != 0 {
			t.Fatalf("bad input appended %d messages to partition %d", len(msgs), part)
		}
	}
	// The limits are not off by one: a message at the limit is fine.
	if base := b.appendHTTP("orders", 0, 1, strings.Repeat("z", 1024)); base != 0 {
		t.Fatalf("append at the limit: base %d", base)
	}
}

// A panicking handler answers a JSON 500 without internals, and the
// broker goes on serving.
func TestPanicRecovery(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	cp := newControlPlane(t, dsn)
	cp.brokers(1)
	seq := cp.topic("orders", 1)
	b := startBrokerWith(t, Config{DSN: dsn, ID: 1}, func(b *Broker) {
		b.longPollWaiting = func() { panic("secret detail") }
	})
	b.waitApplied(seq)
	status, out := b.do("POST", "/v1/consume", map[string]any{"topic": "orders", "partition": 0, "consumer_id": 1, "wait_ms": 1000})
	if status != 500 || out["code"] != logq.EInternal || strings.Contains(out["message"].(string), "secret") {
		t.Fatalf("panic: %d %v; want a JSON 500 without the panic value", status, out)
	}
	if base := b.appendHTTP("orders", 0, 1, "still here"); base != 0 {
		t.Fatalf("append after a panic: base %d", base)
	}
}
