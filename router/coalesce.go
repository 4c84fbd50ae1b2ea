package router

import (
	"context"
	"slices"
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
//
// Idempotent appends coalesce too, in the runs form of the broker's append
// (api.AppendRequest.Runs): one run per caller's append, with its own
// producer, epoch and sequence, stored and answered on its own, so that a
// duplicate answers its original offsets and a refused run (out of order,
// fenced producer) fails only its own caller.

// Bounds of one coalesced append: the brokers' default limits per request
// (10,000 messages) and a share of their body limit (16 MiB) that leaves
// room for JSON escaping. A larger request goes alone.
const (
	coalesceMessages = 10000
	coalesceBytes    = 4 << 20
)

// coalesceAlone is the size from which an idempotent append goes to the
// broker at once, on its own, as before idempotent appends coalesced: the
// cost of its request is small beside its messages' and it should not
// wait behind the appends in flight (the broker's group commit still
// takes it with whatever is queued there). Measured: with the 3 x 5000
// batched produce of logq bench, coalescing such parts made commits
// smaller and throughput lower.
const coalesceAlone = 256

// coalesceInFlight is how many coalesced appends per partition may be on
// their way at once: two, so that the broker can commit one while the
// answer to the previous one travels back (appends in flight together are
// concurrent requests: their relative order was never promised).
const coalesceInFlight = 2

// appendLane queues the appends of one partition.
type appendLane struct {
	topic     string
	partition int

	batch.Lane[*laneAppend] // at most coalesceInFlight appends on their way to the broker
}

type laneAppend struct {
	ctx        context.Context
	msgs       []api.AppendMessage
	epoch, seq *int64 // both or neither: idempotent
	size       int
	done       chan laneResult // buffered: never blocks the sender
}

type laneResult struct {
	base int64
	dup  bool // an idempotent retry: base is the original's
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
	r := rt.appendLaned(ctx, topic, partition, &laneAppend{msgs: msgs})
	return r.base, r.err
}

// appendIdempotent appends one producer's messages, numbered from seq with
// epoch, to one partition through its owner, coalescing with the
// concurrent appends to the same partition (as a run of its own) unless
// it holds coalesceAlone messages or more: the offset of the first, and
// whether it was a duplicate (stored before, at that offset).
func (rt *Router) appendIdempotent(ctx context.Context, topic string, partition int, epoch, seq int64, msgs []api.AppendMessage) (int64, bool, error) {
	if len(msgs) >= coalesceAlone {
		ctx, cancel := context.WithTimeout(ctx, rt.cfg.BrokerTimeout+rt.cfg.MinSeqWait)
		defer cancel()
		return rt.appendOnce(ctx, topic, partition, &epoch, &seq, msgs)
	}
	r := rt.appendLaned(ctx, topic, partition, &laneAppend{msgs: msgs, epoch: &epoch, seq: &seq})
	return r.base, r.dup, r.err
}

// appendLaned queues a on its partition's lane, sending the queue when
// fewer than coalesceInFlight appends are on their way, and waits for a's
// answer.
func (rt *Router) appendLaned(ctx context.Context, topic string, partition int, a *laneAppend) laneResult {
	a.ctx, a.done = ctx, make(chan laneResult, 1)
	for _, msg := range a.msgs {
		a.size += len(msg.Message) + 32
		if msg.Key != nil {
			a.size += len(*msg.Key)
		}
	}
	l := rt.appendLane(topic, partition)
	if l.Join(a, coalesceInFlight) {
		rt.sendQueued(l)
	}
	select {
	case r := <-a.done:
		return r
	case <-ctx.Done():
		return laneResult{err: logq.Errorf(logq.ETimeout, "append to partition %d of %q: request cancelled", partition, topic)}
	}
}

// sendQueued sends the lane's queued appends as one broker append, then
// sends what queued meanwhile from a new goroutine (so that this caller
// answers now), or gives its place in flight back when nothing did.
func (rt *Router) sendQueued(l *appendLane) {
	taken := l.Next(coalesceMessages, coalesceBytes, laneMessages, laneBytes, func(a *laneAppend) bool {
		if a.ctx.Err() != nil {
			a.done <- laneResult{err: logq.Errorf(logq.ETimeout, "append to partition %d of %q: request cancelled", l.partition, l.topic)}
			return true
		}
		return false
	})
	if len(taken) == 0 {
		return
	}

	// Not any one caller's context: the append is theirs together.
	ctx, cancel := context.WithTimeout(context.Background(), rt.cfg.BrokerTimeout+rt.cfg.MinSeqWait)
	switch idem := slices.ContainsFunc(taken, func(a *laneAppend) bool { return a.seq != nil }); {
	case len(taken) == 1:
		a := taken[0]
		base, dup, err := rt.appendOnce(ctx, l.topic, l.partition, a.epoch, a.seq, a.msgs)
		a.done <- laneResult{base: base, dup: dup, err: err}
	case idem:
		runs := make([]api.AppendRun, len(taken))
		for i, a := range taken {
			runs[i] = api.AppendRun{ProducerEpoch: a.epoch, Sequence: a.seq, Messages: a.msgs}
		}
		for i, r := range rt.appendRuns(ctx, l.topic, l.partition, runs) {
			taken[i].done <- r
		}
	default:
		count := 0
		for _, a := range taken {
			count += len(a.msgs)
		}
		msgs := make([]api.AppendMessage, 0, count)
		for _, a := range taken {
			msgs = append(msgs, a.msgs...)
		}
		base, _, err := rt.appendOnce(ctx, l.topic, l.partition, nil, nil, msgs)
		for _, a := range taken {
			a.done <- laneResult{base: base, err: err}
			base += int64(len(a.msgs))
		}
	}
	cancel()
	go rt.sendQueued(l) // the next batch, or release the lane
}

func laneMessages(a *laneAppend) int { return len(a.msgs) }
func laneBytes(a *laneAppend) int    { return a.size }

// appendOnce appends messages to one partition through its owner
// (idempotently with epoch and seq) and returns the offset of the first.
func (rt *Router) appendOnce(ctx context.Context, topic string, partition int, epoch, seq *int64, msgs []api.AppendMessage) (int64, bool, error) {
	var ans api.AppendAnswer
	err := rt.onPartition(ctx, topic, partition, func(o Owner, minSeq int64) error {
		return rt.CallBroker(ctx, o, minSeq, "append", "POST", "/v1/append", nil,
			api.AppendRequest{Topic: topic, Partition: partition, ProducerEpoch: epoch, Sequence: seq, Messages: msgs}, &ans, 0)
	})
	if err != nil {
		return 0, false, err
	}
	if ans.Count != len(msgs) {
		return 0, false, logq.Errorf(logq.EUnavailable, "broker acknowledged %d of %d messages; retry", ans.Count, len(msgs))
	}
	return ans.BaseOffset, ans.Duplicate, nil
}

// appendRuns sends runs to one partition's owner as one append of the
// runs form and returns each run's own result. Runs answered fenced (this
// manager's view is older than the broker's: nothing of them was stored)
// are sent once more, as onPartition does, after a newer event.
func (rt *Router) appendRuns(ctx context.Context, topic string, partition int, runs []api.AppendRun) []laneResult {
	out := make([]laneResult, len(runs))
	todo := make([]int, len(runs)) // indexes of runs still to send
	for i := range todo {
		todo[i] = i
	}
	for attempt := 0; ; attempt++ {
		o, minSeq, err := rt.OwnerOf(topic, partition)
		if err == nil {
			req := api.AppendRequest{Topic: topic, Partition: partition, Runs: make([]api.AppendRun, len(todo))}
			for j, i := range todo {
				req.Runs[j] = runs[i]
			}
			var ans api.AppendAnswer
			err = rt.CallBroker(ctx, o, minSeq, "append", "POST", "/v1/append", nil, req, &ans, 0)
			if err == nil && len(ans.Runs) != len(todo) {
				err = logq.Errorf(logq.EUnavailable, "broker answered %d runs of %d; retry", len(ans.Runs), len(todo))
			}
			if err == nil {
				for j, i := range todo {
					out[i] = runResult(ans.Runs[j], len(runs[i].Messages))
				}
			}
		}
		if logq.ErrorCode(err) == logq.EInvalid {
			// The whole request refused: a broker of an older release
			// (servers of two releases run side by side during a rollout)
			// that does not know the runs form. Nothing was stored: each
			// run goes alone, in the single form.
			rt.appendEach(ctx, topic, partition, runs, todo, out)
			return out
		}
		if err != nil {
			for _, i := range todo {
				out[i] = laneResult{err: err}
			}
		}
		fenced := todo[:0]
		for _, i := range todo {
			if logq.ErrorCode(out[i].err) == logq.EFenced {
				fenced = append(fenced, i)
			}
		}
		if len(fenced) == 0 || attempt > 0 {
			return out
		}
		todo = fenced
		wctx, cancel := context.WithTimeout(ctx, rt.cfg.MinSeqWait)
		rt.cfg.State.WaitApplied(wctx, minSeq+1) // best effort: retry even without news
		cancel()
	}
}

// appendEach sends the runs of todo alone, in the single form, at once,
// into out.
func (rt *Router) appendEach(ctx context.Context, topic string, partition int, runs []api.AppendRun, todo []int, out []laneResult) {
	var wg sync.WaitGroup
	for _, i := range todo {
		wg.Go(func() {
			run := runs[i]
			base, dup, err := rt.appendOnce(ctx, topic, partition, run.ProducerEpoch, run.Sequence, run.Messages)
			out[i] = laneResult{base: base, dup: dup, err: err}
		})
	}
	wg.Wait()
}

// runResult is a caller's answer from its run's: its offsets, or its
// run's error.
func runResult(r api.AppendRunAnswer, n int) laneResult {
	switch {
	case r.Error != nil && (r.Error.Code == "" || r.Error.Code == logq.EInternal):
		return laneResult{err: logq.Errorf(logq.EUnavailable, "broker failed; retry")} // as CallBroker answers a broker's internal error
	case r.Error != nil:
		return laneResult{err: &logq.Error{Code: r.Error.Code, Message: r.Error.Message}}
	case r.Count != n:
		return laneResult{err: logq.Errorf(logq.EUnavailable, "broker acknowledged %d of %d messages; retry", r.Count, n)}
	}
	return laneResult{base: r.BaseOffset, dup: r.Duplicate}
}
