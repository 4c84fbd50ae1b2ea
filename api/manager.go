package api

import (
	"bytes"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

// The manager HTTP API (docs/api.md, "Manager API").

// Bounds of the manager's parameters.
const (
	DefaultConsumeMax  = 100
	MaxConsumeMax      = 10000
	MaxWaitMS          = 30000
	DefaultEventsLimit = 100
	MaxEventsLimit     = 10000
)

// CreateTopicParams is what POST /topics accepts.
type CreateTopicParams struct {
	TopicFields
	Partitions         Int `json:"partitions"`
	PartitionCount     Int `json:"partition_count"`
	NumPartitions      Int `json:"num_partitions"`
	NumberOfPartitions Int `json:"number_of_partitions"`
	RetentionFields        // topicconfig.go
}

// CreateTopicRequest is the body of POST /topics.
type CreateTopicRequest struct {
	TopicName          string `json:"topic_name"`
	Partitions         int    `json:"partitions,omitempty"` // 0: the server's default
	TopicConfigRequest        // retention (topicconfig.go); absent: the cluster default
}

// Request checks the parameters.
func (p *CreateTopicParams) Request() (CreateTopicRequest, error) {
	topic, err := p.TopicRequired()
	if err != nil {
		return CreateTopicRequest{}, err
	}
	n, _, err := integer(partitionsNames, 1, projection.MaxPartitions, &p.Partitions, &p.PartitionCount, &p.NumPartitions, &p.NumberOfPartitions)
	if err != nil {
		return CreateTopicRequest{}, err
	}
	ms, bytes, err := p.Retention()
	return CreateTopicRequest{TopicName: topic, Partitions: int(n), TopicConfigRequest: TopicConfigRequest{RetentionMs: ms, RetentionBytes: bytes}}, err
}

// CreateTopicAnswer is the answer of POST /topics.
type CreateTopicAnswer struct {
	Status     string `json:"status"`
	Message    string `json:"message"`
	Seq        int64  `json:"seq"`
	Topic      string `json:"topic"`
	Partitions int    `json:"partitions"`
}

// RegisterParams is what POST /producer/register and /consumer/register
// accept.
type RegisterParams struct {
	TopicFields
	PartitionFields
}

// RegisterRequest is the body of POST /producer/register and
// /consumer/register.
type RegisterRequest struct {
	Topic     string `json:"topic"`
	Partition *int   `json:"partition,omitempty"` // nil: the whole topic
}

// Request checks the parameters.
func (p *RegisterParams) Request() (RegisterRequest, error) {
	topic, err := p.TopicRequired()
	if err != nil {
		return RegisterRequest{}, err
	}
	part, err := p.PartitionOpt()
	return RegisterRequest{Topic: topic, Partition: part}, err
}

// RegisterProducerAnswer is the answer of POST /producer/register.
type RegisterProducerAnswer struct {
	Status     string `json:"status"`
	Message    string `json:"message"`
	ProducerID int64  `json:"producer_id"`
	Seq        int64  `json:"seq"`
	Topic      string `json:"topic"`
	Partition  *int   `json:"partition"`
}

// RegisterConsumerAnswer is the answer of POST /consumer/register.
type RegisterConsumerAnswer struct {
	Status     string `json:"status"`
	Message    string `json:"message"`
	ConsumerID int64  `json:"consumer_id"`
	Seq        int64  `json:"seq"`
	Topic      string `json:"topic"`
	Partition  *int   `json:"partition"`
}

// ProduceParams is what POST /producer/produce accepts.
type ProduceParams struct {
	ProducerID Int `json:"producer_id"`
	TopicFields
	Message Text `json:"message"`
	Value   Text `json:"value"`
	Key     Str  `json:"key"`
	RecordFields
	PartitionFields
	IdempotenceFields
	MinSeqFields
}

// ProduceRequest is the body of POST /producer/produce. With ProducerEpoch
// and Sequence it is idempotent (docs/api.md, "Idempotent produce").
type ProduceRequest struct {
	ProducerID    int64    `json:"producer_id"`
	Topic         string   `json:"topic,omitempty"` // "": the producer's
	Message       string   `json:"message"`
	Key           *string  `json:"key,omitempty"`
	Encoding      string   `json:"encoding,omitempty"`
	Headers       []Header `json:"headers,omitempty"`
	Timestamp     *int64   `json:"timestamp,omitempty"`
	Partition     *int     `json:"partition,omitempty"`
	ProducerEpoch *int64   `json:"producer_epoch,omitempty"`
	Sequence      *int64   `json:"sequence,omitempty"`
}

// Request checks the parameters (the message's size and text too).
func (p *ProduceParams) Request(maxMessageBytes int) (ProduceRequest, error) {
	var r ProduceRequest
	var err error
	if r.ProducerID, err = requiredInt([]string{"producer_id"}, 1, MaxID, &p.ProducerID); err != nil {
		return r, err
	}
	if r.Topic, err = p.TopicOpt(); err != nil {
		return r, err
	}
	if r.Message, err = text(messageNames, &p.Message, &p.Value); err != nil {
		return r, err
	}
	if r.Key, err = optKey(&p.Key); err != nil {
		return r, err
	}
	if r.Encoding, r.Headers, r.Timestamp, err = p.recordFields(); err != nil {
		return r, err
	}
	if r.Partition, err = p.PartitionOpt(); err != nil {
		return r, err
	}
	if r.ProducerEpoch, r.Sequence, err = p.idempotence(); err != nil {
		return r, err
	}
	return r, CheckRecord(r.Encoding, r.Message, r.Key, r.Headers, maxMessageBytes)
}

var keyNames = []string{"key"}

func optKey(k *Str) (*string, error) {
	s, ok, err := str(keyNames, k)
	if err != nil || !ok {
		return nil, err
	}
	v := s // allocated only when there is a key
	return &v, nil
}

// ProduceAnswer is the answer of POST /producer/produce.
type ProduceAnswer struct {
	Status    string `json:"status"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
	Duplicate bool   `json:"duplicate,omitempty"` // an idempotent retry: stored before, at offset
}

// ProduceBatchParams is what POST /producer/produce_batch accepts.
type ProduceBatchParams struct {
	ProducerID Int `json:"producer_id"`
	TopicFields
	Messages []ProduceItem `json:"messages"`
	PartitionFields
	IdempotenceFields
	MinSeqFields
}

// ProduceItem is one message of a produce_batch as accepted: an object, or
// a string (the message's text).
type ProduceItem struct {
	Message Text `json:"message"`
	Value   Text `json:"value"`
	Key     Str  `json:"key"`
	RecordFields
	PartitionFields
	notObject bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (it *ProduceItem) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		return it.Message.UnmarshalJSON(b)
	case len(b) > 0 && b[0] == '{':
		type plain ProduceItem
		return decodeTrusted(b, (*plain)(it)) // checked whole by Unmarshal already
	}
	it.notObject = true
	return nil
}

// Record is one message of a produce_batch as sent.
type Record struct {
	Message   string   `json:"message"`
	Key       *string  `json:"key,omitempty"`
	Encoding  string   `json:"encoding,omitempty"`
	Headers   []Header `json:"headers,omitempty"`
	Timestamp *int64   `json:"timestamp,omitempty"`
	Partition *int     `json:"partition,omitempty"`
}

// ProduceBatchRequest is the body of POST /producer/produce_batch.
// Partition is the default of the messages that name none. With
// ProducerEpoch and Sequence the batch is idempotent: its messages must all
// go to one partition, numbered Sequence, Sequence+1, … there.
type ProduceBatchRequest struct {
	Topic         string   `json:"topic,omitempty"` // "": the producer's
	ProducerID    int64    `json:"producer_id"`
	Partition     *int     `json:"partition,omitempty"`
	ProducerEpoch *int64   `json:"producer_epoch,omitempty"`
	Sequence      *int64   `json:"sequence,omitempty"`
	Messages      []Record `json:"messages"`
}

// Request checks the parameters: 1 to maxMessages messages, each valid
// (an item's mistake is named by its index).
func (p *ProduceBatchParams) Request(maxMessages, maxMessageBytes int) (ProduceBatchRequest, error) {
	var r ProduceBatchRequest
	var err error
	if r.ProducerID, err = requiredInt([]string{"producer_id"}, 1, MaxID, &p.ProducerID); err != nil {
		return r, err
	}
	if r.Topic, err = p.TopicOpt(); err != nil {
		return r, err
	}
	if p.Messages == nil {
		return r, logq.Errorf(logq.EInvalid, "messages is required (a JSON list in the body)")
	}
	if len(p.Messages) == 0 || len(p.Messages) > maxMessages {
		return r, logq.Errorf(logq.EInvalid, "messages must hold 1 to %d messages; got %d", maxMessages, len(p.Messages))
	}
	if r.Partition, err = p.PartitionOpt(); err != nil {
		return r, err
	}
	if r.ProducerEpoch, r.Sequence, err = p.idempotence(); err != nil {
		return r, err
	}
	r.Messages = make([]Record, len(p.Messages))
	for i := range p.Messages {
		it, rec := &p.Messages[i], &r.Messages[i]
		if it.notObject {
			return r, logq.Errorf(logq.EInvalid, "messages[%d] must be an object or a string", i)
		}
		if rec.Message, err = text(messageNames, &it.Message, &it.Value); err != nil {
			return r, ItemError(i, err)
		}
		if rec.Key, err = optKey(&it.Key); err != nil {
			return r, ItemError(i, err)
		}
		if rec.Encoding, rec.Headers, rec.Timestamp, err = it.recordFields(); err != nil {
			return r, ItemError(i, err)
		}
		if rec.Partition, err = it.PartitionOpt(); err != nil {
			return r, ItemError(i, err)
		}
		if rec.Partition == nil {
			rec.Partition = r.Partition
		}
		if err := CheckRecord(rec.Encoding, rec.Message, rec.Key, rec.Headers, maxMessageBytes); err != nil {
			return r, ItemError(i, err)
		}
	}
	return r, nil
}

// BatchResult is one message's outcome in a produce_batch answer: where it
// was stored, or its error.
type BatchResult struct {
	Partition *int         `json:"partition,omitempty"`
	Offset    *int64       `json:"offset,omitempty"`
	Error     *ItemFailure `json:"error,omitempty"`
}

// ProduceBatchAnswer is the answer of POST /producer/produce_batch.
type ProduceBatchAnswer struct {
	Status    string        `json:"status"`
	Results   []BatchResult `json:"results"`
	Duplicate bool          `json:"duplicate,omitempty"` // an idempotent retry: stored before, at these offsets
}

// ConsumeParams is what GET /consumer/consume, /consumer/consume_batch and
// /size accept.
type ConsumeParams struct {
	ConsumerID Int `json:"consumer_id"`
	TopicFields
	PartitionFields
	Max      Int `json:"max"`
	WaitMS   Int `json:"wait_ms"`
	Encoding Str `json:"encoding"`
	MinSeqFields
}

// ConsumeRequest is a consume, consume_batch or size request as sent (as a
// query string: Query).
type ConsumeRequest struct {
	ConsumerID int64  `json:"consumer_id"`
	Topic      string `json:"topic,omitempty"`     // "": the consumer's
	Partition  *int   `json:"partition,omitempty"` // nil: every partition of the consumer
	Max        int    `json:"max,omitempty"`       // consume_batch: 0 is the default (100)
	WaitMS     int64  `json:"wait_ms,omitempty"`   // consume_batch: long-poll
	Encoding   string `json:"encoding,omitempty"`  // EncodingBase64: every record in base64
}

// ConsumeOp is the endpoint a ConsumeParams is for. They take different
// parameters, and one an endpoint does not take is refused, not ignored.
type ConsumeOp int

const (
	ConsumeBatch ConsumeOp = iota // consume_batch: max and wait_ms
	ConsumeOne                    // consume: one message (max only 1), wait_ms
	ConsumeSize                   // size: neither
)

// Request checks the parameters for op; Max is DefaultConsumeMax when
// absent (1 for ConsumeOne).
func (p *ConsumeParams) Request(op ConsumeOp) (ConsumeRequest, error) {
	switch {
	case op == ConsumeSize && p.Max.src != srcNone:
		return ConsumeRequest{}, logq.Errorf(logq.EInvalid, "max is not a parameter of size")
	case op == ConsumeSize && p.WaitMS.src != srcNone:
		return ConsumeRequest{}, logq.Errorf(logq.EInvalid, "wait_ms is not a parameter of size")
	case op == ConsumeSize && p.Encoding.src != srcNone:
		return ConsumeRequest{}, logq.Errorf(logq.EInvalid, "encoding is not a parameter of size")
	case op == ConsumeOne && p.Max.src != srcNone && (p.Max.bad || p.Max.V != 1):
		return ConsumeRequest{}, logq.Errorf(logq.EInvalid, "consume returns one message: max can only be 1 (consume_batch takes more)")
	}
	r, err := p.request()
	if op == ConsumeOne {
		r.Max = 1
	}
	return r, err
}

func (p *ConsumeParams) request() (ConsumeRequest, error) {
	var r ConsumeRequest
	var err error
	if r.ConsumerID, err = requiredInt([]string{"consumer_id"}, 1, MaxID, &p.ConsumerID); err != nil {
		return r, err
	}
	if r.Topic, err = p.TopicOpt(); err != nil {
		return r, err
	}
	if r.Partition, err = p.PartitionOpt(); err != nil {
		return r, err
	}
	max, ok, err := integer([]string{"max"}, 1, MaxConsumeMax, &p.Max)
	if err != nil {
		return r, err
	}
	if !ok {
		max = DefaultConsumeMax
	}
	r.Max = int(max)
	if r.WaitMS, _, err = integer([]string{"wait_ms"}, 0, MaxWaitMS, &p.WaitMS); err != nil {
		return r, err
	}
	r.Encoding, err = encoding(&p.Encoding)
	return r, err
}

// Query is the request as a query string.
func (r ConsumeRequest) Query() url.Values {
	q := url.Values{"consumer_id": {strconv.FormatInt(r.ConsumerID, 10)}}
	if r.Topic != "" {
		q.Set("topic", r.Topic)
	}
	if r.Partition != nil {
		q.Set("partition", strconv.Itoa(*r.Partition))
	}
	if r.Max > 0 {
		q.Set("max", strconv.Itoa(r.Max))
	}
	if r.WaitMS > 0 {
		q.Set("wait_ms", strconv.FormatInt(r.WaitMS, 10))
	}
	if r.Encoding != "" {
		q.Set("encoding", r.Encoding)
	}
	return q
}

// ConsumeAnswer is the answer of GET /consumer/consume; message, partition
// and offset are null when nothing is left.
type ConsumeAnswer struct {
	Status    string   `json:"status"`
	Message   *string  `json:"message"`
	Partition *int     `json:"partition"`
	Offset    *int64   `json:"offset"`
	Key       *string  `json:"key"`
	Encoding  string   `json:"encoding,omitempty"`
	Headers   []Header `json:"headers,omitempty"`
	Timestamp *int64   `json:"timestamp,omitempty"`
	// Skipped names the partitions of a whole-topic consume that did not
	// answer in time this time (their broker is slow or stopped): nothing
	// of theirs was consumed; ask again.
	Skipped []int `json:"skipped_partitions,omitempty"`
}

// BatchMessage is one message of a consume_batch or fetch answer.
type BatchMessage struct {
	Topic     string   `json:"topic"`
	Partition int      `json:"partition"`
	Offset    int64    `json:"offset"`
	Message   string   `json:"message"`
	Key       *string  `json:"key"`
	Encoding  string   `json:"encoding,omitempty"`
	Headers   []Header `json:"headers,omitempty"`
	Timestamp int64    `json:"timestamp"`
}

// ConsumeBatchAnswer is the answer of GET /consumer/consume_batch.
type ConsumeBatchAnswer struct {
	Status   string         `json:"status"`
	Messages []BatchMessage `json:"messages"`
	Skipped  []int          `json:"skipped_partitions,omitempty"` // as ConsumeAnswer's
}

// PartitionSize is one partition's part of a size answer.
type PartitionSize struct {
	Partition int   `json:"partition"`
	Size      int64 `json:"size"`
}

// SizeAnswer is the answer of GET /size: the messages left for the
// consumer, in all and per partition.
type SizeAnswer struct {
	Status string          `json:"status"`
	Size   int64           `json:"size"`
	Sizes  []PartitionSize `json:"sizes"`
}

// RegisterBrokerParams is what POST /brokers accepts.
type RegisterBrokerParams struct {
	Address  Str  `json:"address"`
	BrokerID Int  `json:"broker_id"`
	Rejoin   Bool `json:"rejoin"`
	// KafkaAddress is the broker's Kafka listener (host:port), if any.
	KafkaAddress Str `json:"kafka_address"`
	// StorageCluster is the storage cluster the broker writes to.
	StorageCluster Str `json:"storage_cluster"`
}

// RegisterBrokerRequest is the body of POST /brokers.
type RegisterBrokerRequest struct {
	Address  string `json:"address"`
	BrokerID int64  `json:"broker_id,omitempty"`
	Rejoin   bool   `json:"rejoin,omitempty"`
	// KafkaAddress is the broker's Kafka listener (host:port); empty: none.
	KafkaAddress string `json:"kafka_address,omitempty"`
	// StorageCluster is the storage cluster (PostgreSQL) the broker writes
	// records to; empty: "default".
	StorageCluster string `json:"storage_cluster,omitempty"`
}

// Request checks the parameters (the address's form is checked by the
// manager).
func (p *RegisterBrokerParams) Request() (RegisterBrokerRequest, error) {
	var r RegisterBrokerRequest
	var err error
	if r.Address, err = requiredStr([]string{"address"}, &p.Address); err != nil {
		return r, err
	}
	if r.BrokerID, _, err = integer([]string{"broker_id"}, 1, MaxID, &p.BrokerID); err != nil {
		return r, err
	}
	if r.Rejoin, err = boolean("rejoin", &p.Rejoin); err != nil {
		return r, err
	}
	if r.KafkaAddress, _, err = str([]string{"kafka_address"}, &p.KafkaAddress); err != nil {
		return r, err
	}
	if r.StorageCluster, _, err = str([]string{"storage_cluster"}, &p.StorageCluster); err != nil {
		return r, err
	}
	if r.StorageCluster != "" {
		if verr := projection.ValidateStorageClusterName(r.StorageCluster); verr != nil {
			return r, logq.Errorf(logq.EInvalid, "storage_cluster: %v", verr)
		}
	}
	return r, nil
}

// BrokerAnswer is the answer of POST /brokers and /brokers/{id}/heartbeat.
type BrokerAnswer struct {
	Status   string `json:"status"`
	BrokerID int64  `json:"broker_id"`
	Seq      int64  `json:"seq"`
}

// HeartbeatParams is what POST /brokers/{id}/heartbeat accepts.
type HeartbeatParams struct {
	Address Str `json:"address"`
}

// HeartbeatRequest is the body of POST /brokers/{id}/heartbeat.
type HeartbeatRequest struct {
	Address string `json:"address,omitempty"`
}

// Request checks the parameters.
func (p *HeartbeatParams) Request() (HeartbeatRequest, error) {
	a, _, err := str([]string{"address"}, &p.Address)
	return HeartbeatRequest{Address: a}, err
}

// AddPartitionsParams is what POST /topics/{topic}/partitions accepts.
type AddPartitionsParams struct {
	Count            Int `json:"count"`
	ExpectPartitions Int `json:"expect_partitions"`
}

// AddPartitionsRequest is the body of POST /topics/{topic}/partitions.
type AddPartitionsRequest struct {
	Count            int `json:"count"`
	ExpectPartitions int `json:"expect_partitions,omitempty"` // 0: no expectation
}

// Request checks the parameters.
func (p *AddPartitionsParams) Request() (AddPartitionsRequest, error) {
	var r AddPartitionsRequest
	count, err := requiredInt([]string{"count"}, math.MinInt64, math.MaxInt64, &p.Count)
	if err != nil {
		return r, err
	}
	if count < 1 || count > projection.MaxPartitions {
		return r, logq.Errorf(logq.EInvalid, "count must be between 1 and %d; got %d", projection.MaxPartitions, count)
	}
	expect, _, err := integer([]string{"expect_partitions"}, 1, projection.MaxPartitions, &p.ExpectPartitions)
	return AddPartitionsRequest{Count: int(count), ExpectPartitions: int(expect)}, err
}

// AddPartitionsAnswer is the answer of POST /topics/{topic}/partitions.
type AddPartitionsAnswer struct {
	Status     string `json:"status"`
	Message    string `json:"message"`
	Topic      string `json:"topic"`
	Added      int    `json:"added"`
	Partitions int    `json:"partitions"` // the new total
	Seq        int64  `json:"seq"`
}

// Move is one reassignment in the answers of DELETE /brokers/{id} and
// POST /rebalance.
type Move struct {
	Topic      string `json:"topic"`
	Partition  int    `json:"partition"`
	FromBroker int64  `json:"from_broker_id"` // 0: it had no owner
	BrokerID   int64  `json:"broker_id"`
	Epoch      int64  `json:"epoch"` // the new ownership epoch
}

// RemoveBrokerAnswer is the answer of DELETE /brokers/{id}.
type RemoveBrokerAnswer struct {
	Status   string `json:"status"`
	Message  string `json:"message"`
	BrokerID int64  `json:"broker_id"`
	Seq      int64  `json:"seq"`
	Moved    []Move `json:"moved"`
}

// RebalanceAnswer is the answer of POST /rebalance.
type RebalanceAnswer struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Seq     int64  `json:"seq"`
	Moved   []Move `json:"moved"`
}

// ReadParams is what the reads without other parameters accept (GET
// /topics, /topics/{topic}, /brokers, /state).
type ReadParams struct {
	MinSeqFields
}

// ListClientsParams is what GET /producers and /consumers accept.
type ListClientsParams struct {
	TopicFields
	MinSeqFields
}

// EventsParams is what GET /events accepts.
type EventsParams struct {
	From  Int `json:"from"`
	Limit Int `json:"limit"`
	MinSeqFields
}

// Range returns from (exclusive seq, default 0) and limit (default 100).
func (p *EventsParams) Range() (from int64, limit int, err error) {
	if from, _, err = integer([]string{"from"}, 0, math.MaxInt64, &p.From); err != nil {
		return 0, 0, err
	}
	n, ok, err := integer([]string{"limit"}, 1, MaxEventsLimit, &p.Limit)
	if !ok {
		n = DefaultEventsLimit
	}
	return from, int(n), err
}

// TopicsAnswer is the answer of GET /topics.
type TopicsAnswer struct {
	Status string     `json:"status"`
	Topics TopicNames `json:"topics"`
	Seq    int64      `json:"seq"`
}

// PartitionInfo is one partition in GET /topics/{topic}.
type PartitionInfo struct {
	Partition     int    `json:"partition"`
	BrokerID      int64  `json:"broker_id"`
	Address       string `json:"address"`
	Epoch         int64  `json:"epoch"`
	HighWatermark *int64 `json:"high_watermark"` // null: its broker did not answer
	Writable      bool   `json:"writable"`
	// LogStartOffset is the first offset still stored (retention); null
	// when its broker did not say.
	LogStartOffset *int64 `json:"log_start_offset"`
	// StorageCluster holds the partition's records (fixed at creation).
	StorageCluster string `json:"storage_cluster,omitempty"`
}

// TopicAnswer is the answer of GET /topics/{topic}.
type TopicAnswer struct {
	Status     string          `json:"status"`
	Topic      string          `json:"topic"`
	Partitions []PartitionInfo `json:"partitions"`
	Seq        int64           `json:"seq"`
	Config     TopicConfig     `json:"config"` // retention (topicconfig.go)
}

// BrokerPartRef is one partition a broker owns in GET /brokers.
type BrokerPartRef struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Epoch     int64  `json:"epoch"`
}

// BrokerInfo is one broker in GET /brokers.
type BrokerInfo struct {
	BrokerID   int64           `json:"broker_id"`
	Address    string          `json:"address"`
	Alive      bool            `json:"alive"`
	Partitions []BrokerPartRef `json:"partitions"`
	// StorageCluster is the storage cluster the broker writes to.
	StorageCluster string `json:"storage_cluster,omitempty"`
	// PartitionCount is len(Partitions), or the count an implementation
	// that lists no partitions answered (decoding only).
	PartitionCount int `json:"-"`
}

// BrokersAnswer is the answer of GET /brokers.
type BrokersAnswer struct {
	Status  string       `json:"status"`
	Brokers []BrokerInfo `json:"brokers"`
	Seq     int64        `json:"seq"`
}

// ClientInfo is one producer or consumer in GET /producers, /consumers.
type ClientInfo struct {
	ProducerID *int64     `json:"producer_id,omitempty"`
	ConsumerID *int64     `json:"consumer_id,omitempty"`
	Topic      string     `json:"topic"`
	Partition  *int       `json:"partition"`
	Active     bool       `json:"active"`
	LastSeen   *time.Time `json:"last_seen"`
	IdleMS     *int64     `json:"idle_ms"`
	Lag        *int64     `json:"lag,omitempty"`
	LagKnown   *bool      `json:"lag_known,omitempty"`
	// Principal registered it (with auth on; absent: no owner, docs/security.md).
	Principal string `json:"principal,omitempty"`
}

// ProducersAnswer is the answer of GET /producers.
type ProducersAnswer struct {
	Status    string       `json:"status"`
	Producers []ClientInfo `json:"producers"`
	Seq       int64        `json:"seq"`
}

// ConsumersAnswer is the answer of GET /consumers.
type ConsumersAnswer struct {
	Status    string       `json:"status"`
	Consumers []ClientInfo `json:"consumers"`
	Seq       int64        `json:"seq"`
}

// EventsAnswer is the answer of GET /events.
type EventsAnswer struct {
	Status string       `json:"status"`
	Events []logq.Event `json:"events"`
}

// SeqAnswer is the part of a write's answer that carries its seq (and the
// error code of a failure).
type SeqAnswer struct {
	Seq  int64  `json:"seq"`
	Code string `json:"code"`
}

// StatusAnswer is the "status" every answer carries.
type StatusAnswer struct {
	Status string `json:"status"`
}

// StateAnswer is the answer of GET /state.
type StateAnswer struct {
	Status string            `json:"status"`
	Seq    int64             `json:"seq"`
	State  *projection.State `json:"state"`
}

// HealthAnswer is a manager's answer of GET /healthz.
type HealthAnswer struct {
	Status            string `json:"status"`
	Role              string `json:"role"` // "writer" or "reader"
	ConfiguredRole    string `json:"configured_role"`
	Name              string `json:"name"`
	Seq               int64  `json:"seq"`
	Writer            string `json:"writer"`
	WriterEpoch       int64  `json:"writer_epoch"`
	HeartbeatInterval int64  `json:"heartbeat_interval_ms"`
	HeartbeatTimeout  int64  `json:"heartbeat_timeout_ms"`
}

// ClientHeartbeatAnswer is the answer of POST /producers/{id}/heartbeat
// and /consumers/{id}/heartbeat (one of the ids is set).
type ClientHeartbeatAnswer struct {
	Status     string `json:"status"`
	ProducerID *int64 `json:"producer_id,omitempty"`
	ConsumerID *int64 `json:"consumer_id,omitempty"`
	Active     bool   `json:"active"`
	Seq        int64  `json:"seq"`
}

// ClientsSeenRequest is the body of POST /clients/seen (a reader telling
// the writer which clients it heard from).
type ClientsSeenRequest struct {
	Producers []int64 `json:"producers"`
	Consumers []int64 `json:"consumers"`
}

// SeqStatusAnswer is an answer of only a status and a seq (POST
// /clients/seen).
type SeqStatusAnswer struct {
	Status string `json:"status"`
	Seq    int64  `json:"seq"`
}

// BrokerHeartbeat is one broker's heartbeat age in GET /ui/heartbeats.
type BrokerHeartbeat struct {
	BrokerID int64 `json:"broker_id"`
	AgeMS    int64 `json:"age_ms"`
}

// HeartbeatsAnswer is the answer of GET /ui/heartbeats (the writer's
// heartbeat ages, for the readers' status pages).
type HeartbeatsAnswer struct {
	Status     string            `json:"status"`
	Seq        int64             `json:"seq"`
	Heartbeats []BrokerHeartbeat `json:"heartbeats"`
}

// RawStateAnswer is GET /state's answer with the state left undecoded (a
// client decodes it bare or as a snapshot).
type RawStateAnswer struct {
	Status string     `json:"status"`
	Seq    int64      `json:"seq"`
	State  RawMessage `json:"state"`
}

// TopicNames is the topic list of GET /topics. It decodes names given as
// strings or as objects with "topic" or "name" (other implementations).
type TopicNames []string

// UnmarshalJSON implements json.Unmarshaler.
func (t *TopicNames) UnmarshalJSON(b []byte) error {
	var items []RawMessage
	if err := decodeTrusted(b, &items); err != nil {
		return err
	}
	out := make(TopicNames, 0, len(items))
	for _, it := range items {
		var name string
		if decodeTrusted(it, &name) != nil {
			var obj struct {
				Topic string `json:"topic"`
				Name  string `json:"name"`
			}
			if err := decodeTrusted(it, &obj); err != nil {
				return fmt.Errorf("unexpected topic list entry %s", it)
			}
			name = obj.Topic
			if name == "" {
				name = obj.Name
			}
		}
		out = append(out, name)
	}
	*t = out
	return nil
}

// UnmarshalJSON implements json.Unmarshaler, leniently for other
// implementations: "partitions" may be a list of objects or of
// "topic/partition" strings, or a count (PartitionCount).
func (b *BrokerInfo) UnmarshalJSON(data []byte) error {
	var raw struct {
		BrokerID   int64      `json:"broker_id"`
		Address    string     `json:"address"`
		Alive      bool       `json:"alive"`
		Partitions RawMessage `json:"partitions"`
		Storage    string     `json:"storage_cluster"`
	}
	if err := decodeTrusted(data, &raw); err != nil {
		return err
	}
	*b = BrokerInfo{BrokerID: raw.BrokerID, Address: raw.Address, Alive: raw.Alive, StorageCluster: raw.Storage}
	p := bytes.TrimSpace(raw.Partitions)
	switch {
	case len(p) == 0 || string(p) == "null":
	case p[0] == '[':
		var items []RawMessage
		if err := decodeTrusted(p, &items); err != nil {
			return fmt.Errorf("broker partitions: %w", err)
		}
		for _, it := range items {
			var ref BrokerPartRef
			if len(it) > 0 && it[0] == '"' {
				var s string
				if err := decodeTrusted(it, &s); err != nil {
					return err
				}
				ref.Topic = s
				if i := strings.LastIndexByte(s, '/'); i >= 0 {
					if n, err := strconv.Atoi(s[i+1:]); err == nil {
						ref = BrokerPartRef{Topic: s[:i], Partition: n}
					}
				}
			} else if err := decodeTrusted(it, &ref); err != nil {
				return fmt.Errorf("broker partitions: %w", err)
			}
			b.Partitions = append(b.Partitions, ref)
		}
		b.PartitionCount = len(b.Partitions)
	default:
		if err := decodeTrusted(p, &b.PartitionCount); err != nil {
			return fmt.Errorf("broker partitions: %w", err)
		}
	}
	return nil
}

// FetchParams is what GET /consumer/fetch accepts: a read from offsets
// that moves nothing, of one partition (partition and offset) or of
// several (offsets, "0:12,1:40": partition:offset pairs), asked
// concurrently.
type FetchParams struct {
	TopicFields
	PartitionFields
	Offset   Int `json:"offset"`
	Offsets  Str `json:"offsets"`
	Max      Int `json:"max"`
	MaxBytes Int `json:"max_bytes"`
	WaitMS   Int `json:"wait_ms"`
	Encoding Str `json:"encoding"`
	MinSeqFields
}

// FetchRequest is a GET /consumer/fetch.
type FetchRequest struct {
	Topic    string
	From     map[int]int64 // partition → offset to read from
	Max      int           // per partition; default DefaultConsumeMax
	MaxBytes int           // per partition; 0: the brokers' limit
	WaitMS   int64
	Encoding string
}

// Request checks the parameters (the partitions against the topic's
// count where it is known).
func (p *FetchParams) Request() (FetchRequest, error) {
	var r FetchRequest
	var err error
	if r.Topic, err = p.TopicRequired(); err != nil {
		return r, err
	}
	part, err := p.PartitionOpt()
	if err != nil {
		return r, err
	}
	off, offOK, err := integer([]string{"offset"}, 0, 1<<62, &p.Offset)
	if err != nil {
		return r, err
	}
	list, listOK, err := str([]string{"offsets"}, &p.Offsets)
	if err != nil {
		return r, err
	}
	switch {
	case part != nil && listOK:
		return r, logq.Errorf(logq.EInvalid, "give partition and offset, or offsets, not both")
	case part != nil && !offOK:
		return r, logq.Errorf(logq.EInvalid, "offset is required with partition")
	case part != nil:
		r.From = map[int]int64{*part: off}
	case offOK:
		return r, logq.Errorf(logq.EInvalid, "offset needs a partition (or give offsets, partition:offset pairs)")
	case !listOK:
		return r, logq.Errorf(logq.EInvalid, "partition and offset, or offsets, are required")
	default:
		if r.From, err = parseOffsets(list); err != nil {
			return r, err
		}
	}
	max, ok, err := integer([]string{"max"}, 1, MaxConsumeMax, &p.Max)
	if err != nil {
		return r, err
	}
	if !ok {
		max = DefaultConsumeMax
	}
	r.Max = int(max)
	mb, _, err := integer([]string{"max_bytes"}, 1, math.MaxInt32, &p.MaxBytes)
	if err != nil {
		return r, err
	}
	r.MaxBytes = int(mb)
	if r.WaitMS, _, err = integer([]string{"wait_ms"}, 0, MaxWaitMS, &p.WaitMS); err != nil {
		return r, err
	}
	r.Encoding, err = encoding(&p.Encoding)
	return r, err
}

// parseOffsets reads "p:o,p:o".
func parseOffsets(s string) (map[int]int64, error) {
	out := map[int]int64{}
	for _, pair := range strings.Split(s, ",") {
		ps, os, ok := strings.Cut(strings.TrimSpace(pair), ":")
		p, pbad := parseInt(ps)
		o, obad := parseInt(os)
		if !ok || pbad || obad || p < 0 || p >= projection.MaxPartitions || o < 0 {
			return nil, logq.Errorf(logq.EInvalid, "offsets must be partition:offset pairs separated by commas, as 0:12,1:40; got %q", pair)
		}
		if _, dup := out[int(p)]; dup {
			return nil, logq.Errorf(logq.EInvalid, "offsets names partition %d twice", p)
		}
		out[int(p)] = o
	}
	return out, nil
}

// FetchedPartition is one partition's part of a fetch answer: its marks,
// the offset to fetch from next, or, for a partition that did not answer
// this time (its broker is down or slow) or refused the offset, its error:
// the other partitions' records are answered all the same.
type FetchedPartition struct {
	Partition      int          `json:"partition"`
	NextOffset     int64        `json:"next_offset"`
	HighWatermark  int64        `json:"high_watermark"`
	LogStartOffset int64        `json:"log_start_offset"`
	Error          *ItemFailure `json:"error,omitempty"`
}

// FetchAnswer is the answer of GET /consumer/fetch.
type FetchAnswer struct {
	Status     string             `json:"status"`
	Topic      string             `json:"topic"`
	Messages   []BatchMessage     `json:"messages"`
	Partitions []FetchedPartition `json:"partitions"`
}

// OffsetsAnswer is the answer of a manager's GET /offsets: one entry per
// partition asked (each with its error when its broker did not answer).
type OffsetsAnswer struct {
	Status  string            `json:"status"`
	Topic   string            `json:"topic"`
	Offsets []PartitionOffset `json:"offsets"`
}
