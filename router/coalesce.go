package router

import (
	"context"
	"sync"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/internal/batch"
)

// A second level of group commit. Many producers sending one message each
// would cost one request to the broker per message; instead, the appends
// to one partition that arrive while one is in flight to its broker wait
// and then go together, as one append (in arrival order, so offsets follow
// it). A lone append goes at once. The broker then group-commits these
// bigger appends as before. Each caller gets its own messages' offsets or
// the error of the append that carried them.

// Bounds of one coalesced append: the brokers' default limits per request
// (10,000 messages) and a share of their body limit (16 MiB) that leaves
// room for JSON escaping. A larger request goes alone.
const (
	coalesceMessages = 10000
	coalesceBytes    = 4 << 20
)

// coalesceInFlight is how many coalesced appends per partition may be on
// their way at once: two, so that the broker can commit one while the
// answer to the previous one travels back (appends in flight together are
// concurrent requests: their relative order was never promised).
const coalesceInFlight = 2

// appendLane queues the appends of one partition.
type appendLane struct {
	topic     string
	partition int

	mu       sync.Mutex
	queue    []*laneAppend
	inFlight int // appends on their way to the broker; at the limit, newcomers queue
}

type laneAppend struct {
	ctx  context.Context
	msgs []api.AppendMessage
	size int
	done chan laneResult // buffered: never blocks the sender
}

type laneResult struct {
	base int64
	err  error
}

type laneKey struct {
	topic     string
	partition int
}

func (rt *Router) appendLane(topic string, partition int) *appendLane {
	k := laneKey{topic, partition}
	if l, ok := rt.lanes.Load(k); ok {
		return l.(*appendLane)
	}
	l, _ := rt.lanes.LoadOrStore(k, &appendLane{topic: topic, partition: partition})
	return l.(*appendLane)
}

// appendTo appends messages to one partition through its owner and returns
// the offset of the first, coalescing with the concurrent appends to the
// same partition.
func (rt *Router) appendTo(ctx context.Context, topic string, partition int, msgs []api.AppendMessage) (int64, error) {
	a := &laneAppend{ctx: ctx, msgs: msgs, done: make(chan laneResult, 1)}
	for _, msg := range msgs {
		a.size += len(msg.Message) + 32
		if msg.Key != nil {
			a.size += len(*msg.Key)
		}
	}
	l := rt.appendLane(topic, partition)
	l.mu.Lock()
	l.queue = append(l.queue, a)
	lead := l.inFlight < coalesceInFlight
	if lead {
		l.inFlight++
	}
	l.mu.Unlock()
	if lead {
		rt.sendQueued(l)
	}
	select {
	case r := <-a.done:
		return r.base, r.err
	case <-ctx.Done():
		return 0, logq.Errorf(logq.ETimeout, "append to partition %d of %q: request cancelled", partition, topic)
	}
}

// sendQueued sends the lane's queued appends as one broker append, then
// sends what queued meanwhile from a new goroutine (so that this caller
// answers now), or gives its place in flight back when nothing did.
func (rt *Router) sendQueued(l *appendLane) {
	l.mu.Lock()
	taken := batch.Take(&l.queue, coalesceMessages, coalesceBytes, laneMessages, laneBytes, func(a *laneAppend) bool {
		if a.ctx.Err() != nil {
			a.done <- laneResult{err: logq.Errorf(logq.ETimeout, "append to partition %d of %q: request cancelled", l.partition, l.topic)}
			return true
		}
		return false
	})
	if len(taken) == 0 {
		l.inFlight--
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()

	msgs := taken[0].msgs
	if len(taken) > 1 {
		count := 0
		for _, a := range taken {
			count += len(a.msgs)
		}
		msgs = make([]api.AppendMessage, 0, count)
		for _, a := range taken {
			msgs = append(msgs, a.msgs...)
		}
	}
	// Not any one caller's context: the append is theirs together.
	ctx, cancel := context.WithTimeout(context.Background(), rt.cfg.BrokerTimeout+rt.cfg.MinSeqWait)
	base, err := rt.appendOnce(ctx, l.topic, l.partition, msgs)
	cancel()
	for _, a := range taken {
		a.done <- laneResult{base: base, err: err}
		base += int64(len(a.msgs))
	}
	go rt.sendQueued(l) // the next batch, or release the lane
}

func laneMessages(a *laneAppend) int { return len(a.msgs) }
func laneBytes(a *laneAppend) int    { return a.size }

// appendOnce appends messages to one partition through its owner and
// returns the offset of the first.
func (rt *Router) appendOnce(ctx context.Context, topic string, partition int, msgs []api.AppendMessage) (int64, error) {
	var ans api.AppendAnswer
	err := rt.onPartition(ctx, topic, partition, func(o Owner, seq int64) error {
		return rt.CallBroker(ctx, o, seq, "append", "POST", "/v1/append", nil,
			api.AppendRequest{Topic: topic, Partition: partition, Messages: msgs}, &ans, 0)
	})
	if err != nil {
		return 0, err
	}
	if ans.Count != len(msgs) {
		return 0, logq.Errorf(logq.EUnavailable, "broker acknowledged %d of %d messages; retry", ans.Count, len(msgs))
	}
	return ans.BaseOffset, nil
}
