package manager

import (
	"bytes"
	"encoding/json"
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

func checkBrokerAnswer(t *testing.T, data []byte) {
	var want consumeBrokerAnswer
	werr := json.NewDecoder(bytes.NewReader(data)).Decode(&want)
	var got consumeBrokerAnswer
	gerr := decodeBrokerAnswer(bytes.NewReader(data), &got)
	if (gerr != nil) != (werr != nil) {
		t.Fatalf("decode %q: %v; encoding/json: %v", data, gerr, werr)
	}
	if gerr == nil && !reflect.DeepEqual(got.Messages, want.Messages) && !(len(got.Messages) == 0 && len(want.Messages) == 0) {
		t.Fatalf("decode %q = %+v; encoding/json: %+v", data, got, want)
	}
	var fast consumeBrokerAnswer
	if fast.decodeJSON(data) && (werr != nil || !reflect.DeepEqual(fast.Messages, want.Messages)) {
		t.Fatalf("decodeJSON(%q) = %+v; encoding/json: %+v, %v", data, fast, want, werr)
	}
}
