package codecbench

import (
	"bytes"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/logq/logq/internal/codecbench/fastjson"
)

// The hand codec exactly as logq uses it today: these functions are copies
// of manager/fastpath.go, broker/fastpath.go and client/fastpath.go (with
// their types renamed h*), kept here because they are unexported there.
// Where today's code uses encoding/json (the small answers and requests),
// the hand steps do too (see handProduce and handConsume).

// client/fastpath.go: produceBatchBody.appendJSON.
type hBatchItem struct {
	Message   string
	Key       string
	Partition *int
}

type hProduceBatchBody struct {
	Topic      string
	ProducerID int64
	Messages   []hBatchItem
}

func (b hProduceBatchBody) appendJSON(dst []byte) []byte {
	size := 64 + len(b.Topic)
	for _, m := range b.Messages {
		size += 48 + len(m.Message) + len(m.Key)
	}
	dst = append(make([]byte, 0, size+len(dst)), dst...)
	dst = append(dst, `{"messages":`...)
	if b.Messages == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, m := range b.Messages {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"message":`...)
			dst = fastjson.AppendString(dst, m.Message)
			if m.Key != "" {
				dst = append(dst, `,"key":`...)
				dst = fastjson.AppendString(dst, m.Key)
			}
			if m.Partition != nil {
				dst = append(dst, `,"partition":`...)
				dst = fastjson.AppendInt(dst, int64(*m.Partition))
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"producer_id":`...)
	dst = fastjson.AppendInt(dst, b.ProducerID)
	dst = append(dst, `,"topic":`...)
	dst = fastjson.AppendString(dst, b.Topic)
	return append(dst, '}')
}

// manager/fastpath.go: decodeProduceBatch.
type hFastItem struct {
	text     string
	key      *string
	explicit *int
}

const maxPartitionIndex = 1<<31 - 1

func hDecodeProduceBatch(body []byte) (producerID int64, topic string, items []hFastItem, minSeq int64, ok bool) {
	if !utf8.Valid(body) {
		return 0, "", nil, 0, false
	}
	d := fastjson.NewDecoder(body)
	minSeq = -1
	var seenTopic, seenID, seenMsgs bool
	ok = d.Peek() == '{' && d.Object(func(k string) bool {
		switch k {
		case "topic":
			if seenTopic {
				return false
			}
			seenTopic = true
			topic, ok = d.String()
			return ok
		case "producer_id":
			if seenID {
				return false
			}
			seenID = true
			producerID, ok = d.Int()
			return ok && producerID >= 1
		case "min_seq":
			if minSeq >= 0 {
				return false
			}
			minSeq, ok = d.Int()
			return ok && minSeq >= 0
		case "messages":
			if seenMsgs {
				return false
			}
			seenMsgs = true
			items = []hFastItem{}
			return d.Array(func() bool {
				var it hFastItem
				if d.Peek() == '"' {
					it.text, ok = d.String()
					items = append(items, it)
					return ok
				}
				var seenText, seenKey, seenPart bool
				ok := d.Object(func(k string) bool {
					switch k {
					case "message":
						if seenText {
							return false
						}
						seenText = true
						var ok bool
						it.text, ok = d.String()
						return ok
					case "key":
						if seenKey {
							return false
						}
						seenKey = true
						key, ok := d.String()
						it.key = &key
						return ok
					case "partition":
						if seenPart {
							return false
						}
						seenPart = true
						n, ok := d.Int()
						if !ok || n < 0 || n > maxPartitionIndex {
							return false
						}
						v := int(n)
						it.explicit = &v
						return true
					}
					return false
				})
				items = append(items, it)
				return ok && seenText
			})
		}
		return false
	}) && d.End()
	return producerID, topic, items, minSeq, ok && seenID && seenMsgs
}

// manager/fastpath.go: appendRequest.appendJSON.
type hAppendMessage struct {
	ProducerID int64
	Key        *string
	Message    string
}

type hAppendRequest struct {
	Topic     string
	Partition int
	Messages  []hAppendMessage
}

func (r hAppendRequest) appendJSON(b []byte) []byte {
	size := 48 + len(r.Topic)
	for _, m := range r.Messages {
		size += 40 + len(m.Message)
		if m.Key != nil {
			size += 10 + len(*m.Key)
		}
	}
	b = append(make([]byte, 0, size+len(b)), b...)
	b = append(b, `{"topic":`...)
	b = fastjson.AppendString(b, r.Topic)
	b = append(b, `,"partition":`...)
	b = fastjson.AppendInt(b, int64(r.Partition))
	b = append(b, `,"messages":`...)
	if r.Messages == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, m := range r.Messages {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"producer_id":`...)
			b = fastjson.AppendInt(b, m.ProducerID)
			if m.Key != nil {
				b = append(b, `,"key":`...)
				b = fastjson.AppendString(b, *m.Key)
			}
			b = append(b, `,"message":`...)
			b = fastjson.AppendString(b, m.Message)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// broker/fastpath.go: decodeAppend.
type hMessage struct {
	ProducerID int64
	Key        *string
	Payload    string
}

func hDecodeAppend(body []byte) (topic string, partition int, msgs []hMessage, ok bool) {
	d := fastjson.NewDecoder(body)
	var hasTopic, hasPartition, hasMessages bool
	ok = d.Object(func(k string) bool {
		switch k {
		case "topic":
			if d.Null() {
				return false
			}
			topic, hasTopic = d.String()
			return hasTopic
		case "partition":
			n, ok := d.Int()
			partition, hasPartition = int(n), ok && int64(int(n)) == n
			return hasPartition
		case "messages":
			if hasMessages {
				return false
			}
			hasMessages = true
			return d.Array(func() bool {
				var (
					m                   hMessage
					hasID, hasMsg, seen bool
				)
				ok := d.Object(func(k string) bool {
					switch k {
					case "producer_id":
						if hasID {
							return false
						}
						m.ProducerID, hasID = d.Int()
						return hasID
					case "message":
						if hasMsg {
							return false
						}
						m.Payload, hasMsg = d.String()
						return hasMsg
					case "key":
						if seen {
							return false
						}
						seen = true
						if d.Null() {
							return true
						}
						key, ok := d.String()
						m.Key = &key
						return ok
					}
					return false
				})
				msgs = append(msgs, m)
				return ok && hasID && hasMsg
			})
		}
		return false
	})
	if !ok || !d.End() || !hasTopic || !hasPartition || len(msgs) == 0 {
		return "", 0, nil, false
	}
	return topic, partition, msgs, true
}

// manager/route.go's appendAnswer: what the manager decodes of the
// broker's append answer, through encoding/json today.
type hAppendAnswer struct {
	BaseOffset int64 `json:"base_offset"`
	Count      int   `json:"count"`
}

// manager/fastpath.go: produceBatchAnswer.appendJSON.
func (a produceBatchAnswer) appendJSON(b []byte) []byte {
	b = append(make([]byte, 0, 48+32*len(a.Results)), b...)
	b = append(b, `{"status":`...)
	b = fastjson.AppendString(b, a.Status)
	b = append(b, `,"results":`...)
	if a.Results == nil {
		return append(b, "null}"...)
	}
	b = append(b, '[')
	for i, r := range a.Results {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		sep := false
		if r.Partition != nil {
			b = append(b, `"partition":`...)
			b = fastjson.AppendInt(b, int64(*r.Partition))
			sep = true
		}
		if r.Offset != nil {
			if sep {
				b = append(b, ',')
			}
			b = append(b, `"offset":`...)
			b = fastjson.AppendInt(b, *r.Offset)
			sep = true
		}
		if r.Error != nil {
			if sep {
				b = append(b, ',')
			}
			b = append(b, `"error":{"code":`...)
			b = fastjson.AppendString(b, r.Error.Code)
			b = append(b, `,"message":`...)
			b = fastjson.AppendString(b, r.Error.Message)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// client/fastpath.go: member, produceBatchAnswer.decodeJSON.
func hMember(d *fastjson.Decoder, k string, status *string, known ...string) (handled, ok bool) {
	if k == "status" {
		if d.Null() {
			return true, true
		}
		s, ok := d.String()
		*status = s
		return true, ok
	}
	for _, f := range append(known, "status") {
		if strings.EqualFold(k, f) {
			return true, false
		}
	}
	return true, d.Skip()
}

type hBatchResult struct {
	Partition int
	Offset    int64
	Error     *struct {
		Code    string
		Message string
	}
}

type hProduceBatchAnswer struct {
	Results []hBatchResult
}

func (a *hProduceBatchAnswer) decodeJSON(data []byte) (status string, ok bool) {
	d := fastjson.NewDecoder(data)
	seen := false
	ok = d.Object(func(k string) bool {
		if k != "results" {
			_, ok := hMember(d, k, &status, "results")
			return ok
		}
		if seen || d.Null() {
			return false
		}
		seen = true
		a.Results = []hBatchResult{}
		return d.Array(func() bool {
			var r hBatchResult
			var hasP, hasO, hasE bool
			ok := d.Object(func(k string) bool {
				switch k {
				case "partition":
					n, ok := d.Int()
					r.Partition, hasP = int(n), ok && !hasP
					return hasP
				case "offset":
					r.Offset, hasO = d.Int()
					return hasO
				case "error":
					if hasE || d.Null() {
						return false
					}
					hasE = true
					r.Error = &struct {
						Code    string
						Message string
					}{}
					return d.Object(func(k string) bool {
						switch k {
						case "code":
							c, ok := d.String()
							r.Error.Code = c
							return ok
						case "message":
							m, ok := d.String()
							r.Error.Message = m
							return ok
						}
						return !strings.EqualFold(k, "code") && !strings.EqualFold(k, "message") && d.Skip()
					})
				}
				for _, f := range []string{"partition", "offset", "error"} {
					if strings.EqualFold(k, f) {
						return false
					}
				}
				return d.Skip()
			})
			a.Results = append(a.Results, r)
			return ok
		})
	})
	return status, ok && d.End()
}

// manager/route.go's consumeRequest, encoded by encoding/json today.
type hConsumeRequest struct {
	Topic      string `json:"topic"`
	Partition  int    `json:"partition"`
	ConsumerID int64  `json:"consumer_id"`
	Max        int    `json:"max,omitempty"`
	WaitMS     int64  `json:"wait_ms,omitempty"`
}

// broker/fastpath.go: writeMessages, without the http.ResponseWriter.
type hStoredMessage struct {
	Offset     int64
	ProducedAt time.Time
	ProducerID int64
	Key        *string
	Payload    string
}

func hWriteMessages(topic string, partition int, msgs []hStoredMessage, hw *int64) []byte {
	size := 96 + len(topic)
	for _, m := range msgs {
		size += 120 + len(m.Payload)
		if m.Key != nil {
			size += len(*m.Key)
		}
	}
	b := make([]byte, 0, size)
	b = append(b, `{"status":"success","topic":`...)
	b = fastjson.AppendString(b, topic)
	b = append(b, `,"partition":`...)
	b = fastjson.AppendInt(b, int64(partition))
	b = append(b, `,"messages":[`...)
	for i, m := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"offset":`...)
		b = fastjson.AppendInt(b, m.Offset)
		b = append(b, `,"message":`...)
		b = fastjson.AppendString(b, m.Payload)
		b = append(b, `,"key":`...)
		if m.Key == nil {
			b = append(b, "null"...)
		} else {
			b = fastjson.AppendString(b, *m.Key)
		}
		b = append(b, `,"producer_id":`...)
		b = fastjson.AppendInt(b, m.ProducerID)
		b = append(b, `,"produced_at":"`...)
		b = m.ProducedAt.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `"}`...)
	}
	b = append(b, ']')
	if hw != nil {
		b = append(b, `,"high_watermark":`...)
		b = fastjson.AppendInt(b, *hw)
	}
	return append(b, "}\n"...)
}

// manager/fastpath.go: rawText, consumeBrokerAnswer.decodeJSON.
type hRawText struct {
	message, key []byte
}

type hBrokerMessage struct {
	Offset  int64
	Message string
	Key     *string
	raw     hRawText
}

type hConsumeBrokerAnswer struct {
	Messages []hBrokerMessage
}

func (a *hConsumeBrokerAnswer) decodeJSON(data []byte) bool {
	d := fastjson.NewDecoder(data)
	seen := false
	ok := d.Object(func(k string) bool {
		if k != "messages" {
			return !strings.EqualFold(k, "messages") && d.Skip()
		}
		if seen || d.Null() {
			return false
		}
		seen = true
		a.Messages = make([]hBrokerMessage, 0, bytes.Count(data, []byte(`"offset"`)))
		return d.Array(func() bool {
			var m hBrokerMessage
			var hasOffset, hasMessage, hasKey bool
			ok := d.Object(func(k string) bool {
				switch k {
				case "offset":
					if hasOffset {
						return false
					}
					m.Offset, hasOffset = d.Int()
					return hasOffset
				case "message":
					if hasMessage {
						return false
					}
					m.Message, m.raw.message, hasMessage = d.StringRaw()
					return hasMessage
				case "key":
					if hasKey {
						return false
					}
					hasKey = true
					if d.Null() {
						return true
					}
					key, raw, ok := d.StringRaw()
					m.Key, m.raw.key = &key, raw
					return ok
				}
				for _, f := range []string{"offset", "message", "key"} {
					if strings.EqualFold(k, f) {
						return false
					}
				}
				return d.Skip()
			})
			a.Messages = append(a.Messages, m)
			return ok && hasOffset && hasMessage
		})
	})
	return ok && seen && d.End()
}

// manager/fastpath.go: consumeBatchAnswer.appendJSON (with the broker's
// encoded text copied as is).
type hBatchMessage struct {
	Topic     string
	Partition int
	Offset    int64
	Message   string
	Key       *string
	raw       hRawText
}

type hConsumeBatchAnswer struct {
	Status   string
	Messages []hBatchMessage
}

func (a hConsumeBatchAnswer) appendJSON(b []byte) []byte {
	size := 48
	for _, m := range a.Messages {
		size += 80 + len(m.Topic) + len(m.Message)
		if m.Key != nil {
			size += len(*m.Key)
		}
	}
	b = append(make([]byte, 0, size), b...)
	b = append(b, `{"status":`...)
	b = fastjson.AppendString(b, a.Status)
	b = append(b, `,"messages":`...)
	if a.Messages == nil {
		return append(b, "null}"...)
	}
	b = append(b, '[')
	for i, m := range a.Messages {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"topic":`...)
		b = fastjson.AppendString(b, m.Topic)
		b = append(b, `,"partition":`...)
		b = fastjson.AppendInt(b, int64(m.Partition))
		b = append(b, `,"offset":`...)
		b = fastjson.AppendInt(b, m.Offset)
		b = append(b, `,"message":`...)
		if m.raw.message != nil {
			b = append(b, m.raw.message...)
		} else {
			b = fastjson.AppendString(b, m.Message)
		}
		b = append(b, `,"key":`...)
		switch {
		case m.Key == nil:
			b = append(b, "null"...)
		case m.raw.key != nil:
			b = append(b, m.raw.key...)
		default:
			b = fastjson.AppendString(b, *m.Key)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// client/fastpath.go: pollAnswer.decodeJSON into client.Message.
type hClientMessage struct {
	Topic     string
	Partition int
	Offset    int64
	Key       string
	Value     string
}

type hPollAnswer struct {
	Messages []hClientMessage
}

func (a *hPollAnswer) decodeJSON(data []byte) (status string, ok bool) {
	d := fastjson.NewDecoder(data)
	seen := false
	ok = d.Object(func(k string) bool {
		if k != "messages" {
			_, ok := hMember(d, k, &status, "messages")
			return ok
		}
		if seen || d.Null() {
			return false
		}
		seen = true
		a.Messages = make([]hClientMessage, 0, bytes.Count(data, []byte(`"offset"`)))
		topic := ""
		return d.Array(func() bool {
			var m hClientMessage
			var hasT, hasP, hasO, hasK, hasM bool
			ok := d.Object(func(k string) bool {
				var ok bool
				switch k {
				case "topic":
					m.Topic, ok = d.StringLike(topic)
					topic = m.Topic
					ok, hasT = ok && !hasT, true
				case "partition":
					var n int64
					n, ok = d.Int()
					m.Partition = int(n)
					ok, hasP = ok && !hasP, true
				case "offset":
					m.Offset, ok = d.Int()
					ok, hasO = ok && !hasO, true
				case "key":
					if d.Null() {
						return !hasK
					}
					m.Key, ok = d.String()
					ok, hasK = ok && !hasK, true
				case "message":
					m.Value, ok = d.String()
					ok, hasM = ok && !hasM, true
				default:
					for _, f := range []string{"topic", "partition", "offset", "key", "message"} {
						if strings.EqualFold(k, f) {
							return false
						}
					}
					return d.Skip()
				}
				return ok
			})
			a.Messages = append(a.Messages, m)
			return ok
		})
	})
	return status, ok && d.End()
}
