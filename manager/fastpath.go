package manager

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"

	"github.com/logq/logq/internal/fastjson"
)

// The data plane's JSON without reflection (internal/fastjson): request
// bodies decode in one pass into the same generic values encoding/json
// gives; the answers that carry messages and the broker requests that carry
// them encode byte for byte as encoding/json would; the brokers' consume
// answers decode straight into brokerMessages. Anything unusual falls back
// to encoding/json, so results and errors stay its own.

// jsonAppender is a value that encodes itself.
type jsonAppender interface {
	appendJSON(dst []byte) []byte
}

// marshalJSON is json.Marshal, without reflection for a jsonAppender.
func marshalJSON(v any) ([]byte, error) {
	if a, ok := v.(jsonAppender); ok {
		return a.appendJSON(nil), nil
	}
	return json.Marshal(v)
}

// jsonDecoder is a value that decodes itself when it can: ok false means
// "use encoding/json".
type jsonDecoder interface {
	decodeJSON(data []byte) (ok bool)
}

// decodeBrokerAnswer decodes a broker's 200 answer into out, as
// json.Decoder.Decode would (one value; what follows it is ignored).
func decodeBrokerAnswer(body io.Reader, out any) error {
	if d, ok := out.(jsonDecoder); ok {
		data, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		if d.decodeJSON(data) {
			return nil
		}
		return json.NewDecoder(bytes.NewReader(data)).Decode(out)
	}
	return json.NewDecoder(body).Decode(out)
}

// decodeJSON reads a broker's consume answer: its "messages" (offset,
// message, key); the other members are skipped.
func (a *consumeBrokerAnswer) decodeJSON(data []byte) bool {
	d := fastjson.NewDecoder(data)
	seen := false
	ok := d.Object(func(k string) bool {
		if k != "messages" {
			return !strings.EqualFold(k, "messages") && d.Skip()
		}
		if seen || d.Null() {
			return false // leave the odd cases to encoding/json
		}
		seen = true
		a.Messages = a.Messages[:0]
		if a.Messages == nil {
			a.Messages = []brokerMessage{} // as encoding/json: [] is empty, not nil
		}
		return d.Array(func() bool {
			var m brokerMessage
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
					m.Message, hasMessage = d.String()
					return hasMessage
				case "key":
					if hasKey {
						return false
					}
					hasKey = true
					if d.Null() {
						return true
					}
					key, ok := d.String()
					m.Key = &key
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

func (r appendRequest) appendJSON(b []byte) []byte {
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

// consumeBatchAnswer is the answer of consume_batch.
type consumeBatchAnswer struct {
	Status   string         `json:"status"`
	Messages []batchMessage `json:"messages"`
}

func (a consumeBatchAnswer) appendJSON(b []byte) []byte {
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
		b = fastjson.AppendString(b, m.Message)
		b = append(b, `,"key":`...)
		if m.Key == nil {
			b = append(b, "null"...)
		} else {
			b = fastjson.AppendString(b, *m.Key)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// produceBatchAnswer is the answer of produce_batch.
type produceBatchAnswer struct {
	Status  string        `json:"status"`
	Results []batchResult `json:"results"`
}

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
