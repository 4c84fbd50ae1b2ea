package manager

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
)

// HeaderMinSeq asks a broker to apply the event log up to this seq before
// checking ownership (docs/api.md, Broker API).
const HeaderMinSeq = api.HeaderMinSeq

const (
	maxBrokerAnswer    = 256 << 20
	multiPartitionPoll = 250 * time.Millisecond
)

// newPeerClient is the one HTTP client to brokers and to the writer:
// keep-alive, many idle connections per host, no proxy, no overall timeout
// (each call sets its own deadline, long-polls included).
func newPeerClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     false,
	}}
}

// owner is the broker a request for a partition goes to.
type owner struct {
	broker  int64
	address string
}

// brokerURL turns a registered address (host:port or a URL) into a base URL.
func brokerURL(addr string) string {
	if strings.Contains(addr, "://") {
		return strings.TrimRight(addr, "/")
	}
	return "http://" + addr
}

// callBroker sends one request to a broker, carrying minSeq, and decodes a
// 200 answer into out. An error answer becomes the broker's logq error
// (its internal errors as EUnavailable, without their text); a broker that
// cannot be reached is EUnavailable.
func (m *Manager) callBroker(ctx context.Context, o owner, minSeq int64, op, method, path string, query url.Values, in, out any, extra time.Duration) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, m.cfg.BrokerTimeout+extra)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := api.Marshal(in)
		if err != nil {
			return logq.Internal(err, "encode broker request")
		}
		body = bytes.NewReader(b)
	}
	u := brokerURL(o.address) + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		m.metrics.brokerRequests.WithLabelValues(op, logq.EInvalid).Inc()
		return logq.Errorf(logq.EUnavailable, "broker %d has an unusable address %q", o.broker, o.address)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(HeaderMinSeq, strconv.FormatInt(minSeq, 10))
	resp, err := m.peers.Do(req)
	if err != nil {
		if parent.Err() != nil {
			m.metrics.brokerRequests.WithLabelValues(op, logq.ETimeout).Inc()
			return logq.Errorf(logq.ETimeout, "request cancelled")
		}
		m.metrics.brokerRequests.WithLabelValues(op, logq.EUnavailable).Inc()
		return logq.Errorf(logq.EUnavailable, "broker %d at %s is unreachable; retry", o.broker, o.address)
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // keep the connection reusable
		resp.Body.Close()
	}()
	if resp.StatusCode == http.StatusOK {
		if err := api.DecodeReader(io.LimitReader(resp.Body, maxBrokerAnswer), out); err != nil {
			m.metrics.brokerRequests.WithLabelValues(op, logq.EUnavailable).Inc()
			return logq.Errorf(logq.EUnavailable, "broker %d sent a malformed answer; retry", o.broker)
		}
		m.metrics.brokerRequests.WithLabelValues(op, "ok").Inc()
		return nil
	}
	var eb api.ErrorBody
	api.DecodeReader(io.LimitReader(resp.Body, 64<<10), &eb)
	code := eb.Code
	if code == "" || logq.HTTPStatus(code) == http.StatusInternalServerError && code != logq.EInternal {
		code = logq.CodeForStatus(resp.StatusCode)
	}
	m.metrics.brokerRequests.WithLabelValues(op, code).Inc()
	if code == logq.EInternal {
		return logq.Errorf(logq.EUnavailable, "broker %d failed; retry", o.broker)
	}
	msg := eb.Message
	if msg == "" {
		msg = fmt.Sprintf("broker %d answered %d", o.broker, resp.StatusCode)
	}
	return &logq.Error{Code: code, Message: msg}
}

// ownerOf returns the live owner of a partition and the applied seq.
func (m *Manager) ownerOf(topic string, partition int) (owner, int64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	t, ok := m.state.Topics[topic]
	if !ok {
		return owner{}, 0, logq.Errorf(logq.ETopicNotFound, "topic %q not found", topic)
	}
	if partition < 0 || partition >= len(t.Partitions) {
		return owner{}, 0, logq.Errorf(logq.EInvalid, "topic %q has partitions 0..%d; no partition %d", topic, len(t.Partitions)-1, partition)
	}
	b, ok := m.state.Brokers[t.Partitions[partition].Broker]
	if !ok || !b.Alive || b.Removed {
		return owner{}, 0, logq.Errorf(logq.EUnavailable, "partition %d of topic %q has no live broker (reassignment pending); retry", partition, topic)
	}
	return owner{broker: b.ID, address: b.Address}, m.state.Seq, nil
}

// onPartition runs call against a partition's owner. On a fenced answer
// (this manager's view is older than the broker's) it waits, bounded, for
// a newer event, re-resolves the owner and tries once more.
func (m *Manager) onPartition(ctx context.Context, topic string, partition int, call func(o owner, seq int64) error) error {
	o, seq, err := m.ownerOf(topic, partition)
	if err != nil {
		return err
	}
	err = call(o, seq)
	if logq.ErrorCode(err) != logq.EFenced {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, m.cfg.MinSeqWait)
	m.WaitApplied(wctx, seq+1) // best effort: retry even without news
	cancel()
	if o, seq, err = m.ownerOf(topic, partition); err != nil {
		return err
	}
	return call(o, seq)
}

// counter returns the named round-robin counter.
func (m *Manager) counter(name string) *atomic.Uint64 {
	if c, ok := m.rr.Load(name); ok {
		return c.(*atomic.Uint64)
	}
	c, _ := m.rr.LoadOrStore(name, new(atomic.Uint64))
	return c.(*atomic.Uint64)
}

// partitionerFor checks the producer (and the topic, when given: it must be
// the producer's) and captures what choosing a partition needs.
func (m *Manager) partitionerFor(producerID int64, topic string) (*api.Partitioner, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	prod, ok := m.state.Producers[producerID]
	if !ok {
		return nil, logq.Errorf(logq.EProducerNotFound, "producer %d not found; register it first", producerID)
	}
	m.touch(kindProducer, producerID, prod.Inactive) // any request of a producer counts as a sign of life
	if topic == "" {
		topic = prod.Topic
	} else if topic != prod.Topic {
		return nil, logq.Errorf(logq.EInvalid, "producer %d is registered for topic %q, not %q", producerID, prod.Topic, topic)
	}
	t, ok := m.state.Topics[topic]
	if !ok {
		return nil, logq.Errorf(logq.ETopicNotFound, "topic %q not found", topic)
	}
	pt := &api.Partitioner{Topic: topic, ProducerID: producerID, N: len(t.Partitions), Fixed: prod.Partition, RR: m.counter("p/" + topic)}
	for i := range t.Partitions {
		if m.state.Writable(topic, i) {
			pt.Writable = append(pt.Writable, i)
		}
	}
	return pt, nil
}

// KeyPartition is the partition of a key among n (api.KeyPartition).
func KeyPartition(key string, n int) int { return api.KeyPartition(key, n) }

func (m *Manager) handleProduce(r *http.Request, _ httprouter.Params) (any, error) {
	var p api.ProduceParams
	if err := m.decode(r, &p); err != nil {
		return nil, err
	}
	req, err := p.Request(m.cfg.MaxMessageBytes)
	if err != nil {
		return nil, err
	}
	pt, err := m.partitionerFor(req.ProducerID, req.Topic)
	if err != nil {
		return nil, err
	}
	partition, err := pt.Pick(req.Partition, req.Key)
	if err != nil {
		return nil, err
	}
	base, err := m.appendTo(r.Context(), pt.Topic, partition, []api.AppendMessage{{ProducerID: req.ProducerID, Key: req.Key, Message: req.Message}})
	if err != nil {
		return nil, err
	}
	return api.ProduceAnswer{Status: success, Partition: partition, Offset: base}, nil
}

func (m *Manager) handleProduceBatch(r *http.Request, _ httprouter.Params) (any, error) {
	var p api.ProduceBatchParams
	if err := m.decode(r, &p); err != nil {
		return nil, err
	}
	req, err := p.Request(m.cfg.MaxBatchMessages, m.cfg.MaxMessageBytes)
	if err != nil {
		return nil, err
	}
	pt, err := m.partitionerFor(req.ProducerID, req.Topic)
	if err != nil {
		return nil, err
	}

	// Choose every message's partition first: bad input changes nothing.
	n := len(req.Messages)
	msgs := make([]api.AppendMessage, n)
	parts := make([]int, n)
	results := make([]api.BatchResult, n)
	groups := map[int][]int{} // partition → indexes into msgs, in order
	for i, rec := range req.Messages {
		msgs[i] = api.AppendMessage{ProducerID: req.ProducerID, Key: rec.Key, Message: rec.Message}
		parts[i], err = pt.Pick(rec.Partition, rec.Key)
		switch {
		case err == nil:
			groups[parts[i]] = append(groups[parts[i]], i)
		case logq.ErrorCode(err) == logq.EInvalid:
			return nil, api.ItemError(i, err)
		default:
			results[i].Error = &api.ItemFailure{Code: logq.ErrorCode(err), Message: logq.ErrorMessage(err)}
		}
	}

	var wg sync.WaitGroup
	for partition, idx := range groups {
		wg.Go(func() {
			batch := make([]api.AppendMessage, len(idx))
			for j, i := range idx {
				batch[j] = msgs[i]
			}
			base, err := m.appendTo(r.Context(), pt.Topic, partition, batch)
			for j, i := range idx {
				if err != nil {
					results[i].Error = &api.ItemFailure{Code: logq.ErrorCode(err), Message: logq.ErrorMessage(err)}
					continue
				}
				part, off := partition, base+int64(j)
				results[i].Partition, results[i].Offset = &part, &off
			}
		})
	}
	wg.Wait()

	failed := 0
	var first *api.ItemFailure
	for _, res := range results {
		if res.Error != nil {
			failed++
			if first == nil {
				first = res.Error
			}
		}
	}
	if failed == len(results) {
		return nil, &logq.Error{Code: first.Code, Message: first.Message}
	}
	return api.ProduceBatchAnswer{Status: success, Results: results}, nil
}

// consumerPartitions checks the consumer (and the topic, when given) and
// returns its topic and the partitions to read: the one asked for, which
// must exist and be one the consumer reads, or else all of its own.
func (m *Manager) consumerPartitions(consumerID int64, topic string, only *int) (string, []int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, ok := m.state.Consumers[consumerID]
	if !ok {
		return "", nil, logq.Errorf(logq.EConsumerNotFound, "consumer %d not found; register it first", consumerID)
	}
	m.touch(kindConsumer, consumerID, c.Inactive) // any request of a consumer counts as a sign of life
	if topic == "" {
		topic = c.Topic
	} else if topic != c.Topic {
		return "", nil, logq.Errorf(logq.EInvalid, "consumer %d is registered for topic %q, not %q", consumerID, c.Topic, topic)
	}
	t, ok := m.state.Topics[topic]
	if !ok {
		return "", nil, logq.Errorf(logq.ETopicNotFound, "topic %q not found", topic)
	}
	switch {
	case only != nil && *only >= len(t.Partitions):
		return "", nil, logq.Errorf(logq.EInvalid, "topic %q has partitions 0..%d; no partition %d", topic, len(t.Partitions)-1, *only)
	case only != nil && c.Partition != nil && *c.Partition != *only:
		return "", nil, logq.Errorf(logq.EInvalid, "consumer %d is registered for partition %d, not %d", consumerID, *c.Partition, *only)
	case only != nil:
		return topic, []int{*only}, nil
	case c.Partition != nil:
		return topic, []int{*c.Partition}, nil
	}
	parts := make([]int, len(t.Partitions))
	for i := range parts {
		parts[i] = i
	}
	return topic, parts, nil
}

// consumeParams reads a consume, consume_batch or size request and
// resolves the consumer's partitions.
func (m *Manager) consumeParams(r *http.Request) (api.ConsumeRequest, string, []int, error) {
	var p api.ConsumeParams
	if err := m.decode(r, &p); err != nil {
		return api.ConsumeRequest{}, "", nil, err
	}
	req, err := p.Request()
	if err != nil {
		return req, "", nil, err
	}
	topic, parts, err := m.consumerPartitions(req.ConsumerID, req.Topic, req.Partition)
	return req, topic, parts, err
}

// fetch consumes up to max messages of one partition for a consumer.
func (m *Manager) fetch(ctx context.Context, topic string, partition int, consumerID int64, max int, wait time.Duration) ([]api.StoredMessage, error) {
	var ans api.MessagesAnswer
	err := m.onPartition(ctx, topic, partition, func(o owner, seq int64) error {
		return m.callBroker(ctx, o, seq, "consume", "POST", "/v1/consume", nil, api.BrokerConsumeRequest{
			Topic: topic, Partition: partition, ConsumerID: consumerID, Max: max, WaitMS: wait.Milliseconds(),
		}, &ans, wait)
	})
	return ans.Messages, err
}

// retryable reports whether a partition's failure should let a consume go
// on with the consumer's other partitions.
func retryable(err error) bool {
	switch logq.ErrorCode(err) {
	case logq.EUnavailable, logq.ETimeout, logq.EFenced, logq.ENotWriter:
		return true
	}
	return false
}

// consumeRound asks the consumer's partitions in turn, starting with the
// next in its rotation, for up to max messages in all, without waiting.
// answered reports whether any partition answered; err is the first
// retryable failure.
func (m *Manager) consumeRound(ctx context.Context, topic string, parts []int, consumerID int64, max int) (out []polled, answered bool, err error) {
	start := int(m.counter("c/"+strconv.FormatInt(consumerID, 10)).Add(1) - 1)
	for i := range parts {
		if len(out) >= max {
			break
		}
		partition := parts[(start+i)%len(parts)]
		msgs, ferr := m.fetch(ctx, topic, partition, consumerID, max-len(out), 0)
		if ferr != nil {
			if !retryable(ferr) {
				return out, answered, ferr
			}
			if err == nil {
				err = ferr
			}
			continue
		}
		answered = true
		for _, msg := range msgs {
			out = append(out, polled{partition: partition, msg: msg})
		}
	}
	return out, answered, err
}

type polled struct {
	partition int
	msg       api.StoredMessage
}

func (m *Manager) handleConsume(r *http.Request, _ httprouter.Params) (any, error) {
	req, topic, parts, err := m.consumeParams(r)
	if err != nil {
		return nil, err
	}
	got, answered, err := m.consumeRound(r.Context(), topic, parts, req.ConsumerID, 1)
	if len(got) > 0 {
		g := got[0]
		return api.ConsumeAnswer{Status: success, Message: &g.msg.Message, Partition: &g.partition, Offset: &g.msg.Offset, Key: g.msg.Key}, nil
	}
	if !answered && err != nil {
		return nil, err
	}
	return api.ConsumeAnswer{Status: success}, nil
}

func (m *Manager) handleConsumeBatch(r *http.Request, _ httprouter.Params) (any, error) {
	req, topic, parts, err := m.consumeParams(r)
	if err != nil {
		return nil, err
	}
	consumerID, max, waitMS := req.ConsumerID, req.Max, req.WaitMS
	deadline := time.Now().Add(time.Duration(waitMS) * time.Millisecond)
	ctx := r.Context()
	var got []polled
	for {
		var answered bool
		got, answered, err = m.consumeRound(ctx, topic, parts, consumerID, int(max))
		if len(got) > 0 {
			break
		}
		if !answered && err != nil {
			return nil, err
		}
		left := time.Until(deadline)
		if left < time.Millisecond || ctx.Err() != nil {
			break
		}
		// Long-poll one partition: all of the wait when there is only one,
		// a slice of it otherwise so the others are asked again soon.
		if len(parts) > 1 {
			left = min(left, multiPartitionPoll)
		}
		partition := parts[int(m.counter("c/"+strconv.FormatInt(consumerID, 10)).Add(1)-1)%len(parts)]
		msgs, ferr := m.fetch(ctx, topic, partition, consumerID, int(max), left)
		for _, msg := range msgs {
			got = append(got, polled{partition: partition, msg: msg})
		}
		if len(got) > 0 || ferr != nil {
			break // a failing broker ends the wait rather than spin
		}
	}
	out := make([]api.BatchMessage, len(got))
	for i, g := range got {
		out[i] = api.BatchMessage{Topic: topic, Partition: g.partition, Offset: g.msg.Offset, Message: g.msg.Message, Key: g.msg.Key}
	}
	return api.ConsumeBatchAnswer{Status: success, Messages: out}, nil
}

func (m *Manager) handleSize(r *http.Request, _ httprouter.Params) (any, error) {
	req, topic, parts, err := m.consumeParams(r)
	if err != nil {
		return nil, err
	}
	sizes := make([]api.PartitionSize, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, partition := range parts {
		wg.Go(func() {
			var ans api.BrokerSizeAnswer
			errs[i] = m.onPartition(r.Context(), topic, partition, func(o owner, seq int64) error {
				q := api.BrokerConsumeRequest{Topic: topic, Partition: partition, ConsumerID: req.ConsumerID}.Query()
				return m.callBroker(r.Context(), o, seq, "size", "GET", "/v1/size", q, nil, &ans, 0)
			})
			sizes[i] = api.PartitionSize{Partition: partition, Size: ans.Size}
		})
	}
	wg.Wait()
	var total int64
	for i := range parts {
		if errs[i] != nil {
			return nil, errs[i]
		}
		total += sizes[i].Size
	}
	return api.SizeAnswer{Status: success, Size: total, Sizes: sizes}, nil
}
