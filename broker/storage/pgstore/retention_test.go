package pgstore

import (
	"testing"

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
