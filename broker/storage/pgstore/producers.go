package pgstore

import (
	"context"
	"slices"
	"sync"

	"github.com/logq/logq/broker/storage"
)

// The idempotent fast path. appendIdempotent (idempotent.go) takes two
// round trips under the partition rows' locks: one to lock them and read
// the producers' state, one to store and commit. A broker owning a
// partition is its only writer at its epoch, so like a Kafka partition
// leader it can keep its producers' state in memory and decide a batch
// before sending anything: then the offsets, the messages and the new
// state go in one statement, in one round trip, and the partition row is
// locked only while that statement runs.
//
// What the store remembers of a partition is valid as of a version of it:
// its epoch and its next offset. Every change of a producer's state stores
// at least one message, so moves the next offset, and the statement
// updates the partition row only if its epoch and next offset are still
// the remembered ones. Anything else that wrote meanwhile (another store,
// another process of the same broker, a new owner) makes the statement
// store nothing for that partition, and its batches take the locked path,
// which reads the truth. So a stale memory costs a round trip, never a
// wrong answer. The memory is filled by the locked path, which reads the
// producers it is asked about under the row lock; a producer the store
// does not know yet, a duplicate, and every refusal go by the locked path,
// so that only acceptances are decided from memory.

// maxKnownProducers bounds the producers remembered per partition; past
// it the partition's memory starts again empty (the locked path refills
// it).
const maxKnownProducers = 10000

// knownProducers is what a store knows of one partition's producers.
type knownProducers struct {
	epoch, next int64                   // the version: the partition's epoch and next offset
	states      map[int64]producerState // by producer id; found false: known to have no state
}

// producerCache is a store's memory of its partitions' producers.
type producerCache struct {
	mu    sync.Mutex
	parts map[segKey]*knownProducers
}

func (c *producerCache) forget(k segKey) {
	c.mu.Lock()
	delete(c.parts, k)
	c.mu.Unlock()
}

func (c *producerCache) forgetAll(batches []storage.Batch) {
	c.mu.Lock()
	for _, b := range batches {
		delete(c.parts, segKey{b.Topic, b.Partition})
	}
	c.mu.Unlock()
}

// appended moves a partition's version after an append of n messages at
// base that the store made at epoch: the producers' states stay true (a
// plain append changes none). A base other than the remembered next offset
// means someone else wrote between: the memory is dropped.
func (c *producerCache) appended(k segKey, epoch, base, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kp := c.parts[k]
	if kp == nil {
		return
	}
	if kp.epoch != epoch || kp.next != base {
		delete(c.parts, k)
		return
	}
	kp.next = base + n
}

// learned records what the locked path read and wrote for a partition:
// at version (epoch, read) it read states, and it left the partition at
// next with the producers' states changed to wrote.
func (c *producerCache) learned(k segKey, epoch, read, next int64, states, wrote map[int64]producerState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kp := c.parts[k]
	if kp == nil || kp.epoch != epoch || kp.next != read || len(kp.states) > maxKnownProducers {
		kp = &knownProducers{epoch: epoch, states: map[int64]producerState{}}
		if c.parts == nil {
			c.parts = map[segKey]*knownProducers{}
		}
		c.parts[k] = kp
	}
	kp.next = next
	for id, ps := range states {
		kp.states[id] = ps
	}
	for id, ps := range wrote {
		kp.states[id] = ps
	}
}

// fastPlan is an Append decided from memory: one storage batch per
// partition (its batches' messages in order), at the remembered next
// offset, and the producers' new states.
type fastPlan struct {
	merged  []storage.Batch
	expect  []int64                   // each merged batch's base: the remembered next offset
	batches [][]int                   // each merged batch's indexes into the Append's batches
	states  []map[int64]producerState // each merged batch's producers' new states
	bases   []int64                   // by the Append's batch: its base offset if stored
}

// plan decides batches from memory, or reports false when one of them
// needs the locked path: a partition or producer not known at its epoch,
// or a batch that memory would not accept (a duplicate, a gap, a fenced
// producer epoch: the locked path answers those from the truth).
func (c *producerCache) plan(batches []storage.Batch) (fastPlan, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var p fastPlan
	p.bases = make([]int64, len(batches))
	at := map[segKey]int{}
	for i, b := range batches {
		k := segKey{b.Topic, b.Partition}
		kp := c.parts[k]
		if kp == nil || kp.epoch != b.Epoch {
			return fastPlan{}, false
		}
		m, ok := at[k]
		if !ok {
			m = len(p.merged)
			at[k] = m
			p.merged = append(p.merged, storage.Batch{Topic: b.Topic, Partition: b.Partition, Epoch: b.Epoch})
			p.expect = append(p.expect, kp.next)
			p.batches = append(p.batches, nil)
			p.states = append(p.states, map[int64]producerState{})
		}
		base := p.expect[m] + int64(len(p.merged[m].Msgs))
		if b.Idem != nil {
			id := b.Idem.ProducerID
			ps, ok := p.states[m][id]
			if !ok {
				if ps, ok = kp.states[id]; !ok {
					return fastPlan{}, false
				}
			}
			dup, _, err := checkSequence(b, ps)
			if dup || err != nil {
				return fastPlan{}, false
			}
			p.states[m][id] = next(ps, b, base)
		}
		p.bases[i] = base
		p.batches[m] = append(p.batches[m], i)
		if len(p.merged[m].Msgs) == 0 {
			p.merged[m].Msgs = b.Msgs
		} else {
			p.merged[m].Msgs = append(slices.Clip(p.merged[m].Msgs), b.Msgs...)
		}
	}
	return p, true
}

// stored records that merged batch m of p was stored: its partition moved
// to its next version with its producers' new states. If the memory moved
// meanwhile (a concurrent Append of the same store), it is dropped.
func (c *producerCache) stored(p fastPlan, m int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := p.merged[m]
	k := segKey{b.Topic, b.Partition}
	kp := c.parts[k]
	if kp == nil || kp.epoch != b.Epoch || kp.next != p.expect[m] {
		delete(c.parts, k)
		return
	}
	kp.next = p.expect[m] + int64(len(b.Msgs))
	for id, ps := range p.states[m] {
		kp.states[id] = ps
	}
}

// fastAppendSQL is insertSQL with the partition's version as a condition
// ($13: the next offset remembered) and the producers' new states ($14 to
// $19) written for the partitions it stored to, all in one statement.
const fastAppendSQL = `
		WITH p AS (
			UPDATE partitions p SET next_offset = p.next_offset + b.n, max_value_bytes = greatest(p.max_value_bytes, b.maxv)
			FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $12::int[], $13::bigint[]) WITH ORDINALITY AS b(topic, partition, epoch, n, maxv, expect, i)
			WHERE p.topic = b.topic AND p.partition = b.partition AND p.epoch = b.epoch AND p.next_offset = b.expect
			RETURNING b.i, p.topic, p.partition, b.expect AS base
		), ` + insertMessagesCTE + `, st AS (
			INSERT INTO producer_state (topic, partition, producer_id, epoch, first_seqs, last_seqs, base_offsets)
			SELECT p.topic, p.partition, s.id, s.e, s.f::bigint[], s.l::bigint[], s.b::bigint[]
			FROM unnest($14::bigint[], $15::bigint[], $16::bigint[], $17::text[], $18::text[], $19::text[]) AS s(batch, id, e, f, l, b)
			JOIN p ON p.i = s.batch
			` + upsertProducerState + `
		)
		SELECT i, base FROM p`

// appendFast stores a plan in one statement. done reports, by merged
// batch, whether it was stored; a batch not stored found its partition at
// another version (or epoch) than remembered, and nothing of it was
// written.
func (s *Store) appendFast(ctx context.Context, p fastPlan) (done []bool, err error) {
	args := append(insertArgs(p.merged), p.expect)
	var (
		batch, ids, epochs  []int64
		firsts, lasts, base []string
	)
	for m, states := range p.states {
		for id, ps := range states {
			batch, ids, epochs = append(batch, int64(m+1)), append(ids, id), append(epochs, ps.epoch)
			firsts, lasts, base = append(firsts, arrayLiteral(ps.firsts)), append(lasts, arrayLiteral(ps.lasts)), append(base, arrayLiteral(ps.base))
		}
	}
	args = append(args, batch, ids, epochs, firsts, lasts, base)
	rows, err := s.db.Query(ctx, fastAppendSQL, args...)
	if err != nil {
		return nil, err
	}
	bases, err := scanBases(rows, len(p.merged))
	if err != nil {
		return nil, err
	}
	done = make([]bool, len(p.merged))
	for m, b := range bases {
		done[m] = b == p.expect[m]
	}
	return done, nil
}

// appendIdempotentFast is Append with an idempotent batch by the fast
// path where memory allows: ok false when the whole Append needs the
// locked path. Partitions the statement found at another version take the
// locked path after it; a failure there is those batches' own error (the
// others are stored).
func (s *Store) appendIdempotentFast(ctx context.Context, batches []storage.Batch, total int) (_ []storage.AppendResult, ok bool, err error) {
	if total >= CopyThreshold {
		return nil, false, nil // bulk: COPY, by the locked path
	}
	p, ok := s.producers.plan(batches)
	if !ok {
		return nil, false, nil
	}
	s.paths.idempotentFast.Add(1)
	done, err := s.appendFast(ctx, p)
	if err != nil {
		s.producers.forgetAll(batches)
		return nil, true, err
	}
	results := make([]storage.AppendResult, len(batches))
	var again []int // indexes into batches, for the locked path
	for m := range p.merged {
		if !done[m] {
			s.producers.forget(segKey{p.merged[m].Topic, p.merged[m].Partition})
			again = append(again, p.batches[m]...)
			continue
		}
		s.producers.stored(p, m)
		for _, i := range p.batches[m] {
			results[i].Base = p.bases[i]
		}
	}
	if len(again) == 0 {
		return results, true, nil
	}
	slices.Sort(again) // the Append's order: a partition's batches stay in theirs
	rest := make([]storage.Batch, len(again))
	n := 0
	for j, i := range again {
		rest[j] = batches[i]
		n += len(batches[i].Msgs)
	}
	s.paths.idempotent.Add(1)
	res, err := s.appendIdempotent(ctx, rest, n)
	if err != nil {
		s.producers.forgetAll(rest)
		err = s.appendError(rest, err)
	}
	for j, i := range again {
		if err != nil {
			results[i] = storage.AppendResult{Base: storage.FencedBase, Err: err}
		} else {
			results[i] = res[j]
		}
	}
	return results, true, nil
}
