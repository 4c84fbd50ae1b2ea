package broker

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
)

// TestWriteMessagesMatchesEncodingJSON: the hand-written consume and read
// answers are byte for byte what encoding/json writes for messagesAnswer.
func TestWriteMessagesMatchesEncodingJSON(t *testing.T) {
	key, odd := "k-1", "<&>\"\\\n\u2028é\xff"
	at := time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.UTC)
	msgs := []storedMessage{
		{Offset: 0, ProducedAt: at, ProducerID: 1, Payload: "hello"},
		{Offset: 1, ProducedAt: at.Add(time.Millisecond).In(time.FixedZone("x", 3600)), ProducerID: 7, Key: &key, Payload: odd},
		{Offset: 1 << 40, ProducedAt: at.Truncate(time.Second), ProducerID: 1 << 62, Key: &odd, Payload: ""},
	}
	hw := int64(12345)
	for _, tc := range []struct {
		msgs []storedMessage
		hw   *int64
	}{{nil, nil}, {msgs, nil}, {msgs, &hw}, {msgs[:1], &hw}} {
		got := httptest.NewRecorder()
		writeMessages(got, "orders.v1", 3, tc.msgs, tc.hw)
		want := httptest.NewRecorder()
		writeJSON(want, 200, messagesAnswer{Status: "success", Topic: "orders.v1", Partition: 3, Messages: toAnswer(tc.msgs), HighWatermark: tc.hw})
		if got.Body.String() != want.Body.String() || got.Code != want.Code || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
			t.Errorf("writeMessages:\n%s\nencoding/json:\n%s", got.Body, want.Body)
		}
	}
}

var appendSeeds = []string{
	`{"topic":"orders","partition":2,"messages":[{"producer_id":1,"message":"hi"},{"producer_id":2,"key":"k","message":"a\"b"},{"producer_id":3,"key":null,"message":""}]}`,
	`{"messages":[{"message":"x","producer_id":1}],"partition":0,"topic":"t"}`,
	`{"topic":"t","partition":0,"messages":[{"producer_id":1,"message":"x"}],"extra":1}`,
	`{"topic":"t","Partition":0,"messages":[{"producer_id":1,"message":"x"}]}`,
	`{"topic":"t","partition":0,"messages":[{"producer_id":"1","message":"x"}]}`,
	`{"topic":"t","partition":0,"messages":[{"producer_id":1,"message":5}]}`,
	`{"topic":"t","partition":1.0,"messages":[{"producer_id":1,"message":"x"}]}`,
	`{"topic":"t","partition":0,"messages":[]}`,
	`{"topic":null,"partition":0,"messages":[{"producer_id":1,"message":"x"}]}`,
	`{"topic":"a","topic":"b","partition":0,"partition":1,"messages":[{"producer_id":1,"message":"x","key":"k","key":null}]}`,
	`{"topic":"t","partition":0,"messages":[{"producer_id":1,"message":"x"}]} trailing`,
	`{"topic":"t","partition":0,"messages":["x"]}`,
}

// TestDecodeAppendMatchesEncodingJSON: whenever decodeAppend accepts a
// body, encoding/json decodes it (into appendJSON, as fastAppend did) to
// the same messages.
func TestDecodeAppendMatchesEncodingJSON(t *testing.T) {
	for _, s := range appendSeeds {
		checkDecodeAppend(t, []byte(s))
	}
}

func FuzzDecodeAppendFast(f *testing.F) {
	for _, s := range appendSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkDecodeAppend)
}

func checkDecodeAppend(t *testing.T, body []byte) {
	topic, part, msgs, ok := decodeAppend(body)
	if !ok {
		return
	}
	var a appendJSON
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("decodeAppend accepted %q; encoding/json: %v", body, err)
	}
	if a.Topic == nil || *a.Topic != topic || a.Partition == nil || *a.Partition != part || len(a.Messages) != len(msgs) {
		t.Fatalf("decodeAppend(%q) = %q %d %d messages; encoding/json: %+v", body, topic, part, len(msgs), a)
	}
	for i, m := range a.Messages {
		want := message{Key: m.Key}
		if m.ProducerID == nil || m.Message == nil {
			t.Fatalf("decodeAppend(%q) accepted message %d without producer_id or message", body, i)
		}
		want.ProducerID, want.Payload = *m.ProducerID, *m.Message
		if !reflect.DeepEqual(msgs[i], want) {
			t.Fatalf("decodeAppend(%q) message %d = %+v; encoding/json: %+v", body, i, msgs[i], want)
		}
	}
}
