package api

import (
	"net/url"
	"strconv"
	"time"

	"github.com/logq/logq"
)

// The broker HTTP API (docs/api.md, "Broker API"), spoken by managers and
// by the Go client's direct mode.

// AppendParams is what POST /v1/append accepts: a "messages" list, or one
// message given at the top level, or a "runs" list (AppendRunParams).
type AppendParams struct {
	TopicFields
	PartitionFields
	Messages []AppendItem `json:"messages"`
	AppendItem
	IdempotenceFields
	Runs []AppendRunParams `json:"runs"`
}

// AppendRunParams is one run of an append in the runs form: its own
// messages, idempotent (of one producer, numbered from its sequence) or
// not, stored and answered on its own (AppendRunAnswer). The managers'
// router sends the appends of many producers to one partition this way,
// one run per producer's append.
type AppendRunParams struct {
	Messages []AppendItem `json:"messages"`
	IdempotenceFields
}

// IdempotenceFields make a produce idempotent: the producer's epoch and
// the sequence of the batch's first message in its partition (Kafka's
// producer epoch and base sequence). Both or neither.
type IdempotenceFields struct {
	ProducerEpoch Int `json:"producer_epoch"`
	Sequence      Int `json:"sequence"`
}

// idempotence checks them: nil, nil when neither is given.
func (f *IdempotenceFields) idempotence() (epoch, seq *int64, err error) {
	e, eok, err := integer([]string{"producer_epoch"}, 0, MaxProducerEpoch, &f.ProducerEpoch)
	if err != nil {
		return nil, nil, err
	}
	q, qok, err := integer([]string{"sequence"}, 0, MaxSequence, &f.Sequence)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case eok && qok:
		return &e, &q, nil
	case eok || qok:
		return nil, nil, logq.Errorf(logq.EInvalid, "an idempotent produce gives both producer_epoch and sequence")
	}
	return nil, nil, nil
}

// AppendItem is one message of an append as accepted.
type AppendItem struct {
	ProducerID Int  `json:"producer_id"`
	Message    Text `json:"message"`
	Value      Text `json:"value"`
	Key        Str  `json:"key"`
	RecordFields
}

// AppendMessage is one message of an append as sent.
type AppendMessage struct {
	ProducerID int64    `json:"producer_id"`
	Key        *string  `json:"key,omitempty"`
	Message    string   `json:"message"`
	Encoding   string   `json:"encoding,omitempty"`  // "" or EncodingBase64
	Headers    []Header `json:"headers,omitempty"`   // values encoded as Message
	Timestamp  *int64   `json:"timestamp,omitempty"` // ms; nil: the broker's time
}

// AppendRequest is the body of POST /v1/append. With ProducerEpoch and
// Sequence the append is idempotent: all its messages are of one producer,
// numbered Sequence, Sequence+1, … in the partition.
type AppendRequest struct {
	Topic         string          `json:"topic"`
	Partition     int             `json:"partition"`
	ProducerEpoch *int64          `json:"producer_epoch,omitempty"`
	Sequence      *int64          `json:"sequence,omitempty"`
	Messages      []AppendMessage `json:"messages,omitempty"`
	// Runs, instead of the fields above, carries several appends in one
	// request, each stored and answered on its own (AppendAnswer.Runs).
	Runs []AppendRun `json:"runs,omitempty"`
}

// AppendRun is one run of an AppendRequest: messages numbered from
// Sequence with ProducerEpoch (idempotent, of one producer) or neither.
type AppendRun struct {
	ProducerEpoch *int64          `json:"producer_epoch,omitempty"`
	Sequence      *int64          `json:"sequence,omitempty"`
	Messages      []AppendMessage `json:"messages"`
}

// Request checks the parameters: 1 to maxMessages messages, each valid;
// in the runs form, 1 to maxMessages messages in all, each run checked as
// a request of its own would be.
func (p *AppendParams) Request(maxMessages, maxMessageBytes int) (AppendRequest, error) {
	var r AppendRequest
	var err error
	if r.Topic, err = p.TopicRequired(); err != nil {
		return r, err
	}
	if r.Partition, err = p.PartitionRequired(); err != nil {
		return r, err
	}
	if p.Runs != nil {
		return r, p.runs(&r, maxMessages, maxMessageBytes)
	}
	items := p.Messages
	single := items == nil
	if single {
		if choose([]*Text{&p.Message, &p.Value}) < 0 {
			return r, logq.Errorf(logq.EInvalid, "messages is required")
		}
		items = []AppendItem{p.AppendItem}
	}
	if len(items) == 0 {
		return r, logq.Errorf(logq.EInvalid, "messages is empty")
	}
	if len(items) > maxMessages {
		return r, logq.Errorf(logq.EInvalid, "an append holds at most %d messages; got %d", maxMessages, len(items))
	}
	if r.ProducerEpoch, r.Sequence, err = p.idempotence(); err != nil {
		return r, err
	}
	r.Messages, err = appendMessages(items, single, r.Sequence != nil, maxMessageBytes)
	return r, err
}

// appendMessages checks items (single: one message given at the top
// level; idem: all of one producer).
func appendMessages(items []AppendItem, single, idem bool, maxMessageBytes int) ([]AppendMessage, error) {
	msgs := make([]AppendMessage, len(items))
	for i := range items {
		if err := items[i].message(&msgs[i], maxMessageBytes); err != nil {
			if single {
				return nil, err
			}
			return nil, ItemError(i, err)
		}
		if idem && msgs[i].ProducerID != msgs[0].ProducerID {
			return nil, logq.Errorf(logq.EInvalid, "an idempotent append holds the messages of one producer")
		}
	}
	return msgs, nil
}

// runs checks the runs form: no message or idempotence field beside
// "runs" (it would be ignored), at least one run, each of at least one
// message.
func (p *AppendParams) runs(r *AppendRequest, maxMessages, maxMessageBytes int) error {
	it := &p.AppendItem
	top := []scalar{&p.ProducerEpoch, &p.Sequence, &it.ProducerID, &it.Message, &it.Value, &it.Key, &it.Encoding, &it.Timestamp}
	if p.Messages != nil || it.Headers != nil || choose(top) >= 0 {
		return logq.Errorf(logq.EInvalid, "runs carries the messages: give runs, or messages (with producer_epoch and sequence), not both")
	}
	if len(p.Runs) == 0 {
		return logq.Errorf(logq.EInvalid, "runs is empty")
	}
	total := 0
	for _, run := range p.Runs {
		total += len(run.Messages)
	}
	if total > maxMessages {
		return logq.Errorf(logq.EInvalid, "an append holds at most %d messages; got %d", maxMessages, total)
	}
	r.Runs = make([]AppendRun, len(p.Runs))
	for i := range p.Runs {
		in, out := &p.Runs[i], &r.Runs[i]
		if len(in.Messages) == 0 {
			return logq.Errorf(logq.EInvalid, "runs[%d]: messages is required", i)
		}
		var err error
		if out.ProducerEpoch, out.Sequence, err = in.idempotence(); err != nil {
			return logq.Errorf(logq.ErrorCode(err), "runs[%d]: %s", i, logq.ErrorMessage(err))
		}
		if out.Messages, err = appendMessages(in.Messages, false, out.Sequence != nil, maxMessageBytes); err != nil {
			return logq.Errorf(logq.ErrorCode(err), "runs[%d]: %s", i, logq.ErrorMessage(err))
		}
	}
	return nil
}

func (it *AppendItem) message(m *AppendMessage, maxBytes int) error {
	var err error
	if m.ProducerID, err = requiredInt([]string{"producer_id"}, 1, MaxID, &it.ProducerID); err != nil {
		return err
	}
	if m.Message, err = text(messageNames, &it.Message, &it.Value); err != nil {
		return err
	}
	if m.Key, err = optKey(&it.Key); err != nil {
		return err
	}
	if m.Encoding, m.Headers, m.Timestamp, err = it.recordFields(); err != nil {
		return err
	}
	return CheckRecord(m.Encoding, m.Message, m.Key, m.Headers, maxBytes)
}

// AppendAnswer is the answer of POST /v1/append.
type AppendAnswer struct {
	Status     string `json:"status"`
	Topic      string `json:"topic"`
	Partition  int    `json:"partition"`
	BaseOffset int64  `json:"base_offset"`
	Count      int    `json:"count"`
	Duplicate  bool   `json:"duplicate,omitempty"` // an idempotent retry: stored before, at base_offset
	// Runs answers the runs form, one result per run in request order
	// (base_offset and count above are then 0 and the number of messages
	// stored).
	Runs []AppendRunAnswer `json:"runs,omitempty"`
}

// AppendRunAnswer is one run's result: its offsets base_offset …
// base_offset+count-1 (duplicate: stored before, by an earlier append with
// its sequence), or its own error.
type AppendRunAnswer struct {
	BaseOffset int64        `json:"base_offset"`
	Count      int          `json:"count"`
	Duplicate  bool         `json:"duplicate,omitempty"`
	Error      *ItemFailure `json:"error,omitempty"`
}

// BrokerConsumeParams is what POST (or GET) /v1/consume and GET /v1/size
// accept.
type BrokerConsumeParams struct {
	TopicFields
	PartitionFields
	ConsumerID Int `json:"consumer_id"`
	Max        Int `json:"max"`
	WaitMS     Int `json:"wait_ms"`
	Encoding   Str `json:"encoding"`
	DeadlineMS Int `json:"deadline_ms"`
	Shape      Str `json:"shape"`
}

// BrokerConsumeRequest is the body of POST /v1/consume (and, as a query
// string, of GET /v1/size).
type BrokerConsumeRequest struct {
	Topic      string `json:"topic"`
	Partition  int    `json:"partition"`
	ConsumerID int64  `json:"consumer_id"`
	Max        int    `json:"max,omitempty"`      // default 1
	WaitMS     int64  `json:"wait_ms,omitempty"`  // long-poll
	Encoding   string `json:"encoding,omitempty"` // EncodingBase64: every record in base64
	// DeadlineMS (Unix ms), when set, is the time after which the broker
	// must not move the position any more: a consume that reaches storage
	// later fails with ETimeout, moving nothing. A router that gives up on
	// a slow or stopped broker at the deadline thus never loses what the
	// broker would consume after it.
	DeadlineMS int64 `json:"deadline_ms,omitempty"`
	// Shape ShapeBatch asks for the answer as a BatchMessagesAnswer: the
	// messages in the form of a manager's consume_batch, which the manager
	// then passes through without decoding them.
	Shape string `json:"shape,omitempty"`
}

// ShapeBatch is the shape of a broker's consume answer whose messages are
// in the form of a manager's consume_batch (BatchMessagesAnswer).
const ShapeBatch = "batch"

// Request checks the parameters against the broker's limits.
func (p *BrokerConsumeParams) Request(maxRead int, maxWait time.Duration) (BrokerConsumeRequest, error) {
	var r BrokerConsumeRequest
	var err error
	if r.Topic, err = p.TopicRequired(); err != nil {
		return r, err
	}
	if r.Partition, err = p.PartitionRequired(); err != nil {
		return r, err
	}
	if r.ConsumerID, err = requiredInt([]string{"consumer_id"}, 1, MaxID, &p.ConsumerID); err != nil {
		return r, err
	}
	max, ok, err := integer([]string{"max"}, 1, int64(maxRead), &p.Max)
	if err != nil {
		return r, err
	}
	if !ok {
		max = 1
	}
	r.Max = int(max)
	if r.WaitMS, _, err = integer([]string{"wait_ms"}, 0, maxWait.Milliseconds(), &p.WaitMS); err != nil {
		return r, err
	}
	if r.Encoding, err = encoding(&p.Encoding); err != nil {
		return r, err
	}
	if r.DeadlineMS, _, err = integer([]string{"deadline_ms"}, 0, MaxTimestamp, &p.DeadlineMS); err != nil {
		return r, err
	}
	r.Shape, err = shapeOf(&p.Shape)
	return r, err
}

// shapeOf reads a "shape" parameter: "" or ShapeBatch.
func shapeOf(s *Str) (string, error) {
	shape, _, err := str([]string{"shape"}, s)
	switch {
	case err != nil:
		return "", err
	case shape != "" && shape != ShapeBatch:
		return "", logq.Errorf(logq.EInvalid, "shape must be %q when given; got %q", ShapeBatch, shape)
	}
	return shape, nil
}

// SizeRequest checks the parameters of GET /v1/size, which takes neither
// max nor wait_ms: either is refused, not ignored.
func (p *BrokerConsumeParams) SizeRequest() (BrokerConsumeRequest, error) {
	for _, f := range []struct {
		name string
		v    *Int
	}{{"max", &p.Max}, {"wait_ms", &p.WaitMS}} {
		if f.v.src != srcNone {
			return BrokerConsumeRequest{}, logq.Errorf(logq.EInvalid, "%s is not a parameter of size", f.name)
		}
	}
	if p.Encoding.src != srcNone || p.DeadlineMS.src != srcNone || p.Shape.src != srcNone {
		return BrokerConsumeRequest{}, logq.Errorf(logq.EInvalid, "encoding, deadline_ms and shape are not parameters of size")
	}
	return p.Request(1, 0)
}

// Query is the request as a query string.
func (r BrokerConsumeRequest) Query() url.Values {
	q := url.Values{
		"topic":       {r.Topic},
		"partition":   {strconv.Itoa(r.Partition)},
		"consumer_id": {strconv.FormatInt(r.ConsumerID, 10)},
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
	if r.Shape != "" {
		q.Set("shape", r.Shape)
	}
	return q
}

// BrokerReadParams is what GET /v1/fetch (and its older name GET
// /v1/read) accepts: a read from an offset that moves nothing.
type BrokerReadParams struct {
	TopicFields
	PartitionFields
	Offset   Int `json:"offset"`
	Max      Int `json:"max"`
	MaxBytes Int `json:"max_bytes"`
	WaitMS   Int `json:"wait_ms"`
	Encoding Str `json:"encoding"`
	Shape    Str `json:"shape"`
}

// BrokerReadRequest is a GET /v1/fetch.
type BrokerReadRequest struct {
	Topic     string
	Partition int
	Offset    int64
	Max       int    // default 100
	MaxBytes  int    // 0: the broker's limit
	WaitMS    int64  // long poll while the offset is the high watermark
	Encoding  string // EncodingBase64: every record in base64
	Shape     string // ShapeBatch: answer a BatchMessagesAnswer (with the marks)
}

// Request checks the parameters against the broker's limits; Max defaults
// to 100, MaxBytes to maxBytes.
func (p *BrokerReadParams) Request(maxRead, maxBytes int, maxWait time.Duration) (BrokerReadRequest, error) {
	var r BrokerReadRequest
	var err error
	if r.Topic, err = p.TopicRequired(); err != nil {
		return r, err
	}
	if r.Partition, err = p.PartitionRequired(); err != nil {
		return r, err
	}
	if r.Offset, _, err = integer([]string{"offset"}, 0, 1<<62, &p.Offset); err != nil {
		return r, err
	}
	max, ok, err := integer([]string{"max"}, 1, int64(maxRead), &p.Max)
	if err != nil {
		return r, err
	}
	if !ok {
		max = 100
	}
	r.Max = int(max)
	mb, ok, err := integer([]string{"max_bytes"}, 1, int64(maxBytes), &p.MaxBytes)
	if err != nil {
		return r, err
	}
	if !ok {
		mb = int64(maxBytes)
	}
	r.MaxBytes = int(mb)
	if r.WaitMS, _, err = integer([]string{"wait_ms"}, 0, maxWait.Milliseconds(), &p.WaitMS); err != nil {
		return r, err
	}
	if r.Encoding, err = encoding(&p.Encoding); err != nil {
		return r, err
	}
	r.Shape, err = shapeOf(&p.Shape)
	return r, err
}

// Query is the request as a query string.
func (r BrokerReadRequest) Query() url.Values {
	q := url.Values{
		"topic":     {r.Topic},
		"partition": {strconv.Itoa(r.Partition)},
		"offset":    {strconv.FormatInt(r.Offset, 10)},
	}
	if r.Max > 0 {
		q.Set("max", strconv.Itoa(r.Max))
	}
	if r.MaxBytes > 0 {
		q.Set("max_bytes", strconv.Itoa(r.MaxBytes))
	}
	if r.WaitMS > 0 {
		q.Set("wait_ms", strconv.FormatInt(r.WaitMS, 10))
	}
	if r.Encoding != "" {
		q.Set("encoding", r.Encoding)
	}
	if r.Shape != "" {
		q.Set("shape", r.Shape)
	}
	return q
}

// OffsetsParams is what GET /v1/offsets (one partition) and a manager's GET
// /offsets (partition optional) accept.
type OffsetsParams struct {
	TopicFields
	PartitionFields
	At Str `json:"at"`
	MinSeqFields
}

// OffsetsRequest is a GET /v1/offsets or /offsets.
type OffsetsRequest struct {
	Topic     string
	Partition *int  // nil: every partition (managers only)
	At        int64 // OffsetEarliest, OffsetLatest or a time in ms
}

// ListOffsets' special times (Kafka's); a time is >= 0.
const (
	OffsetLatest   = -1
	OffsetEarliest = -2
)

// Request checks the parameters; at is "earliest", "latest" (the default)
// or a time in Unix milliseconds.
func (p *OffsetsParams) Request() (OffsetsRequest, error) {
	var r OffsetsRequest
	var err error
	if r.Topic, err = p.TopicRequired(); err != nil {
		return r, err
	}
	if r.Partition, err = p.PartitionOpt(); err != nil {
		return r, err
	}
	at, _, err := str([]string{"at"}, &p.At)
	if err != nil {
		return r, err
	}
	switch at {
	case "", "latest":
		r.At = OffsetLatest
	case "earliest":
		r.At = OffsetEarliest
	default:
		n, bad := parseInt(at)
		if bad || n < 0 || n > MaxTimestamp {
			return r, logq.Errorf(logq.EInvalid, "at must be earliest, latest or a time in Unix milliseconds; got %q", at)
		}
		r.At = n
	}
	return r, nil
}

// Query is the request as a query string (of one partition).
func (r OffsetsRequest) Query() url.Values {
	q := url.Values{"topic": {r.Topic}}
	if r.Partition != nil {
		q.Set("partition", strconv.Itoa(*r.Partition))
	}
	switch r.At {
	case OffsetLatest:
		q.Set("at", "latest")
	case OffsetEarliest:
		q.Set("at", "earliest")
	default:
		q.Set("at", strconv.FormatInt(r.At, 10))
	}
	return q
}

// PartitionOffset is one partition's answer to a ListOffsets: the offset
// asked for (-1 for a time after every record's), the timestamp of the
// record found by time, and the partition's marks.
type PartitionOffset struct {
	Partition      int          `json:"partition"`
	Offset         int64        `json:"offset"`
	Timestamp      *int64       `json:"timestamp,omitempty"`
	LogStartOffset int64        `json:"log_start_offset"`
	HighWatermark  int64        `json:"high_watermark"`
	Error          *ItemFailure `json:"error,omitempty"` // managers' whole-topic answers only
}

// BrokerOffsetsAnswer is the answer of GET /v1/offsets.
type BrokerOffsetsAnswer struct {
	Status string `json:"status"`
	Topic  string `json:"topic"`
	PartitionOffset
}

// StoredMessage is one message of a broker's consume or read answer.
type StoredMessage struct {
	Offset     int64     `json:"offset"`
	Message    string    `json:"message"`
	Key        *string   `json:"key"`
	Encoding   string    `json:"encoding,omitempty"` // EncodingBase64: message, key and header values are base64
	Headers    []Header  `json:"headers,omitempty"`
	Timestamp  int64     `json:"timestamp"` // ms: the producer's, or the append's
	ProducerID int64     `json:"producer_id"`
	ProducedAt time.Time `json:"produced_at"`
}

// MessagesAnswer is the answer of /v1/consume and /v1/fetch (/v1/read).
type MessagesAnswer struct {
	Status         string          `json:"status"`
	Topic          string          `json:"topic"`
	Partition      int             `json:"partition"`
	Messages       []StoredMessage `json:"messages"`
	HighWatermark  *int64          `json:"high_watermark,omitempty"`   // /v1/fetch
	LogStartOffset *int64          `json:"log_start_offset,omitempty"` // /v1/fetch
}

// BatchMessagesAnswer is the answer of /v1/consume and /v1/fetch with
// shape=batch: its messages are a manager's BatchMessage, and they come
// last, so that a manager splices them into its consume_batch or fetch
// answer as they are (SplitBatchAnswer). Count is how many there are,
// NextOffset the offset after the last (fetch: the offset asked for when
// there is none); fetch's answer has the partition's marks too.
type BatchMessagesAnswer struct {
	Status         string         `json:"status"`
	Topic          string         `json:"topic"`
	Partition      int            `json:"partition"`
	Shape          string         `json:"shape"` // ShapeBatch: a broker that does not know the shape does not say it
	Count          int            `json:"count"`
	NextOffset     *int64         `json:"next_offset,omitempty"`
	HighWatermark  *int64         `json:"high_watermark,omitempty"`   // /v1/fetch
	LogStartOffset *int64         `json:"log_start_offset,omitempty"` // /v1/fetch
	Messages       []BatchMessage `json:"messages"`
}

// BrokerSizeAnswer is the answer of GET /v1/size.
type BrokerSizeAnswer struct {
	Status        string `json:"status"`
	Topic         string `json:"topic"`
	Partition     int    `json:"partition"`
	Size          int64  `json:"size"`
	HighWatermark int64  `json:"high_watermark"`
	Position      int64  `json:"position"`
}

// ServedPartition is one partition in GET /v1/partitions.
type ServedPartition struct {
	Topic         string `json:"topic"`
	Partition     int    `json:"partition"`
	Epoch         int64  `json:"epoch"`
	HighWatermark int64  `json:"high_watermark"`
	// LogStartOffset is the first offset still stored (retention); absent
	// before the broker's first retention step.
	LogStartOffset *int64 `json:"log_start_offset,omitempty"`
}

// PartitionsAnswer is the answer of GET /v1/partitions.
type PartitionsAnswer struct {
	Status     string            `json:"status"`
	BrokerID   int64             `json:"broker_id"`
	Partitions []ServedPartition `json:"partitions"`
}

// BrokerHealthAnswer is a broker's answer of GET /healthz.
type BrokerHealthAnswer struct {
	Status   string `json:"status"`
	BrokerID int64  `json:"broker_id"`
	Seq      int64  `json:"seq"`
}
