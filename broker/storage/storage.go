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

	// Append stores batches (each partition at most once, unless some
	// batch is idempotent: then a partition may have several batches,
	// stored in their order; each batch not empty) atomically per
	// partition and answers each batch in order: the
	// offset of its first message, or an error of its own (nothing of it is
	// stored; the other batches are): storage.FencedError when the
	// partition's stored epoch is not the batch's, and for an idempotent
	// batch (Batch.Idem) logq.EProducerFenced for an epoch older than the
	// producer's stored one, logq.EOutOfOrderSequence for a sequence that
	// neither follows the producer's last one nor repeats one of its last
	// IdempotentBatches batches. A repeated batch (the same first and last
	// sequence) is answered with the offset it was stored at the first
	// time, Duplicate set, and stores nothing. A newer epoch starts the
	// producer's sequence again (at 0). The producer's state is written in
	// the transaction that stores the batch. Offsets are gap-free and
	// assigned in commit order per partition, even with several stores on
	// one database. Two concurrent Appends that both span several
	// partitions, sharing some, may deadlock and one fail with a retryable
	// EUnavailable (nothing of it stored): the broker's committers own
	// disjoint sets of partitions, so one broker's concurrent Appends never
	// share one.
	Append(ctx context.Context, batches []Batch) ([]AppendResult, error)

	// Read returns up to limit messages of a partition from offset from on,
	// in offset order, at most maxBytes of values (but always the first
	// message there is). As Fetch, without the partition's marks.
	Read(ctx context.Context, topic string, partition int, from int64, limit, maxBytes int) ([]StoredMessage, error)

	// Fetch is Read with the partition's log start offset and high
	// watermark, read in the same snapshot; it moves nothing. An offset
	// below the log start offset or above the high watermark is refused
	// with logq.EOffsetOutOfRange (the high watermark itself is the end:
	// no messages); logq.ENotFound when the partition was never claimed.
	Fetch(ctx context.Context, topic string, partition int, from int64, limit, maxBytes int) (Fetched, error)

	// ListOffsets answers a partition's log start offset (at =
	// OffsetEarliest), its high watermark (OffsetLatest), or, for at >= 0
	// (a time in Unix milliseconds), the first offset at or after the log
	// start whose record timestamp is at or after at, with that timestamp
	// (Offset -1 when there is none, as Kafka answers). Either way the
	// answer carries both marks. logq.ENotFound when the partition was
	// never claimed.
	ListOffsets(ctx context.Context, topic string, partition int, at int64) (ListedOffset, error)

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

// FencedBase is the Base of an AppendResult whose batch was refused.
const FencedBase = -1

// IdempotentBatches is how many of an idempotent producer's last batches
// per partition storage remembers (Kafka's, for max.in.flight = 5).
const IdempotentBatches = 5

// ListOffsets' special times, Kafka's.
const (
	OffsetLatest   = -1
	OffsetEarliest = -2
)

// Header is one record header: a text key and a value of bytes (nil: a
// null value).
type Header struct {
	Key   string
	Value []byte
}

// Message is one message to append.
type Message struct {
	ProducerID int64
	Key        []byte // nil: no key
	Value      []byte
	Headers    []Header
	Timestamp  time.Time // zero: the append's time
}

// StoredMessage is one message as stored, at its offset.
type StoredMessage struct {
	Offset     int64
	ProducedAt time.Time // the append's time (the broker's clock)
	Timestamp  time.Time // the record's: the producer's, or ProducedAt
	ProducerID int64
	Key        []byte // nil: no key
	Value      []byte
	Headers    []Header
}

// Idempotence is what makes a batch idempotent: the producer, its epoch
// and the sequence of the batch's first message in this partition (the
// others follow it, one each).
type Idempotence struct {
	ProducerID   int64
	Epoch        int64
	BaseSequence int64
}

// Batch is what one append adds to the end of one partition, fenced by the
// epoch its writer owns the partition at.
type Batch struct {
	Topic     string
	Partition int
	Epoch     int64
	Msgs      []Message
	Idem      *Idempotence // nil: not idempotent
}

// AppendResult is Append's answer for one batch.
type AppendResult struct {
	Base      int64 // offset of the first message; FencedBase when Err is set
	Duplicate bool  // an idempotent retry: Base is the original's, nothing stored
	Err       error // why the batch was refused
}

// Fetched is a Fetch's answer.
type Fetched struct {
	Messages       []StoredMessage
	HighWatermark  int64
	LogStartOffset int64
}

// ListedOffset is a ListOffsets answer.
type ListedOffset struct {
	Offset         int64
	Timestamp      time.Time // the record's, for a lookup by time that found one
	HighWatermark  int64
	LogStartOffset int64
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

// ErrUnavailable is in the chain (errors.Is) of every error of a Store
// whose database does not answer (a lost or refused connection): retry
// later. The broker names its storage cluster in the answer.
var ErrUnavailable = logq.Errorf(logq.EUnavailable, "storage unavailable")
