package broker

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/logq/logq/api"
	"github.com/logq/logq/broker/storage"
)

// rawConsume posts a consume and returns the answer's bytes.
func (tb *testBroker) rawConsume(body map[string]any) (int, []byte) {
	tb.t.Helper()
	data, _ := json.Marshal(body)
	resp, err := tb.client.Post(tb.url+"/v1/consume", "application/json", bytes.NewReader(data))
	if err != nil {
		tb.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.t.Fatal(err)
	}
	return resp.StatusCode, raw
}

// A consume with shape=batch answers the messages as a manager's
// consume_batch does, last, for api.SplitBatchAnswer: the same records,
// bytes, keys, headers and timestamps as the general answer.
func TestConsumeShapeBatch(t *testing.T) {
	t.Parallel()
	b, _, _ := oneBroker(t, 1, Config{})
	b64 := base64.StdEncoding.EncodeToString
	status, out := b.do("POST", "/v1/append", map[string]any{"topic": "orders", "partition": 0, "messages": []map[string]any{
		{"producer_id": 1, "message": "<&> \"q\" \\ \n \u2028 é", "key": "k", "headers": []map[string]any{{"key": "h", "value": "v"}, {"key": "n", "value": nil}}},
		{"producer_id": 1, "message": b64([]byte{0, 0xff}), "key": b64([]byte{0xff}), "encoding": "base64", "timestamp": 1_600_000_000_123,
			"headers": []map[string]any{{"key": "b", "value": b64([]byte{0xc3, 0x28})}}},
		{"producer_id": 1, "message": "a\u0000b"},
	}})
	if status != 200 {
		t.Fatalf("append: %d %v", status, out)
	}
	// Consumers 1..4 are oneBroker's (testClients).
	for _, enc := range []string{"", api.EncodingBase64} {
		first := int64(1)
		if enc != "" {
			first = 3
		}
		st, raw := b.rawConsume(map[string]any{"topic": "orders", "partition": 0, "consumer_id": first, "max": 10, "shape": "batch", "encoding": enc})
		if st != 200 {
			t.Fatalf("consume shape=batch: %d %s", st, raw)
		}
		h, inner, ok, err := api.SplitBatchAnswer(raw)
		if err != nil || !ok || h.Count != 3 || h.NextOffset == nil || *h.NextOffset != 3 {
			t.Fatalf("SplitBatchAnswer(%s) = %+v, %v, %v", raw, h, ok, err)
		}
		var got []api.BatchMessage
		if err := api.Unmarshal(append(append([]byte("["), inner...), ']'), &got); err != nil {
			t.Fatal(err)
		}
		st, raw = b.rawConsume(map[string]any{"topic": "orders", "partition": 0, "consumer_id": first + 1, "max": 10, "encoding": enc})
		var general api.MessagesAnswer
		if err := api.Unmarshal(raw, &general); st != 200 || err != nil || len(general.Messages) != 3 {
			t.Fatalf("consume: %d %s %v", st, raw, err)
		}
		for i, m := range general.Messages {
			want, _ := api.Marshal(api.BatchMessage{Topic: "orders", Partition: 0, Offset: m.Offset, Message: m.Message, Key: m.Key,
				Encoding: m.Encoding, Headers: m.Headers, Timestamp: m.Timestamp})
			if g, _ := api.Marshal(got[i]); !bytes.Equal(g, want) {
				t.Fatalf("encoding %q, message %d: batch shape %s; general %s", enc, i, g, want)
			}
		}
	}
	// Nothing left: an empty batch.
	st, raw := b.rawConsume(map[string]any{"topic": "orders", "partition": 0, "consumer_id": 1, "max": 10, "shape": "batch"})
	if h, inner, ok, err := api.SplitBatchAnswer(raw); st != 200 || h.Count != 0 || h.NextOffset != nil || len(inner) != 0 || !ok || err != nil {
		t.Fatalf("empty consume shape=batch: %d %s", st, raw)
	}
	// A fetch with shape=batch: the messages from the offset, the marks, the next offset.
	for _, c := range []struct{ from, n, next int64 }{{1, 2, 3}, {3, 0, 3}} {
		resp, err := b.client.Get(b.url + "/v1/fetch?topic=orders&partition=0&shape=batch&offset=" + strconv.FormatInt(c.from, 10))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h, _, ok, err := api.SplitBatchAnswer(raw)
		if resp.StatusCode != 200 || !ok || err != nil || int64(h.Count) != c.n || h.NextOffset == nil || *h.NextOffset != c.next ||
			h.HighWatermark == nil || *h.HighWatermark != 3 || h.LogStartOffset == nil || *h.LogStartOffset != 0 {
			t.Fatalf("fetch from %d, shape=batch: %d %s", c.from, resp.StatusCode, raw)
		}
	}
	// An unknown shape is refused, and size takes none.
	if st, raw := b.rawConsume(map[string]any{"topic": "orders", "partition": 0, "consumer_id": 1, "shape": "rows"}); st != http.StatusBadRequest {
		t.Fatalf("shape=rows: %d %s", st, raw)
	}
	if st, out := b.do("GET", "/v1/size?topic=orders&partition=0&consumer_id=1&shape=batch", nil); st != http.StatusBadRequest {
		t.Fatalf("size with shape: %d %v", st, out)
	}
}

// toAnswer encodes records for an answer: as text when they are, else (or
// always, with base64) as base64.
func toAnswer(msgs []storedMessage, base64 bool) []api.StoredMessage {
	out := make([]api.StoredMessage, len(msgs))
	for i, m := range msgs {
		k, v, wh, enc := wireRecord(&m, base64)
		out[i] = api.StoredMessage{Offset: m.Offset, Message: v, Key: k, Encoding: enc, Headers: wh,
			Timestamp: m.Timestamp.UnixMilli(), ProducerID: m.ProducerID, ProducedAt: m.ProducedAt}
	}
	return out
}

// wireRecord is a record's wire form (api.EncodeRecord).
func wireRecord(m *storedMessage, base64 bool) (k *string, v string, wh []api.Header, enc string) {
	var hs []api.BinHeader
	if len(m.Headers) > 0 {
		hs = make([]api.BinHeader, len(m.Headers))
		for j, h := range m.Headers {
			hs[j] = api.BinHeader{Key: h.Key, Value: h.Value}
		}
	}
	return api.EncodeRecord(m.Key, m.Value, hs, base64)
}

// The appended answers are the codec's bytes: writeMessages writes what
// Marshal of an api.MessagesAnswer built the general way does, and
// writeBatchMessages what Marshal of an api.BatchMessagesAnswer does.
func TestWriteMessagesIsMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	pick := func() []byte {
		parts := []string{"a", "<&>", `"\`, "\n\x01", "\u2028", "é", "\xff", "😀"}
		var b []byte
		for range r.IntN(6) {
			b = append(b, parts[r.IntN(len(parts))]...)
		}
		return b
	}
	for i := range 200 {
		var msgs []storedMessage
		for j := range r.IntN(5) {
			m := storedMessage{Offset: int64(j), Value: pick(), Timestamp: time.UnixMilli(r.Int64N(1 << 42)), ProducerID: 3,
				ProducedAt: time.UnixMicro(r.Int64N(1 << 52)).UTC()}
			if r.IntN(2) == 0 {
				m.Key = pick()
			}
			for range r.IntN(3) {
				m.Headers = append(m.Headers, storage.Header{Key: string(pick()), Value: pick()})
			}
			msgs = append(msgs, m)
		}
		enc := ""
		if i%5 == 0 {
			enc = api.EncodingBase64
		}
		hw, start := int64(9), int64(1)
		var hwp, startp *int64
		if i%2 == 0 {
			hwp, startp = &hw, &start
		}
		rec := httptest.NewRecorder()
		writeMessages(rec, "topic<", 2, msgs, enc, hwp, startp)
		want, _ := api.Marshal(api.MessagesAnswer{Status: api.StatusSuccess, Topic: "topic<", Partition: 2,
			Messages: toAnswer(msgs, enc == api.EncodingBase64), HighWatermark: hwp, LogStartOffset: startp})
		if got := rec.Body.Bytes(); !bytes.Equal(got, append(want, '\n')) || rec.Header().Get("Content-Length") == "" {
			t.Fatalf("writeMessages\n%s\nMarshal\n%s", got, want)
		}
		rec = httptest.NewRecorder()
		var next *int64
		if i%3 == 0 {
			next = &start
		}
		writeBatchMessages(rec, "topic<", 2, msgs, enc, next, hwp, startp)
		if len(msgs) > 0 {
			n := msgs[len(msgs)-1].Offset + 1
			next = &n
		}
		bms := make([]api.BatchMessage, len(msgs))
		for j, m := range toAnswer(msgs, enc == api.EncodingBase64) {
			bms[j] = api.BatchMessage{Topic: "topic<", Partition: 2, Offset: m.Offset, Message: m.Message, Key: m.Key, Encoding: m.Encoding, Headers: m.Headers, Timestamp: m.Timestamp}
		}
		want, _ = api.Marshal(api.BatchMessagesAnswer{Status: api.StatusSuccess, Topic: "topic<", Partition: 2, Shape: api.ShapeBatch, Count: len(bms),
			NextOffset: next, HighWatermark: hwp, LogStartOffset: startp, Messages: bms})
		if got := rec.Body.Bytes(); !bytes.Equal(got, append(want, '\n')) {
			t.Fatalf("writeBatchMessages\n%s\nMarshal\n%s", got, want)
		}
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// Consume answers reuse their buffers: writing one again allocates no new
// buffer for it (TestWriteMessagesIsMarshal checks the bytes).
func TestAnswerBuffersAreReused(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers at random under the race detector")
	}
	msgs := make([]storedMessage, 1000)
	for i := range msgs {
		msgs[i] = storedMessage{Offset: int64(i), Value: bytes.Repeat([]byte("abcdefghij"), 10), Timestamp: time.UnixMilli(1_700_000_000_000)}
	}
	w := &discard{h: http.Header{}}
	var m1, m2 runtime.MemStats
	writeBatchMessages(w, "orders", 0, msgs, "", nil, nil, nil) // the buffer, in the pool now
	runtime.ReadMemStats(&m1)
	for range 10 {
		writeBatchMessages(w, "orders", 0, msgs, "", nil, nil, nil)
	}
	runtime.ReadMemStats(&m2)
	// 10 answers of about 180 kB each: far less than one of them allocated
	// per answer (the pool may be emptied by a collection: allow two).
	if n := m2.TotalAlloc - m1.TotalAlloc; n > 2*300_000+10*4096 {
		t.Fatalf("10 answers allocated %d bytes; their buffers are not reused", n)
	}
}
