package broker

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/broker/storage"
	"github.com/logq/logq/internal/batch"
)

// appendResult answers one append request: the offset of its first message
// (its messages are base, base+1, …, in request order) or the error of the
// transaction that carried it.
type appendResult struct {
	base int64
	dup  bool // an idempotent retry: base is the original's, nothing stored
	err  error
}

// commitTimeout bounds one group-commit transaction. It is not tied to any
// request's context: once sent, a commit runs to completion (or fails) for
// every request in it.
const commitTimeout = 30 * time.Second

type appendReq struct {
	ctx   context.Context
	part  *partition
	msgs  []message
	idem  *storage.Idempotence // nil: not idempotent
	bytes int
	done  chan appendResult // buffered: the committer never blocks on it
}

// committer is one group-commit lane: it commits the appends of the
// partitions pinned to it, many requests (and partitions) per transaction.
// Requests queue while a transaction is in flight; when it returns, the
// committer takes every queued request (up to maxMessages/maxBytes, at
// least one request) into the next one. So under load a batch grows with
// the commit latency, and a lone append is committed at once. A request is
// answered only once its transaction has committed (or failed): a failed
// transaction fails every request in it.
type committer struct {
	store       storage.Store
	maxMessages int
	maxBytes    int

	// committed is called after each commit for each partition in it, with
	// the partition's new high watermark and the number of its messages.
	committed func(p *partition, hw int64, messages int)
	// batched is called after each commit with its size.
	batched func(messages, requests int)
	// fenced is called when storage refuses a partition's epoch.
	fenced func(p *partition, err error)
	// queued and taken, when set, are called after a submission is queued
	// and after a batch of n requests is taken from the queue (tests).
	queued func()
	taken  func(n int)

	mu      sync.Mutex
	queue   []*appendReq
	closed  bool  // no more submissions
	closeBy error // what submissions get once closed

	wake chan struct{} // capacity 1: there is work
	done chan struct{} // closed when run returns
}

func newCommitter(s storage.Store, maxMessages, maxBytes int) *committer {
	return &committer{
		store: s, maxMessages: maxMessages, maxBytes: maxBytes,
		committed: func(*partition, int64, int) {},
		batched:   func(int, int) {},
		fenced:    func(*partition, error) {},
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
}

// submit queues msgs for p and waits for their commit. The caller's ctx
// bounds the wait, not the commit: a request whose context ends before its
// batch was taken is dropped, one already in a transaction may still
// commit.
func (c *committer) submit(ctx context.Context, p *partition, msgs []message) (int64, error) {
	r, err := c.submitIdem(ctx, p, msgs, nil)
	return r.base, err
}

// submitIdem is submit with idempotence (nil: none).
func (c *committer) submitIdem(ctx context.Context, p *partition, msgs []message, idem *storage.Idempotence) (appendResult, error) {
	r := c.submitRuns(ctx, p, []commitRun{{msgs: msgs, idem: idem}})[0]
	return r, r.err
}

// commitRun is one of the requests of submitRuns.
type commitRun struct {
	msgs []message
	idem *storage.Idempotence // nil: not idempotent
}

// submitRuns queues runs for p as requests of their own, all at once and
// in order (so that they tend to share one transaction), and waits for
// each: result i is run i's, with its own error (an idempotent run refused
// fails only itself).
func (c *committer) submitRuns(ctx context.Context, p *partition, runs []commitRun) []appendResult {
	out := make([]appendResult, len(runs))
	if err := p.stopped(); err != nil {
		for i := range out {
			out[i].err = err
		}
		return out
	}
	reqs := make([]*appendReq, len(runs))
	for i, run := range runs {
		req := &appendReq{ctx: ctx, part: p, msgs: run.msgs, idem: run.idem, done: make(chan appendResult, 1)}
		for _, m := range run.msgs {
			req.bytes += len(m.Value) + len(m.Key) + 32
			for _, h := range m.Headers {
				req.bytes += len(h.Key) + len(h.Value)
			}
		}
		reqs[i] = req
	}
	c.mu.Lock()
	if c.closed {
		err := c.closeBy
		c.mu.Unlock()
		for i := range out {
			out[i].err = err
		}
		return out
	}
	c.queue = append(c.queue, reqs...)
	c.mu.Unlock()
	if c.queued != nil {
		for range reqs {
			c.queued()
		}
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	for i, req := range reqs {
		select {
		case out[i] = <-req.done:
		case <-ctx.Done():
			out[i].err = ctxError(ctx.Err(), "append")
		}
	}
	return out
}

// run commits batches until the committer is closed and its queue drained.
func (c *committer) run() {
	defer close(c.done)
	for {
		batch, last := c.take()
		if len(batch) > 0 {
			if c.taken != nil {
				c.taken(len(batch))
			}
			c.commit(batch)
			if len(batch) > 1 {
				// Under load: let the callers just answered run (and
				// append again) before taking the next batch.
				runtime.Gosched()
			}
			continue
		}
		if last {
			return
		}
		<-c.wake
	}
}

// take removes the next batch from the queue, answering at once the
// requests whose caller gave up or whose partition is no longer served;
// last reports that the committer is closed and nothing is left.
func (c *committer) take() (taken []*appendReq, last bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	taken = batch.Take(&c.queue, c.maxMessages, c.maxBytes, reqMessages, reqBytes, func(r *appendReq) bool {
		if r.ctx.Err() != nil {
			r.done <- appendResult{err: ctxError(r.ctx.Err(), "append")}
			return true
		}
		if err := r.part.stopped(); err != nil {
			r.done <- appendResult{err: err}
			return true
		}
		return false
	})
	return taken, c.closed && len(c.queue) == 0 && len(taken) == 0
}

func reqMessages(r *appendReq) int { return len(r.msgs) }
func reqBytes(r *appendReq) int    { return r.bytes }

// commitGroup is the requests of one batch for one partition.
type commitGroup struct {
	part *partition
	reqs []*appendReq
	n    int
}

// commit stores one batch in one transaction and answers every request in
// it with its own offsets or with the transaction's error.
func (c *committer) commit(batch []*appendReq) {
	c.commitRound(segments(batch))
}

// segments splits a batch into its storage batches. Without idempotent
// requests (the common case) that is one per partition, its requests
// merged. An idempotent request is a storage batch of its own (its
// sequence numbers exactly its messages), so a partition's plain requests
// around it make batches before and after it: storage stores a
// partition's batches in their order, all in the one transaction.
func segments(batch []*appendReq) []*commitGroup {
	idem := false
	for _, r := range batch {
		idem = idem || r.idem != nil
	}
	if !idem {
		return groupByPartition(batch)
	}
	last := map[*partition]*commitGroup{}
	var groups []*commitGroup
	for _, r := range batch {
		g := last[r.part]
		if g == nil || r.idem != nil || g.reqs[0].idem != nil {
			g = &commitGroup{part: r.part}
			groups = append(groups, g)
			last[r.part] = g
		}
		g.reqs = append(g.reqs, r)
		g.n += len(r.msgs)
	}
	slices.SortStableFunc(groups, byPartition) // stable: a partition's batches keep their order
	return groups
}

// commitRound stores groups (one per partition, or several with
// idempotent requests: segments) in one transaction.
func (c *committer) commitRound(groups []*commitGroup) {
	batches := make([]storage.Batch, len(groups))
	for i, g := range groups {
		var msgs []message
		if len(g.reqs) == 1 {
			msgs = g.reqs[0].msgs
		} else {
			msgs = make([]message, 0, g.n)
			for _, r := range g.reqs {
				msgs = append(msgs, r.msgs...)
			}
		}
		batches[i] = storage.Batch{Topic: g.part.topic, Partition: g.part.partition, Epoch: g.part.epoch, Msgs: msgs}
		if len(g.reqs) == 1 {
			batches[i].Idem = g.reqs[0].idem // segments never merges an idempotent request
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	res, err := c.store.Append(ctx, batches)
	cancel()
	if err != nil {
		for _, g := range groups {
			for _, r := range g.reqs {
				r.done <- appendResult{err: err}
			}
		}
		return
	}
	committed, requests := 0, 0
	for i, g := range groups {
		ans := res[i]
		switch {
		case errors.Is(ans.Err, logq.ErrFenced):
			g.part.stop(ans.Err)
			for _, r := range g.reqs {
				r.done <- appendResult{err: ans.Err}
			}
			c.fenced(g.part, ans.Err)
			continue
		case ans.Err != nil: // an idempotent request refused alone
			for _, r := range g.reqs {
				r.done <- appendResult{err: ans.Err}
			}
			continue
		case ans.Duplicate:
			for _, r := range g.reqs {
				r.done <- appendResult{base: ans.Base, dup: true}
			}
			continue
		}
		c.committed(g.part, ans.Base+int64(g.n), g.n)
		off := ans.Base
		for _, r := range g.reqs {
			r.done <- appendResult{base: off}
			off += int64(len(r.msgs))
		}
		committed += g.n
		requests += len(g.reqs)
	}
	if committed > 0 {
		c.batched(committed, requests)
	}
}

// groupByPartition splits a batch by partition, keeping each partition's
// requests in queue order, the groups sorted by partition (a stable order
// for the statement; PostgreSQL does not promise to lock the rows in it).
func groupByPartition(batch []*appendReq) []*commitGroup {
	if len(batch) == 1 {
		return []*commitGroup{{part: batch[0].part, reqs: batch, n: len(batch[0].msgs)}}
	}
	byPart := map[*partition]*commitGroup{}
	var groups []*commitGroup
	for _, r := range batch {
		g, ok := byPart[r.part]
		if !ok {
			g = &commitGroup{part: r.part}
			byPart[r.part] = g
			groups = append(groups, g)
		}
		g.reqs = append(g.reqs, r)
		g.n += len(r.msgs)
	}
	slices.SortFunc(groups, byPartition)
	return groups
}

func byPartition(a, b *commitGroup) int {
	if c := strings.Compare(a.part.topic, b.part.topic); c != 0 {
		return c
	}
	if a.part.partition != b.part.partition {
		return a.part.partition - b.part.partition
	}
	return int(a.part.epoch - b.part.epoch)
}

// close refuses further submissions with err; queued requests are still
// committed. It does not wait: see wait.
func (c *committer) close(err error) {
	c.mu.Lock()
	if !c.closed {
		c.closed, c.closeBy = true, err
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// wait blocks until run has returned (after close) or ctx is done.
func (c *committer) wait(ctx context.Context) error {
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ctxError maps a context error of a request onto logq's vocabulary.
func ctxError(err error, what string) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return logq.Errorf(logq.ETimeout, "%s: timed out", what)
	}
	return logq.Errorf(logq.EUnavailable, "%s: canceled", what)
}
