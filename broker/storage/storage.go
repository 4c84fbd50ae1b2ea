// Package storage is the broker's storage contract: the Store interface
// through which the broker's committer and handlers reach partition data
// (partitions, messages, consumer positions), and the records it takes and
// returns. The broker sees no SQL and no pgx; broker/storage/pgstore is the
// PostgreSQL implementation and broker/storage/storagetest the conformance
// suite every implementation passes.
//
// Errors are logq's vocabulary: logq.EFenced when a partition's stored
// epoch refuses the caller's, logq.ENotFound for a partition that was never
// claimed, logq.EUnavailable and logq.ETimeout when storage cannot answer
// (retry later), logq.EInternal otherwise; the cause stays in the chain for
// the log, never in the message.
package storage

import (
	"context"
	"time"

	"github.com/logq/logq"
)

// Store holds the data of every partition: the ownership epoch storage
// enforces, the messages at gap-free offsets, and each consumer's position.
// It is safe for concurrent use.
type Store interface {
	// Claim makes owner the storage owner of a partition at epoch,
	// creating the partition if needed, and returns its next offset. The
	// stored epoch only moves forward: a claim at a lower epoch, or at the
	// same epoch by another owner, is refused with logq.EFenced; claiming
	// again at the epoch already held (a restart) succeeds. The claim waits
	// a bounded time for an append of the previous owner still in flight,
	// then fails with logq.EUnavailable (retry later).
	Claim(ctx context.Context, topic string, partition int, owner, epoch int64) (next int64, err error)

	// Append stores batches (each partition at most once, each batch not
	// empty) atomically per partition and returns the offset of each
	// batch's first message, or FencedBase for a batch whose partition's
	// stored epoch is not the batch's (nothing of it is stored; the other
	// batches are). Offsets are gap-free and assigned in commit order per
	// partition, even with several stores on one database. Two concurrent
	// Appends that both span several partitions, sharing some, may
	// deadlock and one fail with a retryable EUnavailable (nothing of it
	// stored): the broker's committers own disjoint sets of partitions, so
	// one broker's concurrent Appends never share one.
	Append(ctx context.Context, batches []Batch) ([]int64, error)

	// Read returns up to limit messages of a partition from offset from on,
	// in offset order, at most maxBytes of payload (but always the first
	// message there is).
	Read(ctx context.Context, topic string, partition int, from int64, limit, maxBytes int) ([]StoredMessage, error)

	// Consume returns a consumer's next messages of a partition (as Read,
	// from its position) and moves its position past them, atomically: two
	// concurrent consumes of one consumer never return the same message. A
	// consumer new to the partition starts at offset 0.
	Consume(ctx context.Context, consumer int64, topic string, partition int, limit, maxBytes int) ([]StoredMessage, error)

	// Size returns a partition's high watermark (its next offset) and a
	// consumer's position in it (0 if it never consumed it), never below
	// the partition's log start offset (retention.go); logq.ENotFound
	// when the partition was never claimed.
	Size(ctx context.Context, consumer int64, topic string, partition int) (hw, position int64, err error)

	// Positions returns the position of each consumer in each partition of
	// keys, in the order of keys (0 where it never consumed), never below
	// the partition's log start offset, in one round trip.
	Positions(ctx context.Context, keys []ConsumerKey) ([]int64, error)
}

// FencedBase is Append's answer for a batch refused by its partition's
// stored epoch.
const FencedBase = -1

// Message is one message to append.
type Message struct {
	ProducerID int64
	Key        *string
	Payload    string
}

// StoredMessage is one message as stored, at its offset.
type StoredMessage struct {
	Offset     int64
	ProducedAt time.Time
	ProducerID int64
	Key        *string
	Payload    string
}

// Batch is what one append adds to the end of one partition, fenced by the
// epoch its writer owns the partition at.
type Batch struct {
	Topic     string
	Partition int
	Epoch     int64
	Msgs      []Message
}

// ConsumerKey names a consumer's position in one partition.
type ConsumerKey struct {
	Consumer  int64
	Topic     string
	Partition int
}

// FencedError is the error of an append refused because the partition's
// stored epoch moved past epoch (another broker owns it now).
func FencedError(topic string, partition int, epoch int64) error {
	return logq.Errorf(logq.EFenced, "partition %s/%d: ownership moved past epoch %d", topic, partition, epoch)
}
