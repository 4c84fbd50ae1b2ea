package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/internal/batch"
)

// The direct idempotent appends of a Client's producers to one partition
// travel together, as the managers' router sends theirs: while
// directInFlight appends to the partition are on their way to its broker,
// the next ones wait, then go as one request in the runs form of
// POST /v1/append (api.AppendRequest.Runs), one run per producer's part,
// each stored and answered on its own. A lone append goes at once, in the
// single form. So 64 producers of one Client sending a record each cost a
// few broker requests instead of 64.

// directInFlight is how many appends per partition may be on their way at
// once (as router.coalesceInFlight).
const directInFlight = 2

// Bounds of one coalesced direct append: within the brokers' default
// limits (10,000 messages, 16 MiB bodies). A larger part goes alone.
const (
	directMessages = 10000
	directBytes    = 4 << 20
)

// directAlone is the size from which a part goes at once, on its own (as
// router.coalesceAlone): its request costs little beside its messages.
const directAlone = 256

type directLaneKey struct {
	base, topic string
	partition   int
}

// directLane queues the direct appends of one partition.
type directLane struct {
	key                       directLaneKey
	batch.Lane[*directAppend] // at most directInFlight appends on their way
}

type directAppend struct {
	ctx  context.Context
	run  api.AppendRun
	size int
	done chan directResult // buffered: never blocks the sender
}

type directResult struct {
	base int64
	err  error
}

func (c *Client) directLane(k directLaneKey) *directLane {
	if l, ok := c.lanes.Load(k); ok {
		return l.(*directLane)
	}
	l, _ := c.lanes.LoadOrStore(k, &directLane{key: k})
	return l.(*directLane)
}

// appendRun sends one idempotent run to the broker at base (one attempt:
// the caller retries), coalesced with the concurrent runs of this Client's
// producers to the same partition, and returns the offset of its first
// message.
func (c *Client) appendRun(ctx context.Context, base, topic string, partition int, run api.AppendRun) (int64, error) {
	a := &directAppend{ctx: ctx, run: run, done: make(chan directResult, 1)}
	for _, m := range run.Messages {
		a.size += len(m.Message) + 32
		if m.Key != nil {
			a.size += len(*m.Key)
		}
	}
	k := directLaneKey{base, topic, partition}
	if len(run.Messages) >= directAlone {
		return c.sendRun(ctx, k, a)
	}
	l := c.directLane(k)
	if l.Join(a, directInFlight) {
		c.sendDirectQueued(l)
	}
	select {
	case r := <-a.done:
		return r.base, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// sendDirectQueued sends the lane's queued runs as one append, then sends
// what queued meanwhile from a new goroutine (so that this caller answers
// now), or gives its place in flight back when nothing did.
func (c *Client) sendDirectQueued(l *directLane) {
	taken := l.Next(directMessages, directBytes,
		func(a *directAppend) int { return len(a.run.Messages) },
		func(a *directAppend) int { return a.size },
		func(a *directAppend) bool {
			if err := a.ctx.Err(); err != nil {
				a.done <- directResult{err: err}
				return true
			}
			return false
		})
	if len(taken) == 0 {
		return
	}

	// Not any one producer's context: the request is theirs together.
	k := l.key
	if len(taken) == 1 {
		base, err := c.sendRun(context.Background(), k, taken[0])
		taken[0].done <- directResult{base: base, err: err}
	} else {
		req := api.AppendRequest{Topic: k.topic, Partition: k.partition, Runs: make([]api.AppendRun, len(taken))}
		for i, a := range taken {
			req.Runs[i] = a.run
		}
		cl := call{method: http.MethodPost, path: "/v1/append", base: k.base, header: c.minSeqHeader(), noMinSeq: true, body: req}
		var out api.AppendAnswer
		err := c.attemptOnce(context.Background(), cl, &out)
		if errors.Is(err, ErrInvalid) {
			// The whole request refused: a broker of an older release
			// that does not know the runs form. Nothing was stored: each
			// run goes alone, in the single form.
			var wg sync.WaitGroup
			for _, a := range taken {
				wg.Go(func() {
					base, err := c.sendRun(context.Background(), k, a)
					a.done <- directResult{base: base, err: err}
				})
			}
			wg.Wait()
			go c.sendDirectQueued(l)
			return
		}
		if err == nil && len(out.Runs) != len(taken) {
			err = &Error{Code: logq.EUnavailable, Message: fmt.Sprintf("broker answered %d runs of %d", len(out.Runs), len(taken))}
		}
		for i, a := range taken {
			if err != nil {
				a.done <- directResult{err: err}
				continue
			}
			a.done <- runResult(out.Runs[i], len(a.run.Messages))
		}
	}
	go c.sendDirectQueued(l) // the next batch, or release the lane
}

// sendRun sends one run alone, in the single form (one attempt).
func (c *Client) sendRun(ctx context.Context, k directLaneKey, a *directAppend) (int64, error) {
	cl := call{method: http.MethodPost, path: "/v1/append", base: k.base, header: c.minSeqHeader(), noMinSeq: true,
		body: api.AppendRequest{Topic: k.topic, Partition: k.partition, ProducerEpoch: a.run.ProducerEpoch, Sequence: a.run.Sequence, Messages: a.run.Messages}}
	var out api.AppendAnswer
	if err := c.attemptOnce(ctx, cl, &out); err != nil {
		return 0, err
	}
	if out.Count != len(a.run.Messages) {
		return 0, &Error{Code: logq.EUnavailable, Message: fmt.Sprintf("broker appended %d of %d messages", out.Count, len(a.run.Messages))}
	}
	return out.BaseOffset, nil
}

// runResult is a producer's answer from its run's: its offsets, or its
// run's error, as the client reports a broker's error answer.
func runResult(r api.AppendRunAnswer, n int) directResult {
	switch {
	case r.Error != nil:
		code := r.Error.Code
		if code == "" {
			code = logq.EInternal
		}
		return directResult{err: &Error{Code: code, Message: r.Error.Message, StatusCode: logq.HTTPStatus(code)}}
	case r.Count != n:
		return directResult{err: &Error{Code: logq.EUnavailable, Message: fmt.Sprintf("broker appended %d of %d messages", r.Count, n)}}
	}
	return directResult{base: r.BaseOffset}
}
