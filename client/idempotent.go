package client

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/internal/sleep"
)

// The idempotent producer (the default). Every batch is split by
// partition, chosen here once (the servers' partitioner, on the topic's
// map); each partition's part gets the next sequence numbers of that
// partition and keeps its partition and sequence through every resend, so
// that a batch whose answer was lost is stored once: the broker recognises
// the sequence and answers the original offsets. Each partition has a
// sender of its own that sends one part at a time (sendParts), so a
// partition never has two in flight, and one partition's slow answer does
// not hold the others' records back.
//
// What a failed part leaves behind: refused outright (a 4xx), nothing was
// stored, and the partition's next sequence goes back to the part's; given
// up on after the retry budget (stored or not, nobody knows), or refused
// as out of order, the producer moves to its next epoch, which starts
// every partition's sequences again at 0.

// idemState is an idempotent producer's epoch and next sequence per
// partition.
type idemState struct {
	mu    sync.Mutex
	epoch int64
	next  map[int]int64
}

// idemBatch is one partition's part of a batch, as first sent.
type idemBatch struct {
	part  int
	epoch int64
	seq   int64
	ms    []*pending
}

// reserve takes the next n sequence numbers of a partition.
func (s *idemState) reserve(part, n int) (epoch, seq int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq = s.next[part]
	s.next[part] = seq + int64(n)
	return s.epoch, seq
}

// release gives a part's sequence numbers back (nothing of it was stored),
// unless the epoch moved meanwhile.
func (s *idemState) release(b *idemBatch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch == b.epoch && s.next[b.part] == b.seq+int64(len(b.ms)) {
		s.next[b.part] = b.seq
	}
}

// bump moves to the next epoch (once per failed epoch).
func (s *idemState) bump(from int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch == from && s.epoch < api.MaxProducerEpoch {
		s.epoch++
		s.next = map[int]int64{}
	}
}

// sendIdempotent splits one batch by partition and queues each part for
// its partition's sender (sendParts), which sends it and completes its
// futures.
func (p *Producer) sendIdempotent(batch []*pending) {
	deadline := time.Now().Add(p.budget)
	var rt *TopicInfo
	for attempt := 0; ; attempt++ {
		var err error
		if rt, err = p.topicMap(); err == nil {
			break
		}
		if !retryable(err) || time.Now().After(deadline) || !sleep.For(p.ctx, p.c.backoff(attempt)) {
			for _, m := range batch {
				m.fut.complete(Ack{}, err)
			}
			return
		}
	}
	var writable []int
	for _, part := range rt.Partitions {
		if part.Writable {
			writable = append(writable, part.Partition)
		}
	}
	pt := api.Partitioner{Topic: p.topic, ProducerID: p.id, N: len(rt.Partitions), Fixed: p.fixed, Writable: writable, RR: &p.rr}
	groups := map[int][]*pending{}
	var order []int
	for _, m := range batch {
		part, err := pt.Pick(m.rec.Partition, optKey(m.rec.Key))
		if err != nil {
			m.fut.complete(Ack{}, asError(err))
			continue
		}
		if _, ok := groups[part]; !ok {
			order = append(order, part)
		}
		groups[part] = append(groups[part], m)
	}
	for _, part := range order {
		p.partSender(part) <- partItem{rt: rt, ms: groups[part]}
	}
}

// partItem is one batch's part for one partition, queued for its sender.
type partItem struct {
	rt *TopicInfo
	ms []*pending
}

// partSender returns the queue of a partition's sender, starting it on
// first use. The loop goroutine is the only caller (and the only one to
// stop them: stopParts).
func (p *Producer) partSender(part int) chan<- partItem {
	if ch, ok := p.parts[part]; ok {
		p.partsPending.Add(1)
		return ch
	}
	if p.parts == nil {
		p.parts = map[int]chan partItem{}
	}
	ch := make(chan partItem, 64)
	p.parts[part] = ch
	p.partsRunning.Add(1)
	go p.sendParts(part, ch)
	p.partsPending.Add(1)
	return ch
}

// sendParts is a partition's sender: it sends the partition's parts one at
// a time (a partition never has two in flight, so its records keep their
// order and sequences), what queued while one was in flight together as
// the next, within the batch limits. Each partition has its own, so a
// record waits only for its own partition's part in flight, not for the
// slowest partition of the batch before. A sender lives as long as its
// producer: its goroutine's stack, grown once by encoding, is reused.
func (p *Producer) sendParts(part int, in <-chan partItem) {
	defer p.partsRunning.Done()
	var carry *partItem
	for {
		var it partItem
		if carry != nil {
			it, carry = *carry, nil
		} else {
			var ok bool
			if it, ok = <-in; !ok {
				return
			}
		}
		items, bytes := 1, pendingBytes(it.ms)
	more:
		for len(it.ms) < p.cfg.BatchSize && bytes < p.cfg.BatchBytes {
			select {
			case next, ok := <-in:
				if !ok {
					break more
				}
				nb := pendingBytes(next.ms)
				if len(it.ms)+len(next.ms) > p.cfg.BatchSize || bytes+nb > p.cfg.BatchBytes {
					carry = &next
					break more
				}
				it.ms = append(it.ms, next.ms...)
				it.rt = next.rt
				bytes += nb
				items++
			default:
				break more
			}
		}
		epoch, seq := p.idem.reserve(part, len(it.ms))
		p.sendPart(it.rt, &idemBatch{part: part, epoch: epoch, seq: seq, ms: it.ms}, time.Now().Add(p.budget))
		for range items {
			p.partsPending.Done()
		}
	}
}

// stopParts ends the partitions' senders (once partsPending is done).
func (p *Producer) stopParts() {
	for _, ch := range p.parts {
		close(ch)
	}
	p.parts = nil
	p.partsRunning.Wait()
}

// pendingBytes is what records count against ProducerConfig.BatchBytes.
func pendingBytes(ms []*pending) int {
	n := 0
	for _, m := range ms {
		n += m.bytes()
	}
	return n
}

// asError turns a logq error into the client's.
func asError(err error) error {
	var le *logq.Error
	if errors.As(err, &le) {
		return &Error{Code: le.Code, Message: le.Message, StatusCode: logq.HTTPStatus(le.Code)}
	}
	return err
}

// topicMap is the topic's partitions, cached as in direct mode.
func (p *Producer) topicMap() (*TopicInfo, error) {
	rt := p.routes.Load()
	if rt != nil && time.Since(time.Unix(0, p.routed.Load())) <= directRoutesTTL {
		return rt, nil
	}
	info, err := p.c.DescribeTopic(p.ctx, p.topic)
	if err != nil {
		return nil, err
	}
	if len(info.Partitions) == 0 {
		return nil, &Error{Code: logq.EUnavailable, Message: fmt.Sprintf("topic %s has no partitions yet", p.topic)}
	}
	p.routes.Store(info)
	p.routed.Store(time.Now().UnixNano())
	return info, nil
}

// sendPart sends one partition's part until it is stored, refused, or the
// budget is spent, always with the same partition, epoch and sequence.
func (p *Producer) sendPart(rt *TopicInfo, b *idemBatch, deadline time.Time) {
	part := b.part
	direct := p.cfg.Direct
	// The part in each wire form, made when first needed: a producer
	// through the managers never makes the direct one.
	var (
		items   []api.AppendMessage
		records []api.Record
	)
	appendItems := func() []api.AppendMessage {
		if items == nil {
			items = make([]api.AppendMessage, len(b.ms))
			for i, m := range b.ms {
				items[i] = api.AppendMessage{ProducerID: p.id}
				items[i].Message, items[i].Key, items[i].Headers, items[i].Encoding, items[i].Timestamp = wireRecord(m.rec)
			}
		}
		return items
	}
	produceRecords := func() []api.Record {
		if records == nil {
			records = make([]api.Record, len(b.ms))
			for i, m := range b.ms {
				records[i].Message, records[i].Key, records[i].Headers, records[i].Encoding, records[i].Timestamp = wireRecord(m.rec)
			}
		}
		return records
	}
	var err error
	for attempt := 0; ; attempt++ {
		var base int64
		if direct && part < len(rt.Partitions) && rt.Partitions[part].Address != "" {
			base, err = p.appendSeq(rt.Partitions[part], b, appendItems())
			if err != nil && (retryable(err) || errors.Is(err, ErrFenced) || errors.Is(err, ErrBrokerRemoved) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid)) {
				direct = false // through the managers from now on
				p.routes.Store(nil)
				base, err = p.produceSeq(b, produceRecords())
			}
		} else {
			base, err = p.produceSeq(b, produceRecords())
		}
		p.hb.touch()
		if err == nil {
			for i, m := range b.ms {
				m.fut.complete(Ack{Topic: p.topic, Partition: part, Offset: base + int64(i)}, nil)
			}
			return
		}
		if !retryableItem(err) || time.Now().After(deadline) || p.ctx.Err() != nil {
			break
		}
		if !sleep.For(p.ctx, p.c.backoff(attempt)) {
			break
		}
	}
	var e *Error
	switch {
	case errors.Is(err, ErrOutOfOrderSequence), errors.Is(err, ErrProducerFenced):
		p.idem.bump(b.epoch)
	case retryableItem(err) || p.ctx.Err() != nil:
		// Stored or not, nobody knows: a new epoch starts afresh.
		p.idem.bump(b.epoch)
		if errors.As(err, &e) {
			err = p.gaveUp(e, &part)
		}
	default:
		p.idem.release(b) // refused outright: nothing stored
	}
	for _, m := range b.ms {
		m.fut.complete(Ack{}, err)
	}
}

// produceSeq sends a part through the managers' produce_batch.
func (p *Producer) produceSeq(b *idemBatch, records []api.Record) (int64, error) {
	part, epoch, seq := b.part, b.epoch, b.seq
	body := api.ProduceBatchRequest{Topic: p.topic, ProducerID: p.id, Partition: &part, ProducerEpoch: &epoch, Sequence: &seq, Messages: records}
	var out api.ProduceBatchAnswer
	err := p.c.do(p.ctx, call{method: http.MethodPost, path: "/producer/produce_batch", body: body,
		retryIf: func(err error) bool { return errors.Is(err, ErrFenced) }}, &out)
	if err != nil {
		return 0, err
	}
	if len(out.Results) != len(records) || out.Results[0].Offset == nil {
		return 0, &Error{Code: logq.EInternal, Message: fmt.Sprintf("produce_batch answered %d results for %d messages", len(out.Results), len(records))}
	}
	if r := out.Results[0]; r.Error != nil {
		return 0, itemError(r.Error.Code, r.Error.Message)
	}
	return *out.Results[0].Offset, nil
}

// appendSeq sends a part straight to the partition's broker (one attempt),
// coalesced with the concurrent parts of this Client's other producers to
// the partition (coalesce.go).
func (p *Producer) appendSeq(info PartitionInfo, b *idemBatch, items []api.AppendMessage) (int64, error) {
	base, err := normalizeURL(info.Address)
	if err != nil {
		return 0, &Error{Code: logq.EUnavailable, Message: err.Error()}
	}
	epoch, seq := b.epoch, b.seq
	return p.c.appendRun(p.ctx, base, p.topic, b.part, api.AppendRun{ProducerEpoch: &epoch, Sequence: &seq, Messages: items})
}
