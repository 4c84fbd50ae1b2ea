package manager

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"reflect"
	"testing"
)

// TestAppendJSONMatchesEncodingJSON: the hand-written encodings are byte for
// byte encoding/json's.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	key, odd := "k", "<&>\"\\\n\u2028é\xff"
	part, off := 2, int64(1<<40)
	for _, v := range []jsonAppender{
		appendRequest{Topic: "orders", Partition: 3},
		appendRequest{Topic: "orders", Partition: 3, Messages: []appendMessage{{ProducerID: 1, Message: "hi"}, {ProducerID: 1 << 62, Key: &key, Message: odd}, {ProducerID: 2, Key: &odd}}},
		consumeBatchAnswer{Status: success},
		consumeBatchAnswer{Status: success, Messages: []batchMessage{}},
		consumeBatchAnswer{Status: success, Messages: []batchMessage{{Topic: "t", Partition: 1, Offset: 7, Message: odd}, {Topic: "t.x", Offset: 1 << 50, Message: "", Key: &key}}},
		produceBatchAnswer{Status: success},
		produceBatchAnswer{Status: success, Results: []batchResult{{Partition: &part, Offset: &off}, {Error: &errorItem{Code: "unavailable", Message: odd}}, {}, {Partition: &part, Error: &errorItem{}}}},
	} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.appendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("%T.appendJSON:\n%s\nencoding/json:\n%s", v, got, want)
		}
		if got := v.appendJSON([]byte("prefix")); !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("%T.appendJSON does not append", v)
		}
	}
}

var brokerAnswerSeeds = []string{
	`{"status":"success","topic":"t","partition":0,"messages":[{"offset":0,"message":"a","key":null,"producer_id":1,"produced_at":"2025-01-02T03:04:05.123456Z"},{"offset":1,"message":"b\"c","key":"k","producer_id":1,"produced_at":"2025-01-02T03:04:05Z"}]}` + "\n",
	`{"status":"success","messages":[]}`,
	`{"messages":null}`,
	`{"Messages":[{"offset":1,"message":"x"}]}`,
	`{"messages":[{"Offset":1,"message":"x"}]}`,
	`{"messages":[{"offset":1}]}`,
	`{"messages":[{"offset":"1","message":"x"}]}`,
	`{"messages":[{"offset":1,"message":"x","extra":{"a":[1,2]}}],"high_watermark":9}`,
	`{"messages":[{"offset":1,"message":"x"}]} {"more":1}`,
	`{"messages":[{"offset":1,"message":"x"}],"messages":[]}`,
}

func TestConsumeAnswerDecodeMatchesEncodingJSON(t *testing.T) {
	for _, s := range brokerAnswerSeeds {
		checkBrokerAnswer(t, []byte(s))
	}
}

func FuzzConsumeAnswerDecode(f *testing.F) {
	for _, s := range brokerAnswerSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkBrokerAnswer)
}

// withoutRaw drops what only the fast path records.
func withoutRaw(msgs []brokerMessage) []brokerMessage {
	out := make([]brokerMessage, len(msgs))
	for i, m := range msgs {
		m.raw = rawText{}
		out[i] = m
	}
	return out
}

func checkBrokerAnswer(t *testing.T, data []byte) {
	var want consumeBrokerAnswer
	werr := json.NewDecoder(bytes.NewReader(data)).Decode(&want)
	var got consumeBrokerAnswer
	gerr := decodeBrokerAnswer(bytes.NewReader(data), &got)
	got.Messages = withoutRaw(got.Messages)
	if (gerr != nil) != (werr != nil) {
		t.Fatalf("decode %q: %v; encoding/json: %v", data, gerr, werr)
	}
	if gerr == nil && !reflect.DeepEqual(got.Messages, want.Messages) && !(len(got.Messages) == 0 && len(want.Messages) == 0) {
		t.Fatalf("decode %q = %+v; encoding/json: %+v", data, got, want)
	}
	var fast consumeBrokerAnswer
	if !fast.decodeJSON(data) {
		return
	}
	if werr != nil || !reflect.DeepEqual(withoutRaw(fast.Messages), want.Messages) {
		t.Fatalf("decodeJSON(%q) = %+v; encoding/json: %+v, %v", data, fast, want, werr)
	}
	// Relayed as is, the messages read back the same.
	out := consumeBatchAnswer{Status: success}
	for _, m := range fast.Messages {
		out.Messages = append(out.Messages, batchMessage{Topic: "t", Offset: m.Offset, Message: m.Message, Key: m.Key, raw: m.raw})
	}
	var back consumeBatchAnswer
	if err := json.Unmarshal(out.appendJSON(nil), &back); err != nil {
		t.Fatalf("relaying %q: %v\n%s", data, err, out.appendJSON(nil))
	}
	for i, m := range back.Messages {
		if m.Message != fast.Messages[i].Message || !reflect.DeepEqual(m.Key, fast.Messages[i].Key) {
			t.Fatalf("relaying %q: message %d reads back as %+v", data, i, m)
		}
	}
}

// TestRelayMatchesEncodingJSON: a consume_batch answer relaying a broker's
// answer (encoded as the broker encodes it) is byte for byte what
// encoding/json writes for the decoded messages.
func TestRelayMatchesEncodingJSON(t *testing.T) {
	// Valid UTF-8, as everything stored is (an invalid byte would come
	// back as U+FFFD, which encodes as itself, not as \ufffd).
	key, odd := "k", "<&>\"\\\n\u2028é\u0001"
	var b bytes.Buffer
	b.WriteString(`{"status":"success","topic":"t","partition":1,"messages":[`)
	for i, m := range []struct {
		msg string
		key *string
	}{{"hello", nil}, {odd, &key}, {"", &odd}} {
		if i > 0 {
			b.WriteByte(',')
		}
		msg, _ := json.Marshal(m.msg)
		k, _ := json.Marshal(m.key)
		fmt.Fprintf(&b, `{"offset":%d,"message":%s,"key":%s,"producer_id":1,"produced_at":"2025-01-02T03:04:05Z"}`, i, msg, k)
	}
	b.WriteString("]}\n")
	var ans consumeBrokerAnswer
	if !ans.decodeJSON(b.Bytes()) {
		t.Fatalf("decodeJSON refused %s", b.Bytes())
	}
	out := consumeBatchAnswer{Status: success}
	for _, m := range ans.Messages {
		out.Messages = append(out.Messages, batchMessage{Topic: "t", Partition: 1, Offset: m.Offset, Message: m.Message, Key: m.Key, raw: m.raw})
	}
	want, _ := json.Marshal(out)
	if got := out.appendJSON(nil); !bytes.Equal(got, want) {
		t.Fatalf("relayed:\n%s\nencoding/json:\n%s", got, want)
	}
}

var produceBatchSeeds = []string{
	`{"topic":"orders","producer_id":7,"messages":["a",{"message":"b","key":"k"},{"message":"c","partition":2},{"partition":0,"key":"","message":""}]}`,
	`{"producer_id":1,"messages":[]}`,
	`{"producer_id":1,"messages":["x"],"min_seq":12}`,
	`{"producer_id":1.0,"messages":["x"]}`,
	`{"producer_id":"1","messages":["x"]}`,
	`{"producer_id":0,"messages":["x"]}`,
	`{"producer_id":1,"messages":[{"message":5}]}`,
	`{"producer_id":1,"messages":[{"message":"x","key":null}]}`,
	`{"producer_id":1,"messages":[{"message":"x","partition_id":1}]}`,
	`{"producer_id":1,"messages":[{"message":"x","partition":-1}]}`,
	`{"producer_id":1,"messages":[{"message":"x","partition":4294967296}]}`,
	`{"producer_id":1,"messages":[null]}`,
	`{"producer_id":1,"messages":["x"],"topic":null}`,
	`{"producer_id":1,"messages":["x"],"topic_name":"t"}`,
	`{"producer_id":1,"producer_id":2,"messages":["x"]}`,
	`{"producer_id":1,"messages":[{"key":"k"}]}`,
	` {"producer_id":1,"messages":["x"]} `,
	`{"producer_id":1,"messages":["x"]}]`,
}

// TestDecodeProduceBatchMatchesLenient: whenever the one-pass decoder
// accepts a body, the lenient params read the same producer, topic and
// messages from it.
func TestDecodeProduceBatchMatchesLenient(t *testing.T) {
	for _, s := range produceBatchSeeds {
		checkProduceBatch(t, []byte(s))
	}
	for q, ok := range map[string]bool{"": true, "min_seq=12": true, "min_seq=": false, "min_seq=1&x=2": false, "min_seq=+1": false, "topic=t": false} {
		if fastQuery(q) != ok {
			t.Errorf("fastQuery(%q) = %v", q, !ok)
		}
	}
}

func FuzzDecodeProduceBatch(f *testing.F) {
	for _, s := range produceBatchSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkProduceBatch)
}

func checkProduceBatch(t *testing.T, body []byte) {
	id, topic, items, minSeq, ok := decodeProduceBatch(body)
	if !ok {
		return
	}
	r := httptest.NewRequest("POST", "/producer/produce_batch", bytes.NewReader(body))
	p, err := parseParams(r)
	if err != nil {
		t.Fatalf("decoded %q; the lenient params: %v", body, err)
	}
	lid, err := p.requiredInt(pProducer, 1, math.MaxInt64)
	if err != nil || lid != id {
		t.Fatalf("%q: producer %d; lenient %d, %v", body, id, lid, err)
	}
	ltopic, _, err := p.str(pTopic)
	if err != nil || ltopic != topic {
		t.Fatalf("%q: topic %q; lenient %q, %v", body, topic, ltopic, err)
	}
	if ls, has, err := p.integer(pMinSeq, 0, math.MaxInt64); err != nil || (has != (minSeq >= 0)) || (has && ls != minSeq) {
		t.Fatalf("%q: min_seq %d; lenient %d %v %v", body, minSeq, ls, has, err)
	}
	list, err := p.list(pMessages)
	if err != nil || len(list) != items.len() {
		t.Fatalf("%q: %d messages; lenient %d, %v", body, items.len(), len(list), err)
	}
	for i := range items.len() {
		text, key, part, _ := items.at(i)
		lt, lk, lp, err := lenientItems(list).at(i)
		if err != nil || text != lt || !reflect.DeepEqual(key, lk) || !reflect.DeepEqual(part, lp) {
			t.Fatalf("%q: message %d = %q %v %v; lenient %q %v %v, %v", body, i, text, key, part, lt, lk, lp, err)
		}
	}
}

// BenchmarkProduceBatchParams reads a produce_batch of 5,000 100-byte
// messages: the one-pass decoder against the lenient params.
func BenchmarkProduceBatchParams(b *testing.B) {
	body := []byte(`{"topic":"bench","producer_id":1,"messages":[`)
	for i := range 5000 {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, `{"message":"m1234:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`...)
	}
	body = append(body, "]}"...)
	m := &Manager{}
	for _, c := range []struct {
		name  string
		query string
	}{{"one-pass", ""}, {"lenient", "x=1"}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest("POST", "/producer/produce_batch?"+c.query, bytes.NewReader(body))
				_, _, items, err := m.produceBatchParams(r)
				if err != nil {
					b.Fatal(err)
				}
				for i := range items.len() {
					if _, _, _, err := items.at(i); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
