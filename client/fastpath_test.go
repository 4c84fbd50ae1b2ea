package client

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

func TestProduceBodyMatchesEncodingJSON(t *testing.T) {
	odd := "<&>\"\\\n\u2028é\xff"
	for _, b := range []produceBatchBody{
		{Topic: "orders", ProducerID: 7},
		{Topic: odd, ProducerID: 1 << 62, Messages: []batchItem{{Message: "hi"}, {Message: odd, Key: "k", Partition: Partition(3)}, {Key: odd}}},
	} {
		want, err := json.Marshal(map[string]any{"topic": b.Topic, "producer_id": b.ProducerID, "messages": b.Messages})
		if err != nil {
			t.Fatal(err)
		}
		if got := b.appendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("appendJSON:\n%s\nencoding/json:\n%s", got, want)
		}
	}
}

var answerSeeds = []string{
	`{"status":"success","results":[{"partition":1,"offset":5},{"error":{"code":"unavailable","message":"m"}},{"partition":2,"offset":6,"error":null}]}`,
	`{"status":"success","messages":[{"topic":"t","partition":0,"offset":1,"message":"a\"b","key":null},{"topic":"t","partition":2,"offset":9,"message":"","key":"k"}]}`,
	`{"status":"failure","messages":[]}`, `{"Status":"x","results":[]}`, `{"status":null,"results":[]}`,
	`{"results":[{"Partition":1}]}`, `{"messages":[{"Topic":"t"}]}`, `{"messages":[{"key":"a","key":null}]}`,
	`{"results":[{"partition":1,"partition":2}]}`, `{"results":null}`, `{"messages":[1]}`, `{"messages":[]} x`,
	`{"status":"success","messages":[{"topic":"t","partition":0,"offset":1,"message":"x","extra":[1,{"a":2}]}],"seq":4}`,
}

// TestAnswersMatchEncodingJSON: whenever the fast decoders accept an
// answer, encoding/json decodes it (status probe and all) to the same.
func TestAnswersMatchEncodingJSON(t *testing.T) {
	for _, s := range answerSeeds {
		checkAnswers(t, []byte(s))
	}
}

func FuzzAnswers(f *testing.F) {
	for _, s := range answerSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkAnswers)
}

func checkAnswers(t *testing.T, data []byte) {
	var st struct {
		Status string `json:"status"`
	}
	serr := json.Unmarshal(data, &st)
	for _, c := range []struct{ fast, slow fastAnswer }{
		{&produceBatchAnswer{}, &produceBatchAnswer{}},
		{&pollAnswer{}, &pollAnswer{}},
	} {
		status, ok := c.fast.decodeJSON(data)
		if !ok {
			continue
		}
		if serr != nil || status != st.Status {
			t.Fatalf("%T accepted %q with status %q; encoding/json: %q, %v", c.fast, data, status, st.Status, serr)
		}
		if err := json.Unmarshal(data, c.slow); err != nil {
			t.Fatalf("%T accepted %q; encoding/json: %v", c.fast, data, err)
		}
		if !reflect.DeepEqual(c.fast, c.slow) {
			t.Fatalf("%T decoded %q to %+v; encoding/json: %+v", c.fast, data, c.fast, c.slow)
		}
	}
}
