package pgstore

import (
	"errors"
	"testing"

	"github.com/logq/logq"

	"github.com/logq/logq/broker/storage/storagetest"
	"github.com/logq/logq/internal/pgtest"
)

func TestRetentionConformance(t *testing.T) {
	storagetest.RunRetention(t, func(t *testing.T, segmentOffsets int64) storagetest.RetentionHarness {
		s := New(pgtest.Pool(t, pgtest.NewDB(t), 10))
		s.SetSegmentOffsets(segmentOffsets)
		return storagetest.RetentionHarness{Store: s, Retainer: s, SegmentOffsets: segmentOffsets}
	})
}

// TestSegmentCacheFastPath: the append path asks the database about
// segments only when it must: once per partition it did not claim, and
// once per segment it creates; never per append.
func TestSegmentCacheFastPath(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	db := pgtest.Pool(t, pgtest.NewDB(t), 10)
	s := New(db)
	s.SetSegmentOffsets(100)
	if _, err := s.Claim(ctx, "t", 0, 1, 1); err != nil {
		t.Fatal(err)
	}
	loads, creates := s.seg.loads.Load(), s.seg.creates.Load()
	if creates != 1 {
		t.Fatalf("claim created %d segments; want 1 (the next offsets, and the rest ahead)", creates)
	}
	for range 100 {
		if _, err := storagetest.AppendOne(ctx, s, "t", 0, 1, msgs(10)); err != nil { // 1000 offsets: 10 segments
			t.Fatal(err)
		}
	}
	if got := s.seg.loads.Load() - loads; got != 0 {
		t.Errorf("100 appends read the segments from the database %d times; want 0", got)
	}
	if got := s.seg.creates.Load() - creates; got != 10 {
		t.Errorf("1000 offsets created %d segments of 100; want 10", got)
	}
	// A store that did not claim the partition reads them once.
	other := New(db)
	other.SetSegmentOffsets(100)
	if _, err := storagetest.AppendOne(ctx, other, "t", 0, 1, msgs(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := storagetest.AppendOne(ctx, other, "t", 0, 1, msgs(1)); err != nil {
		t.Fatal(err)
	}
	if got := other.seg.loads.Load(); got != 1 {
		t.Errorf("an unclaimed store read the segments %d times for 2 appends; want 1", got)
	}
}

// TestMissingSegmentIsRetryable: should a segment vanish behind the store's
// back (dropped by hand), the append that needed it fails retryably and
// the next one recreates it.
func TestMissingSegmentIsRetryable(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	db := pgtest.Pool(t, pgtest.NewDB(t), 10)
	s := New(db)
	s.SetSegmentOffsets(10)
	if _, err := s.Claim(ctx, "t", 0, 1, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := storagetest.AppendOne(ctx, s, "t", 0, 1, msgs(12)); err != nil { // segments [0,10), [10,20)
		t.Fatal(err)
	}
	var name string
	if err := db.QueryRow(ctx, `SELECT relname FROM message_segments WHERE base_offset = 10`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `DROP TABLE `+name+`; DELETE FROM message_segments WHERE relname = '`+name+`'`); err != nil {
		t.Fatal(err)
	}
	if _, err := storagetest.AppendOne(ctx, s, "t", 0, 1, msgs(1)); !errors.Is(err, logq.ErrUnavailable) {
		t.Fatalf("append into a vanished segment: %v; want unavailable", err)
	}
	if base, err := storagetest.AppendOne(ctx, s, "t", 0, 1, msgs(1)); err != nil || base != 12 {
		t.Fatalf("append after = %d, %v; want 12", base, err)
	}
}
