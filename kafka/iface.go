package kafka

import (
	"context"
	"time"

	"github.com/logq/logq/api"
)

// BrokerInfo is a broker as Kafka clients see it.
type BrokerInfo struct {
	ID   int32
	Host string
	Port int32
}

// PartitionInfo is one partition's ownership: Leader is the owning broker's
// id (-1: none, or one with no Kafka listener or not alive), Epoch its
// ownership epoch (Kafka's leader epoch).
type PartitionInfo struct {
	Partition int32
	Leader    int32
	Epoch     int32
}

// TopicInfo is a topic with its partitions, indexed by partition number.
type TopicInfo struct {
	Name       string
	Partitions []PartitionInfo
	// The topic's own retention (0: the cluster default, -1 forever).
	RetentionMs, RetentionBytes int64
}

// ClusterView is the control plane at one moment.
type ClusterView struct {
	ClusterID string
	// Self is this broker; it is also the controller clients are told of
	// (admin requests sent to it are forwarded to the manager).
	Self    int32
	Brokers []BrokerInfo // alive brokers with a Kafka listener, by id
	Topics  []TopicInfo  // by name
	// RetentionMs and RetentionBytes are the cluster defaults for topics
	// without their own (the broker's --retention-ms, --retention-bytes;
	// -1 or 0: forever).
	RetentionMs, RetentionBytes int64
}

// Topic returns the named topic of v.
func (v ClusterView) Topic(name string) (TopicInfo, bool) {
	for _, t := range v.Topics {
		if t.Name == name {
			return t, true
		}
	}
	return TopicInfo{}, false
}

// hasPartition reports whether c has the partition.
func hasPartition(c Cluster, topic string, partition int32) bool {
	return partition >= 0 && int(partition) < c.Partitions(topic)
}

// Cluster is the control plane as the broker sees it, and the admin writes
// it forwards to the manager. Errors carry logq's codes (logq.E*), which
// the server maps to Kafka error codes.
type Cluster interface {
	// View returns the cluster as of the broker's projection now.
	View() ClusterView
	// Partitions returns a topic's partition count (0: no such topic): the
	// data path's check, cheaper than a View.
	Partitions(topic string) int
	// CreateTopic creates a topic with partitions partitions (through the
	// writer, as events) and returns once this broker's view shows it.
	CreateTopic(ctx context.Context, name string, partitions int) error
	// CreateTopicConfigured is CreateTopic with the topic's own
	// configuration (nil fields: the cluster default).
	CreateTopicConfigured(ctx context.Context, name string, partitions int, cfg TopicConfig) error
	// SetTopicConfig changes a topic's configuration (through the writer)
	// and returns once this broker's view shows it.
	SetTopicConfig(ctx context.Context, name string, cfg TopicConfig) error
	// CreatePartitions grows a topic to total partitions.
	CreatePartitions(ctx context.Context, topic string, total int) error
	// DeleteTopic deletes a topic.
	DeleteTopic(ctx context.Context, name string) error
	// InitProducerID allocates a producer id, unique in the cluster, for an
	// idempotent producer (its epoch is 0).
	InitProducerID(ctx context.Context) (int64, error)
}

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is one record to produce. Key nil: no key. Timestamp is the
// producer's (CreateTime); a Log may replace it by its append time.
type Record struct {
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp time.Time
}

// StoredRecord is a record as stored, at its offset.
type StoredRecord struct {
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp time.Time
}

// Producer is the idempotent producer state of one produced batch: ID -1
// for a producer that is not idempotent.
type Producer struct {
	ID           int64
	Epoch        int16
	BaseSequence int32
}

// FetchResult is what Fetch returns of one partition.
type FetchResult struct {
	Records        []StoredRecord
	HighWatermark  int64
	LogStartOffset int64
}

// Log is the data plane of the partitions this broker owns, in Kafka's
// terms. A partition it does not own is refused with logq.EFenced (Kafka's
// NOT_LEADER_OR_FOLLOWER: clients refresh their metadata), one being taken
// over with logq.EUnavailable.
type Log interface {
	// Produce appends records to a partition (atomically, in order) and
	// returns the offset of the first, and the append time when the Log
	// assigns timestamps itself (zero when it keeps the producer's).
	Produce(ctx context.Context, topic string, partition int32, records []Record, p Producer) (base int64, appendTime time.Time, err error)
	// Fetch returns records from offset on (at most maxBytes of keys and
	// values, but at least the first record there is). With nothing there
	// and wait > 0, it waits up to wait (or until ctx is done) for an
	// append. An offset outside [log start, high watermark] is
	// logq.EInvalid with the partition's bounds in the result.
	Fetch(ctx context.Context, topic string, partition int32, offset int64, maxBytes int, wait time.Duration) (FetchResult, error)
	// ListOffset returns the offset Kafka's ListOffsets names by ts:
	// ListEarliest, ListLatest, or the first record whose timestamp is at
	// or after ts milliseconds (the high watermark, timestamp -1 when there
	// is none), with that record's timestamp.
	ListOffset(ctx context.Context, topic string, partition int32, ts int64) (offset, timestamp int64, err error)
}

// ListOffsets timestamps with a meaning of their own.
const (
	ListLatest   = -1
	ListEarliest = -2
)

// Groups is the consumer-group coordinator on the manager (docs/groups.md),
// in the manager's API types; broker/kafka.go implements it on the Go
// client. Errors carry logq's codes (logq.E*). A join or sync long-polls
// up to the manager's group wait (manager Config.GroupMaxWait), which may
// be shorter than a Kafka client's rebalance timeout: the join then fails
// with rebalance_in_progress, and its answer's MemberID names the member
// it made, which stays in the group and rejoins as itself.
type Groups interface {
	JoinGroup(ctx context.Context, group string, req api.JoinGroupRequest) (api.JoinGroupAnswer, error)
	SyncGroup(ctx context.Context, group string, req api.SyncGroupRequest) (api.SyncGroupAnswer, error)
	HeartbeatGroup(ctx context.Context, group, memberID string, generation int64) error
	// LeaveGroupMembers removes members; the answer has each one's outcome
	// (one member that is not in the group is an error of the call).
	LeaveGroupMembers(ctx context.Context, group string, req api.LeaveGroupRequest) (api.LeaveGroupAnswer, error)
	CommitOffsets(ctx context.Context, group string, req api.CommitOffsetsRequest) ([]api.OffsetResult, error)
	// FetchOffsets returns the committed offsets of topics (none: all);
	// Offset -1 where nothing is committed.
	FetchOffsets(ctx context.Context, group string, topics ...string) ([]api.CommittedOffset, error)
	ListGroups(ctx context.Context) ([]api.GroupListing, error)
	DescribeGroup(ctx context.Context, group string) (api.GroupAnswer, error)
	DeleteGroup(ctx context.Context, group string) error
}
