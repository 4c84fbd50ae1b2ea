package router

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/projection"
)

// Fetch and list offsets: reads that move nothing, so that a consumer
// controls its position (it commits elsewhere: consumer groups). They read
// a topic, not a consumer's position, and take no consumer id: whoever may
// read the topic may fetch from it (the security issue's ACLs will check
// read access to the topic here).

// topicPartitions checks the topic and the partitions asked of it.
func (rt *Router) topicPartitions(topic string, parts []int) (n int, err error) {
	rt.cfg.State.View(func(s *projection.State) {
		t, ok := s.Topics[topic]
		if !ok {
			err = logq.Errorf(logq.ETopicNotFound, "topic %q not found", topic)
			return
		}
		n = len(t.Partitions)
	})
	if err != nil {
		return 0, err
	}
	for _, p := range parts {
		if p >= n {
			return 0, logq.Errorf(logq.EInvalid, "topic %q has partitions 0..%d; no partition %d", topic, n-1, p)
		}
	}
	return n, nil
}

// fetchOne reads one partition from an offset, moving nothing, asking for
// shape=batch: its messages come back undecoded (from a broker that does
// not know the shape, decoded and encoded again).
func (rt *Router) fetchOne(ctx context.Context, req api.BrokerReadRequest) (fetched, error) {
	req.Shape = api.ShapeBatch
	var raw rawAnswer
	wait := time.Duration(req.WaitMS) * time.Millisecond
	err := rt.onPartition(ctx, req.Topic, req.Partition, func(o Owner, seq int64) error {
		return rt.CallBroker(ctx, o, seq, "fetch", "GET", "/v1/fetch", req.Query(), nil, &raw, wait)
	})
	if err != nil {
		return fetched{}, err
	}
	malformed := logq.Errorf(logq.EUnavailable, "broker of %s/%d sent a malformed answer; retry", req.Topic, req.Partition)
	h, inner, ok, err := api.SplitBatchAnswer(raw.body)
	switch {
	case err != nil || ok && (h.HighWatermark == nil || h.LogStartOffset == nil || h.NextOffset == nil):
		releaseAnswer(raw.body)
		return fetched{}, malformed
	case ok:
		rt.paths.passedThrough.Add(1)
		return fetched{n: h.Count, raw: inner, buf: raw.body, next: *h.NextOffset, hw: *h.HighWatermark, logStart: *h.LogStartOffset}, nil
	}
	rt.paths.decoded.Add(1)
	var ans api.MessagesAnswer
	err = api.Unmarshal(raw.body, &ans) // copies what it keeps
	releaseAnswer(raw.body)
	if err != nil {
		return fetched{}, malformed
	}
	f := fetched{n: len(ans.Messages), next: req.Offset}
	if ans.HighWatermark != nil {
		f.hw = *ans.HighWatermark
	}
	if ans.LogStartOffset != nil {
		f.logStart = *ans.LogStartOffset
	}
	if f.n > 0 {
		out := make([]api.BatchMessage, len(ans.Messages))
		for i, m := range ans.Messages {
			out[i] = batchMessage(req.Topic, req.Partition, m)
		}
		b, err := api.Marshal(out)
		if err != nil {
			return fetched{}, logq.Internal(err, "encode fetch answer")
		}
		f.raw, f.next = b[1:len(b)-1], ans.Messages[len(ans.Messages)-1].Offset+1
	}
	return f, nil
}

// fetched is what a fetch of one partition answered: n messages, the
// inside of a JSON array of api.BatchMessage (in buf, a broker's answer
// to give back once written), the offset after them and the marks.
type fetched struct {
	n                  int
	raw, buf           []byte
	next, hw, logStart int64
}

// Fetch is GET /consumer/fetch: records of one partition or several from
// the offsets given, moving nothing. The partitions are asked
// concurrently, each bounded (PartitionTimeout, on top of the long poll):
// the answer holds what the partitions that answered have, and names each
// one that did not (its error), so that the client asks it again from the
// same offset. With wait_ms and nothing anywhere, every partition long
// polls and the first records to come are answered. The brokers' messages
// are passed through (shape=batch), as consume_batch's.
func (rt *Router) Fetch(r *http.Request) (any, error) {
	var p api.FetchParams
	if err := rt.cfg.Decode(r, &p); err != nil {
		return nil, err
	}
	req, err := p.Request()
	if err != nil {
		return nil, err
	}
	parts := make([]int, 0, len(req.From))
	for part := range req.From {
		parts = append(parts, part)
	}
	slices.Sort(parts)
	if _, err := rt.topicPartitions(req.Topic, parts); err != nil {
		return nil, err
	}
	round, answered, firstErr := rt.fetchRound(r.Context(), req, parts, 0)
	if round.n == 0 && req.WaitMS > 0 && answered {
		round, answered, firstErr = rt.fetchRound(r.Context(), req, parts, time.Duration(req.WaitMS)*time.Millisecond)
	}
	if !answered {
		return nil, firstErr // no partition answered: the first one's error
	}
	ans, err := api.FetchAnswerOf(req.Topic, round.pieces, round.partitions)
	if err != nil {
		return nil, logq.Internal(err, "encode fetch answer")
	}
	ans.Done = func() {
		for _, b := range round.bufs {
			releaseAnswer(b)
		}
	}
	return ans, nil
}

// fetchAnswer is a fetch round's answer: the partitions' marks (or
// errors), their messages' pieces, how many, and the buffers they are in.
type fetchAnswer struct {
	partitions []api.FetchedPartition
	pieces     [][]byte
	n          int
	bufs       [][]byte
}

// fetchRound asks every partition once, concurrently; with wait, each
// long polls and the round ends at the first records (the other fetches
// are cancelled: they move nothing).
func (rt *Router) fetchRound(ctx context.Context, req api.FetchRequest, parts []int, wait time.Duration) (fetchAnswer, bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		i   int
		f   fetched
		err error
	}
	results := make(chan result, len(parts))
	var wg sync.WaitGroup
	for i, part := range parts {
		wg.Go(func() {
			pctx, pcancel := context.WithTimeout(ctx, rt.cfg.PartitionTimeout+wait)
			defer pcancel()
			f, err := rt.fetchOne(pctx, api.BrokerReadRequest{Topic: req.Topic, Partition: part, Offset: req.From[part],
				Max: req.Max, MaxBytes: req.MaxBytes, WaitMS: wait.Milliseconds(), Encoding: req.Encoding})
			results <- result{i, f, err}
		})
	}
	got := make([]*result, len(parts))
	for range parts {
		res := <-results
		got[res.i] = &res
		if wait > 0 && res.err == nil && res.f.n > 0 {
			cancel() // the first records: the others are asked again next time
			break
		}
	}
	wg.Wait()
	close(results)
	for res := range results {
		if got[res.i] == nil {
			got[res.i] = &res
		}
	}
	var out fetchAnswer
	answered := false
	var firstErr error
	for i, part := range parts {
		res := got[i]
		fp := api.FetchedPartition{Partition: part, NextOffset: req.From[part]}
		switch {
		case res.err != nil && wait > 0 && ctx.Err() != nil && logq.ErrorCode(res.err) == logq.ETimeout:
			// Cancelled once another partition had records: nothing new.
			answered = true
		case res.err != nil:
			if firstErr == nil {
				firstErr = res.err
			}
			fp.Error = &api.ItemFailure{Code: logq.ErrorCode(res.err), Message: logq.ErrorMessage(res.err)}
		default:
			answered = true
			out.pieces = append(out.pieces, res.f.raw)
			out.n += res.f.n
			if res.f.buf != nil {
				out.bufs = append(out.bufs, res.f.buf)
			}
			if res.f.n > 0 {
				fp.NextOffset = res.f.next
			}
			fp.HighWatermark, fp.LogStartOffset = res.f.hw, res.f.logStart
		}
		out.partitions = append(out.partitions, fp)
	}
	return out, answered, firstErr
}

// Offsets is GET /offsets: earliest, latest or the first offset at a time,
// of one partition or of every one (asked concurrently, each bounded; a
// partition that did not answer carries its error).
func (rt *Router) Offsets(r *http.Request) (any, error) {
	var p api.OffsetsParams
	if err := rt.cfg.Decode(r, &p); err != nil {
		return nil, err
	}
	req, err := p.Request()
	if err != nil {
		return nil, err
	}
	var parts []int
	if req.Partition != nil {
		parts = []int{*req.Partition}
	}
	out, errs, err := rt.listOffsets(r.Context(), req.Topic, parts, req.At)
	if err != nil {
		return nil, err
	}
	if len(parts) == 1 && errs[0] != nil {
		return nil, errs[0]
	}
	return api.OffsetsAnswer{Status: api.StatusSuccess, Topic: req.Topic, Offsets: out}, nil
}

// ListOffsets asks the brokers for the offsets of partitions of topic
// (nil: every partition) at at (api.OffsetEarliest, api.OffsetLatest or a
// time in ms), concurrently and each bounded by PartitionTimeout; a
// partition whose broker did not answer carries its error. It serves GET
// /offsets and the manager's group offset resets.
func (rt *Router) ListOffsets(ctx context.Context, topic string, parts []int, at int64) ([]api.PartitionOffset, error) {
	out, _, err := rt.listOffsets(ctx, topic, parts, at)
	return out, err
}

func (rt *Router) listOffsets(ctx context.Context, topic string, parts []int, at int64) ([]api.PartitionOffset, []error, error) {
	n, err := rt.topicPartitions(topic, parts)
	if err != nil {
		return nil, nil, err
	}
	if parts == nil {
		for i := range n {
			parts = append(parts, i)
		}
	}
	out := make([]api.PartitionOffset, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, part := range parts {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, rt.cfg.PartitionTimeout)
			defer cancel()
			one := api.OffsetsRequest{Topic: topic, Partition: &part, At: at}
			var ans api.BrokerOffsetsAnswer
			errs[i] = rt.onPartition(ctx, topic, part, func(o Owner, seq int64) error {
				return rt.CallBroker(ctx, o, seq, "offsets", "GET", "/v1/offsets", one.Query(), nil, &ans, 0)
			})
			out[i] = ans.PartitionOffset
			out[i].Partition = part
			if errs[i] != nil {
				out[i].Error = &api.ItemFailure{Code: logq.ErrorCode(errs[i]), Message: logq.ErrorMessage(errs[i])}
			}
		})
	}
	wg.Wait()
	return out, errs, nil
}
