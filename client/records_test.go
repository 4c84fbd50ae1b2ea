package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logq/logq/client"
	"github.com/logq/logq/internal/harness/devcluster"
	"github.com/logq/logq/internal/pgtest"
)

// answerDropper is a proxy to a manager that forwards every request but
// drops the answers of the first n produce_batch requests (it closes the
// connection instead): the answer lost after the records were stored.
func answerDropper(t *testing.T, manager string, n int64) (*httptest.Server, *atomic.Int64) {
	u, err := url.Parse(manager)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	var dropped atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/producer/produce_batch" || dropped.Load() >= n {
			proxy.ServeHTTP(w, r)
			return
		}
		dropped.Add(1)
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, r) // stored (or refused) by the manager; the answer goes nowhere
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &dropped
}

// A produce whose answer is lost is sent again by the idempotent producer,
// to the same partition with the same sequence, and stored once: the
// acknowledgement carries the original offsets.
func TestLostAnswerStoredOnce(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Config{Readers: -1})
	ctx := pgtest.Context(t, 60*time.Second)
	admin := clientWithTopic(ctx, t, client.Config{Managers: cl.ManagerURLs()}, "lost")
	proxy, dropped := answerDropper(t, cl.ManagerURLs()[0], 3)
	c := newClient(t, client.Config{Managers: []string{proxy.URL}, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	p, err := c.NewProducer(ctx, "lost", client.ProducerConfig{BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	const n = 60
	var futs []*client.Future
	for i := range n {
		futs = append(futs, p.Send(ctx, client.Record{Value: fmt.Sprint(i)})) // keyless: round robin, fixed at the first send
	}
	p.Close()
	acked := map[string]client.Ack{}
	for i, f := range futs {
		ack, err := f.Wait(ctx)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		acked[fmt.Sprint(i)] = ack
	}
	if dropped.Load() != 3 {
		t.Fatalf("%d answers dropped; want 3", dropped.Load())
	}
	stored := map[string]int{}
	total := 0
	for part := range 3 {
		f, err := admin.Fetch(ctx, "lost", part, 0, client.FetchOptions{Max: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range f.Messages {
			stored[m.Value]++
			total++
			if a := acked[m.Value]; a.Partition != part || a.Offset != m.Offset {
				t.Fatalf("%q stored at %d/%d, acknowledged at %+v", m.Value, part, m.Offset, a)
			}
		}
	}
	if total != n || len(stored) != n {
		t.Fatalf("%d records stored (%d distinct); want %d, each once", total, len(stored), n)
	}
}

// Records of bytes with headers and timestamps round-trip through the
// client; Fetch moves nothing and answers offset_out_of_range past the
// end; ListOffsets answers earliest, latest and by time.
func TestFetchBytesAndOffsets(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Config{Readers: -1})
	ctx := pgtest.Context(t, 60*time.Second)
	c := clientWithTopic(ctx, t, client.Config{Managers: cl.ManagerURLs()}, "bytes")
	p, err := c.NewProducer(ctx, "bytes", client.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1_700_000_000_000)
	recs := []client.Record{
		{Value: "text", Key: "k", Headers: []client.Header{{Key: "h", Value: []byte("v")}, {Key: "null"}}, Timestamp: at.Add(-time.Hour)},
		{Value: string([]byte{0, 0xff, 0xfe}), Key: "\xff", Headers: []client.Header{{Key: "bin", Value: []byte{0xc3, 0x28}}}, Timestamp: at},
		{Value: "late", Timestamp: at.Add(time.Hour)},
	}
	for i := range recs {
		recs[i].Partition = client.Partition(1)
		if _, err := p.Produce(ctx, recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	for range 2 { // fetching twice reads the same: nothing moved
		f, err := c.Fetch(ctx, "bytes", 1, 0, client.FetchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Messages) != 3 || f.NextOffset != 3 || f.HighWatermark != 3 || f.LogStartOffset != 0 {
			t.Fatalf("fetch = %+v", f)
		}
		for i, m := range f.Messages {
			r := recs[i]
			if m.Value != r.Value || m.Key != r.Key || len(m.Headers) != len(r.Headers) || (!r.Timestamp.IsZero() && !m.Timestamp.Equal(r.Timestamp)) {
				t.Fatalf("record %d fetched as %+v; sent %+v", i, m, r)
			}
			for j, h := range m.Headers {
				if h.Key != r.Headers[j].Key || string(h.Value) != string(r.Headers[j].Value) || (h.Value == nil) != (r.Headers[j].Value == nil) {
					t.Fatalf("record %d header %d: %+v; sent %+v", i, j, h, r.Headers[j])
				}
			}
		}
	}
	if _, err := c.Fetch(ctx, "bytes", 1, 4, client.FetchOptions{}); !errors.Is(err, client.ErrOffsetOutOfRange) {
		t.Fatalf("fetch past the end: %v; want offset out of range", err)
	}
	for _, q := range []struct {
		at   int64
		want int64
	}{{client.OffsetEarliest, 0}, {client.OffsetLatest, 3}, {client.OffsetAt(at), 1}, {client.OffsetAt(at.Add(time.Minute)), 2}, {client.OffsetAt(at.Add(2 * time.Hour)), -1}} {
		offs, err := c.ListOffsets(ctx, "bytes", client.Partition(1), q.at)
		if err != nil || len(offs) != 1 || offs[0].Offset != q.want || offs[0].HighWatermark != 3 {
			t.Fatalf("ListOffsets(%d) = %+v, %v; want %d", q.at, offs, err, q.want)
		}
	}
	all, err := c.ListOffsets(ctx, "bytes", nil, client.OffsetLatest)
	if err != nil || len(all) != 3 || all[1].Offset != 3 || all[0].Offset != 0 || all[0].Err != nil {
		t.Fatalf("ListOffsets of every partition = %+v, %v", all, err)
	}
	// A consumer receives the bytes too.
	cons, err := c.NewConsumer(ctx, "bytes", client.ConsumerConfig{Partition: client.Partition(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := consumeAll(ctx, t, cons, 3)
	if got[1].Value != recs[1].Value || got[1].Key != "\xff" || string(got[1].Headers[0].Value) != "\xc3\x28" || !got[1].Timestamp.Equal(at) {
		t.Fatalf("consumed %+v", got[1])
	}
}

// An idempotent producer's partitions are sent independently: while one
// partition's part waits for its answer, records for another partition
// are sent and acknowledged (they do not wait for the slowest partition
// of the batch before), and the held part completes once answered.
func TestSlowPartitionHoldsNoOther(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Config{Readers: -1})
	ctx := pgtest.Context(t, 60*time.Second)
	clientWithTopic(ctx, t, client.Config{Managers: cl.ManagerURLs()}, "slow")
	u, err := url.Parse(cl.ManagerURLs()[0])
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	release, held := make(chan struct{}), make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/producer/produce_batch" {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				t.Error(err)
				return
			}
			var req struct{ Partition *int }
			if json.Unmarshal(body, &req) == nil && req.Partition != nil && *req.Partition == 0 {
				select {
				case held <- struct{}{}:
				default:
				}
				<-release // partition 0's answer is slow
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	c := newClient(t, client.Config{Managers: []string{srv.URL}})
	p, err := c.NewProducer(ctx, "slow", client.ProducerConfig{Linger: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	slow := p.Send(ctx, client.Record{Value: "held", Partition: client.Partition(0)})
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("partition 0's part never reached the manager")
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for i := range 3 {
		if ack, err := p.Send(ctx, client.Record{Value: fmt.Sprint(i), Partition: client.Partition(1)}).Wait(wctx); err != nil || ack.Partition != 1 {
			t.Fatalf("record %d for partition 1 while partition 0 is held: %+v, %v", i, ack, err)
		}
	}
	select {
	case <-slow.Done():
		t.Fatal("partition 0's record acknowledged while its answer is held")
	default:
	}
	close(release)
	if ack, err := slow.Wait(ctx); err != nil || ack.Partition != 0 || ack.Offset != 0 {
		t.Fatalf("partition 0's record after the release: %+v, %v", ack, err)
	}
}
