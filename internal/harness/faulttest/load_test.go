package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logq/logq/api"
	"github.com/logq/logq/client"
)

// Load shape. Each producer sends burst messages per tick, keyed so that
// they cover every partition (each key stays in one partition, so per-
// producer order within a partition is checkable); consumers read the whole
// topic.
const (
	numProducers = 4
	numConsumers = 3
	tick         = 10 * time.Millisecond
	burst        = 2
	payloadSize  = 64
)

// countingTransport counts the attempts that may leave a duplicate or a
// lost-in-flight delivery behind: failed attempts (no answer, or an error
// answer) and, for produce_batch, the messages in them and the messages
// answered with a per-message error (the client resends those).
type countingTransport struct {
	base *http.Transport

	failedAttempts atomic.Int64 // transport errors and non-2xx answers
	resent         atomic.Int64 // produce_batch messages in failed attempts or answered with an error
}

func newCountingTransport() *countingTransport {
	return &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
}

func (c *countingTransport) CloseIdleConnections() { c.base.CloseIdleConnections() }

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	batch := strings.HasSuffix(req.URL.Path, "/producer/produce_batch")
	resp, err := c.base.RoundTrip(req)
	if err != nil || resp.StatusCode/100 != 2 {
		c.failedAttempts.Add(1)
		if batch {
			c.resent.Add(int64(requestMessages(req)))
		}
		return resp, err
	}
	if !batch {
		return resp, nil
	}
	// Count the per-message errors, then hand the body on.
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		c.failedAttempts.Add(1)
		c.resent.Add(int64(requestMessages(req)))
		return resp, nil
	}
	var ans struct {
		Results []struct {
			Error json.RawMessage `json:"error"`
		} `json:"results"`
	}
	if json.Unmarshal(body, &ans) == nil {
		for _, r := range ans.Results {
			if len(r.Error) > 0 && string(r.Error) != "null" {
				c.resent.Add(1)
			}
		}
	}
	return resp, nil
}

// requestMessages counts the messages of a produce_batch request.
func requestMessages(req *http.Request) int {
	if req.GetBody == nil {
		return 0
	}
	rc, err := req.GetBody()
	if err != nil {
		return 0
	}
	defer rc.Close()
	var body struct {
		Messages []json.RawMessage `json:"messages"`
	}
	json.NewDecoder(rc).Decode(&body)
	return len(body.Messages)
}

func newClient(t testing.TB, c *cluster) (*client.Client, *countingTransport) {
	t.Helper()
	tr := newCountingTransport()
	urls := make([]string, len(c.managers))
	for i, m := range c.managers {
		urls[i] = m.url // every manager: the client moves on when one dies
	}
	cl, err := client.New(client.Config{
		Managers:       urls,
		HTTPClient:     &http.Client{Transport: tr},
		RetryTimeout:   60 * time.Second,
		MinBackoff:     20 * time.Millisecond,
		MaxBackoff:     250 * time.Millisecond,
		RequestTimeout: 15 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cl, tr
}

// ack is one acknowledged message.
type ack struct {
	partition int
	offset    int64
	sentAt    time.Time
	ackedAt   time.Time
}

// producerLoad is one producer and what happened to each of its messages,
// by sequence number (in the payload: "p<index>-<seq>-").
type producerLoad struct {
	index int
	cl    *client.Client
	tr    *countingTransport
	prod  *client.Producer
	keys  []string // keys[i] lands in partition i

	mu     sync.Mutex
	sent   int64 // sequence numbers 0..sent-1 were sent
	acks   map[int64]ack
	failed map[int64]error
}

func payload(producer int, seq int64) string {
	s := fmt.Sprintf("p%d-%d-", producer, seq)
	return s + strings.Repeat("x", max(payloadSize-len(s), 0))
}

// parsePayload returns the producer and sequence number of a payload.
func parsePayload(s string) (producer int, seq int64, ok bool) {
	rest, ok := strings.CutPrefix(s, "p")
	if !ok {
		return 0, 0, false
	}
	ps, rest, ok1 := strings.Cut(rest, "-")
	ss, _, ok2 := strings.Cut(rest, "-")
	p, err1 := strconv.Atoi(ps)
	n, err2 := strconv.ParseInt(ss, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || p < 0 || n < 0 {
		return 0, 0, false
	}
	return p, n, s == payload(p, n)
}

// consumerLoad is one consumer and the messages it received, per
// partition, in the order received.
type consumerLoad struct {
	index int
	cl    *client.Client
	tr    *countingTransport
	cons  *client.Consumer

	receiver
}

// receiver is what a consumer of the workload received, per partition in
// the order received, and how many polls failed; mu guards it (and the
// fields of the load that embeds it).
type receiver struct {
	mu        sync.Mutex
	got       map[int][]received
	pollFails int
}

// pollUntil polls until stop is set (finishing the poll in flight: nothing
// it consumed is dropped) or ctx is cancelled, recording what each poll
// returns and retrying a failed one after a short pause.
func (r *receiver) pollUntil(ctx context.Context, stop *atomic.Bool, poll func(context.Context) ([]client.Message, error)) {
	retry := time.NewTicker(50 * time.Millisecond)
	defer retry.Stop()
	for !stop.Load() && ctx.Err() == nil {
		msgs, err := poll(ctx)
		if err != nil {
			r.mu.Lock()
			r.pollFails++
			r.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-retry.C:
			}
			continue
		}
		r.mu.Lock()
		for _, m := range msgs {
			r.got[m.Partition] = append(r.got[m.Partition], received{offset: m.Offset, value: m.Value})
		}
		r.mu.Unlock()
	}
}

type received struct {
	offset int64
	value  string
}

// workload runs producers and consumers against a cluster.
type workload struct {
	t         *testing.T
	producers []*producerLoad
	consumers []*consumerLoad

	stopProduce context.CancelFunc
	produceWG   sync.WaitGroup
	// groupMembers consume as members of consumer groups (groupload_test.go),
	// stopped with the consumers.
	groupMembers []*groupMemberLoad

	stopConsume atomic.Bool
	consumeCtx  context.Context
	cancelCons  context.CancelFunc
	consumeWG   sync.WaitGroup
}

// keysForPartitions returns one key per partition that the manager (and
// the client) hash into it.
func keysForPartitions(n int) []string {
	keys := make([]string, n)
	found := 0
	for i := 0; found < n; i++ {
		k := fmt.Sprintf("key-%d", i)
		if p := api.KeyPartition(k, n); keys[p] == "" {
			keys[p] = k
			found++
		}
	}
	return keys
}

func startWorkload(t *testing.T, c *cluster) *workload {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := &workload{t: t}
	keys := keysForPartitions(numPartitions)
	for i := range numConsumers {
		cl, tr := newClient(t, c)
		cons, err := cl.NewConsumer(ctx, topicName, client.ConsumerConfig{MaxWait: 300 * time.Millisecond, BatchSize: 200})
		if err != nil {
			t.Fatal(err)
		}
		w.consumers = append(w.consumers, &consumerLoad{index: i, cl: cl, tr: tr, cons: cons, receiver: receiver{got: map[int][]received{}}})
	}
	w.groupMembers = startGroupMembers(ctx, t, c)
	for i := range numProducers {
		cl, tr := newClient(t, c)
		prod, err := cl.NewProducer(ctx, topicName, client.ProducerConfig{Linger: 5 * time.Millisecond, BatchSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		w.producers = append(w.producers, &producerLoad{index: i, cl: cl, tr: tr, prod: prod, keys: keys,
			acks: map[int64]ack{}, failed: map[int64]error{}})
	}
	pctx, pcancel := context.WithCancel(context.Background())
	w.stopProduce = pcancel
	for _, p := range w.producers {
		w.produceWG.Go(func() { p.run(pctx) })
	}
	w.consumeCtx, w.cancelCons = context.WithCancel(context.Background())
	for _, cs := range w.consumers {
		w.consumeWG.Go(func() { cs.run(w.consumeCtx, &w.stopConsume) })
	}
	for _, m := range w.groupMembers {
		w.consumeWG.Go(func() { m.run(w.consumeCtx, &w.stopConsume) })
	}
	t.Cleanup(w.shutdown)
	return w
}

// run sends burst messages per tick until ctx is done, then waits for the
// fate of every message sent.
func (p *producerLoad) run(ctx context.Context) {
	type inflight struct {
		seq    int64
		sentAt time.Time
		fut    *client.Future
	}
	futs := make(chan inflight, 1<<16)
	var collect sync.WaitGroup
	collect.Go(func() {
		for f := range futs {
			a, err := f.fut.Wait(context.Background())
			p.mu.Lock()
			if err != nil {
				p.failed[f.seq] = err
			} else {
				p.acks[f.seq] = ack{partition: a.Partition, offset: a.Offset, sentAt: f.sentAt, ackedAt: time.Now()}
			}
			p.mu.Unlock()
		}
	})
	t := time.NewTicker(tick)
	defer t.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-t.C:
			for range burst {
				p.mu.Lock()
				seq := p.sent
				p.sent++
				p.mu.Unlock()
				rec := client.Record{Key: p.keys[seq%int64(len(p.keys))], Value: payload(p.index, seq)}
				futs <- inflight{seq: seq, sentAt: time.Now(), fut: p.prod.Send(context.Background(), rec)}
			}
		}
	}
	close(futs)
	p.prod.Close() // sends what is queued; every future completes
	collect.Wait()
}

// run polls until stop is set (finishing the poll in flight: nothing it
// consumed is dropped) or ctx is cancelled.
func (c *consumerLoad) run(ctx context.Context, stop *atomic.Bool) {
	c.pollUntil(ctx, stop, func(ctx context.Context) ([]client.Message, error) { return c.cons.Poll(ctx, 200) })
}

// acked returns the number of acknowledged messages so far.
func (w *workload) acked() int {
	n := 0
	for _, p := range w.producers {
		p.mu.Lock()
		n += len(p.acks)
		p.mu.Unlock()
	}
	return n
}

// runFor waits until n more messages have been acknowledged (the load's own
// pace measures the phase; no sleeping).
func (w *workload) runFor(ctx context.Context, n int) {
	w.t.Helper()
	target := w.acked() + n
	waitFor(w.t, ctx, fmt.Sprintf("%d more acknowledged messages", n), func() (bool, error) {
		return w.acked() >= target, nil
	})
}

// recovered waits until every partition has acknowledged a message sent
// after at, and returns how long after at the last of them was
// acknowledged: the time the cluster took to serve every partition again.
func (w *workload) recovered(ctx context.Context, at time.Time) time.Duration {
	w.t.Helper()
	var worst time.Duration
	waitFor(w.t, ctx, "every partition to acknowledge a message sent after the fault", func() (bool, error) {
		first := map[int]time.Time{}
		for _, p := range w.producers {
			p.mu.Lock()
			for _, a := range p.acks {
				if a.sentAt.After(at) {
					if f, ok := first[a.partition]; !ok || a.ackedAt.Before(f) {
						first[a.partition] = a.ackedAt
					}
				}
			}
			p.mu.Unlock()
		}
		if len(first) < numPartitions {
			return false, nil
		}
		worst = 0
		for _, f := range first {
			worst = max(worst, f.Sub(at))
		}
		return true, nil
	})
	return worst
}

// stopProducers stops sending and waits until every message sent is
// acknowledged or has failed.
func (w *workload) stopProducers() {
	w.stopProduce()
	w.produceWG.Wait()
}

// stopConsumers lets every consumer finish its poll in flight and stop
// (a group member then commits and leaves its group).
func (w *workload) stopConsumers() {
	w.stopConsume.Store(true)
	done := make(chan struct{})
	go func() { w.consumeWG.Wait(); close(done) }()
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		w.t.Errorf("consumers did not stop within a minute; cancelling their polls")
		w.cancelCons()
		<-done
	}
}

// shutdown stops everything still running and closes the clients.
func (w *workload) shutdown() {
	w.stopProduce()
	w.produceWG.Wait()
	w.stopConsume.Store(true)
	w.cancelCons()
	w.consumeWG.Wait()
	for _, p := range w.producers {
		p.cl.Close()
	}
	for _, c := range w.consumers {
		c.cl.Close()
	}
	for _, m := range w.groupMembers {
		m.cl.Close()
	}
}
