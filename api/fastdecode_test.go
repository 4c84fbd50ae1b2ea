package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/logq/logq"
)

// fastSeeds are bodies as the Go client (ProduceBatchRequest) and the
// managers' router (AppendRequest) send them, with every field they may
// carry, and near misses the fast decode gives up on.
func fastSeeds(t testing.TB) []string {
	t.Helper()
	k, v, ts, part, seq, ep := "k", "v", int64(1700000000000), 2, int64(7), int64(3)
	hs := []Header{{Key: "h", Value: &v}, {Key: "n"}}
	marshal := func(x any) string {
		b, err := Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	out := []string{
		marshal(ProduceBatchRequest{ProducerID: 1, Topic: "t", Messages: []Record{{Message: "a"}, {Message: "b", Key: &k, Partition: &part}}}),
		marshal(ProduceBatchRequest{ProducerID: 9, Partition: &part, ProducerEpoch: &ep, Sequence: &seq,
			Messages: []Record{{Message: "x", Key: &k, Encoding: EncodingBase64, Headers: hs, Timestamp: &ts}}}),
		marshal(AppendRequest{Topic: "t", Partition: 1, Messages: []AppendMessage{{ProducerID: 1, Message: "a"}, {ProducerID: 2, Message: "é ü", Key: &k, Headers: hs, Timestamp: &ts}}}),
		marshal(AppendRequest{Topic: "t", Partition: 0, ProducerEpoch: &ep, Sequence: &seq, Messages: []AppendMessage{{ProducerID: 1, Message: "a"}}}),
		marshal(AppendRequest{Topic: "t", Partition: 0, Runs: []AppendRun{{ProducerEpoch: &ep, Sequence: &seq, Messages: []AppendMessage{{ProducerID: 1, Message: "a"}}},
			{Messages: []AppendMessage{{ProducerID: 2, Message: "b", Encoding: EncodingBase64}}}}}),
		` { "producer_id" : 1 , "topic":"t", "messages" : [ {"message":"a"} ] } `,
		`{"producer_id":1,"topic":"t","messages":[{"message":"a\"b"}]}`,
		`{"producer_id":1,"producer_id":2,"messages":[{"message":"a"}]}`,
		`{"producer_id":"1","messages":[{"message":"a"}]}`,
		`{"producer_id":1.0,"messages":[{"message":5}]}`,
		`{"producer_id":01,"messages":[]}`,
		`{"producer_id":1,"messages":["a"]}`,
		`{"producer_id":1,"Topic":"t","messages":[{"message":"a","extra":1}]}`,
		`{"producer_id":1,"messages":[{"message":"a"}]} x`,
		`{"producer_id":99999999999999999999,"messages":[{"message":"a","key":null}]}`,
		`{"topic":"t","partition":0,"message":"a","producer_id":1}`,
		`{"topic":"t","partition":0,"runs":[{"messages":[{"producer_id":1,"message":"a","headers":[{"key":"h","value":null}]}]}]}`,
		`{"topic":"t","partition":0,"runs":[]}`,
	}
	return out
}

// FuzzFastDecode: on any body and query string, Decode (with the fast decode) gives
// exactly what the lenient decode alone gives, the parameters, their
// Request and every error alike.
func FuzzFastDecode(f *testing.F) {
	queries := []string{"", "min_seq=5", "topic=q&partition=x&producer_id=abc", "sequence=1&producer_epoch=2&partition=1&topic=t"}
	for i, s := range fastSeeds(f) {
		f.Add(s, queries[i%len(queries)])
	}
	f.Fuzz(func(t *testing.T, body, query string) {
		r := &http.Request{Method: "POST", URL: &url.URL{Path: "/x", RawQuery: query}, Header: http.Header{"Content-Type": {"application/json"}}}
		var fp, lp ProduceBatchParams
		fe, le := decodeParams(r, []byte(body), &fp, true), decodeParams(r, []byte(body), &lp, false)
		if !reflect.DeepEqual(fe, le) || !reflect.DeepEqual(fp, lp) {
			t.Fatalf("produce_batch %q:\nfast %+v, %v\nlenient %+v, %v", body, fp, fe, lp, le)
		}
		if fe == nil {
			fr, fe := fp.Request(10, 64)
			lr, le := lp.Request(10, 64)
			if !reflect.DeepEqual(fe, le) || !reflect.DeepEqual(fr, lr) {
				t.Fatalf("produce_batch %q: Request:\nfast %+v, %v\nlenient %+v, %v", body, fr, fe, lr, le)
			}
		}
		var fa, la AppendParams
		fe, le = decodeParams(r, []byte(body), &fa, true), decodeParams(r, []byte(body), &la, false)
		if !reflect.DeepEqual(fe, le) || !reflect.DeepEqual(fa, la) {
			t.Fatalf("append %q:\nfast %+v, %v\nlenient %+v, %v", body, fa, fe, la, le)
		}
		if fe == nil {
			fr, fe := fa.Request(10, 64)
			lr, le := la.Request(10, 64)
			if !reflect.DeepEqual(fe, le) || !reflect.DeepEqual(fr, lr) {
				t.Fatalf("append %q: Request:\nfast %+v, %v\nlenient %+v, %v", body, fr, fe, lr, le)
			}
		}
	})
}

// TestFastDecodeTaken fails when the fast decode is bypassed: the bodies
// the Go client and the router send take it, and a produce_batch or an
// append of 100 messages decodes in a handful of allocations (the query string's among them), not a few
// per message.
func TestFastDecodeTaken(t *testing.T) {
	seeds := fastSeeds(t)
	r := req("POST", "/x?min_seq=3", "application/json", "") // the Go client sends min_seq in the query
	for i, body := range seeds[:5] {
		before := fastDecodes.Load()
		var err error
		if i < 2 {
			err = Decode(r, []byte(body), &ProduceBatchParams{})
		} else {
			err = Decode(r, []byte(body), &AppendParams{})
		}
		if err != nil || fastDecodes.Load() != before+1 {
			t.Errorf("%s: err %v, fast decode not taken", body, err)
		}
	}
	if raceEnabled {
		return // allocation bounds do not hold under the race detector
	}
	recs := make([]Record, 100)
	msgs := make([]AppendMessage, 100)
	for i := range recs {
		recs[i].Message = strings.Repeat("x", 100)
		msgs[i] = AppendMessage{ProducerID: 1, Message: recs[i].Message}
	}
	pb, _ := Marshal(ProduceBatchRequest{ProducerID: 1, Topic: "t", Messages: recs})
	ab, _ := Marshal(AppendRequest{Topic: "t", Messages: msgs})
	if n := testing.AllocsPerRun(20, func() {
		var p ProduceBatchParams
		if err := Decode(r, pb, &p); err != nil || len(p.Messages) != 100 {
			t.Fatal(err)
		}
	}); n > 10 {
		t.Errorf("produce_batch of 100 messages: %v allocations, want at most 10 (the fast decode was bypassed)", n)
	}
	if n := testing.AllocsPerRun(20, func() {
		var p AppendParams
		if err := Decode(r, ab, &p); err != nil || len(p.Messages) != 100 {
			t.Fatal(err)
		}
	}); n > 10 {
		t.Errorf("append of 100 messages: %v allocations, want at most 10 (the fast decode was bypassed)", n)
	}
}

// TestReadBodyPresized: ReadBody reads the whole body whatever its
// Content-Length says (exact, short, long, absent), and a body over the
// reader's limit is ETooLarge still.
func TestReadBodyPresized(t *testing.T) {
	body := strings.Repeat("abcdefgh", 1000)
	for _, n := range []int64{int64(len(body)), 10, 1 << 20, 0, -1} {
		r := httptest.NewRequest("POST", "/x", strings.NewReader(body))
		r.ContentLength = n
		got, err := ReadBody(r)
		if err != nil || string(got) != body {
			t.Errorf("Content-Length %d: %d bytes, %v", n, len(got), err)
		}
	}
	r := httptest.NewRequest("POST", "/x", strings.NewReader(body))
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 100)
	if _, err := ReadBody(r); logq.ErrorCode(err) != logq.ETooLarge {
		t.Fatalf("over the limit: %v", err)
	}
}
