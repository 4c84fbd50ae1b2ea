package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/client"
)

// These tests pin the client's own behaviour (error mapping, retries,
// batching) against small fake HTTP servers; live_test.go runs it against a
// real cluster.

func newClient(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func fakeServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func failure(w http.ResponseWriter, code, msg string) {
	writeJSON(w, logq.HTTPStatus(code), map[string]string{"status": "failure", "code": code, "message": msg})
}

func TestErrorsMapToSentinels(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		body   string
		want   error
		msg    string
	}{
		{"topic not found", 404, `{"status":"failure","code":"topic_not_found","message":"topic \"x\" not found"}`, client.ErrTopicNotFound, `topic "x" not found`},
		{"exists", 409, `{"status":"failure","code":"topic_exists","message":"topic \"x\" exists"}`, client.ErrTopicExists, `topic "x" exists`},
		{"no code 409", 409, `{"status":"failure","message":"nope"}`, client.ErrConflict, "nope"},
		{"no code 404", 404, `not json`, client.ErrNotFound, ""},
		{"500", 500, `{"status":"failure","code":"internal","message":"internal error"}`, client.ErrInternal, "internal error"},
		{"400", 400, `{"status":"failure","code":"invalid","message":"bad"}`, client.ErrInvalid, "bad"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			})
			c := newClient(t, client.Config{Managers: []string{s.URL}})
			_, err := c.DescribeTopic(context.Background(), "x")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v; want errors.Is %v", err, tc.want)
			}
			if !errors.Is(err, &logq.Error{Code: logq.ErrorCode(tc.want)}) {
				t.Fatalf("err = %v does not match a logq.Error of its code", err)
			}
			var ce *client.Error
			if !errors.As(err, &ce) || ce.StatusCode != tc.status {
				t.Fatalf("err = %#v; want *client.Error with status %d", err, tc.status)
			}
			var le *logq.Error
			if !errors.As(err, &le) || le.Code != logq.ErrorCode(tc.want) {
				t.Fatalf("errors.As *logq.Error = %v", le)
			}
			if tc.msg != "" && err.Error() != tc.msg {
				t.Fatalf("message = %q; want %q", err.Error(), tc.msg)
			}
		})
	}
}

func TestRetriesMoveToTheNextManager(t *testing.T) {
	t.Parallel()
	// A dead address first, then a manager that answers 503 twice.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	var calls atomic.Int32
	s := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			failure(w, logq.ENotWriter, "no writer")
			return
		}
		writeJSON(w, 200, map[string]any{"status": "success", "topics": []string{"b", "a"}})
	})
	c := newClient(t, client.Config{Managers: []string{dead, s.URL}, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	topics, err := c.ListTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(topics) != 2 || topics[0] != "a" {
		t.Fatalf("topics = %v", topics)
	}
	if calls.Load() != 3 {
		t.Fatalf("calls = %d; want 3", calls.Load())
	}
}

func TestRetriesAreBounded(t *testing.T) {
	t.Parallel()
	s := fakeServer(t, func(w http.ResponseWriter, r *http.Request) { failure(w, logq.EUnavailable, "down") })
	c := newClient(t, client.Config{Managers: []string{s.URL}, RetryTimeout: 50 * time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	_, err := c.ListTopics(context.Background())
	if !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("err = %v; want unavailable", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	c2 := newClient(t, client.Config{Managers: []string{dead}, RetryTimeout: 30 * time.Millisecond, MinBackoff: time.Millisecond})
	_, err = c2.ListTopics(context.Background())
	var ce *client.Error
	if !errors.Is(err, client.ErrUnavailable) || !errors.As(err, &ce) || ce.StatusCode != 0 {
		t.Fatalf("err = %v; want a transport error mapped to unavailable", err)
	}
	// Not retried: a 404.
	var n atomic.Int32
	s3 := fakeServer(t, func(w http.ResponseWriter, r *http.Request) { n.Add(1); failure(w, logq.ETopicNotFound, "no") })
	c3 := newClient(t, client.Config{Managers: []string{s3.URL}})
	if _, err := c3.DescribeTopic(context.Background(), "x"); !errors.Is(err, client.ErrTopicNotFound) || n.Load() != 1 {
		t.Fatalf("err = %v after %d calls; want one call, topic not found", err, n.Load())
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	t.Parallel()
	s := fakeServer(t, func(w http.ResponseWriter, r *http.Request) { failure(w, logq.EUnavailable, "down") })
	c := newClient(t, client.Config{Managers: []string{s.URL}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := c.ListTopics(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v; want deadline exceeded", err)
	}
}

// fakeProduce serves produce_batch: partition = index of the message in the
// request mod 2, offsets counted per partition; messages whose text is
// "fail" fail once with unavailable, "bad" always with invalid.
type fakeProduce struct {
	mu      sync.Mutex
	batches []int
	next    [2]int64
	failed  map[string]bool
	minSeqs []string
}

func (f *fakeProduce) handler(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/producer/register":
		writeJSON(w, 200, map[string]any{"status": "success", "producer_id": 7, "seq": 42})
		return
	case "/producer/produce_batch":
	default:
		failure(w, logq.ENotFound, "no route")
		return
	}
	var req struct {
		Topic      string `json:"topic"`
		ProducerID int64  `json:"producer_id"`
		Messages   []struct {
			Message string `json:"message"`
			Key     string `json:"key"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.ProducerID != 7 {
		failure(w, logq.EInvalid, "bad request")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, len(req.Messages))
	f.minSeqs = append(f.minSeqs, r.URL.Query().Get("min_seq"))
	var results []any
	for i, m := range req.Messages {
		switch {
		case m.Message == "bad":
			results = append(results, map[string]any{"error": map[string]string{"code": "invalid", "message": "bad message"}})
		case m.Message == "fail" && !f.failed[m.Key]:
			f.failed[m.Key] = true
			results = append(results, map[string]any{"error": map[string]string{"code": "unavailable", "message": "broker down"}})
		default:
			p := i % 2
			results = append(results, map[string]any{"partition": p, "offset": f.next[p]})
			f.next[p]++
		}
	}
	writeJSON(w, 200, map[string]any{"status": "success", "results": results})
}

func TestProducerBatchesAndReportsPerMessage(t *testing.T) {
	t.Parallel()
	fp := &fakeProduce{failed: map[string]bool{}}
	s := fakeServer(t, fp.handler)
	c := newClient(t, client.Config{Managers: []string{s.URL}, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	ctx := context.Background()
	// The batching of produce_batch without idempotence (an idempotent
	// producer partitions itself, by the topic's map, which this fake
	// does not serve).
	p, err := c.NewProducer(ctx, "t", client.ProducerConfig{BatchSize: 10, Linger: time.Hour, NotIdempotent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.ID() != 7 || c.Seq() != 42 {
		t.Fatalf("producer id %d, seq %d", p.ID(), c.Seq())
	}
	var futs []*client.Future
	for i := 0; i < 25; i++ {
		futs = append(futs, p.Send(ctx, client.Record{Value: "m"}))
	}
	bad := p.Send(ctx, client.Record{Value: "bad"})
	retried := p.Send(ctx, client.Record{Value: "fail", Key: "k"})
	// Two full batches went out without waiting for the linger; Flush sends
	// the rest.
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i, f := range futs {
		select {
		case <-f.Done():
		default:
			t.Fatalf("future %d not done after Flush", i)
		}
		if _, err, ok := f.Result(); !ok || err != nil {
			t.Fatalf("future %d: %v", i, err)
		}
	}
	if _, err := bad.Wait(ctx); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("bad message: err = %v; want invalid", err)
	}
	if _, err := retried.Wait(ctx); err != nil {
		t.Fatalf("retryable failure was not retried: %v", err)
	}
	fp.mu.Lock()
	batches, minSeqs := append([]int(nil), fp.batches...), fp.minSeqs
	fp.mu.Unlock()
	if len(batches) != 4 || batches[0] != 10 || batches[1] != 10 || batches[2] != 7 || batches[3] != 1 {
		t.Fatalf("batches = %v; want [10 10 7 1]", batches)
	}
	if minSeqs[0] != "42" {
		t.Fatalf("produce did not carry min_seq: %q", minSeqs[0])
	}
	// Acks of one partition have increasing offsets in send order.
	last := map[int]int64{0: -1, 1: -1}
	for _, f := range futs {
		ack, _ := f.Wait(ctx)
		if ack.Offset <= last[ack.Partition] {
			t.Fatalf("offsets out of order: %+v after %d", ack, last[ack.Partition])
		}
		last[ack.Partition] = ack.Offset
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Send(ctx, client.Record{Value: "late"}).Wait(ctx); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
}

func TestProducerLinger(t *testing.T) {
	t.Parallel()
	fp := &fakeProduce{failed: map[string]bool{}}
	s := fakeServer(t, fp.handler)
	c := newClient(t, client.Config{Managers: []string{s.URL}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := c.NewProducer(ctx, "t", client.ProducerConfig{Linger: 5 * time.Millisecond, NotIdempotent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Without Flush, the linger timer sends the batch.
	if _, err := p.Produce(ctx, client.Record{Value: "one"}); err != nil {
		t.Fatal(err)
	}
}

func TestConsumerIteratorKeepsUnreadMessages(t *testing.T) {
	t.Parallel()
	var polls atomic.Int32
	s := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/consumer/register":
			writeJSON(w, 200, map[string]any{"status": "success", "consumer_id": 3, "seq": 5})
		case "/consumer/consume_batch":
			if r.URL.Query().Get("consumer_id") != "3" || r.URL.Query().Get("min_seq") != "5" {
				failure(w, logq.EInvalid, "bad query "+r.URL.RawQuery)
				return
			}
			if polls.Add(1) > 1 {
				writeJSON(w, 200, map[string]any{"status": "success", "messages": []any{}})
				return
			}
			writeJSON(w, 200, map[string]any{"status": "success", "messages": []map[string]any{
				{"partition": 0, "offset": 0, "message": "a"},
				{"partition": 1, "offset": 0, "message": "b", "key": "k"},
				{"partition": 0, "offset": 1, "message": "c"},
			}})
		default:
			failure(w, logq.ENotFound, "no route")
		}
	})
	c := newClient(t, client.Config{Managers: []string{s.URL}})
	ctx := context.Background()
	cons, err := c.NewConsumer(ctx, "t", client.ConsumerConfig{MaxWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for m, err := range cons.Messages(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if m.Value != "a" || m.Topic != "t" {
			t.Fatalf("first message %+v", m)
		}
		break
	}
	rest, err := cons.Poll(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 2 || rest[0].Value != "b" || rest[0].Key != "k" || rest[1].Value != "c" || polls.Load() != 1 {
		t.Fatalf("rest = %+v after %d polls", rest, polls.Load())
	}
	empty, err := cons.Poll(ctx, 10)
	if err != nil || len(empty) != 0 {
		t.Fatalf("poll = %v, %v; want empty", empty, err)
	}
}

func TestNewValidatesManagerURLs(t *testing.T) {
	t.Parallel()
	if _, err := client.New(client.Config{Managers: []string{"ftp://x"}}); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("err = %v; want invalid", err)
	}
	c, err := client.New(client.Config{Managers: []string{"127.0.0.1:1, http://h:2/"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Managers(); len(got) != 2 || got[0] != "http://127.0.0.1:1" || got[1] != "http://h:2" {
		t.Fatalf("managers = %v", got)
	}
}
