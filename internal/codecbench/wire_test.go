package codecbench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The wire shapes of the batched produce and consume (as manager/route.go,
// broker/http.go and client/ define them today), as one typed contract
// would hold them: every request integer is a lenientInt (a number or a
// numeric string), so that the cost of a custom UnmarshalJSON per field is
// measured too.

// lenientInt is a request integer: a JSON number or a string of digits.
type lenientInt int64

func (n *lenientInt) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		s, err := strconv.Unquote(string(b))
		if err != nil {
			return err
		}
		b = []byte(s)
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %s", b)
	}
	*n = lenientInt(v)
	return nil
}

// produceBatchRequest: client → manager, POST /producer/produce_batch.
type produceBatchRequest struct {
	Topic      string        `json:"topic"`
	ProducerID lenientInt    `json:"producer_id"`
	MinSeq     *lenientInt   `json:"min_seq,omitempty"`
	Messages   []produceItem `json:"messages"`
}

type produceItem struct {
	Message   string      `json:"message"`
	Key       *string     `json:"key,omitempty"`
	Partition *lenientInt `json:"partition,omitempty"`
}

// appendRequest: manager → broker, POST /v1/append.
type appendRequest struct {
	Topic     string          `json:"topic"`
	Partition lenientInt      `json:"partition"`
	Messages  []appendMessage `json:"messages"`
}

type appendMessage struct {
	ProducerID lenientInt `json:"producer_id"`
	Key        *string    `json:"key,omitempty"`
	Message    string     `json:"message"`
}

// appendAnswer: broker → manager.
type appendAnswer struct {
	Status     string `json:"status"`
	Topic      string `json:"topic"`
	Partition  int    `json:"partition"`
	BaseOffset int64  `json:"base_offset"`
	Count      int    `json:"count"`
}

// produceBatchAnswer: manager → client.
type produceBatchAnswer struct {
	Status  string        `json:"status"`
	Results []batchResult `json:"results"`
}

type batchResult struct {
	Partition *int       `json:"partition,omitempty"`
	Offset    *int64     `json:"offset,omitempty"`
	Error     *errorItem `json:"error,omitempty"`
}

type errorItem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// consumeRequest: manager → broker, POST /v1/consume.
type consumeRequest struct {
	Topic      string     `json:"topic"`
	Partition  lenientInt `json:"partition"`
	ConsumerID lenientInt `json:"consumer_id"`
	Max        lenientInt `json:"max,omitempty"`
	WaitMS     lenientInt `json:"wait_ms,omitempty"`
}

// messagesAnswer: broker → manager, the answer of /v1/consume.
type messagesAnswer struct {
	Status        string          `json:"status"`
	Topic         string          `json:"topic"`
	Partition     int             `json:"partition"`
	Messages      []messageAnswer `json:"messages"`
	HighWatermark *int64          `json:"high_watermark,omitempty"`
}

type messageAnswer struct {
	Offset     int64     `json:"offset"`
	Message    string    `json:"message"`
	Key        *string   `json:"key"`
	ProducerID int64     `json:"producer_id"`
	ProducedAt time.Time `json:"produced_at"`
}

// consumeBatchAnswer: manager → client, GET /consumer/consume_batch (its
// request is a query string: no JSON).
type consumeBatchAnswer struct {
	Status   string         `json:"status"`
	Messages []batchMessage `json:"messages"`
}

type batchMessage struct {
	Topic     string  `json:"topic"`
	Partition int     `json:"partition"`
	Offset    int64   `json:"offset"`
	Message   string  `json:"message"`
	Key       *string `json:"key"`
}

// The fixture: one batch as logq bench sends it (1,000 records of 100 B),
// every other record with a key, one partition, one producer.
const (
	batchSize   = 1000
	messageSize = 100
	topic       = "bench-topic"
	producerID  = 42
	partition   = 1
	baseOffset  = 1_000_000
)

// payload is logq bench's message text (internal/harness/bench): "m<seq>:xxx…".
func payload(seq, size int) string {
	b := append([]byte{'m'}, strconv.Itoa(seq)...)
	b = append(b, ':')
	return string(append(b, bytes.Repeat([]byte{'x'}, size-len(b))...))
}

func key(i int) *string {
	if i%2 == 1 {
		return nil
	}
	k := "key-" + strconv.Itoa(i)
	return &k
}

var producedAt = time.Date(2026, 12, 1, 9, 30, 0, 123456000, time.UTC)

// fixture holds the values each step encodes, built once.
type fixture struct {
	produceBatch produceBatchRequest
	appendReq    appendRequest
	appendAns    appendAnswer
	produceAns   produceBatchAnswer
	consumeReq   consumeRequest
	messagesAns  messagesAnswer
	consumeAns   consumeBatchAnswer
}

func newFixture() *fixture {
	f := &fixture{}
	f.produceBatch = produceBatchRequest{Topic: topic, ProducerID: producerID, Messages: make([]produceItem, batchSize)}
	f.appendReq = appendRequest{Topic: topic, Partition: partition, Messages: make([]appendMessage, batchSize)}
	f.appendAns = appendAnswer{Status: "success", Topic: topic, Partition: partition, BaseOffset: baseOffset, Count: batchSize}
	f.produceAns = produceBatchAnswer{Status: "success", Results: make([]batchResult, batchSize)}
	f.consumeReq = consumeRequest{Topic: topic, Partition: partition, ConsumerID: 7, Max: batchSize}
	hw := int64(baseOffset + batchSize)
	f.messagesAns = messagesAnswer{Status: "success", Topic: topic, Partition: partition, Messages: make([]messageAnswer, batchSize), HighWatermark: &hw}
	f.consumeAns = consumeBatchAnswer{Status: "success", Messages: make([]batchMessage, batchSize)}
	for i := range batchSize {
		text, k := payload(i, messageSize), key(i)
		p, off := partition, int64(baseOffset+i)
		f.produceBatch.Messages[i] = produceItem{Message: text, Key: k}
		f.appendReq.Messages[i] = appendMessage{ProducerID: producerID, Key: k, Message: text}
		f.produceAns.Results[i] = batchResult{Partition: &p, Offset: &off}
		f.messagesAns.Messages[i] = messageAnswer{Offset: off, Message: text, Key: k, ProducerID: producerID, ProducedAt: producedAt.Add(time.Duration(i) * time.Microsecond)}
		f.consumeAns.Messages[i] = batchMessage{Topic: topic, Partition: partition, Offset: off, Message: text, Key: k}
	}
	return f
}

// mustJSON is encoding/json's encoding of v, the reference.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
