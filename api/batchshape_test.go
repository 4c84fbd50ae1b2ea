package api

import (
	"bytes"
	"testing"
)

// ConsumeBatchAnswerOf writes what Marshal of a ConsumeBatchAnswer
// does, from the pieces SplitBatchAnswer cuts out of brokers' answers.
func TestSplitAndSpliceBatchAnswers(t *testing.T) {
	k := "k<"
	a := []BatchMessage{{Topic: "t", Partition: 0, Offset: 1, Message: "a\u2028<&>\"", Key: &k, Headers: []Header{{Key: "h"}}, Timestamp: 5}}
	b := []BatchMessage{{Topic: "t", Partition: 2, Offset: 9, Message: "AA==", Encoding: EncodingBase64, Timestamp: 6}, {Topic: "t", Partition: 2, Offset: 10, Timestamp: 7}}
	var pieces [][]byte
	for _, msgs := range [][]BatchMessage{a, {}, b} {
		body, err := Marshal(BatchMessagesAnswer{Status: StatusSuccess, Topic: "t", Partition: 1, Shape: ShapeBatch, Count: len(msgs), Messages: msgs})
		if err != nil {
			t.Fatal(err)
		}
		h, inner, ok, err := SplitBatchAnswer(append(body, '\n'))
		if err != nil || !ok || h.Count != len(msgs) {
			t.Fatalf("SplitBatchAnswer(%s) = %+v, %v, %v", body, h, ok, err)
		}
		pieces = append(pieces, inner)
	}
	for _, skipped := range [][]int{nil, {1, 3}} {
		got := ConsumeBatchAnswerOf(pieces, skipped).Bytes()
		want, _ := Marshal(ConsumeBatchAnswer{Status: StatusSuccess, Messages: append(append([]BatchMessage{}, a...), b...), Skipped: skipped})
		if !bytes.Equal(got, want) {
			t.Fatalf("spliced\n%s\nwant\n%s", got, want)
		}
		if m, _ := ConsumeBatchAnswerOf(pieces, skipped).MarshalJSON(); !bytes.Equal(m, got) || ConsumeBatchAnswerOf(pieces, skipped).Len() != len(got) {
			t.Fatalf("MarshalJSON %s, Len %d; want %s", m, ConsumeBatchAnswerOf(pieces, skipped).Len(), got)
		}
	}
	if got, want := ConsumeBatchAnswerOf(nil, nil).Bytes(), `{"status":"success","messages":[]}`; string(got) != want {
		t.Fatalf("empty answer %s; want %s", got, want)
	}
}

func TestSplitBatchAnswerRefuses(t *testing.T) {
	for _, c := range []struct {
		body    string
		ok, bad bool
	}{
		{`{"status":"success","topic":"t","partition":0,"messages":[{"offset":1}]}`, false, false}, // no shape: decode it
		{`{"status":"success","topic":"t","partition":0,"messages":[]}`, false, false},
		{`{"status":"success","topic":"t","partition":0,"shape":"batch","count":1,"messages":[{"offset":1}]}`, true, false},
		{`{"status":"success","topic":"t","partition":0,"shape":"batch","count":0,"messages":[{"offset":1}]}`, false, true},
		{`{"status":"success","topic":"t","partition":0,"shape":"batch","count":2,"messages":[]}`, false, true},
		{`{"status":"success","topic":"t","partition":0,"shape":"batch","count":1,"messages":[{"offset":1}],"x":1}`, false, true},
		{`{"status":"success","topic":"t","partition":0,"shape":"batch","count":1,"messages":[1]}`, false, true},
		{`{"status":"failure","topic":"t","partition":0,"shape":"batch","count":0,"messages":[]}`, false, true},
		{`{"status":"success","topic":"t","shape":"batch","count":1,"messages":[{"m":"\ud800"}]}`, false, true},
		{"{\"status\":\"success\",\"topic\":\"t\",\"shape\":\"batch\",\"count\":1,\"messages\":[{\"m\":\"\xff\"}]}", false, true},
		{`{"status":"success","topic":"t",,"shape":"batch","count":1,"messages":[{}]}`, false, true},
	} {
		_, _, ok, err := SplitBatchAnswer([]byte(c.body))
		if ok != c.ok || (err != nil) != c.bad {
			t.Errorf("SplitBatchAnswer(%s) = %v, %v; want ok %v, failure %v", c.body, ok, err, c.ok, c.bad)
		}
	}
}
