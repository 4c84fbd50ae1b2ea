// Package storagetest is the conformance suite of storage.Store: every
// implementation runs it against its real backend, so that the broker's
// committer and handlers can rely on the contract rather than on one
// implementation (river's riverdrivertest).
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storagetest.Harness {
//			return storagetest.Harness{Store: pgstore.New(pool(t)), ...}
//		})
//	}
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/broker/storage"
)

// Harness is one empty store for one test, with what the suite cannot do
// through the interface.
type Harness struct {
	Store storage.Store
	// Bulk is a batch size (messages per Append) that takes the store's
	// path for large batches, if it has one; 0 means 5000.
	Bulk int
	// Stall, when set, takes the lock an append to topic/partition holds
	// and keeps it until release: an append whose process stopped
	// mid-transaction.
	Stall func(ctx context.Context, topic string, partition int) (release func(), err error)
	// SetLogStart, when set, moves a partition's log start offset (what
	// retention does), so that the suite can check fetches against it.
	SetLogStart func(ctx context.Context, topic string, partition int, offset int64) error
}

// Run runs the suite, each test in parallel on a store of its own from
// open.
func Run(t *testing.T, open func(t *testing.T) Harness) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"ClaimAndFencing", testClaimAndFencing},
		{"ClaimBehindStalledAppend", testClaimBehindStalledAppend},
		{"AppendRoundTrip", testAppendRoundTrip},
		{"AppendRefusesEmpty", testAppendRefusesEmpty},
		{"AppendFencedPartitionAlone", testAppendFencedPartitionAlone},
		{"AppendConcurrentGapFree", testAppendConcurrentGapFree},
		{"ReadBounds", testReadBounds},
		{"ConsumeBounds", testConsumeBounds},
		{"ConsumeConcurrent", testConsumeConcurrent},
		{"Size", testSize},
		{"Positions", testPositions},
		{"Idempotent", testIdempotent},
		{"IdempotentEpochs", testIdempotentEpochs},
		{"IdempotentMixed", testIdempotentMixed},
		{"IdempotentConcurrentRetries", testIdempotentConcurrentRetries},
		{"IdempotentSamePartition", testIdempotentSamePartition},
		{"FetchMarks", testFetchMarks},
		{"ListOffsets", testListOffsets},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := open(t)
			if h.Bulk == 0 {
				h.Bulk = 5000
			}
			tc.fn(t, h)
		})
	}
}

// AppendOne appends msgs to one partition at epoch and returns the offset
// of the first; EFenced when the partition's stored epoch refuses epoch.
func AppendOne(ctx context.Context, s storage.Store, topic string, partition int, epoch int64, msgs []storage.Message) (int64, error) {
	res, err := s.Append(ctx, []storage.Batch{{Topic: topic, Partition: partition, Epoch: epoch, Msgs: msgs}})
	if err != nil {
		return 0, err
	}
	return res[0].Base, res[0].Err
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func msgsOf(producer int64, payloads ...string) []storage.Message {
	out := make([]storage.Message, len(payloads))
	for i, p := range payloads {
		out[i] = storage.Message{ProducerID: producer, Value: []byte(p)}
	}
	return out
}

func numbered(producer int64, prefix string, n int) []storage.Message {
	out := make([]storage.Message, n)
	for i := range out {
		out[i] = storage.Message{ProducerID: producer, Value: fmt.Appendf(nil, "%s%d", prefix, i)}
	}
	return out
}

func claim(t *testing.T, s storage.Store, topic string, partition int, owner, epoch int64) int64 {
	t.Helper()
	next, err := s.Claim(testCtx(t), topic, partition, owner, epoch)
	if err != nil {
		t.Fatalf("claim %s/%d at %d by %d: %v", topic, partition, epoch, owner, err)
	}
	return next
}

func appendOne(t *testing.T, s storage.Store, topic string, partition int, epoch int64, msgs []storage.Message) int64 {
	t.Helper()
	base, err := AppendOne(testCtx(t), s, topic, partition, epoch, msgs)
	if err != nil {
		t.Fatalf("append %d messages to %s/%d at %d: %v", len(msgs), topic, partition, epoch, err)
	}
	return base
}

// all reads a partition's messages, checking they are at offsets 0..n-1.
func all(t *testing.T, s storage.Store, topic string, partition int) []storage.StoredMessage {
	t.Helper()
	var out []storage.StoredMessage
	for {
		msgs, err := s.Read(testCtx(t), topic, partition, int64(len(out)), 10000, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			break
		}
		out = append(out, msgs...)
	}
	for i, m := range out {
		if m.Offset != int64(i) {
			t.Fatalf("%s/%d: message %d is at offset %d", topic, partition, i, m.Offset)
		}
	}
	return out
}

func hw(t *testing.T, s storage.Store, topic string, partition int) int64 {
	t.Helper()
	hw, _, err := s.Size(testCtx(t), 0, topic, partition)
	if err != nil {
		t.Fatal(err)
	}
	return hw
}

func testClaimAndFencing(t *testing.T, h Harness) {
	ctx, s := testCtx(t), h.Store
	if next := claim(t, s, "t", 0, 1, 1); next != 0 {
		t.Fatalf("first claim: next %d", next)
	}
	if base := appendOne(t, s, "t", 0, 1, msgsOf(7, "a", "b")); base != 0 {
		t.Fatalf("append: base %d", base)
	}
	// Claiming again at the same epoch as the same owner (a restart) keeps
	// the offsets.
	if next := claim(t, s, "t", 0, 1, 1); next != 2 {
		t.Fatalf("re-claim: next %d; want 2", next)
	}
	// Another owner at the same epoch, or anyone at a lower one, is fenced.
	if _, err := s.Claim(ctx, "t", 0, 2, 1); !errors.Is(err, logq.ErrFenced) {
		t.Fatalf("claim by another owner at the same epoch: %v; want fenced", err)
	}
	// A new owner at a higher epoch takes over where the old one left off.
	if next := claim(t, s, "t", 0, 2, 2); next != 2 {
		t.Fatalf("takeover: next %d; want 2", next)
	}
	if _, err := s.Claim(ctx, "t", 0, 1, 1); !errors.Is(err, logq.ErrFenced) {
		t.Fatalf("stale claim: %v; want fenced", err)
	}
	// The old owner's appends are refused, small or bulk, and store nothing.
	if _, err := AppendOne(ctx, s, "t", 0, 1, msgsOf(7, "x")); !errors.Is(err, logq.ErrFenced) {
		t.Fatalf("stale append: %v; want fenced", err)
	}
	if _, err := AppendOne(ctx, s, "t", 0, 1, numbered(7, "x", h.Bulk)); !errors.Is(err, logq.ErrFenced) {
		t.Fatalf("stale bulk append: %v; want fenced", err)
	}
	// The new owner continues the offsets, small and bulk.
	if base := appendOne(t, s, "t", 0, 2, msgsOf(8, "c")); base != 2 {
		t.Fatalf("new owner append: base %d; want 2", base)
	}
	if base := appendOne(t, s, "t", 0, 2, numbered(8, "big", h.Bulk)); base != 3 {
		t.Fatalf("new owner bulk append: base %d; want 3", base)
	}
	msgs := all(t, s, "t", 0)
	if len(msgs) != 3+h.Bulk || string(msgs[0].Value) != "a" || string(msgs[2].Value) != "c" || msgs[2].ProducerID != 8 || string(msgs[3].Value) != "big0" {
		t.Fatalf("stored %d messages, first four %+v", len(msgs), msgs[:min(4, len(msgs))])
	}
	if got := hw(t, s, "t", 0); got != int64(len(msgs)) {
		t.Fatalf("high watermark %d; want %d", got, len(msgs))
	}
	// Claims of another partition are independent.
	if next := claim(t, s, "t", 1, 1, 1); next != 0 {
		t.Fatalf("claim of t/1: next %d", next)
	}
}

// An append of the previous owner that never commits (its process stopped
// mid-transaction) holds the partition's lock; a takeover fails as
// unavailable after a bounded wait instead of hanging, and succeeds once
// the lock is gone, continuing at the committed next offset.
func testClaimBehindStalledAppend(t *testing.T, h Harness) {
	if h.Stall == nil {
		t.Skip("the store cannot stall an append")
	}
	ctx, s := testCtx(t), h.Store
	claim(t, s, "t", 0, 1, 1)
	appendOne(t, s, "t", 0, 1, msgsOf(1, "a", "b"))
	release, err := h.Stall(ctx, "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Claim(ctx, "t", 0, 2, 2)
	if !errors.Is(err, logq.ErrUnavailable) {
		release()
		t.Fatalf("claim behind a stalled append = %v; want unavailable", err)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Errorf("claim waited %v for the lock", waited)
	}
	release()
	if next := claim(t, s, "t", 0, 2, 2); next != 2 {
		t.Fatalf("claim after the stalled append ended: next %d; want 2", next)
	}
}

func testAppendRoundTrip(t *testing.T, h Harness) {
	s := h.Store
	claim(t, s, "t", 0, 1, 1)
	odd := "é \"q\" \\ \u2028 ✓"
	in := []storage.Message{
		{ProducerID: 7, Key: []byte("k"), Value: []byte("a")},
		{ProducerID: 1 << 62, Value: []byte{}},
		{ProducerID: 0, Key: []byte{}, Value: []byte(odd)},
		{ProducerID: 9, Key: []byte(odd), Value: []byte(strings.Repeat("x", 1000))},
		{ProducerID: 3, Key: []byte{0, 0xff, 0xfe}, Value: []byte{0, 1, 2, 0xc3, 0x28, 0xff}},
		{ProducerID: 4, Value: []byte("h"), Headers: []storage.Header{{Key: "a", Value: []byte("1")}, {Key: "", Value: nil}, {Key: "bin", Value: []byte{0, 0xff}}, {Key: "e", Value: []byte{}}}},
		{ProducerID: 5, Value: []byte("t"), Timestamp: time.UnixMilli(1_600_000_000_123)},
	}
	before := time.Now().Add(-time.Minute)
	for _, size := range []int{len(in), h.Bulk} {
		msgs := make([]storage.Message, 0, size)
		for len(msgs) < size {
			msgs = append(msgs, in[len(msgs)%len(in)])
		}
		base := hw(t, s, "t", 0)
		if got := appendOne(t, s, "t", 0, 1, msgs); got != base {
			t.Fatalf("append of %d: base %d; want %d", size, got, base)
		}
		stored := all(t, s, "t", 0)[base:]
		if len(stored) != size {
			t.Fatalf("append of %d stored %d", size, len(stored))
		}
		for i, m := range stored {
			w := msgs[i]
			if m.ProducerID != w.ProducerID || !bytes.Equal(m.Value, w.Value) || m.Value == nil || (m.Key == nil) != (w.Key == nil) ||
				!bytes.Equal(m.Key, w.Key) || !sameHeaders(m.Headers, w.Headers) {
				t.Fatalf("append of %d: message %d stored as %+v; want %+v", size, i, m, w)
			}
			switch {
			case !w.Timestamp.IsZero() && !m.Timestamp.Equal(w.Timestamp):
				t.Fatalf("append of %d: message %d has timestamp %v; want the producer's %v", size, i, m.Timestamp, w.Timestamp)
			case w.Timestamp.IsZero() && !m.Timestamp.Equal(m.ProducedAt):
				t.Fatalf("append of %d: message %d has timestamp %v; want the append's %v", size, i, m.Timestamp, m.ProducedAt)
			}
			if m.ProducedAt.Before(before) || m.ProducedAt.After(time.Now().Add(time.Minute)) {
				t.Fatalf("produced_at %v is not the time of the append", m.ProducedAt)
			}
			if !m.ProducedAt.Equal(stored[0].ProducedAt) {
				t.Fatalf("one append, two produced_at: %v and %v", stored[0].ProducedAt, m.ProducedAt)
			}
		}
	}
}

func testAppendRefusesEmpty(t *testing.T, h Harness) {
	ctx, s := testCtx(t), h.Store
	claim(t, s, "t", 0, 1, 1)
	if res, err := s.Append(ctx, nil); err != nil || len(res) != 0 {
		t.Fatalf("Append(nil) = %v, %v", res, err)
	}
	_, err := s.Append(ctx, []storage.Batch{{Topic: "t", Partition: 0, Epoch: 1, Msgs: msgsOf(1, "a")}, {Topic: "t", Partition: 1, Epoch: 1}})
	if !errors.Is(err, logq.ErrInvalid) {
		t.Fatalf("append of an empty batch: %v; want invalid", err)
	}
	if got := hw(t, s, "t", 0); got != 0 {
		t.Fatalf("a refused append stored messages: high watermark %d", got)
	}
}

// One Append carries several partitions; a partition whose stored epoch
// refuses the batch's, or that was never claimed, fails alone (FencedBase)
// while the others are stored, small and bulk.
func testAppendFencedPartitionAlone(t *testing.T, h Harness) {
	ctx, s := testCtx(t), h.Store
	for i := range 3 {
		claim(t, s, "t", i, 1, 1)
	}
	claim(t, s, "t", 1, 2, 2) // t/1 moved to owner 2
	for round, size := range []int{1, h.Bulk} {
		res, err := s.Append(ctx, []storage.Batch{
			{Topic: "t", Partition: 0, Epoch: 1, Msgs: numbered(1, "a", size)},
			{Topic: "t", Partition: 1, Epoch: 1, Msgs: numbered(1, "b", size)},
			{Topic: "t", Partition: 2, Epoch: 1, Msgs: numbered(1, "c", 2)},
			{Topic: "t", Partition: 3, Epoch: 1, Msgs: numbered(1, "d", 1)}, // never claimed
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []int64{int64(round * 1), storage.FencedBase, int64(round * 2), storage.FencedBase}
		bases := baseOf(res)
		if !slices.Equal(bases, want) || res[0].Err != nil || !errors.Is(res[1].Err, logq.ErrFenced) || !errors.Is(res[3].Err, logq.ErrFenced) {
			t.Fatalf("round %d: bases %v; want %v", round, bases, want)
		}
	}
	if n := len(all(t, s, "t", 1)); n != 0 {
		t.Fatalf("fenced t/1 holds %d messages", n)
	}
	if _, err := s.Read(testCtx(t), "t", 3, 0, 10, 1<<20); !errors.Is(err, logq.ErrNotFound) {
		t.Fatalf("unclaimed t/3: read %v; want not found", err)
	}
	if msgs := all(t, s, "t", 0); len(msgs) != 1+h.Bulk || string(msgs[0].Value) != "a0" || string(msgs[1].Value) != "a0" {
		t.Fatalf("t/0 holds %d messages", len(msgs))
	}
	if msgs := all(t, s, "t", 2); len(msgs) != 4 || string(msgs[3].Value) != "c1" {
		t.Fatalf("t/2 holds %v", msgs)
	}
}

// Concurrent appends get gap-free offsets in commit order: each answer's
// base holds that append's messages, in order. Appender 0 appends to every
// partition at once, the others to one partition at a time (two concurrent
// Appends spanning the same partitions may deadlock: see Store.Append).
func testAppendConcurrentGapFree(t *testing.T, h Harness) {
	ctx, s := testCtx(t), h.Store
	const parts, appenders, each = 3, 8, 30
	for p := range parts {
		claim(t, s, "t", p, 1, 1)
	}
	type answer struct {
		partition int
		base      int64
		msgs      []storage.Message
	}
	var (
		mu      sync.Mutex
		answers []answer
		wg      sync.WaitGroup
	)
	for g := range appenders {
		wg.Go(func() {
			for i := range each {
				var batches []storage.Batch
				for p := range parts {
					if g == 0 || p == (g+i)%parts {
						n := 1 + (g+i+p)%4
						batches = append(batches, storage.Batch{Topic: "t", Partition: p, Epoch: 1, Msgs: numbered(int64(g), fmt.Sprintf("%d-%d-%d-", g, i, p), n)})
					}
				}
				res, err := s.Append(ctx, batches)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for j, b := range batches {
					answers = append(answers, answer{b.Partition, res[j].Base, b.Msgs})
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	stored := make([][]storage.StoredMessage, parts)
	total := 0
	for p := range parts {
		stored[p] = all(t, s, "t", p)
		total += len(stored[p])
		if got := hw(t, s, "t", p); got != int64(len(stored[p])) {
			t.Fatalf("t/%d: high watermark %d; %d messages", p, got, len(stored[p]))
		}
	}
	n := 0
	for _, a := range answers {
		n += len(a.msgs)
		for i, m := range a.msgs {
			off := a.base + int64(i)
			if off >= int64(len(stored[a.partition])) || !bytes.Equal(stored[a.partition][off].Value, m.Value) {
				t.Fatalf("t/%d offset %d answered for %q does not hold it", a.partition, off, m.Value)
			}
		}
	}
	if n != total {
		t.Fatalf("%d messages answered, %d stored", n, total)
	}
}

func testReadBounds(t *testing.T, h Harness) {
	ctx, s := testCtx(t), h.Store
	claim(t, s, "t", 0, 1, 1)
	claim(t, s, "t", 1, 1, 1)
	appendOne(t, s, "t", 0, 1, msgsOf(1, "aaaa", "bbbb", "cccc", "dddd"))
	appendOne(t, s, "t", 1, 1, msgsOf(1, "other"))
	for _, c := range []struct {
		from            int64
		limit, maxBytes int
		want            int
	}{
		{0, 10, 1 << 20, 4},
		{1, 2, 1 << 20, 2},
		{0, 10, 8, 2},
		{0, 10, 9, 3},
		{0, 10, 1, 1}, // always at least one
		{2, 10, 1 << 20, 2},
		{4, 10, 1 << 20, 0},
	} {
		msgs, err := s.Read(ctx, "t", 0, c.from, c.limit, c.maxBytes)
		if err != nil || len(msgs) != c.want {
			t.Errorf("read(%d, %d, %d) = %d messages, %v; want %d", c.from, c.limit, c.maxBytes, len(msgs), err, c.want)
			continue
		}
		for i, m := range msgs {
			if m.Offset != c.from+int64(i) || string(m.Value) != strings.Repeat(string(rune('a'+m.Offset)), 4) {
				t.Errorf("read(%d, %d, %d): message %d is %+v", c.from, c.limit, c.maxBytes, i, m)
			}
		}
	}
	// Reading moves nothing.
	if _, pos, err := s.Size(ctx, 1, "t", 0); err != nil || pos != 0 {
		t.Fatalf("position after reads = %d, %v; want 0", pos, err)
	}
	// Past the high watermark is out of range; a partition never claimed
	// is not found.
	if msgs, err := s.Read(ctx, "t", 0, 5, 10, 1<<20); !errors.Is(err, logq.ErrOffsetOutOfRange) {
		t.Fatalf("read past the high watermark = %v, %v; want offset_out_of_range", msgs, err)
	}
	if msgs, err := s.Read(ctx, "none", 0, 0, 10, 1<<20); !errors.Is(err, logq.ErrNotFound) {
		t.Fatalf("read of an unknown partition = %v, %v; want not found", msgs, err)
	}
}

func testConsumeBounds(t *testing.T, h Harness) {
	ctx, s := testCtx(t), h.Store
	claim(t, s, "t", 0, 1, 1)
	appendOne(t, s, "t", 0, 1, msgsOf(1, "aaaa", "bbbb", "cccc", "dddd", "eeee"))
	for i, c := range []struct {
		limit, maxBytes int
		want            []int64
	}{
		{2, 1 << 20, []int64{0, 1}},
		{10, 5, []int64{2, 3}}, // a message starting within the bytes is returned
		{10, 1, []int64{4}},    // always at least one
		{10, 1 << 20, nil},
	} {
		msgs, err := s.Consume(ctx, 42, "t", 0, c.limit, c.maxBytes)
		if err != nil {
			t.Fatal(err)
		}
		var offs []int64
		for _, m := range msgs {
			offs = append(offs, m.Offset)
		}
		if !slices.Equal(offs, c.want) {
			t.Fatalf("consume %d (limit %d, %d bytes) = %v; want %v", i, c.limit, c.maxBytes, offs, c.want)
		}
	}
	appendOne(t, s, "t", 0, 1, msgsOf(1, "ffff"))
	if msgs, err := s.Consume(ctx, 42, "t", 0, 10, 1<<20); err != nil || len(msgs) != 1 || msgs[0].Offset != 5 || string(msgs[0].Value) != "ffff" {
		t.Fatalf("consume after a new append = %+v, %v", msgs, err)
	}
	// Positions are per consumer and per partition.
	if msgs, err := s.Consume(ctx, 43, "t", 0, 1, 1<<20); err != nil || len(msgs) != 1 || msgs[0].Offset != 0 {
		t.Fatalf("another consumer's first consume = %+v, %v", msgs, err)
	}
	claim(t, s, "t", 1, 1, 1)
	appendOne(t, s, "t", 1, 1, msgsOf(1, "x"))
	if msgs, err := s.Consume(ctx, 42, "t", 1, 10, 1<<20); err != nil || len(msgs) != 1 || msgs[0].Offset != 0 {
		t.Fatalf("consume of another partition = %+v, %v", msgs, err)
	}
}

// Concurrent consumes of one consumer never return the same message, and
// together return every message once, in order per consume.
func testConsumeConcurrent(t *testing.T, h Harness) {
	ctx, s := testCtx(t), h.Store
	claim(t, s, "t", 0, 1, 1)
	const n = 2000
	appendOne(t, s, "t", 0, 1, numbered(1, "", n))
	var (
		mu   sync.Mutex
		seen = map[int64]int{}
		wg   sync.WaitGroup
	)
	for g := range 8 {
		wg.Go(func() {
			for {
				msgs, err := s.Consume(ctx, 42, "t", 0, 1+g*3, 1<<20)
				if err != nil {
					t.Error(err)
					return
				}
				if len(msgs) == 0 {
					return
				}
				mu.Lock()
				for i, m := range msgs {
					seen[m.Offset]++
					if string(m.Value) != fmt.Sprint(m.Offset) {
						t.Errorf("offset %d holds %q", m.Offset, m.Value)
					}
					if i > 0 && m.Offset != msgs[i-1].Offset+1 {
						t.Errorf("consume returned offsets %d then %d", msgs[i-1].Offset, m.Offset)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for off := int64(0); off < n; off++ {
		if seen[off] != 1 {
			t.Fatalf("offset %d returned %d times", off, seen[off])
		}
	}
	hw, pos, err := s.Size(ctx, 42, "t", 0)
	if err != nil || hw != n || pos != n {
		t.Fatalf("size = %d, %d, %v; want %d, %d", hw, pos, err, n, n)
	}
	// Another consumer starts at 0 and sees everything.
	msgs, err := s.Consume(ctx, 43, "t", 0, n, 1<<30)
	if err != nil || len(msgs) != n || msgs[0].Offset != 0 {
		t.Fatalf("second consumer got %d messages, %v", len(msgs), err)
	}
}

func testSize(t *testing.T, h Harness) {
	ctx, s := testCtx(t), h.Store
	if _, _, err := s.Size(ctx, 1, "t", 0); !errors.Is(err, logq.ErrNotFound) {
		t.Fatalf("size of an unclaimed partition: %v; want not found", err)
	}
	claim(t, s, "t", 0, 1, 1)
	if hw, pos, err := s.Size(ctx, 1, "t", 0); err != nil || hw != 0 || pos != 0 {
		t.Fatalf("size of an empty partition = %d, %d, %v", hw, pos, err)
	}
	appendOne(t, s, "t", 0, 1, msgsOf(1, "a", "b", "c"))
	if _, err := s.Consume(ctx, 1, "t", 0, 2, 1<<20); err != nil {
		t.Fatal(err)
	}
	if hw, pos, err := s.Size(ctx, 1, "t", 0); err != nil || hw != 3 || pos != 2 {
		t.Fatalf("size = %d, %d, %v; want 3, 2", hw, pos, err)
	}
	if hw, pos, err := s.Size(ctx, 2, "t", 0); err != nil || hw != 3 || pos != 0 {
		t.Fatalf("size for a consumer that never consumed = %d, %d, %v; want 3, 0", hw, pos, err)
	}
	// A takeover keeps the high watermark.
	claim(t, s, "t", 0, 2, 2)
	if hw, pos, err := s.Size(ctx, 1, "t", 0); err != nil || hw != 3 || pos != 2 {
		t.Fatalf("size after a takeover = %d, %d, %v; want 3, 2", hw, pos, err)
	}
}

func testPositions(t *testing.T, h Harness) {
	ctx, s := testCtx(t), h.Store
	for p := range 2 {
		claim(t, s, "t", p, 1, 1)
		appendOne(t, s, "t", p, 1, numbered(1, "", 10))
	}
	for _, c := range []struct {
		consumer  int64
		partition int
		n         int
	}{{1, 0, 3}, {1, 1, 5}, {2, 0, 7}} {
		if _, err := s.Consume(ctx, c.consumer, "t", c.partition, c.n, 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	keys := []storage.ConsumerKey{
		{Consumer: 2, Topic: "t", Partition: 0},
		{Consumer: 1, Topic: "t", Partition: 1},
		{Consumer: 3, Topic: "t", Partition: 0}, // never consumed
		{Consumer: 1, Topic: "t", Partition: 0},
		{Consumer: 1, Topic: "none", Partition: 0},
		{Consumer: 2, Topic: "t", Partition: 0}, // again
	}
	got, err := s.Positions(ctx, keys)
	if want := []int64{7, 5, 0, 3, 0, 7}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("positions = %v, %v; want %v", got, err, want)
	}
	if got, err := s.Positions(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("positions of nothing = %v, %v", got, err)
	}
}
