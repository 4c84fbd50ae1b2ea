package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/broker/storage"
)

// RetentionHarness is one empty store for one retention test: the store,
// its Retainer, and the offsets per segment it was opened with.
type RetentionHarness struct {
	Store          storage.Store
	Retainer       storage.Retainer
	SegmentOffsets int64
}

// RunRetention runs the retention suite, each test in parallel on a store
// of its own from open, which makes segments of segmentOffsets offsets.
func RunRetention(t *testing.T, open func(t *testing.T, segmentOffsets int64) RetentionHarness) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, RetentionHarness)
	}{
		{"SegmentsAhead", testSegmentsAhead},
		{"DropByTime", testDropByTime},
		{"DropByBytes", testDropByBytes},
		{"ActiveSegmentKept", testActiveSegmentKept},
		{"FencedOwnerCannotDrop", testFencedOwnerCannotDrop},
		{"UnlimitedKeepsAll", testUnlimitedKeepsAll},
		{"AppendsDuringDrops", testAppendsDuringDrops},
		{"IdempotentAcrossSegments", testIdempotentAcrossSegments},
		{"ProducerTimestampsIgnored", testProducerTimestampsIgnored},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t, 10))
		})
	}
}

func segmentsOf(t *testing.T, h RetentionHarness, topic string, partition int) []storage.Segment {
	t.Helper()
	segs, err := h.Retainer.Segments(testCtx(t), topic, partition)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(segs); i++ {
		if segs[i].Base != segs[i-1].End {
			t.Fatalf("segments not contiguous: %+v", segs)
		}
	}
	return segs
}

func diskBytes(segs []storage.Segment) int64 {
	var n int64
	for _, g := range segs {
		n += g.TableBytes + g.IndexBytes
	}
	return n
}

// checkFrom checks that a partition's messages are exactly those at
// offsets start..hw-1, and its log start is start.
func checkFrom(t *testing.T, h RetentionHarness, topic string, partition int, start, hw int64) {
	t.Helper()
	ctx := testCtx(t)
	gotStart, gotHW, err := h.Retainer.LogStart(ctx, topic, partition)
	if err != nil {
		t.Fatal(err)
	}
	if gotStart != start || gotHW != hw {
		t.Fatalf("log start, hw = %d, %d; want %d, %d", gotStart, gotHW, start, hw)
	}
	if start > 0 {
		if _, err := h.Store.Read(ctx, topic, partition, start-1, 1, 1<<20); !errors.Is(err, logq.ErrOffsetOutOfRange) {
			t.Fatalf("read below the log start %d: %v; want offset_out_of_range", start, err)
		}
	}
	msgs, err := h.Store.Read(ctx, topic, partition, start, 10000, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(msgs)) != hw-start {
		t.Fatalf("read %d messages; want %d (offsets %d..%d)", len(msgs), hw-start, start, hw-1)
	}
	for i, m := range msgs {
		if m.Offset != start+int64(i) {
			t.Fatalf("message %d at offset %d; want %d", i, m.Offset, start+int64(i))
		}
	}
}

// testSegmentsAhead: a claim creates the segments of the next offsets;
// appends of any size, across segment boundaries, never lack one.
func testSegmentsAhead(t *testing.T, h RetentionHarness) {
	s := h.Store
	claim(t, s, "t", 0, 1, 1)
	segs := segmentsOf(t, h, "t", 0)
	if len(segs) == 0 || segs[0].Base != 0 || segs[len(segs)-1].End < h.SegmentOffsets {
		t.Fatalf("segments after claim: %+v; want [0, >= %d)", segs, h.SegmentOffsets)
	}
	var n int64
	for _, size := range []int{3, 7, 1, 25, 4, 40, 2} { // crosses boundaries, and several at once
		base := appendOne(t, s, "t", 0, 1, numbered(1, "m", size))
		if base != n {
			t.Fatalf("append at %d; want %d", base, n)
		}
		n += int64(size)
	}
	// Two partitions in one Append, both crossing.
	bases, err := s.Append(testCtx(t), []storage.Batch{
		{Topic: "t", Partition: 0, Epoch: 1, Msgs: numbered(1, "a", 15)},
		{Topic: "t", Partition: 1, Epoch: 1, Msgs: numbered(1, "b", 15)}, // never claimed: fenced
	})
	if err != nil {
		t.Fatal(err)
	}
	if bases[0].Base != n || bases[1].Base != storage.FencedBase {
		t.Fatalf("bases %v; want [%d, fenced]", bases, n)
	}
	n += 15
	if got := len(all(t, s, "t", 0)); int64(got) != n {
		t.Fatalf("read %d messages; want %d", got, n)
	}
	segs = segmentsOf(t, h, "t", 0)
	if end := segs[len(segs)-1].End; end <= n {
		t.Fatalf("last segment ends at %d, at or before hw %d: the next append has nowhere to go", end, n)
	}
	// A claim by a new owner continues where the old one stopped.
	claim(t, s, "t", 0, 2, 2)
	appendOne(t, s, "t", 0, 2, numbered(2, "c", 3*int(h.SegmentOffsets)))
}

// testDropByTime: segments whose newest record is older than the policy's
// age are dropped, oldest first, a bounded number per call; the log start
// moves to the end of the last dropped; reads, sizes and consumes start
// there.
func testDropByTime(t *testing.T, h RetentionHarness) {
	ctx, s, r := testCtx(t), h.Store, h.Retainer
	claim(t, s, "t", 0, 1, 1)
	seg := h.SegmentOffsets
	appendOne(t, s, "t", 0, 1, numbered(1, "m", int(3*seg+seg/2))) // 3 closed segments and the active one
	hwm := 3*seg + seg/2
	before := diskBytes(segmentsOf(t, h, "t", 0))
	policy := storage.RetentionPolicy{MaxAge: time.Hour}

	res, err := r.Retain(ctx, "t", 0, 1, policy, time.Now(), 10)
	if err != nil || res.Dropped != 0 || res.LogStart != 0 || res.More {
		t.Fatalf("retain at now = %+v, %v; want nothing dropped", res, err)
	}
	later := time.Now().Add(2 * time.Hour)
	res, err = r.Retain(ctx, "t", 0, 1, policy, later, 1)
	if err != nil || res.Dropped != 1 || res.LogStart != seg || !res.More {
		t.Fatalf("retain 1 = %+v, %v; want 1 dropped, log start %d, more", res, err, seg)
	}
	checkFrom(t, h, "t", 0, seg, hwm)
	res, err = r.Retain(ctx, "t", 0, 1, policy, later, 10)
	if err != nil || res.Dropped != 2 || res.LogStart != 3*seg || res.More {
		t.Fatalf("retain rest = %+v, %v; want 2 dropped, log start %d", res, err, 3*seg)
	}
	checkFrom(t, h, "t", 0, 3*seg, hwm)
	after := diskBytes(segmentsOf(t, h, "t", 0))
	if after >= before {
		t.Fatalf("disk %d bytes after dropping 3 segments; %d before", after, before)
	}
	// A consumer that never read starts at the log start.
	hwGot, pos, err := s.Size(ctx, 7, "t", 0)
	if err != nil || hwGot != hwm || pos != 3*seg {
		t.Fatalf("size = %d, %d, %v; want hw %d, position %d", hwGot, pos, err, hwm, 3*seg)
	}
	positions, err := s.Positions(ctx, []storage.ConsumerKey{{Consumer: 7, Topic: "t", Partition: 0}})
	if err != nil || len(positions) != 1 || positions[0] != 3*seg {
		t.Fatalf("positions = %v, %v; want [%d]", positions, err, 3*seg)
	}
	msgs, err := s.Consume(ctx, 7, "t", 0, 1, 1<<20)
	if err != nil || len(msgs) != 1 || msgs[0].Offset != 3*seg {
		t.Fatalf("consume = %+v, %v; want offset %d", msgs, err, 3*seg)
	}
}

// testDropByBytes: the oldest segments are dropped while the partition
// without them still holds at least MaxBytes.
func testDropByBytes(t *testing.T, h RetentionHarness) {
	ctx, s, r := testCtx(t), h.Store, h.Retainer
	claim(t, s, "t", 0, 1, 1)
	seg := h.SegmentOffsets
	appendOne(t, s, "t", 0, 1, numbered(1, "m", int(4*seg+1)))
	segs := segmentsOf(t, h, "t", 0)
	total := diskBytes(segs)
	first := segs[0].TableBytes + segs[0].IndexBytes
	policy := storage.RetentionPolicy{MaxBytes: total - first} // room for all but the first
	res, err := r.Retain(ctx, "t", 0, 1, policy, time.Now(), 10)
	if err != nil || res.Dropped != 1 || res.LogStart != seg {
		t.Fatalf("retain = %+v, %v; want 1 dropped, log start %d", res, err, seg)
	}
	checkFrom(t, h, "t", 0, seg, 4*seg+1)
	// A tiny limit drops every closed segment, and only those.
	res, err = r.Retain(ctx, "t", 0, 1, storage.RetentionPolicy{MaxBytes: 1}, time.Now(), 10)
	if err != nil || res.Dropped != 3 || res.LogStart != 4*seg {
		t.Fatalf("retain = %+v, %v; want 3 dropped, log start %d", res, err, 4*seg)
	}
	checkFrom(t, h, "t", 0, 4*seg, 4*seg+1)
}

// testActiveSegmentKept: the segment appends go to is never dropped, nor
// those ahead of it, and appends go on after everything closed is gone.
func testActiveSegmentKept(t *testing.T, h RetentionHarness) {
	ctx, s, r := testCtx(t), h.Store, h.Retainer
	claim(t, s, "t", 0, 1, 1)
	seg := h.SegmentOffsets
	all := storage.RetentionPolicy{MaxAge: time.Nanosecond, MaxBytes: 1}
	later := time.Now().Add(time.Hour)
	// Nothing appended: nothing closed.
	res, err := r.Retain(ctx, "t", 0, 1, all, later, 10)
	if err != nil || res.Dropped != 0 {
		t.Fatalf("retain empty = %+v, %v; want nothing dropped", res, err)
	}
	appendOne(t, s, "t", 0, 1, numbered(1, "m", int(2*seg))) // exactly two full segments
	res, err = r.Retain(ctx, "t", 0, 1, all, later, 10)
	if err != nil || res.Dropped != 2 || res.LogStart != 2*seg {
		t.Fatalf("retain = %+v, %v; want 2 dropped, log start %d", res, err, 2*seg)
	}
	checkFrom(t, h, "t", 0, 2*seg, 2*seg)
	if base := appendOne(t, s, "t", 0, 1, numbered(1, "n", 3)); base != 2*seg {
		t.Fatalf("append after drop at %d; want %d", base, 2*seg)
	}
	res, err = r.Retain(ctx, "t", 0, 1, all, later, 10)
	if err != nil || res.Dropped != 0 {
		t.Fatalf("retain with only the active segment = %+v, %v; want nothing dropped", res, err)
	}
	checkFrom(t, h, "t", 0, 2*seg, 2*seg+3)
	// The log start never moves back, and a new owner keeps it.
	claim(t, s, "t", 0, 2, 2)
	checkFrom(t, h, "t", 0, 2*seg, 2*seg+3)
}

// testFencedOwnerCannotDrop: a broker whose epoch storage has moved past
// drops nothing.
func testFencedOwnerCannotDrop(t *testing.T, h RetentionHarness) {
	ctx, s, r := testCtx(t), h.Store, h.Retainer
	claim(t, s, "t", 0, 1, 1)
	appendOne(t, s, "t", 0, 1, numbered(1, "m", int(3*h.SegmentOffsets)))
	claim(t, s, "t", 0, 2, 2)
	before := segmentsOf(t, h, "t", 0)
	res, err := r.Retain(ctx, "t", 0, 1, storage.RetentionPolicy{MaxBytes: 1}, time.Now(), 10)
	if !errors.Is(err, logq.ErrFenced) || res.Dropped != 0 {
		t.Fatalf("retain by the old owner = %+v, %v; want fenced, nothing dropped", res, err)
	}
	if after := segmentsOf(t, h, "t", 0); len(after) != len(before) {
		t.Fatalf("%d segments after a fenced retain; %d before", len(after), len(before))
	}
	checkFrom(t, h, "t", 0, 0, 3*h.SegmentOffsets)
	if _, err := r.Retain(ctx, "nope", 0, 1, storage.RetentionPolicy{MaxBytes: 1}, time.Now(), 10); !errors.Is(err, logq.ErrNotFound) {
		t.Fatalf("retain of an unknown partition: %v; want not found", err)
	}
}

// testUnlimitedKeepsAll: a policy without limits drops nothing.
func testUnlimitedKeepsAll(t *testing.T, h RetentionHarness) {
	ctx, s, r := testCtx(t), h.Store, h.Retainer
	claim(t, s, "t", 0, 1, 1)
	appendOne(t, s, "t", 0, 1, numbered(1, "m", int(3*h.SegmentOffsets)))
	res, err := r.Retain(ctx, "t", 0, 1, storage.RetentionPolicy{}, time.Now().Add(1000*time.Hour), 10)
	if err != nil || res.Dropped != 0 {
		t.Fatalf("retain unlimited = %+v, %v; want nothing dropped", res, err)
	}
	checkFrom(t, h, "t", 0, 0, 3*h.SegmentOffsets)
}

// testAppendsDuringDrops: appends running while retention drops segments
// never fail and stay gap-free; a drop that cannot get its lock may fail
// retryably (logq.EUnavailable) and changes nothing then.
func testAppendsDuringDrops(t *testing.T, h RetentionHarness) {
	ctx, s, r := testCtx(t), h.Store, h.Retainer
	claim(t, s, "t", 0, 1, 1)
	const batches, per = 150, 5
	var (
		wg      sync.WaitGroup
		appErr  error
		slowest time.Duration
	)
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		next := int64(0)
		for range batches {
			start := time.Now()
			base, err := AppendOne(ctx, s, "t", 0, 1, numbered(1, "m", per))
			slowest = max(slowest, time.Since(start))
			if err == nil && base != next {
				err = errors.New("append not at the next offset")
			}
			if err != nil {
				appErr = err
				return
			}
			next += per
		}
	})
	drops, refused := 0, 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		res, err := r.Retain(ctx, "t", 0, 1, storage.RetentionPolicy{MaxBytes: 1}, time.Now(), 2)
		switch {
		case errors.Is(err, logq.ErrUnavailable):
			refused++
		case err != nil:
			t.Fatalf("retain during appends: %v", err)
		}
		drops += res.Dropped
	}
	wg.Wait()
	if appErr != nil {
		t.Fatalf("append during drops: %v", appErr)
	}
	t.Logf("%d segments dropped, %d drops refused their lock, slowest append %v", drops, refused, slowest)
	start, hwm, err := r.LogStart(ctx, "t", 0)
	if err != nil || hwm != batches*per || start == 0 {
		t.Fatalf("log start %d, hw %d, %v; want hw %d and segments dropped", start, hwm, err, batches*per)
	}
	checkFrom(t, h, "t", 0, start, hwm)
}

// testIdempotentAcrossSegments: idempotent appends (their own path, several
// batches of one partition in one Append) cross many segment boundaries
// without ever finding a segment missing, and a retried batch moves
// nothing.
func testIdempotentAcrossSegments(t *testing.T, h RetentionHarness) {
	s := h.Store
	claim(t, s, "t", 0, 1, 1)
	var n, seq int64
	for round := range 12 {
		batches := []storage.Batch{
			{Topic: "t", Partition: 0, Epoch: 1, Msgs: numbered(7, "a", 4), Idem: &storage.Idempotence{ProducerID: 7, BaseSequence: seq}},
			{Topic: "t", Partition: 0, Epoch: 1, Msgs: numbered(8, "b", 6), Idem: &storage.Idempotence{ProducerID: 8, BaseSequence: seq / 4 * 6}},
		}
		res, err := s.Append(testCtx(t), batches)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for i, r := range res {
			if r.Err != nil || r.Duplicate {
				t.Fatalf("round %d batch %d: %+v", round, i, r)
			}
		}
		again, err := s.Append(testCtx(t), batches[:1])
		if err != nil || !again[0].Duplicate || again[0].Base != res[0].Base {
			t.Fatalf("round %d: retry answered %+v, %v; want the duplicate at %d", round, again, err, res[0].Base)
		}
		seq += 4
		n += 10
	}
	checkFrom(t, h, "t", 0, 0, n)
}

// testProducerTimestampsIgnored: retention by time counts from when a
// record was appended, not from the timestamp its producer set: records
// stamped a year ago are kept while they are new to the log, and records
// stamped a year ahead go when their append time is past retention.
func testProducerTimestampsIgnored(t *testing.T, h RetentionHarness) {
	ctx, s, r := testCtx(t), h.Store, h.Retainer
	claim(t, s, "t", 0, 1, 1)
	seg := h.SegmentOffsets
	msgs := numbered(1, "m", int(2*seg+seg/2)) // 2 closed segments and the active one
	for i := range msgs {
		if i < int(seg) {
			msgs[i].Timestamp = time.Now().AddDate(-1, 0, 0)
		} else {
			msgs[i].Timestamp = time.Now().AddDate(1, 0, 0)
		}
	}
	appendOne(t, s, "t", 0, 1, msgs)
	policy := storage.RetentionPolicy{MaxAge: time.Hour}
	if res, err := r.Retain(ctx, "t", 0, 1, policy, time.Now(), 10); err != nil || res.Dropped != 0 {
		t.Fatalf("retain now = %+v, %v; want nothing dropped (appended just now, whatever their timestamps)", res, err)
	}
	if res, err := r.Retain(ctx, "t", 0, 1, policy, time.Now().Add(2*time.Hour), 10); err != nil || res.Dropped != 2 || res.LogStart != 2*seg {
		t.Fatalf("retain 2 h later = %+v, %v; want both closed segments dropped", res, err)
	}
}
