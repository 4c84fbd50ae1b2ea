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
// message given at the top level.
type AppendParams struct {
	TopicFields
	PartitionFields
	Messages []AppendItem `json:"messages"`
	AppendItem
}

// AppendItem is one message of an append as accepted.
type AppendItem struct {
	ProducerID Int  `json:"producer_id"`
	Message    Text `json:"message"`
	Value      Text `json:"value"`
	Key        Str  `json:"key"`
}

// AppendMessage is one message of an append as sent.
type AppendMessage struct {
	ProducerID int64   `json:"producer_id"`
	Key        *string `json:"key,omitempty"`
	Message    string  `json:"message"`
}

// AppendRequest is the body of POST /v1/append.
type AppendRequest struct {
	Topic     string          `json:"topic"`
	Partition int             `json:"partition"`
	Messages  []AppendMessage `json:"messages"`
}

// Request checks the parameters: 1 to maxMessages messages, each valid.
func (p *AppendParams) Request(maxMessages, maxMessageBytes int) (AppendRequest, error) {
	var r AppendRequest
	var err error
	if r.Topic, err = p.TopicRequired(); err != nil {
		return r, err
	}
	if r.Partition, err = p.PartitionRequired(); err != nil {
		return r, err
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
	r.Messages = make([]AppendMessage, len(items))
	for i := range items {
		if err := items[i].message(&r.Messages[i], maxMessageBytes); err != nil {
			if single {
				return r, err
			}
			return r, ItemError(i, err)
		}
	}
	return r, nil
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
	return CheckMessage(m.Message, m.Key, maxBytes)
}

// AppendAnswer is the answer of POST /v1/append.
type AppendAnswer struct {
	Status     string `json:"status"`
	Topic      string `json:"topic"`
	Partition  int    `json:"partition"`
	BaseOffset int64  `json:"base_offset"`
	Count      int    `json:"count"`
}

// BrokerConsumeParams is what POST (or GET) /v1/consume and GET /v1/size
// accept.
type BrokerConsumeParams struct {
	TopicFields
	PartitionFields
	ConsumerID Int `json:"consumer_id"`
	Max        Int `json:"max"`
	WaitMS     Int `json:"wait_ms"`
}

// BrokerConsumeRequest is the body of POST /v1/consume (and, as a query
// string, of GET /v1/size).
type BrokerConsumeRequest struct {
	Topic      string `json:"topic"`
	Partition  int    `json:"partition"`
	ConsumerID int64  `json:"consumer_id"`
	Max        int    `json:"max,omitempty"`     // default 1
	WaitMS     int64  `json:"wait_ms,omitempty"` // long-poll
}

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
	r.WaitMS, _, err = integer([]string{"wait_ms"}, 0, maxWait.Milliseconds(), &p.WaitMS)
	return r, err
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
	return q
}

// BrokerReadParams is what GET /v1/read accepts.
type BrokerReadParams struct {
	TopicFields
	PartitionFields
	Offset Int `json:"offset"`
	Max    Int `json:"max"`
}

// BrokerReadRequest is a GET /v1/read.
type BrokerReadRequest struct {
	Topic     string
	Partition int
	Offset    int64
	Max       int
}

// Request checks the parameters; Max defaults to 100.
func (p *BrokerReadParams) Request(maxRead int) (BrokerReadRequest, error) {
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
	if !ok {
		max = 100
	}
	r.Max = int(max)
	return r, err
}

// StoredMessage is one message of a broker's consume or read answer.
type StoredMessage struct {
	Offset     int64     `json:"offset"`
	Message    string    `json:"message"`
	Key        *string   `json:"key"`
	ProducerID int64     `json:"producer_id"`
	ProducedAt time.Time `json:"produced_at"`
}

// MessagesAnswer is the answer of /v1/consume and /v1/read.
type MessagesAnswer struct {
	Status        string          `json:"status"`
	Topic         string          `json:"topic"`
	Partition     int             `json:"partition"`
	Messages      []StoredMessage `json:"messages"`
	HighWatermark *int64          `json:"high_watermark,omitempty"` // /v1/read
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
