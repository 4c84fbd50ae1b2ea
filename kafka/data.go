package kafka

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logq/logq"
)

// timeoutCtx is ctx bounded by a request's timeout in milliseconds (none
// when not positive).
func timeoutCtx(ctx context.Context, ms int32) (context.Context, context.CancelFunc) {
	if ms <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
}

func (h *handler) produce(req *kmsg.ProduceRequest) kmsg.Response {
	if req.TransactionID != nil {
		resp := kmsg.NewPtrProduceResponse()
		for _, t := range req.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	ctx, cancel := timeoutCtx(h.ctx(), req.TimeoutMillis)
	defer cancel()
	resp := kmsg.NewPtrProduceResponse()
	var one [1]produceJob // the common case: one partition, no allocation
	jobs := one[:0]
	for ti, t := range req.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.ProduceResponseTopicPartition, 0, len(t.Partitions))
		for pi, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = -1, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
			jobs = append(jobs, produceJob{ti, pi, t.Topic, p.Partition, p.Records})
		}
		resp.Topics = append(resp.Topics, rt)
	}
	// Partitions are appended concurrently (each goes to its own group
	// commit); records of one partition stay in request order.
	if len(jobs) == 1 {
		h.produceJob(ctx, resp, jobs[0]) // the common case: no goroutine
	} else {
		var wg sync.WaitGroup
		for _, j := range jobs {
			wg.Go(func() { h.produceJob(ctx, resp, j) })
		}
		wg.Wait()
	}
	if req.Acks == 0 {
		return nil
	}
	return resp
}

// produceJob is one partition of a produce request.
type produceJob struct {
	ti, pi int // its answer: resp.Topics[ti].Partitions[pi]
	topic  string
	part   int32
	data   []byte
}

// produceJob appends j's records and writes its answer into resp.
func (h *handler) produceJob(ctx context.Context, resp *kmsg.ProduceResponse, j produceJob) {
	rp := &resp.Topics[j.ti].Partitions[j.pi]
	base, at, err := h.produceOne(ctx, j.topic, j.part, j.data)
	rp.ErrorCode = errorCode(err)
	if err != nil {
		rp.ErrorMessage = errorMessage(err)
		return
	}
	rp.BaseOffset, rp.LogStartOffset = base, 0
	if !at.IsZero() {
		rp.LogAppendTime = at.UnixMilli()
	}
}

func (h *handler) produceOne(ctx context.Context, topic string, part int32, data []byte) (int64, time.Time, error) {
	batches, err := decodeBatches(data)
	switch {
	case errors.Is(err, errTransactional):
		return 0, time.Time{}, kerr.TransactionalIDAuthorizationFailed
	case err != nil:
		h.s.log.Debug().Err(err).Str("topic", topic).Msg("kafka produce: corrupt batch")
		return 0, time.Time{}, kerr.CorruptMessage
	case len(batches) == 0:
		return 0, time.Time{}, kerr.CorruptMessage
	}
	if !hasPartition(h.s.cfg.Cluster, topic, part) {
		return 0, time.Time{}, kerr.UnknownTopicOrPartition
	}
	var base int64 = -1
	var at time.Time
	for _, b := range batches {
		off, t, err := h.s.cfg.Log.Produce(ctx, topic, part, b.records, b.producer)
		if err != nil {
			return 0, time.Time{}, err
		}
		if base < 0 {
			base, at = off, t
		}
	}
	return base, at, nil
}

func (h *handler) fetch(req *kmsg.FetchRequest) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	if req.SessionID != 0 || req.SessionEpoch > 0 {
		// Fetch sessions (KIP-227) are not kept: every fetch is full.
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp
	}
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 || maxBytes > h.s.cfg.MaxFetchBytes {
		maxBytes = h.s.cfg.MaxFetchBytes
	}
	wait := min(time.Duration(req.MaxWaitMillis)*time.Millisecond, h.s.cfg.MaxFetchWait)
	type slot struct {
		topic  string
		part   int32
		offset int64
		max    int
		rp     *kmsg.FetchResponseTopicPartition
		res    FetchResult
		err    error
	}
	var slots []*slot
	for _, t := range req.Topics {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic = t.Topic
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = p.Partition
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			rp.RecordBatches = []byte{} // empty, not null: librdkafka refuses a null record set
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	for ti, t := range req.Topics {
		for pi, p := range t.Partitions {
			slots = append(slots, &slot{topic: t.Topic, part: p.Partition, offset: p.FetchOffset,
				max: int(p.PartitionMaxBytes), rp: &resp.Topics[ti].Partitions[pi]})
		}
	}
	// First pass: what is there now, within the request's byte budget.
	total := 0
	read := func(ctx context.Context, s *slot, budget int, wait time.Duration) {
		if !hasPartition(h.s.cfg.Cluster, s.topic, s.part) {
			s.err = kerr.UnknownTopicOrPartition
			return
		}
		mb := s.max
		if mb <= 0 || mb > budget {
			mb = budget
		}
		s.res, s.err = h.s.cfg.Log.Fetch(ctx, s.topic, s.part, s.offset, max(mb, 1), wait)
	}
	failed := false
	for _, s := range slots {
		read(h.ctx(), s, max(maxBytes-total, 1), 0)
		total += recordBytes(s.res.Records)
		failed = failed || s.err != nil
	}
	// A partition's error is answered at once (as Kafka does): the client
	// refreshes its metadata instead of waiting out the poll.
	if !failed && total < int(max(req.MinBytes, 1)) && wait > 0 && h.s.pollCtx.Err() == nil {
		// Long poll: wait on every partition that is served and empty;
		// the first append anywhere ends the wait for all, and so does
		// Close.
		ctx, cancel := context.WithTimeout(h.s.pollCtx, wait)
		var wg sync.WaitGroup
		for _, s := range slots {
			if s.err != nil || len(s.res.Records) > 0 {
				continue
			}
			wg.Go(func() {
				prev := s.res
				read(ctx, s, maxBytes, wait)
				if len(s.res.Records) > 0 {
					cancel()
				} else if s.err != nil && ctx.Err() != nil {
					s.res, s.err = prev, nil // the wait ended, nothing came
				}
			})
		}
		wg.Wait()
		cancel()
	}
	total = 0
	for _, s := range slots {
		rp := s.rp
		rp.ErrorCode = errorCode(s.err)
		if s.err != nil && logq.ErrorCode(s.err) == logq.EInvalid {
			rp.ErrorCode = kerr.OffsetOutOfRange.Code
		}
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = s.res.HighWatermark, s.res.HighWatermark, s.res.LogStartOffset
		if s.err != nil && rp.ErrorCode != kerr.OffsetOutOfRange.Code {
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			continue
		}
		recs := s.res.Records
		// Keep the whole answer within MaxBytes, but always give the first
		// partition's first record (so that big records make progress).
		for len(recs) > 0 && total > 0 && total+recordBytes(recs) > maxBytes {
			recs = recs[:len(recs)-1]
		}
		if len(recs) > 0 {
			rp.RecordBatches = appendBatch(nil, recs, false) // CreateTime: the record timestamps are the producers'
			total += recordBytes(recs)
		}
	}
	return resp
}

// recordBytes is the size of records as the byte limits count it.
func recordBytes(recs []StoredRecord) int {
	n := 0
	for _, r := range recs {
		n += len(r.Key) + len(r.Value) + 20
		for _, h := range r.Headers {
			n += len(h.Key) + len(h.Value)
		}
	}
	return n
}

func (h *handler) listOffsets(req *kmsg.ListOffsetsRequest) *kmsg.ListOffsetsResponse {
	resp := kmsg.NewPtrListOffsetsResponse()
	for _, t := range req.Topics {
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition = p.Partition
			rp.LeaderEpoch = -1
			var off, ts int64
			var err error = kerr.UnknownTopicOrPartition
			if hasPartition(h.s.cfg.Cluster, t.Topic, p.Partition) {
				off, ts, err = h.s.cfg.Log.ListOffset(h.ctx(), t.Topic, p.Partition, p.Timestamp)
			}
			rp.ErrorCode = errorCode(err)
			if err == nil {
				rp.Offset, rp.Timestamp = off, ts
				if req.Version == 0 {
					rp.OldStyleOffsets = []int64{off}
				}
			} else {
				rp.Offset, rp.Timestamp = -1, -1
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
