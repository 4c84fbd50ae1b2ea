package broker

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/internal/pgtest"
)

func newTestStore(t testing.TB) *store {
	return newStore(connect(t, pgtest.NewDB(t)))
}

func msgsOf(producer int64, payloads ...string) []message {
	out := make([]message, len(payloads))
	for i, p := range payloads {
		out[i] = message{ProducerID: producer, Payload: p}
	}
	return out
}

func TestStoreClaimAndFencing(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, time.Minute)
	s := newTestStore(t)

	next, err := s.claim(ctx, "t", 0, 1, 1)
	if err != nil || next != 0 {
		t.Fatalf("first claim: next %d, %v", next, err)
	}
	key := "k"
	base, err := s.appendBatch(ctx, "t", 0, 1, []message{{ProducerID: 7, Key: &key, Payload: "a"}, {ProducerID: 7, Payload: "b"}})
	if err != nil || base != 0 {
		t.Fatalf("append: base %d, %v", base, err)
	}
	// Claiming again at the same epoch as the same owner (a restart) keeps
	// the offsets.
	if next, err := s.claim(ctx, "t", 0, 1, 1); err != nil || next != 2 {
		t.Fatalf("re-claim: next %d, %v; want 2", next, err)
	}
	// Another broker at the same epoch, or anyone at a lower one, is fenced.
	if _, err := s.claim(ctx, "t", 0, 2, 1); !errors.Is(err, logq.ErrFenced) {
		t.Fatalf("claim by another broker at the same epoch: %v; want fenced", err)
	}
	// A new owner at a higher epoch takes over where the old one left off.
	if next, err := s.claim(ctx, "t", 0, 2, 2); err != nil || next != 2 {
		t.Fatalf("takeover: next %d, %v; want 2", next, err)
	}
	if _, err := s.claim(ctx, "t", 0, 1, 1); !errors.Is(err, logq.ErrFenced) {
		t.Fatalf("stale claim: %v; want fenced", err)
	}
	// The old owner's appends are refused, whichever path they take.
	if _, err := s.appendBatch(ctx, "t", 0, 1, msgsOf(7, "x")); !errors.Is(err, logq.ErrFenced) {
		t.Fatalf("stale append: %v; want fenced", err)
	}
	big := make([]string, s.copyThreshold+1)
	if _, err := s.appendBatch(ctx, "t", 0, 1, msgsOf(7, big...)); !errors.Is(err, logq.ErrFenced) {
		t.Fatalf("stale COPY append: %v; want fenced", err)
	}
	// The new owner continues the offsets, through both paths.
	if base, err := s.appendBatch(ctx, "t", 0, 2, msgsOf(8, "c")); err != nil || base != 2 {
		t.Fatalf("new owner append: base %d, %v; want 2", base, err)
	}
	if base, err := s.appendBatch(ctx, "t", 0, 2, msgsOf(8, big...)); err != nil || base != 3 {
		t.Fatalf("new owner COPY append: base %d, %v; want 3", base, err)
	}
	msgs := allMessages(t, s, "t", 0)
	checkGapFree(t, "t/0", msgs)
	if len(msgs) != 3+len(big) || msgs[0].Payload != "a" || *msgs[0].Key != "k" || msgs[1].Key != nil ||
		msgs[2].Payload != "c" || msgs[2].ProducerID != 8 {
		t.Fatalf("stored %d messages, first three %+v %+v %+v", len(msgs), msgs[0], msgs[1], msgs[2])
	}
	if next, epoch, err := s.nextOffset(ctx, "t", 0); err != nil || next != int64(len(msgs)) || epoch != 2 {
		t.Fatalf("nextOffset = %d, %d, %v", next, epoch, err)
	}
}

func TestStoreReadBounds(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, time.Minute)
	s := newTestStore(t)
	if _, err := s.claim(ctx, "t", 0, 1, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.appendBatch(ctx, "t", 0, 1, msgsOf(1, "aaaa", "bbbb", "cccc", "dddd")); err != nil {
		t.Fatal(err)
	}
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
		{4, 10, 1 << 20, 0},
	} {
		msgs, err := s.read(ctx, "t", 0, c.from, c.limit, c.maxBytes)
		if err != nil || len(msgs) != c.want || (len(msgs) > 0 && msgs[0].Offset != c.from) {
			t.Errorf("read(%d, %d, %d) = %d messages, %v; want %d", c.from, c.limit, c.maxBytes, len(msgs), err, c.want)
		}
	}
}

// Concurrent consumes of one consumer never return the same message, and
// together return every message once, in order per consume.
func TestStoreConsumeConcurrent(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, time.Minute)
	s := newTestStore(t)
	if _, err := s.claim(ctx, "t", 0, 1, 1); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	payloads := make([]string, n)
	for i := range payloads {
		payloads[i] = fmt.Sprint(i)
	}
	if _, err := s.appendBatch(ctx, "t", 0, 1, msgsOf(1, payloads...)); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen = map[int64]int{}
		wg   sync.WaitGroup
	)
	for g := range 8 {
		wg.Go(func() {
			for {
				msgs, err := s.consume(ctx, 42, "t", 0, 1+g*3, 1<<20)
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
	hw, pos, err := s.size(ctx, 42, "t", 0)
	if err != nil || hw != n || pos != n {
		t.Fatalf("size = %d, %d, %v; want %d, %d", hw, pos, err, n, n)
	}
	// Another consumer starts at 0 and sees everything.
	msgs, err := s.consume(ctx, 43, "t", 0, n, 1<<30)
	if err != nil || len(msgs) != n || msgs[0].Offset != 0 {
		t.Fatalf("second consumer got %d messages, %v", len(msgs), err)
	}
}

// TestStoreClaimDoesNotWaitForAStoppedOwner: an append of the previous
// owner that never commits (its process stopped mid-transaction) holds the
// partition row lock; a takeover fails as unavailable after a bounded wait
// instead of hanging, and succeeds once the lock is gone, continuing at the
// committed next offset.
func TestStoreClaimDoesNotWaitForAStoppedOwner(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, time.Minute)
	s := newTestStore(t)
	if _, err := s.claim(ctx, "t", 0, 1, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.appendBatch(ctx, "t", 0, 1, msgsOf(1, "a", "b")); err != nil {
		t.Fatal(err)
	}
	// The stalled append: the row lock taken, never committed.
	tx, err := s.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE partitions SET next_offset = next_offset + 5 WHERE topic = 't' AND partition = 0`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.claim(ctx, "t", 0, 2, 2)
	if !errors.Is(err, logq.ErrUnavailable) {
		t.Fatalf("claim behind a held lock = %v; want unavailable", err)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Fatalf("claim waited %v for the lock", waited)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	next, err := s.claim(ctx, "t", 0, 2, 2)
	if err != nil || next != 2 {
		t.Fatalf("claim after the stalled append ended: next %d, %v; want 2", next, err)
	}
}
