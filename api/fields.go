package api

import (
	"math"
	"strings"
	"unicode/utf8"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

// Names of the parameters that have aliases, canonical name first (the
// lookup order within one source).
var (
	topicNames      = []string{"topic", "topic_name", "name"}
	partitionNames  = []string{"partition", "partition_id", "partition_index", "partition_number", "part"}
	partitionsNames = []string{"partitions", "partition_count", "num_partitions", "number_of_partitions"}
	messageNames    = []string{"message", "value"}
)

// MaxID bounds producer, consumer and broker ids.
const MaxID = math.MaxInt64

// TopicFields are the names a topic goes by.
type TopicFields struct {
	Topic     Str `json:"topic"`
	TopicName Str `json:"topic_name"`
	Name      Str `json:"name"`
}

// TopicOpt returns the topic when one is given (unchecked: it is compared
// with a registered one).
func (f *TopicFields) TopicOpt() (string, error) {
	s, _, err := str(topicNames, &f.Topic, &f.TopicName, &f.Name)
	return s, err
}

// TopicRequired returns a valid topic name.
func (f *TopicFields) TopicRequired() (string, error) {
	s, err := requiredStr(topicNames, &f.Topic, &f.TopicName, &f.Name)
	if err != nil {
		return "", err
	}
	return s, ValidateTopic(s)
}

// ValidateTopic refuses (400) a name that is not a valid topic name: 1 to
// 249 characters of [A-Za-z0-9._-], and neither "." nor "..".
func ValidateTopic(name string) error {
	if name == "." || name == ".." {
		return logq.Errorf(logq.EInvalid, "topic name %q is reserved", name)
	}
	if err := projection.ValidateTopicName(name); err != nil {
		return logq.Errorf(logq.EInvalid, "%v", err)
	}
	return nil
}

// PartitionFields are the names a partition goes by.
type PartitionFields struct {
	Partition       Int `json:"partition"`
	PartitionID     Int `json:"partition_id"`
	PartitionIndex  Int `json:"partition_index"`
	PartitionNumber Int `json:"partition_number"`
	Part            Int `json:"part"`
}

func (f *PartitionFields) all() []*Int {
	return []*Int{&f.Partition, &f.PartitionID, &f.PartitionIndex, &f.PartitionNumber, &f.Part}
}

// PartitionOpt returns the partition, nil when none is given (0 …
// MaxPartitions-1; the topic's own count is checked where it is known).
func (f *PartitionFields) PartitionOpt() (*int, error) {
	n, ok, err := integer(partitionNames, 0, projection.MaxPartitions-1, f.all()...)
	if err != nil || !ok {
		return nil, err
	}
	v := int(n)
	return &v, nil
}

// PartitionRequired returns the partition, which must be given.
func (f *PartitionFields) PartitionRequired() (int, error) {
	n, err := requiredInt(partitionNames, 0, projection.MaxPartitions-1, f.all()...)
	return int(n), err
}

// MinSeqFields is the min_seq every read (and data-plane request) takes.
type MinSeqFields struct {
	MinSeq Int `json:"min_seq"`
}

// MinSeqValue returns min_seq (0 when absent).
func (f *MinSeqFields) MinSeqValue() (int64, error) {
	n, _, err := integer([]string{"min_seq"}, 0, math.MaxInt64, &f.MinSeq)
	return n, err
}

// CheckMessage refuses, before anything is written, a message that cannot
// be stored: over maxBytes with its key (413), holding NUL characters
// (PostgreSQL text cannot) or invalid UTF-8 (400). Manager and broker
// check with this one function.
func CheckMessage(text string, key *string, maxBytes int) error {
	n := len(text)
	if key != nil {
		n += len(*key)
	}
	if n > maxBytes {
		return logq.Errorf(logq.ETooLarge, "message of %d bytes (with its key) is over the %d-byte limit", n, maxBytes)
	}
	if hasNUL(text) || (key != nil && hasNUL(*key)) {
		return logq.Errorf(logq.EInvalid, "message and key cannot contain NUL characters")
	}
	if !validUTF8(text) || (key != nil && !validUTF8(*key)) {
		return logq.Errorf(logq.EInvalid, "message and key must be valid UTF-8")
	}
	return nil
}

// ItemError names the batch item an error is about ("messages[3]: …").
func ItemError(i int, err error) error {
	return logq.Errorf(logq.ErrorCode(err), "messages[%d]: %s", i, logq.ErrorMessage(err))
}

func hasNUL(s string) bool { return strings.IndexByte(s, 0) >= 0 }

func validUTF8(s string) bool { return utf8.ValidString(s) }
