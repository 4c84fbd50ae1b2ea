package manager

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/logq/logq"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

// TestTopicConfig: POST /topics honours retention_ms/retention_bytes (or
// refuses them with 400, changing nothing), POST /topics/{topic}/config
// changes them (on the writer, or forwarded by a reader), and GET
// /topics/{topic} shows them.
func TestTopicConfig(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	pool := newPool(t, dsn)
	w, r := startWriterAndReader(t, dsn)
	a := newAPI(t)
	a.ok("POST", w.url+"/brokers", map[string]any{"address": "127.0.0.1:1"})

	created := a.ok("POST", w.url+"/topics", map[string]any{"topic_name": "logs", "partitions": 1, "retention_ms": 60000, "retention_bytes": "-1"})
	if types := eventTypes(t, pool, 0); !slices.Contains(types, projection.TypeTopicConfigChanged) {
		t.Fatalf("events %v: no %s", types, projection.TypeTopicConfigChanged)
	}
	waitSeq(t, r, created.int("seq"))
	config := func(url string) (ms, bytes int64) {
		t.Helper()
		ans := a.ok("GET", url+"/topics/logs", nil)
		c, _ := ans.body["config"].(map[string]any)
		m, _ := c["retention_ms"].(json.Number).Int64()
		b, _ := c["retention_bytes"].(json.Number).Int64()
		return m, b
	}
	if ms, b := config(r.url); ms != 60000 || b != -1 {
		t.Fatalf("config %d ms, %d bytes; want 60000, -1", ms, b)
	}
	// Plain topics are at the cluster default, with no extra event.
	before := lastSeq(t, pool)
	a.ok("POST", w.url+"/topics", map[string]any{"topic_name": "plain", "partitions": 1})
	if types := eventTypes(t, pool, before); slices.Contains(types, projection.TypeTopicConfigChanged) {
		t.Fatalf("events %v for a topic without retention", types)
	}

	// Change one field, through the reader (forwarded); the other stays.
	changed := a.ok("POST", r.url+"/topics/logs/config", map[string]any{"retention_bytes": 1 << 30})
	waitSeq(t, w, changed.int("seq"))
	if ms, b := config(w.url); ms != 60000 || b != 1<<30 {
		t.Fatalf("config %d ms, %d bytes; want 60000, %d", ms, b, 1<<30)
	}
	// The same values again: no event.
	before = lastSeq(t, pool)
	a.ok("POST", w.url+"/topics/logs/config", map[string]any{"retention_bytes": 1 << 30})
	if after := lastSeq(t, pool); after != before {
		t.Fatalf("an unchanged config appended events (%d -> %d)", before, after)
	}

	before = lastSeq(t, pool)
	for _, c := range []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"create ms below -1", "/topics", `{"topic_name":"x","retention_ms":-2}`, 400, logq.EInvalid},
		{"create bytes not a number", "/topics", `{"topic_name":"x","retention_bytes":"lots"}`, 400, logq.EInvalid},
		{"create bytes fraction", "/topics", `{"topic_name":"x","retention_bytes":1.5}`, 400, logq.EInvalid},
		{"config nothing", "/topics/logs/config", `{}`, 400, logq.EInvalid},
		{"config ms below -1", "/topics/logs/config", `{"retention_ms":-9}`, 400, logq.EInvalid},
		{"config unknown field", "/topics/logs/config", `{"retention":5}`, 400, logq.EInvalid},
		{"config unknown topic", "/topics/nope/config", `{"retention_ms":5}`, 404, logq.ETopicNotFound},
	} {
		for _, base := range []string{w.url, r.url} {
			ans := a.do("POST", base+c.path, c.body, "application/json")
			if ans.status != c.status || ans.str("code") != c.code && ans.str("status") != "failure" {
				t.Errorf("%s: %d %s; want %d %s", c.name, ans.status, ans.raw, c.status, c.code)
			}
		}
	}
	if after := lastSeq(t, pool); after != before {
		t.Fatalf("refused requests appended events (%d -> %d)", before, after)
	}
}
