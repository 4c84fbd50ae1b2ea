package router

import (
	"context"
	"net/http"
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
func (rt *Router) consumerPartitions(consumerID int64, topic string, only *int) (t string, parts []int, err error) {
	rt.cfg.State.View(func(s *projection.State) { t, parts, err = rt.partitionsOf(s, consumerID, topic, only) })
	return t, parts, err
}

func (rt *Router) partitionsOf(s *projection.State, consumerID int64, topic string, only *int) (string, []int, error) {
	c, ok := s.Consumers[consumerID]
	if !ok {
		return "", nil, logq.Errorf(logq.EConsumerNotFound, "consumer %d not found; register it first", consumerID)
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
	topic, parts, err := rt.consumerPartitions(req.ConsumerID, req.Topic, req.Partition)
	return req, topic, parts, err
}

// fetch consumes up to max messages of one partition for a consumer.
func (rt *Router) fetch(ctx context.Context, topic string, partition int, consumerID int64, max int, wait time.Duration) ([]api.StoredMessage, error) {
	var ans api.MessagesAnswer
	err := rt.onPartition(ctx, topic, partition, func(o Owner, seq int64) error {
		return rt.CallBroker(ctx, o, seq, "consume", "POST", "/v1/consume", nil, api.BrokerConsumeRequest{
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
func (rt *Router) consumeRound(ctx context.Context, topic string, parts []int, consumerID int64, max int) (out []polled, answered bool, err error) {
	start := int(rt.counter("c/"+strconv.FormatInt(consumerID, 10)).Add(1) - 1)
	for i := range parts {
		if len(out) >= max {
			break
		}
		partition := parts[(start+i)%len(parts)]
		msgs, ferr := rt.fetch(ctx, topic, partition, consumerID, max-len(out), 0)
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

// Consume is GET or POST /consumer/consume: the first message found on the
// consumer's partitions, in rotation, or none; with wait_ms it long-polls
// for one, as consume_batch does.
func (rt *Router) Consume(r *http.Request) (any, error) {
	req, topic, parts, err := rt.consumeParams(r, api.ConsumeOne)
	if err != nil {
		return nil, err
	}
	got, err := rt.poll(r.Context(), topic, parts, req)
	if err != nil {
		return nil, err
	}
	if len(got) == 0 {
		return api.ConsumeAnswer{Status: api.StatusSuccess}, nil
	}
	g := got[0]
	return api.ConsumeAnswer{Status: api.StatusSuccess, Message: &g.msg.Message, Partition: &g.partition, Offset: &g.msg.Offset, Key: g.msg.Key}, nil
}

// ConsumeBatch is GET or POST /consumer/consume_batch: up to max messages,
// long-polling up to wait_ms when there are none.
func (rt *Router) ConsumeBatch(r *http.Request) (any, error) {
	req, topic, parts, err := rt.consumeParams(r, api.ConsumeBatch)
	if err != nil {
		return nil, err
	}
	got, err := rt.poll(r.Context(), topic, parts, req)
	if err != nil {
		return nil, err
	}
	out := make([]api.BatchMessage, len(got))
	for i, g := range got {
		out[i] = api.BatchMessage{Topic: topic, Partition: g.partition, Offset: g.msg.Offset, Message: g.msg.Message, Key: g.msg.Key}
	}
	return api.ConsumeBatchAnswer{Status: api.StatusSuccess, Messages: out}, nil
}

// poll consumes up to req.Max messages of the consumer's partitions: a
// round over all of them, then, while there are none, long polls until
// req.WaitMS has passed. An error is returned only when no partition
// answered.
func (rt *Router) poll(ctx context.Context, topic string, parts []int, req api.ConsumeRequest) ([]polled, error) {
	consumerID, max := req.ConsumerID, req.Max
	deadline := time.Now().Add(time.Duration(req.WaitMS) * time.Millisecond)
	for {
		got, answered, err := rt.consumeRound(ctx, topic, parts, consumerID, max)
		if len(got) > 0 {
			return got, nil
		}
		if !answered && err != nil {
			return nil, err
		}
		left := time.Until(deadline)
		if left < time.Millisecond || ctx.Err() != nil {
			return nil, nil
		}
		// Long-poll one partition: all of the wait when there is only one,
		// a slice of it otherwise so the others are asked again soon.
		if len(parts) > 1 {
			left = min(left, multiPartitionPoll)
		}
		partition := parts[int(rt.counter("c/"+strconv.FormatInt(consumerID, 10)).Add(1)-1)%len(parts)]
		msgs, ferr := rt.fetch(ctx, topic, partition, consumerID, max, left)
		for _, msg := range msgs {
			got = append(got, polled{partition: partition, msg: msg})
		}
		if len(got) > 0 || ferr != nil {
			return got, nil // a failing broker ends the wait rather than spin
		}
	}
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
