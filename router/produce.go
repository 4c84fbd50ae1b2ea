package router

import (
	"context"
	"net/http"
	"sync"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/decide"
	"github.com/logq/logq/projection"
)

// partitionerFor checks the producer (and the topic, when given: it must be
// the producer's) and captures what choosing a partition needs.
func (rt *Router) partitionerFor(r *http.Request, producerID int64, topic string) (pt *api.Partitioner, err error) {
	c := rt.callerOf(r)
	rt.cfg.State.View(func(s *projection.State) { pt, err = rt.partitioner(s, c, producerID, topic) })
	return pt, err
}

func (rt *Router) partitioner(s *projection.State, c caller, producerID int64, topic string) (*api.Partitioner, error) {
	prod, ok := s.Producers[producerID]
	if !ok {
		return nil, logq.Errorf(logq.EProducerNotFound, "producer %d not found; register it first", producerID)
	}
	if err := c.mayUse("producer", producerID, prod.Principal); err != nil {
		return nil, err // another principal's: refused before it counts as a sign of life
	}
	rt.cfg.Touch(decide.KindProducer, producerID, prod.Inactive) // any request of a producer counts as a sign of life
	if topic == "" {
		topic = prod.Topic
	} else if topic != prod.Topic {
		return nil, logq.Errorf(logq.EInvalid, "producer %d is registered for topic %q, not %q", producerID, prod.Topic, topic)
	}
	t, ok := s.Topics[topic]
	if !ok {
		return nil, logq.Errorf(logq.ETopicNotFound, "topic %q not found", topic)
	}
	pt := &api.Partitioner{Topic: topic, ProducerID: producerID, N: len(t.Partitions), Fixed: prod.Partition, RR: rt.counter("p/" + topic)}
	for i := range t.Partitions {
		if s.Writable(topic, i) {
			pt.Writable = append(pt.Writable, i)
		}
	}
	return pt, nil
}

// Produce is POST /producer/produce: one message.
func (rt *Router) Produce(r *http.Request) (any, error) {
	var p api.ProduceParams
	if err := rt.cfg.Decode(r, &p); err != nil {
		return nil, err
	}
	req, err := p.Request(rt.cfg.MaxMessageBytes)
	if err != nil {
		return nil, err
	}
	pt, err := rt.partitionerFor(r, req.ProducerID, req.Topic)
	if err != nil {
		return nil, err
	}
	partition, err := pt.Pick(req.Partition, api.PickKey(req.Encoding, req.Key))
	if err != nil {
		return nil, err
	}
	msgs := []api.AppendMessage{{ProducerID: req.ProducerID, Key: req.Key, Message: req.Message,
		Encoding: req.Encoding, Headers: req.Headers, Timestamp: req.Timestamp}}
	var (
		base int64
		dup  bool
	)
	if req.Sequence != nil {
		base, dup, err = rt.appendIdempotent(r.Context(), pt.Topic, partition, *req.ProducerEpoch, *req.Sequence, msgs)
	} else {
		base, err = rt.appendTo(r.Context(), pt.Topic, partition, msgs)
	}
	if err != nil {
		return nil, err
	}
	return api.ProduceAnswer{Status: api.StatusSuccess, Partition: partition, Offset: base, Duplicate: dup}, nil
}

// ProduceBatch is POST /producer/produce_batch: every message's partition
// is chosen first (bad input changes nothing), then each partition's
// messages go as one append; an item's failure is its own unless all fail.
func (rt *Router) ProduceBatch(r *http.Request) (any, error) {
	var p api.ProduceBatchParams
	if err := rt.cfg.Decode(r, &p); err != nil {
		return nil, err
	}
	req, err := p.Request(rt.cfg.MaxBatchMessages, rt.cfg.MaxMessageBytes)
	if err != nil {
		return nil, err
	}
	pt, err := rt.partitionerFor(r, req.ProducerID, req.Topic)
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
		msgs[i] = api.AppendMessage{ProducerID: req.ProducerID, Key: rec.Key, Message: rec.Message,
			Encoding: rec.Encoding, Headers: rec.Headers, Timestamp: rec.Timestamp}
		parts[i], err = pt.Pick(rec.Partition, api.PickKey(rec.Encoding, rec.Key))
		switch {
		case err == nil:
			groups[parts[i]] = append(groups[parts[i]], i)
		case logq.ErrorCode(err) == logq.EInvalid:
			return nil, api.ItemError(i, err)
		default:
			results[i].Error = &api.ItemFailure{Code: logq.ErrorCode(err), Message: logq.ErrorMessage(err)}
		}
	}

	if req.Sequence != nil {
		return rt.produceIdempotent(r.Context(), pt.Topic, req, msgs, groups, results)
	}
	places := newPlaces(n)
	var wg sync.WaitGroup
	for partition, idx := range groups {
		wg.Go(func() {
			batch := make([]api.AppendMessage, len(idx))
			for j, i := range idx {
				batch[j] = msgs[i]
			}
			base, err := rt.appendTo(r.Context(), pt.Topic, partition, batch)
			for j, i := range idx {
				if err != nil {
					results[i].Error = &api.ItemFailure{Code: logq.ErrorCode(err), Message: logq.ErrorMessage(err)}
					continue
				}
				places.set(&results[i], i, partition, base+int64(j))
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
	return api.ProduceBatchAnswer{Status: api.StatusSuccess, Results: results}, nil
}

// produceIdempotent is an idempotent produce_batch: every message goes to
// one partition (else 400, before anything is sent), as one append
// numbered from the batch's sequence.
func (rt *Router) produceIdempotent(ctx context.Context, topic string, req api.ProduceBatchRequest, msgs []api.AppendMessage, groups map[int][]int, results []api.BatchResult) (any, error) {
	for _, res := range results {
		if res.Error != nil {
			return nil, &logq.Error{Code: res.Error.Code, Message: res.Error.Message}
		}
	}
	if len(groups) != 1 {
		return nil, logq.Errorf(logq.EInvalid, "an idempotent produce_batch (sequence) goes to one partition: give partition, or one key, or register the producer for a partition")
	}
	var partition int
	for p := range groups {
		partition = p
	}
	base, dup, err := rt.appendIdempotent(ctx, topic, partition, *req.ProducerEpoch, *req.Sequence, msgs)
	if err != nil {
		return nil, err
	}
	places := newPlaces(len(results))
	for i := range results {
		places.set(&results[i], i, partition, base+int64(i))
	}
	return api.ProduceBatchAnswer{Status: api.StatusSuccess, Results: results, Duplicate: dup}, nil
}

// places holds the partitions and offsets a produce_batch answer's results
// point to, two allocations for the batch instead of two per message.
type places struct {
	parts []int
	offs  []int64
}

func newPlaces(n int) places { return places{make([]int, n), make([]int64, n)} }

// set makes res (the i-th result) say partition and offset.
func (p places) set(res *api.BatchResult, i, partition int, offset int64) {
	p.parts[i], p.offs[i] = partition, offset
	res.Partition, res.Offset = &p.parts[i], &p.offs[i]
}
