package broker

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/logq/logq/api"
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
		n, inner, ok, err := api.SplitBatchAnswer(raw)
		if err != nil || !ok || n != 3 {
			t.Fatalf("SplitBatchAnswer(%s) = %d, %v, %v", raw, n, ok, err)
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
	if n, inner, ok, err := api.SplitBatchAnswer(raw); st != 200 || n != 0 || len(inner) != 0 || !ok || err != nil {
		t.Fatalf("empty consume shape=batch: %d %s", st, raw)
	}
	// An unknown shape is refused, and size takes none.
	if st, raw := b.rawConsume(map[string]any{"topic": "orders", "partition": 0, "consumer_id": 1, "shape": "rows"}); st != http.StatusBadRequest {
		t.Fatalf("shape=rows: %d %s", st, raw)
	}
	if st, out := b.do("GET", "/v1/size?topic=orders&partition=0&consumer_id=1&shape=batch", nil); st != http.StatusBadRequest {
		t.Fatalf("size with shape: %d %v", st, out)
	}
}
