package storage

import (
	"context"
	"time"
)

// Retainer is implemented by stores that enforce retention: a partition's
// log is a run of segments, and the oldest are dropped whole once past the
// partition's retention, moving its log start offset forward. The broker's
// retention loop calls it for the partitions it owns (docs/retention.md).
// A separate interface from Store, so that a store without retention still
// is one.
type Retainer interface {
	// Retain drops up to maxSegments of a partition's oldest segments
	// that policy no longer keeps as of now, each in its own transaction
	// with the advance of the partition's log start offset to the end of
	// it, fenced by epoch: a caller whose epoch is not the stored one drops
	// nothing and gets logq.EFenced. The active segment (holding the next
	// offset) is never dropped. More reports whether further segments are
	// due (the work per call is bounded).
	Retain(ctx context.Context, topic string, partition int, epoch int64, policy RetentionPolicy, now time.Time, maxSegments int) (RetainResult, error)

	// LogStart returns a partition's log start offset (its first offset
	// still stored) and high watermark; logq.ENotFound when the partition
	// was never claimed.
	LogStart(ctx context.Context, topic string, partition int) (start, hw int64, err error)

	// Segments returns a partition's segments in offset order, with the
	// disk each takes.
	Segments(ctx context.Context, topic string, partition int) ([]Segment, error)
}

// RetentionPolicy is what a partition keeps: records for MaxAge after
// their timestamp, and the newest MaxBytes of the log. Zero or negative
// means no limit on that axis (the broker resolves -1 "forever" and the
// cluster default before calling).
type RetentionPolicy struct {
	MaxAge   time.Duration
	MaxBytes int64
}

// Unlimited reports whether p keeps everything.
func (p RetentionPolicy) Unlimited() bool { return p.MaxAge <= 0 && p.MaxBytes <= 0 }

// RetainResult is what one Retain did.
type RetainResult struct {
	Dropped  int   // segments dropped
	LogStart int64 // the partition's log start offset after it
	More     bool  // more segments are due: call again
}

// Segment is one segment of a partition's log: offsets [Base, End), the
// bytes of its table (with TOAST) and of its indexes.
type Segment struct {
	Base, End              int64
	TableBytes, IndexBytes int64
}
