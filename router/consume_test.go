package router

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/projection"
)

// decodeBatch decodes a ConsumeBatch answer (api.Encoded).
func decodeBatch(t *testing.T, ans any) api.ConsumeBatchAnswer {
	t.Helper()
	enc, ok := ans.(api.Encoded)
	if !ok {
		t.Fatalf("consume_batch answered a %T, not api.Encoded", ans)
	}
	var cb api.ConsumeBatchAnswer
	if err := api.Unmarshal(enc.Bytes(), &cb); err != nil {
		t.Fatalf("consume_batch answer %q: %v", enc.Bytes(), err)
	}
	return cb
}

// batchBroker is a stand-in broker whose /v1/consume answers every
// partition's messages (msgs, with the partition set) in the shape asked
// for; corrupt makes its batch answers lie about their count.
type batchBroker struct {
	srv     *httptest.Server
	msgs    []api.BatchMessage
	corrupt atomic.Bool
	shapes  atomic.Int64 // consumes that asked for shape=batch
}

func newBatchBroker(t *testing.T, msgs []api.BatchMessage) *batchBroker {
	b := &batchBroker{msgs: msgs}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/size":
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(api.BrokerSizeAnswer{Status: "success", Topic: "t", Size: int64(len(msgs))})
			return
		case "/v1/consume":
		case "/v1/fetch":
			q := r.URL.Query()
			part, _ := strconv.Atoi(q.Get("partition"))
			from, _ := strconv.ParseInt(q.Get("offset"), 10, 64)
			out := []api.BatchMessage{}
			for _, m := range msgs {
				if m.Offset >= from {
					m.Partition = part
					out = append(out, m)
				}
			}
			hw, start := int64(len(msgs)), int64(0)
			next := from
			if len(out) > 0 {
				next = out[len(out)-1].Offset + 1
			}
			if q.Get("shape") == api.ShapeBatch {
				b.shapes.Add(1)
			}
			b2, _ := api.Marshal(api.BatchMessagesAnswer{Status: "success", Topic: "t", Partition: part, Shape: api.ShapeBatch, Count: len(out),
				NextOffset: &next, HighWatermark: &hw, LogStartOffset: &start, Messages: out})
			w.Header().Set("Content-Type", "application/json")
			w.Write(b2)
			return
		default:
			http.NotFound(w, r)
			return
		}
		var req api.BrokerConsumeRequest
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &req)
		var out []api.BatchMessage
		for _, m := range msgs[:min(req.Max, len(msgs))] {
			m.Partition = req.Partition
			out = append(out, m)
		}
		var ans any = api.BatchMessagesAnswer{Status: "success", Topic: "t", Partition: req.Partition, Shape: api.ShapeBatch, Count: len(out), Messages: out}
		if req.Shape == api.ShapeBatch {
			b.shapes.Add(1)
			if b.corrupt.Load() {
				ans = api.BatchMessagesAnswer{Status: "success", Topic: "t", Partition: req.Partition, Shape: api.ShapeBatch, Count: 0, Messages: out}
			}
		} else {
			stored := make([]api.StoredMessage, len(out))
			for i, m := range out {
				stored[i] = api.StoredMessage{Offset: m.Offset, Message: m.Message, Key: m.Key, Encoding: m.Encoding, Headers: m.Headers, Timestamp: m.Timestamp}
			}
			ans = api.MessagesAnswer{Status: "success", Topic: "t", Partition: req.Partition, Messages: stored}
		}
		b2, _ := api.Marshal(ans)
		w.Header().Set("Content-Type", "application/json")
		w.Write(b2)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func strp(s string) *string { return &s }

// testMessages are records of every kind an answer carries: keys, null and
// text headers, base64, characters JSON escapes, timestamps.
var testMessages = []api.BatchMessage{
	{Topic: "t", Offset: 0, Message: "plain", Timestamp: 1},
	{Topic: "t", Offset: 1, Message: "<&> \"quoted\" \\ \n\t\u2028 é 😀", Key: strp("k<"), Headers: []api.Header{{Key: "h", Value: strp("v")}, {Key: "null"}}, Timestamp: 1_700_000_000_000},
	{Topic: "t", Offset: 2, Message: "AP/+", Key: strp("/w=="), Encoding: api.EncodingBase64, Headers: []api.Header{{Key: "bin", Value: strp("wyg=")}}, Timestamp: 253402300799999},
}

// consume_batch passes the brokers' messages through: its answer is the
// bytes the general path (decode every message, encode the answer) would
// write, whole-topic with several partitions too, and the fast path is
// the one taken.
func TestConsumeBatchPassesBrokerMessagesThrough(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name       string
		partitions int
		consumer   projection.ConsumerRegistered
	}{
		{"one partition", 1, projection.ConsumerRegistered{ConsumerID: 1, Topic: "t"}},
		{"whole topic of three", 3, projection.ConsumerRegistered{ConsumerID: 1, Topic: "t"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			bb := newBatchBroker(t, testMessages)
			rt := newTestRouter(t, bb.srv.URL, c.partitions, c.consumer)
			ans, err := rt.ConsumeBatch(httptest.NewRequest("GET", "/consumer/consume_batch?consumer_id=1&max=100", nil))
			if err != nil {
				t.Fatal(err)
			}
			cb := decodeBatch(t, ans)
			if len(cb.Messages) != c.partitions*len(testMessages) {
				t.Fatalf("%d messages answered; want %d", len(cb.Messages), c.partitions*len(testMessages))
			}
			// The general path's bytes: the same messages, in the order answered.
			want, err := api.Marshal(api.ConsumeBatchAnswer{Status: api.StatusSuccess, Messages: cb.Messages})
			if err != nil {
				t.Fatal(err)
			}
			if got := ans.(api.Encoded).Bytes(); !bytes.Equal(got, want) {
				t.Fatalf("answer\n%s\nwant\n%s", got, want)
			}
			for i, m := range cb.Messages {
				w := testMessages[i%len(testMessages)]
				w.Partition = m.Partition
				gb, _ := api.Marshal(m)
				wb, _ := api.Marshal(w)
				if !bytes.Equal(gb, wb) {
					t.Fatalf("message %d = %s; want %s", i, gb, wb)
				}
			}
			if p := rt.Paths(); p.PassedThrough != int64(c.partitions) || p.Decoded != 0 {
				t.Fatalf("paths %+v: want every broker answer passed through", p)
			}
			if done := ans.(api.Encoded).Done; done == nil {
				t.Fatal("the answer does not give the brokers' buffers back")
			} else {
				done()
			}
		})
	}
}

// A broker that does not know shape=batch (it answers a MessagesAnswer)
// is decoded, and the answer is the same.
func TestConsumeBatchDecodesAnswerWithoutShape(t *testing.T) {
	t.Parallel()
	hb := newHungBroker(t, 99) // knows no shape; no partition hangs
	rt := newTestRouter(t, hb.srv.URL, 1, projection.ConsumerRegistered{ConsumerID: 1, Topic: "t"})
	ans, err := rt.ConsumeBatch(httptest.NewRequest("GET", "/consumer/consume_batch?consumer_id=1&max=5", nil))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"status":"success","messages":[{"topic":"t","partition":0,"offset":3,"message":"p0","key":null,"timestamp":1000}]}`
	if string(ans.(api.Encoded).Bytes()) != want {
		t.Fatalf("answer %s; want %s", ans, want)
	}
	if p := rt.Paths(); p.Decoded != 1 || p.PassedThrough != 0 {
		t.Fatalf("paths %+v", p)
	}
}

// A batch answer that contradicts itself is a broker failure (503
// unavailable), not messages made up.
func TestConsumeBatchRefusesMalformedBatchAnswer(t *testing.T) {
	t.Parallel()
	bb := newBatchBroker(t, testMessages)
	bb.corrupt.Store(true)
	rt := newTestRouter(t, bb.srv.URL, 1, projection.ConsumerRegistered{ConsumerID: 1, Topic: "t"})
	_, err := rt.ConsumeBatch(httptest.NewRequest("GET", "/consumer/consume_batch?consumer_id=1&max=5", nil))
	if logq.ErrorCode(err) != logq.EUnavailable {
		t.Fatalf("err = %v; want unavailable", err)
	}
}

// A single consume still decodes (it answers one message's fields).
func TestConsumeOneDecodes(t *testing.T) {
	t.Parallel()
	bb := newBatchBroker(t, testMessages[1:])
	rt := newTestRouter(t, bb.srv.URL, 1, projection.ConsumerRegistered{ConsumerID: 1, Topic: "t"})
	ans, err := rt.Consume(httptest.NewRequest("GET", "/consumer/consume?consumer_id=1", nil))
	if err != nil {
		t.Fatal(err)
	}
	ca := ans.(api.ConsumeAnswer)
	if ca.Message == nil || *ca.Message != testMessages[1].Message || *ca.Key != "k<" || len(ca.Headers) != 2 || bb.shapes.Load() != 0 {
		t.Fatalf("consume = %+v (shape asked %d times)", ca, bb.shapes.Load())
	}
}

// A fetch passes the brokers' messages through too: its answer is the
// bytes the general path would write, with each partition's marks.
func TestFetchPassesBrokerMessagesThrough(t *testing.T) {
	t.Parallel()
	bb := newBatchBroker(t, testMessages)
	rt := newTestRouter(t, bb.srv.URL, 3)
	ans, err := rt.Fetch(httptest.NewRequest("GET", "/consumer/fetch?topic=t&offsets=0:0,1:1,2:3", nil))
	if err != nil {
		t.Fatal(err)
	}
	want := api.FetchAnswer{Status: api.StatusSuccess, Topic: "t", Messages: []api.BatchMessage{}}
	for part, from := range []int64{0, 1, 3} {
		fp := api.FetchedPartition{Partition: part, NextOffset: from, HighWatermark: 3}
		for _, m := range testMessages[from:] {
			m.Partition = part
			want.Messages = append(want.Messages, m)
			fp.NextOffset = m.Offset + 1
		}
		want.Partitions = append(want.Partitions, fp)
	}
	wb, _ := api.Marshal(want)
	if got := ans.(api.Encoded).Bytes(); !bytes.Equal(got, wb) {
		t.Fatalf("fetch answer\n%s\nwant\n%s", got, wb)
	}
	if p := rt.Paths(); p.PassedThrough != 3 || p.Decoded != 0 || bb.shapes.Load() != 3 {
		t.Fatalf("paths %+v, shape asked %d times: want every broker answer passed through", p, bb.shapes.Load())
	}
	ans.(api.Encoded).Done()
}
