package manager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/julienschmidt/httprouter"

	"github.com/logq/logq"
)

// HeaderMinSeq asks a broker to apply the event log up to this seq before
// checking ownership (docs/api.md, Broker API).
const HeaderMinSeq = "X-Logq-Min-Seq"

const (
	defaultConsumeMax  = 100
	maxConsumeMax      = 10000
	maxWaitMS          = 30000
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

// Broker API messages (docs/api.md).
type (
	appendMessage struct {
		ProducerID int64   `json:"producer_id"`
		Key        *string `json:"key,omitempty"`
		Message    string  `json:"message"`
	}
	appendRequest struct {
		Topic     string          `json:"topic"`
		Partition int             `json:"partition"`
		Messages  []appendMessage `json:"messages"`
	}
	appendAnswer struct {
		BaseOffset int64 `json:"base_offset"`
		Count      int   `json:"count"`
	}
	consumeRequest struct {
		Topic      string `json:"topic"`
		Partition  int    `json:"partition"`
		ConsumerID int64  `json:"consumer_id"`
		Max        int    `json:"max,omitempty"`
		WaitMS     int64  `json:"wait_ms,omitempty"`
	}
	brokerMessage struct {
		Offset  int64   `json:"offset"`
		Message string  `json:"message"`
		Key     *string `json:"key"`
		raw     rawText // when decoded by fastpath.go
	}
	consumeBrokerAnswer struct {
		Messages []brokerMessage `json:"messages"`
	}
	sizeAnswer struct {
		Size int64 `json:"size"`
	}
	brokerPartitionsAnswer struct {
		Partitions []struct {
			Topic         string `json:"topic"`
			Partition     int    `json:"partition"`
			HighWatermark int64  `json:"high_watermark"`
		} `json:"partitions"`
	}
)

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
		b, err := marshalJSON(in)
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
		if err := decodeBrokerAnswer(io.LimitReader(resp.Body, maxBrokerAnswer), out); err != nil {
			m.metrics.brokerRequests.WithLabelValues(op, logq.EUnavailable).Inc()
			return logq.Errorf(logq.EUnavailable, "broker %d sent a malformed answer; retry", o.broker)
		}
		m.metrics.brokerRequests.WithLabelValues(op, "ok").Inc()
		return nil
	}
	var eb errorBody
	json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&eb)
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

// partitioner chooses partitions for one producer's messages.
type partitioner struct {
	topic    string
	n        int
	fixed    *int  // the producer's own partition, if registered for one
	writable []int // writable partitions now, for round robin
	rr       *atomic.Uint64
}

// partitionerFor checks the producer (and the topic, when given: it must be
// the producer's) and captures what choosing a partition needs.
func (m *Manager) partitionerFor(producerID int64, topic string) (*partitioner, error) {
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
	pt := &partitioner{topic: topic, n: len(t.Partitions), fixed: prod.Partition, rr: m.counter("p/" + topic)}
	for i := range t.Partitions {
		if m.state.Writable(topic, i) {
			pt.writable = append(pt.writable, i)
		}
	}
	return pt, nil
}

// pick chooses the partition of one message: the producer's own, the
// explicit one, the key's hash (FNV-1a mod partitions), or round robin over
// the writable partitions.
func (pt *partitioner) pick(producerID int64, explicit *int, key *string) (int, error) {
	switch {
	case pt.fixed != nil:
		if explicit != nil && *explicit != *pt.fixed {
			return 0, logq.Errorf(logq.EInvalid, "producer %d is registered for partition %d, not %d", producerID, *pt.fixed, *explicit)
		}
		return *pt.fixed, nil
	case explicit != nil:
		if *explicit >= pt.n {
			return 0, logq.Errorf(logq.EInvalid, "topic %q has partitions 0..%d; no partition %d", pt.topic, pt.n-1, *explicit)
		}
		return *explicit, nil
	case key != nil:
		return KeyPartition(*key, pt.n), nil
	case len(pt.writable) == 0:
		return 0, logq.Errorf(logq.EUnavailable, "no partition of topic %q has a live broker; retry", pt.topic)
	}
	return pt.writable[int((pt.rr.Add(1)-1)%uint64(len(pt.writable)))], nil
}

// KeyPartition is the partition of a key among n: FNV-1a (32 bits) of the
// key modulo n. The Go client uses the same function.
func KeyPartition(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

type produceAnswer struct {
	Status    string `json:"status"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
}

func (m *Manager) handleProduce(r *http.Request, _ httprouter.Params) (any, error) {
	p, err := m.readParams(r)
	if err != nil {
		return nil, err
	}
	producerID, err := p.requiredInt(pProducer, 1, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	topic, _, err := p.str(pTopic)
	if err != nil {
		return nil, err
	}
	msg, err := p.message()
	if err != nil {
		return nil, err
	}
	key, err := p.key()
	if err != nil {
		return nil, err
	}
	explicit, err := p.optPartition()
	if err != nil {
		return nil, err
	}
	if err := m.checkMessage(msg, key); err != nil {
		return nil, err
	}
	pt, err := m.partitionerFor(producerID, topic)
	if err != nil {
		return nil, err
	}
	partition, err := pt.pick(producerID, explicit, key)
	if err != nil {
		return nil, err
	}
	base, err := m.appendTo(r.Context(), pt.topic, partition, []appendMessage{{ProducerID: producerID, Key: key, Message: msg}})
	if err != nil {
		return nil, err
	}
	return produceAnswer{Status: success, Partition: partition, Offset: base}, nil
}

// batchResult is one message's outcome in a batch produce.
type batchResult struct {
	Partition *int       `json:"partition,omitempty"`
	Offset    *int64     `json:"offset,omitempty"`
	Error     *errorItem `json:"error,omitempty"`
}

type errorItem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (m *Manager) handleProduceBatch(r *http.Request, _ httprouter.Params) (any, error) {
	producerID, topic, items, err := m.produceBatchParams(r)
	if err != nil {
		return nil, err
	}
	if items.len() == 0 || items.len() > m.cfg.MaxBatchMessages {
		return nil, logq.Errorf(logq.EInvalid, "messages must hold 1 to %d messages; got %d", m.cfg.MaxBatchMessages, items.len())
	}
	pt, err := m.partitionerFor(producerID, topic)
	if err != nil {
		return nil, err
	}

	// Validate every message first: bad input changes nothing.
	n := items.len()
	msgs := make([]appendMessage, n)
	parts := make([]int, n)
	results := make([]batchResult, n)
	groups := map[int][]int{} // partition → indexes into msgs, in order
	for i := range n {
		text, key, explicit, err := items.at(i)
		if err != nil {
			return nil, err
		}
		if err := m.checkMessage(text, key); err != nil {
			return nil, itemError(i, err)
		}
		msgs[i] = appendMessage{ProducerID: producerID, Key: key, Message: text}
		parts[i], err = pt.pick(producerID, explicit, key)
		switch {
		case err == nil:
			groups[parts[i]] = append(groups[parts[i]], i)
		case logq.ErrorCode(err) == logq.EInvalid:
			return nil, itemError(i, err)
		default:
			results[i].Error = &errorItem{Code: logq.ErrorCode(err), Message: logq.ErrorMessage(err)}
		}
	}

	var wg sync.WaitGroup
	for partition, idx := range groups {
		wg.Go(func() {
			batch := make([]appendMessage, len(idx))
			for j, i := range idx {
				batch[j] = msgs[i]
			}
			base, err := m.appendTo(r.Context(), pt.topic, partition, batch)
			for j, i := range idx {
				if err != nil {
					results[i].Error = &errorItem{Code: logq.ErrorCode(err), Message: logq.ErrorMessage(err)}
					continue
				}
				part, off := partition, base+int64(j)
				results[i].Partition, results[i].Offset = &part, &off
			}
		})
	}
	wg.Wait()

	failed := 0
	var first *errorItem
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
	return produceBatchAnswer{success, results}, nil
}

// checkMessage refuses, before anything is written, a message the brokers
// would refuse: over MaxMessageBytes with its key (413), holding NUL
// characters (PostgreSQL text cannot) or invalid UTF-8 (400). A batch with
// one such message is refused whole, so no partition takes part of it.
func (m *Manager) checkMessage(text string, key *string) error {
	n := len(text)
	if key != nil {
		n += len(*key)
	}
	if n > m.cfg.MaxMessageBytes {
		return logq.Errorf(logq.ETooLarge, "message of %d bytes (with its key) is over the %d-byte limit", n, m.cfg.MaxMessageBytes)
	}
	if strings.IndexByte(text, 0) >= 0 || (key != nil && strings.IndexByte(*key, 0) >= 0) {
		return logq.Errorf(logq.EInvalid, "message and key cannot contain NUL characters")
	}
	if !utf8.ValidString(text) || (key != nil && !utf8.ValidString(*key)) {
		return logq.Errorf(logq.EInvalid, "message and key must be valid UTF-8")
	}
	return nil
}

func itemError(i int, err error) error {
	return logq.Errorf(logq.ErrorCode(err), "messages[%d]: %s", i, logq.ErrorMessage(err))
}

// consumerPartitions checks the consumer (and the topic, when given) and
// returns its topic and partitions.
func (m *Manager) consumerPartitions(consumerID int64, topic string) (string, []int, error) {
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
	if c.Partition != nil {
		return topic, []int{*c.Partition}, nil
	}
	parts := make([]int, len(t.Partitions))
	for i := range parts {
		parts[i] = i
	}
	return topic, parts, nil
}

// consumeParams reads topic and consumer_id of a consume or size request.
func (m *Manager) consumeParams(r *http.Request) (*params, int64, string, []int, error) {
	p, err := m.readParams(r)
	if err != nil {
		return nil, 0, "", nil, err
	}
	consumerID, err := p.requiredInt(pConsumer, 1, math.MaxInt64)
	if err != nil {
		return nil, 0, "", nil, err
	}
	topic, _, err := p.str(pTopic)
	if err != nil {
		return nil, 0, "", nil, err
	}
	topic, parts, err := m.consumerPartitions(consumerID, topic)
	if err != nil {
		return nil, 0, "", nil, err
	}
	return p, consumerID, topic, parts, nil
}

// fetch consumes up to max messages of one partition for a consumer.
func (m *Manager) fetch(ctx context.Context, topic string, partition int, consumerID int64, max int, wait time.Duration) ([]brokerMessage, error) {
	var ans consumeBrokerAnswer
	err := m.onPartition(ctx, topic, partition, func(o owner, seq int64) error {
		return m.callBroker(ctx, o, seq, "consume", "POST", "/v1/consume", nil, consumeRequest{
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
	msg       brokerMessage
}

type consumeAnswer struct {
	Status    string  `json:"status"`
	Message   *string `json:"message"`
	Partition *int    `json:"partition"`
	Offset    *int64  `json:"offset"`
	Key       *string `json:"key"`
}

func (m *Manager) handleConsume(r *http.Request, _ httprouter.Params) (any, error) {
	_, consumerID, topic, parts, err := m.consumeParams(r)
	if err != nil {
		return nil, err
	}
	got, answered, err := m.consumeRound(r.Context(), topic, parts, consumerID, 1)
	if len(got) > 0 {
		g := got[0]
		return consumeAnswer{Status: success, Message: &g.msg.Message, Partition: &g.partition, Offset: &g.msg.Offset, Key: g.msg.Key}, nil
	}
	if !answered && err != nil {
		return nil, err
	}
	return consumeAnswer{Status: success}, nil
}

type batchMessage struct {
	Topic     string  `json:"topic"`
	Partition int     `json:"partition"`
	Offset    int64   `json:"offset"`
	Message   string  `json:"message"`
	Key       *string `json:"key"`
	raw       rawText // Message and Key as the broker encoded them (fastpath.go)
}

func (m *Manager) handleConsumeBatch(r *http.Request, _ httprouter.Params) (any, error) {
	p, consumerID, topic, parts, err := m.consumeParams(r)
	if err != nil {
		return nil, err
	}
	max, ok, err := p.integer(pMax, 1, maxConsumeMax)
	if err != nil {
		return nil, err
	}
	if !ok {
		max = defaultConsumeMax
	}
	waitMS, _, err := p.integer(pWaitMS, 0, maxWaitMS)
	if err != nil {
		return nil, err
	}
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
	out := make([]batchMessage, len(got))
	for i, g := range got {
		out[i] = batchMessage{Topic: topic, Partition: g.partition, Offset: g.msg.Offset, Message: g.msg.Message, Key: g.msg.Key, raw: g.msg.raw}
	}
	return consumeBatchAnswer{success, out}, nil
}

func (m *Manager) handleSize(r *http.Request, _ httprouter.Params) (any, error) {
	_, consumerID, topic, parts, err := m.consumeParams(r)
	if err != nil {
		return nil, err
	}
	sizes := make([]int64, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, partition := range parts {
		wg.Go(func() {
			var ans sizeAnswer
			errs[i] = m.onPartition(r.Context(), topic, partition, func(o owner, seq int64) error {
				q := url.Values{
					"topic":       {topic},
					"partition":   {strconv.Itoa(partition)},
					"consumer_id": {strconv.FormatInt(consumerID, 10)},
				}
				return m.callBroker(r.Context(), o, seq, "size", "GET", "/v1/size", q, nil, &ans, 0)
			})
			sizes[i] = ans.Size
		})
	}
	wg.Wait()
	var total int64
	for i := range parts {
		if errs[i] != nil {
			return nil, errs[i]
		}
		total += sizes[i]
	}
	return struct {
		Status string `json:"status"`
		Size   int64  `json:"size"`
	}{success, total}, nil
}
