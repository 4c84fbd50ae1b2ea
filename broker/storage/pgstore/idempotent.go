package pgstore

import (
	"context"
	"errors"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/logq/logq"
	"github.com/logq/logq/broker/storage"
)

var errBasesMoved = errors.New("idempotent append: the offsets allocated differ from the locked next offsets")

// producerState is an idempotent producer's state in one partition, as
// stored in producer_state: its epoch and its last batches, oldest first.
type producerState struct {
	found               bool
	epoch               int64
	firsts, lasts, base []int64
}

// appendIdempotent is Append when some batch is idempotent, in one
// transaction: lock the batches' partition rows (in the order the batches
// come, which the broker sorts) reading their epochs and the producers'
// state, decide each batch (fenced, duplicate, refused or accepted), store
// the accepted ones as the other paths do, and write the producers' new
// state. Every writer of a partition locks its row first, so the state
// read here cannot change before the commit.
func (s *Store) appendIdempotent(ctx context.Context, batches []storage.Batch, total int) (_ []storage.AppendResult, err error) {
	// Two round trips in all: BEGIN, the locks and the state in one
	// pipeline; the insert, the state's upserts and COMMIT in another (the
	// bases are known from the locked rows' next offsets). COPY, for a
	// large Append, takes its own.
	conn, err := s.db.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	defer func() {
		if err != nil || conn.Conn().PgConn().TxStatus() != 'I' {
			// Whatever failed, leave no transaction open on the pooled
			// connection (a failed one stays open until rolled back).
			if _, rerr := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
				conn.Conn().Close(context.WithoutCancel(ctx)) // the pool drops it
			}
		}
	}()

	topics := make([]string, len(batches))
	parts := make([]int32, len(batches))
	producers := make([]int64, len(batches))
	for i, b := range batches {
		topics[i], parts[i], producers[i] = b.Topic, int32(b.Partition), -1
		if b.Idem != nil {
			producers[i] = b.Idem.ProducerID
		}
	}
	// Lock the partition rows first, then read the producers' state in a
	// statement of its own: in READ COMMITTED its snapshot is taken after
	// the locks are held, so it sees what the previous holder committed (a
	// join in the locking statement would read the state as of before the
	// wait). Both go in one round trip.
	epochs := make([]int64, len(batches))
	nexts := make([]int64, len(batches))
	for i := range epochs {
		epochs[i] = -1 // no partition row: fenced
	}
	states := make([]producerState, len(batches))
	var q pgx.Batch
	q.Queue("BEGIN")
	q.Queue(`
		SELECT b.i, p.epoch, p.next_offset
		FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS b(topic, partition, i)
		JOIN partitions p ON p.topic = b.topic AND p.partition = b.partition
		ORDER BY b.i
		FOR UPDATE OF p`, topics, parts).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var i, epoch, next int64
			if err := rows.Scan(&i, &epoch, &next); err != nil {
				return err
			}
			epochs[i-1], nexts[i-1] = epoch, next
		}
		return rows.Err()
	})
	q.Queue(`
		SELECT b.i, ps.epoch, ps.first_seqs, ps.last_seqs, ps.base_offsets
		FROM unnest($1::text[], $2::int[], $3::bigint[]) WITH ORDINALITY AS b(topic, partition, producer_id, i)
		JOIN producer_state ps ON ps.topic = b.topic AND ps.partition = b.partition AND ps.producer_id = b.producer_id`,
		topics, parts, producers).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var i int64
			ps := producerState{found: true}
			if err := rows.Scan(&i, &ps.epoch, &ps.firsts, &ps.lasts, &ps.base); err != nil {
				return err
			}
			states[i-1] = ps
		}
		return rows.Err()
	})
	if err := conn.SendBatch(ctx, &q).Close(); err != nil {
		return nil, err
	}

	// Decide the batches in order. Batches of one partition (an Append
	// with idempotent batches may hold several) see the state as the
	// earlier ones leave it; a base offset not known yet (a batch accepted
	// in this Append) is a placeholder, -1-j for accepted batch j.
	type key struct {
		topic     string
		partition int
		producer  int64
	}
	cur := map[key]*producerState{}
	dirty := map[key]bool{} // states an accepted batch changed
	results := make([]storage.AppendResult, len(batches))
	var accepted []int // indexes into batches, in order
	for i, b := range batches {
		if epochs[i] != b.Epoch {
			results[i] = storage.AppendResult{Base: storage.FencedBase, Err: storage.FencedError(b.Topic, b.Partition, b.Epoch)}
			continue
		}
		if b.Idem != nil {
			k := key{b.Topic, b.Partition, b.Idem.ProducerID}
			ps, ok := cur[k]
			if !ok {
				ps = &states[i]
				cur[k] = ps
			}
			dup, base, err := checkSequence(b, *ps)
			switch {
			case err != nil:
				results[i] = storage.AppendResult{Base: storage.FencedBase, Err: err}
				continue
			case dup:
				results[i] = storage.AppendResult{Base: base, Duplicate: true}
				continue
			}
			*ps = next(*ps, b, -1-int64(len(accepted)))
			dirty[k] = true
		}
		accepted = append(accepted, i)
	}
	// learn tells the fast path's memory what was read under the locks
	// and, once committed, what was written (wrote, by partition).
	learn := func(wrote map[segKey]map[int64]producerState) {
		read := map[segKey]map[int64]producerState{}
		for i, b := range batches {
			if epochs[i] != b.Epoch {
				continue // fenced: the memory was dropped
			}
			k := segKey{b.Topic, b.Partition}
			if read[k] == nil {
				read[k] = map[int64]producerState{}
			}
			if b.Idem != nil {
				read[k][b.Idem.ProducerID] = states[i]
			}
		}
		added := map[segKey]int64{}
		for _, i := range accepted {
			added[segKey{batches[i].Topic, batches[i].Partition}] += int64(len(batches[i].Msgs))
		}
		for i, b := range batches {
			k := segKey{b.Topic, b.Partition}
			if m := read[k]; m != nil {
				s.producers.learned(k, b.Epoch, nexts[i], nexts[i]+added[k], m, wrote[k])
				delete(read, k)
			}
		}
	}
	if len(accepted) == 0 {
		learn(nil)
		return results, nil // nothing to store; the rollback releases the locks
	}

	// Store the accepted batches, one storage batch per partition (their
	// messages in order), and spread the bases back.
	var merged []storage.Batch
	var mergedNext []int64 // each merged batch's base: its partition's next offset, locked
	at := map[[2]any]int{} // (topic, partition) → index in merged
	offsetIn := make([]int, len(accepted))
	mergedOf := make([]int, len(accepted))
	for j, i := range accepted {
		b := batches[i]
		pk := [2]any{b.Topic, b.Partition}
		m, ok := at[pk]
		if !ok {
			m = len(merged)
			at[pk] = m
			merged = append(merged, storage.Batch{Topic: b.Topic, Partition: b.Partition, Epoch: b.Epoch})
			mergedNext = append(mergedNext, nexts[i])
		}
		mergedOf[j], offsetIn[j] = m, len(merged[m].Msgs)
		if len(merged[m].Msgs) == 0 {
			merged[m].Msgs = b.Msgs
		} else {
			merged[m].Msgs = append(slices.Clip(merged[m].Msgs), b.Msgs...)
		}
	}
	var last pgx.Batch // the insert (unless COPY), the upserts, COMMIT
	if total >= CopyThreshold {
		bases, err := copyIn(ctx, conn.Conn(), merged)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(bases, mergedNext) {
			return nil, errBasesMoved
		}
	} else {
		last.Queue(insertSQL, insertArgs(merged)...).Query(func(rows pgx.Rows) error {
			bases, err := scanBases(rows, len(merged))
			if err == nil && !slices.Equal(bases, mergedNext) {
				err = errBasesMoved // cannot happen: the rows are locked
			}
			return err
		})
	}
	baseOf := make([]int64, len(accepted))
	for j, i := range accepted {
		baseOf[j] = mergedNext[mergedOf[j]] + int64(offsetIn[j])
		results[i].Base = baseOf[j]
	}
	resolve := func(v int64) int64 {
		if v < 0 {
			return baseOf[-1-v]
		}
		return v
	}
	for i := range results {
		if results[i].Duplicate {
			results[i].Base = resolve(results[i].Base)
		}
	}
	// The producers' new states, in one set-based upsert (in the same
	// pipeline): a commit of many producers' one-record batches must not
	// cost a statement per producer while the partition rows are locked.
	// Each state's arrays (1 to IdempotentBatches long, so not a
	// rectangular 2-D array) travel as array literals.
	n := len(dirty)
	var (
		sTopics             = make([]string, 0, n)
		sParts              = make([]int32, 0, n)
		sProducers, sEpochs = make([]int64, 0, n), make([]int64, 0, n)
		sFirsts, sLasts     = make([]string, 0, n), make([]string, 0, n)
		sBases              = make([]string, 0, n)
	)
	wrote := map[segKey]map[int64]producerState{}
	for k := range dirty {
		ps := cur[k]
		base := make([]int64, len(ps.base))
		for n, v := range ps.base {
			base[n] = resolve(v)
		}
		pk := segKey{k.topic, k.partition}
		if wrote[pk] == nil {
			wrote[pk] = map[int64]producerState{}
		}
		wrote[pk][k.producer] = producerState{found: true, epoch: ps.epoch, firsts: ps.firsts, lasts: ps.lasts, base: base}
		sTopics, sParts = append(sTopics, k.topic), append(sParts, int32(k.partition))
		sProducers, sEpochs = append(sProducers, k.producer), append(sEpochs, ps.epoch)
		sFirsts, sLasts, sBases = append(sFirsts, arrayLiteral(ps.firsts)), append(sLasts, arrayLiteral(ps.lasts)), append(sBases, arrayLiteral(base))
	}
	last.Queue(`
		INSERT INTO producer_state (topic, partition, producer_id, epoch, first_seqs, last_seqs, base_offsets)
		SELECT t, p, id, e, f::bigint[], l::bigint[], b::bigint[]
		FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[]) AS s(t, p, id, e, f, l, b)
		`+upsertProducerState,
		sTopics, sParts, sProducers, sEpochs, sFirsts, sLasts, sBases)
	last.Queue("COMMIT")
	if err := conn.SendBatch(ctx, &last).Close(); err != nil {
		return nil, err
	}
	learn(wrote)
	return results, nil
}

// upsertProducerState ends an INSERT INTO producer_state: a producer's
// row is replaced by its new state.
const upsertProducerState = `ON CONFLICT (topic, partition, producer_id) DO UPDATE SET epoch = EXCLUDED.epoch,
			first_seqs = EXCLUDED.first_seqs, last_seqs = EXCLUDED.last_seqs,
			base_offsets = EXCLUDED.base_offsets, updated_at = now()`

// checkSequence checks an idempotent batch against its producer's state (Kafka's
// rules): an older epoch is fenced; a newer epoch, or a producer new to
// the partition, starts at sequence 0; at the same epoch a batch repeating
// one of the last ones is a duplicate (answered with its base offset), and
// any other must follow the last sequence.
func checkSequence(b storage.Batch, ps producerState) (dup bool, base int64, err error) {
	id := b.Idem
	first, last := id.BaseSequence, id.BaseSequence+int64(len(b.Msgs))-1
	switch {
	case !ps.found || id.Epoch > ps.epoch:
		if first != 0 {
			return false, 0, logq.Errorf(logq.EOutOfOrderSequence,
				"producer %d at epoch %d has sent nothing to partition %s/%d yet: its first sequence is 0, not %d",
				id.ProducerID, id.Epoch, b.Topic, b.Partition, first)
		}
		return false, 0, nil
	case id.Epoch < ps.epoch:
		return false, 0, logq.Errorf(logq.EProducerFenced, "producer %d: epoch %d is older than its epoch %d in partition %s/%d",
			id.ProducerID, id.Epoch, ps.epoch, b.Topic, b.Partition)
	}
	for k := range ps.firsts {
		if ps.firsts[k] == first && ps.lasts[k] == last {
			return true, ps.base[k], nil
		}
	}
	if n := len(ps.lasts); n > 0 && first == ps.lasts[n-1]+1 {
		return false, 0, nil
	}
	expect := int64(0)
	if n := len(ps.lasts); n > 0 {
		expect = ps.lasts[n-1] + 1
	}
	return false, 0, logq.Errorf(logq.EOutOfOrderSequence, "producer %d: sequence %d in partition %s/%d is out of order (expected %d)",
		id.ProducerID, first, b.Topic, b.Partition, expect)
}

// next is ps after storing b at base: the batch appended, the oldest
// dropped beyond storage.IdempotentBatches; a new epoch starts afresh.
func next(ps producerState, b storage.Batch, base int64) producerState {
	id := b.Idem
	last := id.BaseSequence + int64(len(b.Msgs)) - 1
	if !ps.found || id.Epoch != ps.epoch {
		return producerState{found: true, epoch: id.Epoch, firsts: []int64{id.BaseSequence}, lasts: []int64{last}, base: []int64{base}}
	}
	trim := func(v []int64, x int64) []int64 {
		v = append(slices.Clone(v), x)
		if len(v) > storage.IdempotentBatches {
			v = v[len(v)-storage.IdempotentBatches:]
		}
		return v
	}
	return producerState{found: true, epoch: id.Epoch, firsts: trim(ps.firsts, id.BaseSequence), lasts: trim(ps.lasts, last), base: trim(ps.base, base)}
}

// arrayLiteral is v as a PostgreSQL array literal ({1,2,3}).
func arrayLiteral(v []int64) string {
	b := make([]byte, 0, 2+len(v)*8)
	b = append(b, '{')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, x, 10)
	}
	return string(append(b, '}'))
}
