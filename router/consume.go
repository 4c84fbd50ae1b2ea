package router

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/decide"
	"github.com/logq/logq/projection"
)

// multiPartitionPoll is how long a consume_batch over several partitions
// long-polls one of them before it asks the others again.
const multiPartitionPoll = 250 * time.Millisecond

// consumerPartitions checks the consumer (and the topic, when given) and
// returns its topic and the partitions to read: the one asked for, which
// must exist and be one the consumer reads, or else all of its own.
func (rt *Router) consumerPartitions(r *http.Request, consumerID int64, topic string, only *int) (t string, parts []int, err error) {
	who := rt.callerOf(r)
	rt.cfg.State.View(func(s *projection.State) { t, parts, err = rt.partitionsOf(s, who, consumerID, topic, only) })
	return t, parts, err
}

func (rt *Router) partitionsOf(s *projection.State, who caller, consumerID int64, topic string, only *int) (string, []int, error) {
	c, ok := s.Consumers[consumerID]
	if !ok {
		return "", nil, logq.Errorf(logq.EConsumerNotFound, "consumer %d not found; register it first", consumerID)
	}
	if err := who.mayUse("consumer", consumerID, c.Principal); err != nil {
		return "", nil, err // another principal's: refused before it counts as a sign of life
	}
	rt.cfg.Touch(decide.KindConsumer, consumerID, c.Inactive) // any request of a consumer counts as a sign of life
	if topic == "" {
		topic = c.Topic
	} else if topic != c.Topic {
		return "", nil, logq.Errorf(logq.EInvalid, "consumer %d is registered for topic %q, not %q", consumerID, c.Topic, topic)
	}
	t, ok := s.Topics[topic]
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
func (rt *Router) consumeParams(r *http.Request, op api.ConsumeOp) (api.ConsumeRequest, string, []int, error) {
	var p api.ConsumeParams
	if err := rt.cfg.Decode(r, &p); err != nil {
		return api.ConsumeRequest{}, "", nil, err
	}
	req, err := p.Request(op)
	if err != nil {
		return req, "", nil, err
	}
	topic, parts, err := rt.consumerPartitions(r, req.ConsumerID, req.Topic, req.Partition)
	return req, topic, parts, err
}

// fetch consumes up to max messages of one partition for a consumer. A
// non-zero deadline bounds it: the broker moves nothing after it, and the
// answer is awaited only a grace period longer (a partition whose broker
// is stopped is given up on, losing nothing). With shape api.ShapeBatch
// the messages come back undecoded, in consume_batch's form (from a broker
// that does not know the shape, decoded as without it).
func (rt *Router) fetch(ctx context.Context, topic string, partition int, consumerID int64, max int, wait time.Duration, deadline time.Time, encoding, shape string) (consumed, error) {
	req := api.BrokerConsumeRequest{Topic: topic, Partition: partition, ConsumerID: consumerID, Max: max, WaitMS: wait.Milliseconds(), Encoding: encoding, Shape: shape}
	if !deadline.IsZero() {
		req.DeadlineMS = deadline.UnixMilli()
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(consumeGrace))
		defer cancel()
	}
	var ans api.MessagesAnswer
	var raw rawAnswer
	err := rt.onPartition(ctx, topic, partition, func(o Owner, seq int64) error {
		if shape == api.ShapeBatch {
			return rt.CallBroker(ctx, o, seq, "consume", "POST", "/v1/consume", nil, req, &raw, wait)
		}
		return rt.CallBroker(ctx, o, seq, "consume", "POST", "/v1/consume", nil, req, &ans, wait)
	})
	if err != nil || shape != api.ShapeBatch {
		return consumed{partition: partition, msgs: ans.Messages}, err
	}
	h, inner, ok, err := api.SplitBatchAnswer(raw.body)
	switch {
	case err != nil:
		releaseAnswer(raw.body)
		return consumed{partition: partition}, logq.Errorf(logq.EUnavailable, "broker of %s/%d sent a malformed answer; retry", topic, partition)
	case ok:
		rt.paths.passedThrough.Add(1)
		return consumed{partition: partition, raw: inner, n: h.Count, buf: raw.body}, nil
	}
	rt.paths.decoded.Add(1)
	err = api.Unmarshal(raw.body, &ans) // copies what it keeps
	releaseAnswer(raw.body)
	if err != nil {
		return consumed{partition: partition}, logq.Errorf(logq.EUnavailable, "broker of %s/%d sent a malformed answer; retry", topic, partition)
	}
	return consumed{partition: partition, msgs: ans.Messages}, nil
}

// consumed is what a consume of one partition answered: its messages,
// decoded, or (raw) the bytes of n messages in consume_batch's form, the
// inside of a JSON array of api.BatchMessage, passed through undecoded.
type consumed struct {
	partition int
	msgs      []api.StoredMessage
	raw       []byte
	n         int
	buf       []byte // the broker's answer raw is in (releaseAnswer once written)
}

func (c consumed) count() int {
	if c.raw != nil {
		return c.n
	}
	return len(c.msgs)
}

// total is the messages of got.
func total(got []consumed) int {
	n := 0
	for _, c := range got {
		n += c.count()
	}
	return n
}

// Paths counts the brokers' consume (for consume_batch) and fetch answers
// that were passed through undecoded, and those that had to be decoded (a
// broker that does not know shape=batch): a test sees that the fast path
// is taken.
type Paths struct{ PassedThrough, Decoded int64 }

// Paths returns the counts so far.
func (rt *Router) Paths() Paths {
	return Paths{PassedThrough: rt.paths.passedThrough.Load(), Decoded: rt.paths.decoded.Load()}
}

// consumeGrace is how much longer than a consume's deadline the router
// waits for its answer: a consume that reached storage just before the
// deadline has this long to answer before its records are given up on.
const consumeGrace = time.Second

// retryable reports whether a partition's failure should let a consume go
// on with the consumer's other partitions.
func retryable(err error) bool {
	switch logq.ErrorCode(err) {
	case logq.EUnavailable, logq.ETimeout, logq.EFenced, logq.ENotWriter:
		return true
	}
	return false
}

// consumeRound asks the consumer's partitions, starting with the next in
// its rotation, for up to max messages in all, without waiting. With
// several partitions it first asks every one, concurrently and each
// bounded by PartitionTimeout, what is left for the consumer there (GET
// /v1/size, which moves nothing): a partition whose broker is slow or
// stopped is skipped this time (named in skipped) and nothing of it moves.
// It then consumes, concurrently, from the partitions that answered and
// have records, each asked for its share of max (together never more than
// max: what a consume moved past is answered), waiting for them as long as
// for any broker request; each consume carries a deadline after which its
// broker moves nothing, so one that answers too late loses nothing.
// answered reports whether any partition answered; err is the first
// retryable failure.
func (rt *Router) consumeRound(ctx context.Context, topic string, parts []int, req api.ConsumeRequest, shape string) (out []consumed, skipped []int, answered bool, err error) {
	consumerID, max := req.ConsumerID, req.Max
	start := int(rt.counter("c/"+strconv.FormatInt(consumerID, 10)).Add(1) - 1)
	order := make([]int, len(parts))
	for i := range parts {
		order[i] = parts[(start+i)%len(parts)]
	}
	if len(parts) == 1 {
		got, ferr := rt.fetch(ctx, topic, order[0], consumerID, max, 0, time.Time{}, req.Encoding, shape)
		if ferr != nil {
			return nil, nil, false, ferr
		}
		return []consumed{got}, nil, true, nil
	}

	// What is left where, moving nothing.
	left := make([]int64, len(order))
	errs := make([]error, len(order))
	var wg sync.WaitGroup
	for i, partition := range order {
		wg.Go(func() { left[i], errs[i] = rt.sizeOf(ctx, topic, partition, consumerID, rt.cfg.PartitionTimeout) })
	}
	wg.Wait()
	var ready []int // indexes into order, in rotation
	for i, e := range errs {
		switch {
		case e == nil:
			answered = true
			if left[i] > 0 {
				ready = append(ready, i)
			}
		case !retryable(e):
			return nil, nil, false, e
		default:
			skipped = append(skipped, order[i])
			if err == nil {
				err = e
			}
		}
	}
	if len(ready) > max {
		ready = ready[:max]
	}
	if len(ready) == 0 {
		return nil, skipped, answered, err
	}

	// Consume: each its share of max, no more than it has.
	shares := make([]int, len(ready))
	budget := max
	for budget > 0 {
		given := 0
		for j, i := range ready {
			if budget > 0 && int64(shares[j]) < left[i] {
				shares[j]++
				budget--
				given++
			}
		}
		if given == 0 {
			break
		}
	}
	type answer struct {
		got consumed
		err error
	}
	answers := make([]answer, len(ready))
	deadline := time.Now().Add(rt.cfg.BrokerTimeout)
	for j, i := range ready {
		wg.Go(func() {
			got, err := rt.fetch(ctx, topic, order[i], consumerID, shares[j], 0, deadline, req.Encoding, shape)
			answers[j] = answer{got, err}
		})
	}
	wg.Wait()
	for j, a := range answers {
		partition := order[ready[j]]
		if a.err != nil {
			if !retryable(a.err) {
				return out, skipped, answered, a.err
			}
			skipped = append(skipped, partition)
			if err == nil {
				err = a.err
			}
			continue
		}
		out = append(out, a.got)
	}
	return out, skipped, answered, err
}

// sizeOf asks a partition's broker what is left there for a consumer,
// bounded by bound.
func (rt *Router) sizeOf(ctx context.Context, topic string, partition int, consumerID int64, bound time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	var ans api.BrokerSizeAnswer
	err := rt.onPartition(ctx, topic, partition, func(o Owner, seq int64) error {
		q := api.BrokerConsumeRequest{Topic: topic, Partition: partition, ConsumerID: consumerID}.Query()
		return rt.CallBroker(ctx, o, seq, "size", "GET", "/v1/size", q, nil, &ans, 0)
	})
	return ans.Size, err
}

// Consume is GET or POST /consumer/consume: the first message found on the
// consumer's partitions, in rotation, or none; with wait_ms it long-polls
// for one, as consume_batch does.
func (rt *Router) Consume(r *http.Request) (any, error) {
	req, topic, parts, err := rt.consumeParams(r, api.ConsumeOne)
	if err != nil {
		return nil, err
	}
	got, skipped, err := rt.poll(r.Context(), topic, parts, req, "")
	if err != nil {
		return nil, err
	}
	for _, c := range got {
		if len(c.msgs) == 0 {
			continue
		}
		m := c.msgs[0]
		return api.ConsumeAnswer{Status: api.StatusSuccess, Message: &m.Message, Partition: &c.partition, Offset: &m.Offset, Key: m.Key,
			Encoding: m.Encoding, Headers: m.Headers, Timestamp: &m.Timestamp, Skipped: skipped}, nil
	}
	return api.ConsumeAnswer{Status: api.StatusSuccess, Skipped: skipped}, nil
}

// ConsumeBatch is GET or POST /consumer/consume_batch: up to max messages,
// long-polling up to wait_ms when there are none. The brokers answer in
// its form (shape=batch), and their messages are passed through as they
// are: the answer is the brokers' bytes spliced (api.Encoded).
func (rt *Router) ConsumeBatch(r *http.Request) (any, error) {
	req, topic, parts, err := rt.consumeParams(r, api.ConsumeBatch)
	if err != nil {
		return nil, err
	}
	got, skipped, err := rt.poll(r.Context(), topic, parts, req, api.ShapeBatch)
	if err != nil {
		return nil, err
	}
	pieces := make([][]byte, len(got))
	for i, c := range got {
		if c.raw != nil || len(c.msgs) == 0 {
			pieces[i] = c.raw
			continue
		}
		// A broker that answered without the shape: encode its messages.
		out := make([]api.BatchMessage, len(c.msgs))
		for j, m := range c.msgs {
			out[j] = batchMessage(topic, c.partition, m)
		}
		b, err := api.Marshal(out)
		if err != nil {
			return nil, logq.Internal(err, "encode consume_batch answer")
		}
		pieces[i] = b[1 : len(b)-1]
	}
	ans := api.ConsumeBatchAnswerOf(pieces, skipped)
	ans.Done = func() {
		for _, c := range got {
			releaseAnswer(c.buf)
		}
	}
	return ans, nil
}

func batchMessage(topic string, partition int, m api.StoredMessage) api.BatchMessage {
	return api.BatchMessage{Topic: topic, Partition: partition, Offset: m.Offset, Message: m.Message, Key: m.Key,
		Encoding: m.Encoding, Headers: m.Headers, Timestamp: m.Timestamp}
}

// poll consumes up to req.Max messages of the consumer's partitions: a
// round over all of them, then, while there are none, long polls until
// req.WaitMS has passed. An error is returned only when no partition
// answered; skipped names the partitions the last round skipped.
func (rt *Router) poll(ctx context.Context, topic string, parts []int, req api.ConsumeRequest, shape string) ([]consumed, []int, error) {
	consumerID, max := req.ConsumerID, req.Max
	deadline := time.Now().Add(time.Duration(req.WaitMS) * time.Millisecond)
	for {
		got, skipped, answered, err := rt.consumeRound(ctx, topic, parts, req, shape)
		if total(got) > 0 {
			return got, skipped, nil
		}
		if !answered && err != nil {
			return nil, nil, err
		}
		left := time.Until(deadline)
		if left < time.Millisecond || ctx.Err() != nil {
			return nil, skipped, nil
		}
		// Long-poll one partition: all of the wait when there is only one,
		// a slice of it otherwise so the others are asked again soon.
		if len(parts) > 1 {
			left = min(left, multiPartitionPoll)
		}
		partition := healthy(parts, skipped, int(rt.counter("c/"+strconv.FormatInt(consumerID, 10)).Add(1)-1))
		var until time.Time
		if len(parts) > 1 {
			until = time.Now().Add(left + rt.cfg.BrokerTimeout) // when the call gives up anyway
		}
		c, ferr := rt.fetch(ctx, topic, partition, consumerID, max, left, until, req.Encoding, shape)
		if c.count() > 0 || ferr != nil {
			return []consumed{c}, skipped, nil // a failing broker ends the wait rather than spin
		}
	}
}

// healthy picks the n-th partition in rotation among those not skipped
// (among all when every one was).
func healthy(parts, skipped []int, n int) int {
	var ok []int
	for _, p := range parts {
		if !slices.Contains(skipped, p) {
			ok = append(ok, p)
		}
	}
	if len(ok) == 0 {
		ok = parts
	}
	return ok[n%len(ok)]
}

// Size is GET /size: the consumer's unread messages, in all and per
// partition.
func (rt *Router) Size(r *http.Request) (any, error) {
	req, topic, parts, err := rt.consumeParams(r, api.ConsumeSize)
	if err != nil {
		return nil, err
	}
	sizes := make([]api.PartitionSize, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, partition := range parts {
		wg.Go(func() {
			var ans api.BrokerSizeAnswer
			errs[i] = rt.onPartition(r.Context(), topic, partition, func(o Owner, seq int64) error {
				q := api.BrokerConsumeRequest{Topic: topic, Partition: partition, ConsumerID: req.ConsumerID}.Query()
				return rt.CallBroker(r.Context(), o, seq, "size", "GET", "/v1/size", q, nil, &ans, 0)
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
	return api.SizeAnswer{Status: api.StatusSuccess, Size: total, Sizes: sizes}, nil
}
