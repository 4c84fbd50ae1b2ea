package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/broker/storage"
)

// The suite's part for issue 13: records of bytes with headers and
// timestamps (in AppendRoundTrip), idempotent appends, fetch against the
// log start offset and the high watermark, and ListOffsets.

func sameHeaders(a, b []storage.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || (a[i].Value == nil) != (b[i].Value == nil) || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

func baseOf(res []storage.AppendResult) []int64 {
	out := make([]int64, len(res))
	for i, r := range res {
		out[i] = r.Base
	}
	return out
}

// appendIdem appends one idempotent batch and returns its answer.
func appendIdem(t *testing.T, s storage.Store, topic string, partition int, epoch int64, producer, pepoch, seq int64, msgs []storage.Message) storage.AppendResult {
	t.Helper()
	res, err := s.Append(testCtx(t), []storage.Batch{{Topic: topic, Partition: partition, Epoch: epoch, Msgs: msgs,
		Idem: &storage.Idempotence{ProducerID: producer, Epoch: pepoch, BaseSequence: seq}}})
	if err != nil {
		t.Fatalf("idempotent append (producer %d, epoch %d, seq %d): %v", producer, pepoch, seq, err)
	}
	return res[0]
}

// A retried batch is answered with its original offset and stored once,
// as long as it is one of the producer's last IdempotentBatches; a gap or
// an older batch is refused; the state survives a takeover; small and bulk
// batches alike.
func testIdempotent(t *testing.T, h Harness) {
	s := h.Store
	claim(t, s, "t", 0, 1, 1)
	claim(t, s, "t", 1, 1, 1)
	// Another producer's messages between, so offsets and sequences differ.
	appendOne(t, s, "t", 0, 1, msgsOf(9, "other"))
	r := appendIdem(t, s, "t", 0, 1, 7, 0, 0, msgsOf(7, "a", "b"))
	if r.Err != nil || r.Base != 1 || r.Duplicate {
		t.Fatalf("first batch = %+v; want base 1", r)
	}
	if r := appendIdem(t, s, "t", 0, 1, 7, 0, 0, msgsOf(7, "a", "b")); r.Err != nil || r.Base != 1 || !r.Duplicate {
		t.Fatalf("retried first batch = %+v; want the duplicate at 1", r)
	}
	r = appendIdem(t, s, "t", 0, 1, 7, 0, 2, numbered(7, "big", h.Bulk))
	if r.Err != nil || r.Base != 3 {
		t.Fatalf("bulk batch = %+v; want base 3", r)
	}
	if r := appendIdem(t, s, "t", 0, 1, 7, 0, 2, numbered(7, "big", h.Bulk)); r.Err != nil || r.Base != 3 || !r.Duplicate {
		t.Fatalf("retried bulk batch = %+v; want the duplicate at 3", r)
	}
	seq := int64(2 + h.Bulk)
	// A gap, or a first message new to the producer's state, is refused.
	if r := appendIdem(t, s, "t", 0, 1, 7, 0, seq+1, msgsOf(7, "gap")); !errors.Is(r.Err, logq.ErrOutOfOrderSequence) {
		t.Fatalf("gap = %+v; want out_of_order_sequence", r)
	}
	if r := appendIdem(t, s, "t", 0, 1, 7, 0, 1, msgsOf(7, "b")); !errors.Is(r.Err, logq.ErrOutOfOrderSequence) {
		t.Fatalf("a batch overlapping an older one = %+v; want out_of_order_sequence", r)
	}
	if r := appendIdem(t, s, "t", 1, 1, 7, 0, 5, msgsOf(7, "x")); !errors.Is(r.Err, logq.ErrOutOfOrderSequence) {
		t.Fatalf("first batch in t/1 at seq 5 = %+v; want out_of_order_sequence", r)
	}
	// Five more batches: the first two are forgotten, the last five remembered.
	var bases []int64
	for i := range storage.IdempotentBatches {
		r := appendIdem(t, s, "t", 0, 1, 7, 0, seq+int64(i), msgsOf(7, fmt.Sprint("n", i)))
		if r.Err != nil || r.Duplicate {
			t.Fatalf("batch %d: %+v", i, r)
		}
		bases = append(bases, r.Base)
	}
	if r := appendIdem(t, s, "t", 0, 1, 7, 0, 0, msgsOf(7, "a", "b")); !errors.Is(r.Err, logq.ErrOutOfOrderSequence) {
		t.Fatalf("a batch older than the last five = %+v; want out_of_order_sequence", r)
	}
	// After a takeover, the new owner still recognises the retries.
	claim(t, s, "t", 0, 2, 2)
	if r := appendIdem(t, s, "t", 0, 1, 7, 0, seq+int64(len(bases)), msgsOf(7, "old owner")); !errors.Is(r.Err, logq.ErrFenced) {
		t.Fatalf("old owner's idempotent append = %+v; want fenced", r)
	}
	for i, base := range bases {
		if r := appendIdem(t, s, "t", 0, 2, 7, 0, seq+int64(i), msgsOf(7, fmt.Sprint("n", i))); r.Err != nil || r.Base != base || !r.Duplicate {
			t.Fatalf("retry %d after the takeover = %+v; want the duplicate at %d", i, r, base)
		}
	}
	msgs := all(t, s, "t", 0)
	if want := 3 + h.Bulk + len(bases); len(msgs) != want {
		t.Fatalf("t/0 holds %d messages; want %d", len(msgs), want)
	}
	if n := len(all(t, s, "t", 1)); n != 0 {
		t.Fatalf("t/1 holds %d messages", n)
	}
}

// An older epoch is fenced; a newer one starts at sequence 0 again.
func testIdempotentEpochs(t *testing.T, h Harness) {
	s := h.Store
	claim(t, s, "t", 0, 1, 1)
	appendIdem(t, s, "t", 0, 1, 7, 3, 0, msgsOf(7, "a"))
	appendIdem(t, s, "t", 0, 1, 7, 3, 1, msgsOf(7, "b"))
	if r := appendIdem(t, s, "t", 0, 1, 7, 2, 2, msgsOf(7, "c")); !errors.Is(r.Err, logq.ErrProducerFenced) {
		t.Fatalf("older epoch = %+v; want producer_fenced", r)
	}
	if r := appendIdem(t, s, "t", 0, 1, 7, 4, 2, msgsOf(7, "c")); !errors.Is(r.Err, logq.ErrOutOfOrderSequence) {
		t.Fatalf("newer epoch not at 0 = %+v; want out_of_order_sequence", r)
	}
	if r := appendIdem(t, s, "t", 0, 1, 7, 4, 0, msgsOf(7, "c")); r.Err != nil || r.Base != 2 || r.Duplicate {
		t.Fatalf("newer epoch at 0 = %+v; want base 2", r)
	}
	if r := appendIdem(t, s, "t", 0, 1, 7, 3, 2, msgsOf(7, "d")); !errors.Is(r.Err, logq.ErrProducerFenced) {
		t.Fatalf("the old epoch after the new = %+v; want producer_fenced", r)
	}
	// Producers are independent.
	if r := appendIdem(t, s, "t", 0, 1, 8, 0, 0, msgsOf(8, "e")); r.Err != nil || r.Base != 3 {
		t.Fatalf("another producer = %+v; want base 3", r)
	}
	if n := len(all(t, s, "t", 0)); n != 4 {
		t.Fatalf("t/0 holds %d messages; want 4", n)
	}
}

// One Append mixing idempotent and plain batches, a duplicate, a refused
// and a fenced one: each is answered alone, the others stored.
func testIdempotentMixed(t *testing.T, h Harness) {
	ctx, s := testCtx(t), h.Store
	for p := range 4 {
		claim(t, s, "t", p, 1, 1)
	}
	claim(t, s, "t", 3, 2, 2)
	appendIdem(t, s, "t", 1, 1, 7, 0, 0, msgsOf(7, "a"))
	idem := func(seq int64) *storage.Idempotence { return &storage.Idempotence{ProducerID: 7, BaseSequence: seq} }
	res, err := s.Append(ctx, []storage.Batch{
		{Topic: "t", Partition: 0, Epoch: 1, Msgs: msgsOf(1, "plain")},
		{Topic: "t", Partition: 1, Epoch: 1, Msgs: msgsOf(7, "a"), Idem: idem(0)}, // duplicate
		{Topic: "t", Partition: 2, Epoch: 1, Msgs: msgsOf(7, "x"), Idem: idem(4)}, // out of order
		{Topic: "t", Partition: 3, Epoch: 1, Msgs: msgsOf(7, "y"), Idem: idem(0)}, // fenced
		{Topic: "t", Partition: 4, Epoch: 1, Msgs: msgsOf(7, "z"), Idem: idem(0)}, // never claimed
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Err != nil || r.Base != 0 {
		t.Errorf("plain batch = %+v", r)
	}
	if r := res[1]; r.Err != nil || r.Base != 0 || !r.Duplicate {
		t.Errorf("duplicate = %+v", r)
	}
	if r := res[2]; !errors.Is(r.Err, logq.ErrOutOfOrderSequence) {
		t.Errorf("out of order = %+v", r)
	}
	if r := res[3]; !errors.Is(r.Err, logq.ErrFenced) {
		t.Errorf("fenced = %+v", r)
	}
	if r := res[4]; !errors.Is(r.Err, logq.ErrFenced) {
		t.Errorf("never claimed = %+v", r)
	}
	for p, want := range []int{1, 1, 0, 0} {
		if n := len(all(t, s, "t", p)); n != want {
			t.Errorf("t/%d holds %d messages; want %d", p, n, want)
		}
	}
}

// Concurrent retries of the same batch (a client that timed out and sent
// again while the first was in flight) store it once.
func testIdempotentConcurrentRetries(t *testing.T, h Harness) {
	s := h.Store
	claim(t, s, "t", 0, 1, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	bases := map[int64]int{}
	for range 8 {
		wg.Go(func() {
			res, err := s.Append(testCtx(t), []storage.Batch{{Topic: "t", Partition: 0, Epoch: 1, Msgs: msgsOf(7, "a", "b", "c"),
				Idem: &storage.Idempotence{ProducerID: 7}}})
			if err != nil {
				if errors.Is(err, logq.ErrUnavailable) {
					return // a conflict: nothing stored, the client retries
				}
				t.Error(err)
				return
			}
			mu.Lock()
			bases[res[0].Base]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if n := len(all(t, s, "t", 0)); n != 3 || len(bases) != 1 || bases[0] == 0 {
		t.Fatalf("8 concurrent retries stored %d messages, answered %v", n, bases)
	}
}

// Fetch answers the marks and moves nothing; below the log start or past
// the high watermark is out of range.
func testFetchMarks(t *testing.T, h Harness) {
	ctx, s := testCtx(t), h.Store
	if _, err := s.Fetch(ctx, "t", 0, 0, 10, 1<<20); !errors.Is(err, logq.ErrNotFound) {
		t.Fatalf("fetch of an unclaimed partition: %v; want not found", err)
	}
	claim(t, s, "t", 0, 1, 1)
	f, err := s.Fetch(ctx, "t", 0, 0, 10, 1<<20)
	if err != nil || len(f.Messages) != 0 || f.HighWatermark != 0 || f.LogStartOffset != 0 {
		t.Fatalf("fetch of an empty partition = %+v, %v", f, err)
	}
	appendOne(t, s, "t", 0, 1, numbered(1, "m", 10))
	f, err = s.Fetch(ctx, "t", 0, 3, 4, 1<<20)
	if err != nil || len(f.Messages) != 4 || f.Messages[0].Offset != 3 || string(f.Messages[0].Value) != "m3" || f.HighWatermark != 10 {
		t.Fatalf("fetch(3, 4) = %+v, %v", f, err)
	}
	if f, err := s.Fetch(ctx, "t", 0, 10, 4, 1<<20); err != nil || len(f.Messages) != 0 || f.HighWatermark != 10 {
		t.Fatalf("fetch at the high watermark = %+v, %v; want none", f, err)
	}
	if _, err := s.Fetch(ctx, "t", 0, 11, 4, 1<<20); !errors.Is(err, logq.ErrOffsetOutOfRange) {
		t.Fatalf("fetch past the high watermark: %v; want offset_out_of_range", err)
	}
	if _, pos, err := s.Size(ctx, 1, "t", 0); err != nil || pos != 0 {
		t.Fatalf("position after fetches = %d, %v; want 0", pos, err)
	}
	if h.SetLogStart == nil {
		return
	}
	if err := h.SetLogStart(ctx, "t", 0, 6); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fetch(ctx, "t", 0, 5, 4, 1<<20); !errors.Is(err, logq.ErrOffsetOutOfRange) {
		t.Fatalf("fetch below the log start: %v; want offset_out_of_range", err)
	}
	if _, err := s.Read(ctx, "t", 0, 0, 4, 1<<20); !errors.Is(err, logq.ErrOffsetOutOfRange) {
		t.Fatalf("read below the log start: %v; want offset_out_of_range", err)
	}
	f, err = s.Fetch(ctx, "t", 0, 6, 100, 1<<20)
	if err != nil || len(f.Messages) != 4 || f.LogStartOffset != 6 || f.HighWatermark != 10 {
		t.Fatalf("fetch at the log start = %+v, %v", f, err)
	}
	if o, err := s.ListOffsets(ctx, "t", 0, storage.OffsetEarliest); err != nil || o.Offset != 6 {
		t.Fatalf("earliest after the log start moved = %+v, %v; want 6", o, err)
	}
	if o, err := s.ListOffsets(ctx, "t", 0, 0); err != nil || o.Offset != 6 {
		t.Fatalf("the first offset since time 0 = %+v, %v; want the log start 6", o, err)
	}
}

// ListOffsets: earliest, latest and by record timestamp.
func testListOffsets(t *testing.T, h Harness) {
	ctx, s := testCtx(t), h.Store
	if _, err := s.ListOffsets(ctx, "t", 0, storage.OffsetLatest); !errors.Is(err, logq.ErrNotFound) {
		t.Fatalf("offsets of an unclaimed partition: %v; want not found", err)
	}
	claim(t, s, "t", 0, 1, 1)
	if o, err := s.ListOffsets(ctx, "t", 0, storage.OffsetLatest); err != nil || o.Offset != 0 || o.HighWatermark != 0 {
		t.Fatalf("latest of an empty partition = %+v, %v", o, err)
	}
	if o, err := s.ListOffsets(ctx, "t", 0, 0); err != nil || o.Offset != -1 {
		t.Fatalf("by time in an empty partition = %+v, %v; want -1", o, err)
	}
	base := time.UnixMilli(1_700_000_000_000)
	var msgs []storage.Message
	for i, d := range []int{0, 10, 5, 20, 30} { // not monotonic: producers set them
		msgs = append(msgs, storage.Message{ProducerID: 1, Value: fmt.Append(nil, i), Timestamp: base.Add(time.Duration(d) * time.Second)})
	}
	appendOne(t, s, "t", 0, 1, msgs)
	for _, c := range []struct {
		at   int64
		want int64
	}{
		{storage.OffsetEarliest, 0},
		{storage.OffsetLatest, 5},
		{base.UnixMilli(), 0},
		{base.Add(time.Second).UnixMilli(), 1},
		{base.Add(10 * time.Second).UnixMilli(), 1},
		{base.Add(11 * time.Second).UnixMilli(), 3},
		{base.Add(30 * time.Second).UnixMilli(), 4},
		{base.Add(31 * time.Second).UnixMilli(), -1},
	} {
		o, err := s.ListOffsets(ctx, "t", 0, c.at)
		if err != nil || o.Offset != c.want || o.HighWatermark != 5 || o.LogStartOffset != 0 {
			t.Errorf("ListOffsets(%d) = %+v, %v; want %d", c.at, o, err, c.want)
		}
		if c.at >= 0 && c.want >= 0 && o.Timestamp.Before(time.UnixMilli(c.at)) {
			t.Errorf("ListOffsets(%d) answers the timestamp %v", c.at, o.Timestamp)
		}
	}
	if _, err := s.ListOffsets(ctx, "t", 0, -3); !errors.Is(err, logq.ErrInvalid) {
		t.Fatalf("ListOffsets(-3): %v; want invalid", err)
	}
}

// One Append may hold several batches of one partition when some are
// idempotent (the broker's group commit): they are stored in their order,
// each checked against the state the earlier ones leave, a retry of one
// of them in the same Append included.
func testIdempotentSamePartition(t *testing.T, h Harness) {
	ctx, s := testCtx(t), h.Store
	claim(t, s, "t", 0, 1, 1)
	claim(t, s, "t", 1, 1, 1)
	idem := func(producer, seq int64) *storage.Idempotence {
		return &storage.Idempotence{ProducerID: producer, BaseSequence: seq}
	}
	res, err := s.Append(ctx, []storage.Batch{
		{Topic: "t", Partition: 0, Epoch: 1, Msgs: msgsOf(7, "a0", "a1"), Idem: idem(7, 0)},
		{Topic: "t", Partition: 0, Epoch: 1, Msgs: msgsOf(9, "plain")},
		{Topic: "t", Partition: 0, Epoch: 1, Msgs: msgsOf(8, "b0"), Idem: idem(8, 0)},
		{Topic: "t", Partition: 0, Epoch: 1, Msgs: msgsOf(7, "a2"), Idem: idem(7, 2)},
		{Topic: "t", Partition: 0, Epoch: 1, Msgs: msgsOf(7, "a0", "a1"), Idem: idem(7, 0)}, // a retry, in the same Append
		{Topic: "t", Partition: 0, Epoch: 1, Msgs: msgsOf(7, "gap"), Idem: idem(7, 9)},
		{Topic: "t", Partition: 1, Epoch: 1, Msgs: msgsOf(7, "c0"), Idem: idem(7, 0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{0, 2, 3, 4, 0, storage.FencedBase, 0}
	if got := baseOf(res); fmt.Sprint(got) != fmt.Sprint(want) || !res[4].Duplicate || !errors.Is(res[5].Err, logq.ErrOutOfOrderSequence) {
		t.Fatalf("answers %+v; want bases %v, the retry a duplicate, the gap refused", res, want)
	}
	var got []string
	for _, m := range all(t, s, "t", 0) {
		got = append(got, string(m.Value))
	}
	if fmt.Sprint(got) != "[a0 a1 plain b0 a2]" {
		t.Fatalf("t/0 holds %v", got)
	}
	// The state written is the last batches': a retry of each is a duplicate.
	for _, c := range []struct {
		producer, seq int64
		msgs          []storage.Message
		base          int64
	}{{7, 0, msgsOf(7, "a0", "a1"), 0}, {7, 2, msgsOf(7, "a2"), 4}, {8, 0, msgsOf(8, "b0"), 3}} {
		if r := appendIdem(t, s, "t", 0, 1, c.producer, 0, c.seq, c.msgs); !r.Duplicate || r.Base != c.base {
			t.Fatalf("retry of producer %d seq %d = %+v; want the duplicate at %d", c.producer, c.seq, r, c.base)
		}
	}
}
