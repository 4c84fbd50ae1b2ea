package manager

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/internal/pgtest"
)

// TestBadInput: bad input on every endpoint gets a 4xx JSON failure with
// the right code and changes nothing (the event log's last seq stays put),
// whether sent to the writer or to a reader (which forwards writes).
func TestBadInput(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	pool := newPool(t, dsn)
	const maxBody = 4096
	cfg := Config{DSN: dsn, MaxBodyBytes: maxBody, MinSeqWait: 100 * time.Millisecond}
	wcfg, rcfg := cfg, cfg
	wcfg.Role, rcfg.Role = RoleWrite, RoleRead
	w := startManager(t, wcfg)
	waitWriter(t, w)
	r := startManager(t, rcfg)
	a := newAPI(t)

	// Fixture: a (fake) broker, topic t with 2 partitions, producer 1 and
	// consumer 1 on it, topic u for mismatches.
	a.ok("POST", w.url+"/brokers", map[string]any{"address": "127.0.0.1:1"})
	a.ok("POST", w.url+"/topics", map[string]any{"topic_name": "t", "partitions": 2})
	a.ok("POST", w.url+"/topics", map[string]any{"topic_name": "u", "partitions": 1})
	a.ok("POST", w.url+"/producer/register", map[string]any{"topic": "t"})
	a.ok("POST", w.url+"/consumer/register", map[string]any{"topic": "t"})
	a.ok("POST", w.url+"/consumer/register", map[string]any{"topic": "t", "partition": 1}) // consumer 2
	fixture := a.ok("POST", w.url+"/producer/register", map[string]any{"topic": "t", "partition": 1})
	waitSeq(t, r, fixture.int("seq"))

	big := `{"topic_name":"` + strings.Repeat("x", maxBody) + `"}`
	bigMsg := `{"producer_id":1,"message":"` + strings.Repeat("x", maxBody) + `"}`
	cases := []struct {
		name, method, path, body, ct string
		status                       int
		code                         string
	}{
		// POST /topics
		{"topic malformed json", "POST", "/topics", `{"topic_name":`, "", 400, logq.EInvalid},
		{"topic trailing data", "POST", "/topics", `{"topic_name":"x"} {}`, "", 400, logq.EInvalid},
		{"topic not an object", "POST", "/topics", `["x"]`, "application/json", 400, logq.EInvalid},
		{"topic plain text", "POST", "/topics", `hello`, "text/plain", 400, logq.EInvalid},
		{"topic missing name", "POST", "/topics", `{}`, "", 400, logq.EInvalid},
		{"topic empty name", "POST", "/topics", `{"topic_name":""}`, "", 400, logq.EInvalid},
		{"topic name wrong type", "POST", "/topics", `{"topic_name":5}`, "", 400, logq.EInvalid},
		{"topic name bad chars", "POST", "/topics", `{"topic_name":"a b/c"}`, "", 400, logq.EInvalid},
		{"topic name too long", "POST", "/topics", `{"topic_name":"` + strings.Repeat("a", 250) + `"}`, "", 400, logq.EInvalid},
		{"topic partitions zero", "POST", "/topics", `{"topic_name":"x","partitions":0}`, "", 400, logq.EInvalid},
		{"topic partitions negative", "POST", "/topics", `{"topic_name":"x","partitions":-1}`, "", 400, logq.EInvalid},
		{"topic partitions huge", "POST", "/topics", `{"topic_name":"x","partitions":1e30}`, "", 400, logq.EInvalid},
		{"topic partitions over max", "POST", "/topics", `{"topic_name":"x","partitions":1025}`, "", 400, logq.EInvalid},
		{"topic partitions fraction", "POST", "/topics", `{"topic_name":"x","partitions":1.5}`, "", 400, logq.EInvalid},
		{"topic partitions string", "POST", "/topics", `{"topic_name":"x","partitions":"many"}`, "", 400, logq.EInvalid},
		{"topic partitions bool", "POST", "/topics", `{"topic_name":"x","partitions":true}`, "", 400, logq.EInvalid},
		{"topic exists", "POST", "/topics", `{"topic_name":"t"}`, "", 409, logq.ETopicExists},
		{"topic exists (form)", "POST", "/topics", `name=t`, "application/x-www-form-urlencoded", 409, logq.ETopicExists},
		{"topic oversized body", "POST", "/topics", big, "", 413, logq.ETooLarge},
		{"topic named .", "POST", "/topics", `{"topic_name":"."}`, "", 400, logq.EInvalid},
		{"topic named ..", "POST", "/topics", `{"name":".."}`, "", 400, logq.EInvalid},
		{"topic number_of_partitions zero", "POST", "/topics", `{"topic_name":"x","number_of_partitions":0}`, "", 400, logq.EInvalid},
		{"topic lone surrogate", "POST", "/topics", `{"topic_name":"x\ud800"}`, "", 400, logq.EInvalid},
		{"add partitions to ..", "POST", "/topics/../partitions", `{"count":1}`, "", 400, logq.EInvalid},

		// POST /producer/register
		{"producer missing topic", "POST", "/producer/register", `{}`, "", 400, logq.EInvalid},
		{"producer topic wrong type", "POST", "/producer/register", `{"topic":["t"]}`, "", 400, logq.EInvalid},
		{"producer partition out of range", "POST", "/producer/register", `{"topic":"t","partition":2}`, "", 400, logq.EInvalid},
		{"producer partition negative", "POST", "/producer/register", `{"topic":"t","partition":-1}`, "", 400, logq.EInvalid},
		{"producer partition huge", "POST", "/producer/register", `{"topic":"t","partition_id":99999999999}`, "", 400, logq.EInvalid},
		{"producer partition of a new topic", "POST", "/producer/register", `{"topic":"brand-new","partition":5}`, "", 400, logq.EInvalid},
		{"producer malformed", "POST", "/producer/register", `{"topic":"t",}`, "", 400, logq.EInvalid},
		{"producer topic ..", "POST", "/producer/register", `{"topic":".."}`, "", 400, logq.EInvalid},
		{"producer part out of range", "POST", "/producer/register", `{"topic":"t","part":2}`, "", 400, logq.EInvalid},

		// POST /consumer/register
		{"consumer unknown topic", "POST", "/consumer/register", `{"topic":"nope"}`, "", 404, logq.ETopicNotFound},
		{"consumer missing topic", "POST", "/consumer/register", `{"partition":0}`, "", 400, logq.EInvalid},
		{"consumer partition out of range", "POST", "/consumer/register", `{"topic":"t","partition_index":2}`, "", 400, logq.EInvalid},
		{"consumer partition not a number", "POST", "/consumer/register", `{"topic":"t","partition":"one"}`, "", 400, logq.EInvalid},

		// POST /brokers, heartbeats
		{"broker missing address", "POST", "/brokers", `{}`, "", 400, logq.EInvalid},
		{"broker bad address", "POST", "/brokers", `{"address":"not an address"}`, "", 400, logq.EInvalid},
		{"broker bad url", "POST", "/brokers", `{"address":"ftp://x:1"}`, "", 400, logq.EInvalid},
		{"broker bad port", "POST", "/brokers", `{"address":"host:99999"}`, "", 400, logq.EInvalid},
		{"broker long address", "POST", "/brokers", `{"address":"` + strings.Repeat("h", 600) + `:1"}`, "", 400, logq.EInvalid},
		{"broker negative id", "POST", "/brokers", `{"address":"127.0.0.1:9","broker_id":-1}`, "", 400, logq.EInvalid},
		{"broker id wrong type", "POST", "/brokers", `{"address":"127.0.0.1:9","broker_id":"x"}`, "", 400, logq.EInvalid},
		{"heartbeat bad id", "POST", "/brokers/abc/heartbeat", `{}`, "", 400, logq.EInvalid},
		{"heartbeat zero id", "POST", "/brokers/0/heartbeat", `{}`, "", 400, logq.EInvalid},
		{"heartbeat unknown broker", "POST", "/brokers/99/heartbeat", `{}`, "", 404, logq.EBrokerNotFound},
		{"heartbeat bad address", "POST", "/brokers/1/heartbeat", `{"address":"::"}`, "", 400, logq.EInvalid},

		// POST /producer/produce
		{"produce missing producer", "POST", "/producer/produce", `{"topic":"t","message":"m"}`, "", 400, logq.EInvalid},
		{"produce producer not a number", "POST", "/producer/produce", `{"producer_id":"abc","message":"m"}`, "", 400, logq.EInvalid},
		{"produce producer negative", "POST", "/producer/produce", `{"producer_id":-4,"message":"m"}`, "", 400, logq.EInvalid},
		{"produce unknown producer", "POST", "/producer/produce", `{"producer_id":999,"message":"m"}`, "", 404, logq.EProducerNotFound},
		{"produce missing message", "POST", "/producer/produce", `{"producer_id":1}`, "", 400, logq.EInvalid},
		{"produce message object", "POST", "/producer/produce", `{"producer_id":1,"message":{"a":1}}`, "", 400, logq.EInvalid},
		{"produce key not a string", "POST", "/producer/produce", `{"producer_id":1,"message":"m","key":7}`, "", 400, logq.EInvalid},
		{"produce partition out of range", "POST", "/producer/produce", `{"producer_id":1,"message":"m","partition":2}`, "", 400, logq.EInvalid},
		{"produce partition negative", "POST", "/producer/produce", `{"producer_id":1,"message":"m","partition":-1}`, "", 400, logq.EInvalid},
		{"produce other partition than registered", "POST", "/producer/produce", `{"producer_id":2,"message":"m","partition":0}`, "", 400, logq.EInvalid},
		{"produce wrong topic", "POST", "/producer/produce", `{"producer_id":1,"topic":"u","message":"m"}`, "", 400, logq.EInvalid},
		{"produce oversized", "POST", "/producer/produce", bigMsg, "", 413, logq.ETooLarge},
		{"produce lone surrogate", "POST", "/producer/produce", `{"producer_id":1,"message":"a\ud800b"}`, "", 400, logq.EInvalid},
		{"produce lone low surrogate key", "POST", "/producer/produce", `{"producer_id":1,"message":"m","key":"\udc00"}`, "", 400, logq.EInvalid},
		{"produce partition_number other than registered", "POST", "/producer/produce", `{"producer_id":2,"value":"m","partition_number":0}`, "", 400, logq.EInvalid},
		{"produce partition_number out of range", "POST", "/producer/produce", `{"producer_id":1,"message":"m","partition_number":2}`, "", 400, logq.EInvalid},

		// POST /producer/produce_batch
		{"batch missing messages", "POST", "/producer/produce_batch", `{"producer_id":1}`, "", 400, logq.EInvalid},
		{"batch messages not a list", "POST", "/producer/produce_batch", `{"producer_id":1,"messages":"m"}`, "", 400, logq.EInvalid},
		{"batch empty", "POST", "/producer/produce_batch", `{"producer_id":1,"messages":[]}`, "", 400, logq.EInvalid},
		{"batch item wrong type", "POST", "/producer/produce_batch", `{"producer_id":1,"messages":["a",5]}`, "", 400, logq.EInvalid},
		{"batch item without message", "POST", "/producer/produce_batch", `{"producer_id":1,"messages":[{"key":"k"}]}`, "", 400, logq.EInvalid},
		{"batch item bad partition", "POST", "/producer/produce_batch", `{"producer_id":1,"messages":[{"message":"a","partition":9}]}`, "", 400, logq.EInvalid},
		{"batch unknown producer", "POST", "/producer/produce_batch", `{"producer_id":77,"messages":["a"]}`, "", 404, logq.EProducerNotFound},
		{"batch item other partition than registered", "POST", "/producer/produce_batch", `{"producer_id":2,"messages":["a",{"message":"b","partition_index":0}]}`, "", 400, logq.EInvalid},
		{"batch item lone surrogate", "POST", "/producer/produce_batch", `{"producer_id":1,"messages":["\ud83d"]}`, "", 400, logq.EInvalid},

		// consume, consume_batch, size
		{"consume missing consumer", "GET", "/consumer/consume?topic=t", "", "", 400, logq.EInvalid},
		{"consume unknown consumer", "GET", "/consumer/consume?topic=t&consumer_id=42", "", "", 404, logq.EConsumerNotFound},
		{"consume consumer negative", "GET", "/consumer/consume?consumer_id=-3", "", "", 400, logq.EInvalid},
		{"consume wrong topic", "GET", "/consumer/consume?topic=u&consumer_id=1", "", "", 400, logq.EInvalid},
		{"consume malformed body", "GET", "/consumer/consume", `{"consumer_id":`, "", 400, logq.EInvalid},
		{"consume_batch max zero", "GET", "/consumer/consume_batch?consumer_id=1&max=0", "", "", 400, logq.EInvalid},
		{"consume_batch max over", "GET", "/consumer/consume_batch?consumer_id=1&max=10001", "", "", 400, logq.EInvalid},
		{"consume_batch wait negative", "GET", "/consumer/consume_batch?consumer_id=1&wait_ms=-1", "", "", 400, logq.EInvalid},
		{"consume_batch wait over", "GET", "/consumer/consume_batch?consumer_id=1&wait_ms=40000", "", "", 400, logq.EInvalid},
		{"consume partition not in the topic", "GET", "/consumer/consume?consumer_id=1&partition=2", "", "", 400, logq.EInvalid},
		{"consume partition not the consumer's", "GET", "/consumer/consume?consumer_id=2&partition_id=0", "", "", 400, logq.EInvalid},
		{"consume_batch partition not the consumer's", "POST", "/consumer/consume_batch", `{"consumer_id":2,"partition_index":0}`, "", 400, logq.EInvalid},
		{"consume partition negative", "GET", "/consumer/consume?consumer_id=1&partition_number=-1", "", "", 400, logq.EInvalid},
		{"size partition not in the topic", "GET", "/size?consumer_id=1&partition=7", "", "", 400, logq.EInvalid},
		{"size partition not the consumer's", "GET", "/size?consumer_id=2&partition=0", "", "", 400, logq.EInvalid},
		{"size missing consumer", "GET", "/size?topic=t", "", "", 400, logq.EInvalid},
		// Parameters an endpoint does not take are refused, not ignored.
		{"consume max over one", "GET", "/consumer/consume?consumer_id=1&max=5", "", "", 400, logq.EInvalid},
		{"size max", "GET", "/size?consumer_id=1&max=5", "", "", 400, logq.EInvalid},
		{"size wait_ms", "GET", "/size?consumer_id=1&wait_ms=100", "", "", 400, logq.EInvalid},
		{"size unknown consumer", "GET", "/size?topic=t&consumer_id=5", "", "", 404, logq.EConsumerNotFound},

		// reads
		{"topic detail unknown", "GET", "/topics/nope", "", "", 404, logq.ETopicNotFound},
		{"events negative from", "GET", "/events?from=-1", "", "", 400, logq.EInvalid},
		{"events bad from", "GET", "/events?from=abc", "", "", 400, logq.EInvalid},
		{"events zero limit", "GET", "/events?limit=0", "", "", 400, logq.EInvalid},
		{"events huge limit", "GET", "/events?limit=10001", "", "", 400, logq.EInvalid},
		{"state negative min_seq", "GET", "/state?min_seq=-5", "", "", 400, logq.EInvalid},
		{"state bad min_seq", "GET", "/state?min_seq=soon", "", "", 400, logq.EInvalid},
		{"state future min_seq", "GET", "/state?min_seq=1000000", "", "", 503, logq.ETimeout},
		{"producers topic wrong type", "GET", "/producers", `{"topic":1}`, "", 400, logq.EInvalid},
		{"unknown route", "GET", "/nope", "", "", 404, logq.ENotFound},
		{"wrong method", "DELETE", "/topics", "", "", 405, logq.EInvalid},
	}

	before := lastSeq(t, pool)
	for _, target := range []*node{w, r} {
		role := "writer"
		if target == r {
			role = "reader"
		}
		for _, c := range cases {
			ans := a.do(c.method, target.url+c.path, c.body, c.ct)
			if ans.status != c.status || ans.str("status") != "failure" || ans.str("code") != c.code || ans.str("message") == "" {
				t.Errorf("%s, on the %s: got %d %s; want %d %s", c.name, role, ans.status, ans.raw, c.status, c.code)
			}
		}
	}
	if after := lastSeq(t, pool); after != before {
		t.Fatalf("bad input changed the event log: last seq %d → %d: %v", before, after, eventTypes(t, pool, before))
	}
	if g, w := w.AppliedSeq(), r.AppliedSeq(); g != before || w != before {
		t.Fatalf("applied seqs %d, %d; want %d", g, w, before)
	}

	// The same parameters, leniently spelled, are accepted: form bodies,
	// query strings, aliases, numeric strings.
	a.ok("POST", r.url+"/topics?partitions=3", "name=lenient")
	ans := a.do("POST", r.url+"/topics", "topic_name=lenient2&partition_count=2", "application/x-www-form-urlencoded")
	if ans.status != http.StatusOK || ans.int("partitions") != 2 {
		t.Fatalf("form create: %s", ans.raw)
	}
	ans = a.do("POST", w.url+"/consumer/register?topic=lenient&partition_index=2", nil)
	if ans.status != http.StatusOK {
		t.Fatalf("query register: %s", ans.raw)
	}
	id := ans.int("consumer_id")
	ans = a.do("GET", fmt.Sprintf("%s/consumers?topic=lenient&min_seq=%d", r.url, ans.int("seq")), nil)
	if !containsID(ans.body["consumers"], "consumer_id", id) {
		t.Fatalf("lenient consumer not listed: %s", ans.raw)
	}
}
