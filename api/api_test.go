package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/internal/httpfuzz"
)

func req(method, target, ct, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	return r
}

func decode(t *testing.T, r *http.Request, dst any) error {
	t.Helper()
	body, err := ReadBody(r)
	if err != nil {
		return err
	}
	return Decode(r, body, dst)
}

// TestLenientRules: the three rules of docs/api.md, "Lenient input".
func TestLenientRules(t *testing.T) {
	// (a) what a body is.
	for _, tc := range []struct {
		ct, body string
		topic    string // "" : refused
	}{
		{"application/json", `{"topic":"j"}`, "j"},
		{"application/x-www-form-urlencoded", `{"topic":"j"}`, "j"}, // curl -d
		{"text/plain", `{"topic":"j"}`, "j"},
		{"application/x-www-form-urlencoded", `topic=f`, "f"},
		{"", `topic=f`, "f"}, // no content type, holding '='
		{"", `hello`, ""},
		{"text/plain", `topic=f`, ""},
		{"application/json", `[1]`, ""},
		{"application/json", `null`, ""},
	} {
		var p RegisterParams
		err := decode(t, req("POST", "/x", tc.ct, tc.body), &p)
		var topic string
		if err == nil {
			topic, err = p.TopicRequired()
		}
		if tc.topic == "" {
			if logq.ErrorCode(err) != logq.EInvalid {
				t.Errorf("%q %q: %v, want 400", tc.ct, tc.body, err)
			}
			continue
		}
		if err != nil || topic != tc.topic {
			t.Errorf("%q %q: %q %v, want %q", tc.ct, tc.body, topic, err, tc.topic)
		}
	}

	// (b) the body wins over the query; alias order within one source;
	// null is absent.
	for _, tc := range []struct {
		target, body string
		topic        string
		partition    int
	}{
		{"/x?topic=q&partition=1", `{"name":"b","partition_index":"3"}`, "b", 3},
		{"/x?name=q&part=0", `{"topic_name":"b","name":"c"}`, "b", 0},
		{"/x?topic=q&partition=2", `{"topic":null,"partition":null}`, "q", 2},
		{"/x?name=n&topic=t&part=4&partition_number=5", ``, "t", 5},
	} {
		var p RegisterParams
		if err := decode(t, req("POST", tc.target, "application/json", tc.body), &p); err != nil {
			t.Fatal(err)
		}
		r, err := p.Request()
		if err != nil || r.Topic != tc.topic || r.Partition == nil || *r.Partition != tc.partition {
			t.Errorf("%s %s: %+v %v", tc.target, tc.body, r, err)
		}
	}

	// (c) integers.
	for body, want := range map[string]int64{
		`{"consumer_id":5}`: 5, `{"consumer_id":"5"}`: 5, `{"consumer_id":" 7 "}`: 7, `{"consumer_id":5.0}`: 5,
		`{"consumer_id":1e3}`: 1000, `{"consumer_id":"1e3"}`: 1000,
		`{"consumer_id":1.5}`: -1, `{"consumer_id":1e30}`: -1, `{"consumer_id":"x"}`: -1, `{"consumer_id":true}`: -1,
		`{"consumer_id":"Inf"}`: -1, `{"consumer_id":0}`: -1,
	} {
		var p ConsumeParams
		if err := decode(t, req("POST", "/x", "", body), &p); err != nil {
			t.Fatal(err)
		}
		r, err := p.Request(ConsumeBatch)
		if want < 0 {
			if logq.ErrorCode(err) != logq.EInvalid {
				t.Errorf("%s: %+v %v, want 400", body, r, err)
			}
		} else if err != nil || r.ConsumerID != want {
			t.Errorf("%s: %+v %v, want %d", body, r, err, want)
		}
	}

	// Oversized bodies are too_large.
	r := req("POST", "/x", "", `{"a":"`+strings.Repeat("x", 100)+`"}`)
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 10)
	var p ReadParams
	if err := decode(t, r, &p); logq.ErrorCode(err) != logq.ETooLarge {
		t.Fatalf("oversized: %v", err)
	}
}

// TestStrictness: invalid UTF-8, data after the object and lone
// surrogates are refused; a surrogate pair and an escaped backslash are
// not.
func TestStrictness(t *testing.T) {
	for body, ok := range map[string]bool{
		`{"topic":"t","message":"\ud83d\ude00"}`: true,
		`{"topic":"t","message":"\\ud800"}`:      true, // a backslash, then text
		`{"topic":"t","message":"\ud800"}`:       false,
		`{"topic":"t","message":"\udc00x"}`:      false,
		`{"topic":"t","message":"\ud800\u0041"}`: false,
		`{"topic":"t","message":"\uD800"}`:       false,
		"{\"topic\":\"t\",\"message\":\"\xff\"}": false,
		`{"topic":"t"} trailing`:                 false,
		`{"topic":"t"}{"topic":"u"}`:             false,
	} {
		var p ProduceParams
		err := decode(t, req("POST", "/x", "application/json", body), &p)
		if ok != (err == nil) || (err != nil && logq.ErrorCode(err) != logq.EInvalid) {
			t.Errorf("%s: %v (want accepted %v)", body, err, ok)
		}
	}
	for _, name := range []string{".", ".."} {
		if logq.ErrorCode(ValidateTopic(name)) != logq.EInvalid {
			t.Errorf("topic %q accepted", name)
		}
	}
}

// TestBatchItems: produce_batch items are strings or objects, decoded by
// the codec straight into ProduceItems; mistakes name their index.
func TestBatchItems(t *testing.T) {
	var p ProduceBatchParams
	body := `{"producer_id":"1","messages":["a",{"value":1.5,"key":"k","partition_number":"2"},{"message":true},{"message":"m","part":1}]}`
	if err := decode(t, req("POST", "/x", "", body), &p); err != nil {
		t.Fatal(err)
	}
	r, err := p.Request(10, 100)
	if err != nil || len(r.Messages) != 4 || r.Messages[0].Message != "a" || r.Messages[1].Message != "1.5" ||
		*r.Messages[1].Key != "k" || *r.Messages[1].Partition != 2 || r.Messages[2].Message != "true" || *r.Messages[3].Partition != 1 {
		t.Fatalf("%+v %v", r, err)
	}
	for body, want := range map[string]string{
		`{"producer_id":1,"messages":["a",{"key":"k"}]}`:             "messages[1]: message is required",
		`{"producer_id":1,"messages":[5]}`:                           "messages[0] must be an object or a string",
		`{"producer_id":1,"messages":["a",{"message":"x","key":1}]}`: "messages[1]: key must be a string",
		`{"producer_id":1,"messages":[]}`:                            "messages must hold 1 to 10 messages; got 0",
		`{"producer_id":1}`:                                          "messages is required (a JSON list in the body)",
	} {
		var p ProduceBatchParams
		if err := decode(t, req("POST", "/x", "", body), &p); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Request(10, 100); logq.ErrorMessage(err) != want {
			t.Errorf("%s: %q, want %q", body, logq.ErrorMessage(err), want)
		}
	}
}

// TestPartitioner: fixed, explicit, key, round robin; an explicit
// partition contradicting the registered one is refused.
func TestPartitioner(t *testing.T) {
	one, two := 1, 2
	key := "user-42"
	rr := new(atomic.Uint64)
	free := Partitioner{Topic: "t", ProducerID: 1, N: 3, Writable: []int{0, 2}, RR: rr}
	pinned := free
	pinned.Fixed = &one
	for _, tc := range []struct {
		pt       *Partitioner
		explicit *int
		key      *string
		want     int // -1: refused
	}{
		{&pinned, nil, &key, 1},
		{&pinned, &one, &key, 1},
		{&pinned, &two, nil, -1},
		{&free, &two, &key, 2},
		{&free, nil, &key, KeyPartition(key, 3)},
		{&free, nil, nil, 0},
		{&free, nil, nil, 2},
		{&free, nil, nil, 0},
	} {
		got, err := tc.pt.Pick(tc.explicit, tc.key)
		if tc.want < 0 {
			if logq.ErrorCode(err) != logq.EInvalid {
				t.Errorf("%+v: %d %v, want 400", tc, got, err)
			}
		} else if err != nil || got != tc.want {
			t.Errorf("%+v: %d %v, want %d", tc, got, err, tc.want)
		}
	}
	// FNV-1a 32 mod n, as always (values of the managers' and the
	// client's previous functions).
	for _, tc := range []struct {
		key     string
		n, want int
	}{{"", 3, 1}, {"", 7, 2}, {"a", 3, 1}, {"a", 7, 5}, {"user-42", 3, 0}, {"user-42", 7, 6}, {"orders-1", 7, 0}} {
		if got := KeyPartition(tc.key, tc.n); got != tc.want {
			t.Errorf("KeyPartition(%q, %d) = %d, want %d", tc.key, tc.n, got, tc.want)
		}
	}
}

// TestDecodeAllocs bounds the allocations of decoding a produce_batch of
// 100 keyed messages: the codec decodes straight into ProduceItems, with no
// map or intermediate value per message (today about 5: the codec's copy
// for each lenient field's UnmarshalJSON, the two strings, the key's
// pointer).
func TestDecodeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation bounds do not hold under the race detector")
	}
	var b strings.Builder
	b.WriteString(`{"producer_id":1,"topic":"t","messages":[`)
	for i := range 100 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"message":"` + strings.Repeat("x", 100) + `","key":"k"}`)
	}
	b.WriteString(`]}`)
	body := []byte(b.String())
	r := req("POST", "/x", "application/json", "")
	allocs := testing.AllocsPerRun(20, func() {
		var p ProduceBatchParams
		if err := Decode(r, body, &p); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Request(1000, 1<<20); err != nil {
			t.Fatal(err)
		}
	})
	if perMsg := allocs / 100; perMsg > 6 {
		t.Fatalf("%.0f allocations for 100 messages (%.1f per message)", allocs, perMsg)
	}
}

// FuzzDecode feeds the one decoder any query string, content type and
// body, into every XxxParams, and resolves each: a 400/413 or a request
// within its documented ranges — never a panic, never an internal error.
func FuzzDecode(f *testing.F) {
	f.Add("", uint8(1), []byte(`{"topic_name":"orders","partitions":3}`))
	f.Add("topic=t&consumer_id=1&max=10&wait_ms=100&min_seq=4", uint8(0), []byte(nil))
	f.Add("", uint8(2), []byte(`name=orders&partition_id=2&producer_id=1&message=hi&key=k`))
	f.Add("", uint8(1), []byte(`{"producer_id":"1","messages":["a",{"message":1.5,"key":"k","partition":"2"},{"message":true}]}`))
	f.Add("", uint8(1), []byte(`{"topic":"t","partition":0,"messages":[{"producer_id":1,"message":"a\ud800"}]}`))
	f.Add("topic=t&partition=1", uint8(0), []byte(`{"producer_id":"7","message":"x","key":null}`))
	f.Fuzz(func(t *testing.T, query string, ct uint8, body []byte) {
		r := httpfuzz.Request(http.MethodPost, "/x", query, httpfuzz.ContentType(ct), body)
		check := func(what string, err error) {
			if !httpfuzz.ClientError(err) {
				t.Fatalf("%s: %v (code %s)", what, err, logq.ErrorCode(err))
			}
		}
		params := []any{&CreateTopicParams{}, &RegisterParams{}, &ProduceParams{}, &ProduceBatchParams{}, &ConsumeParams{},
			&RegisterBrokerParams{}, &HeartbeatParams{}, &AddPartitionsParams{}, &EventsParams{}, &ListClientsParams{},
			&AppendParams{}, &BrokerConsumeParams{}, &BrokerReadParams{}}
		for _, p := range params {
			err := Decode(r, body, p)
			check("decode", err)
			if err != nil {
				return
			}
		}
		if r, err := params[0].(*CreateTopicParams).Request(); err == nil && ValidateTopic(r.TopicName) != nil {
			t.Fatalf("accepted topic %q", r.TopicName)
		} else {
			check("create", err)
		}
		if r, err := params[2].(*ProduceParams).Request(64); err == nil && CheckRecord(r.Encoding, r.Message, r.Key, r.Headers, 64) != nil {
			t.Fatalf("accepted message %+v", r)
		} else {
			check("produce", err)
		}
		_, err := params[3].(*ProduceBatchParams).Request(10, 64)
		check("produce_batch", err)
		if r, err := params[4].(*ConsumeParams).Request(ConsumeBatch); err == nil && (r.Max < 1 || r.Max > MaxConsumeMax || r.WaitMS < 0 || r.WaitMS > MaxWaitMS) {
			t.Fatalf("accepted %+v", r)
		} else {
			check("consume", err)
		}
		if r, err := params[10].(*AppendParams).Request(10, 64); err == nil {
			for _, m := range r.Messages {
				if m.ProducerID < 1 || CheckRecord(m.Encoding, m.Message, m.Key, m.Headers, 64) != nil {
					t.Fatalf("accepted %+v", m)
				}
			}
		} else {
			check("append", err)
		}
		_, err = params[11].(*BrokerConsumeParams).Request(100, 1000)
		check("broker consume", err)
		_, err = params[12].(*BrokerReadParams).Request(100, 1<<20, time.Second)
		check("broker read", err)
	})
}

// BenchmarkDecodeProduceBatch decodes and resolves a produce_batch of
// 5,000 100-byte messages (the managers' hottest decode).
func BenchmarkDecodeProduceBatch(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"producer_id":1,"topic":"t","messages":[`)
	for i := range 5000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"message":"` + strings.Repeat("x", 100) + `"}`)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	r := req("POST", "/x", "application/json", "")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var p ProduceBatchParams
		if err := Decode(r, body, &p); err != nil {
			b.Fatal(err)
		}
		if _, err := p.Request(10000, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeAppend decodes and resolves a broker append of 5,000
// 100-byte messages.
func BenchmarkDecodeAppend(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"topic":"t","partition":0,"messages":[`)
	for i := range 5000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"producer_id":1,"message":"` + strings.Repeat("x", 100) + `"}`)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	r := req("POST", "/v1/append", "application/json", "")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var p AppendParams
		if err := Decode(r, body, &p); err != nil {
			b.Fatal(err)
		}
		if _, err := p.Request(10000, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

// TestUnquoteAllocs: a plain JSON string is decoded without the codec (one
// allocation, the string); one with escapes goes through the codec and
// still decodes right.
func TestUnquoteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation bounds do not hold under the race detector")
	}
	var s string
	plain := []byte(`"` + strings.Repeat("x", 100) + `"`)
	if n := testing.AllocsPerRun(100, func() {
		if err := unquote(plain, &s); err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Fatalf("%v allocations to unquote a plain string, want 1 (the fast path was bypassed)", n)
	}
	for in, want := range map[string]string{`"a\"b"`: `a"b`, `"\u00e9\n"`: "é\n", `"😀"`: "😀", `""`: ""} {
		if err := unquote([]byte(in), &s); err != nil || s != want {
			t.Errorf("unquote(%s) = %q, %v; want %q", in, s, err, want)
		}
	}
}
