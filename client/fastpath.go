package client

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/logq/logq/internal/fastjson"
)

// The JSON of batches without reflection (internal/fastjson): produce
// bodies encode byte for byte as encoding/json would, and the answers
// carrying many messages or results decode in one pass (status included,
// so the answer is read once, not twice). Anything unusual falls back to
// encoding/json.

// jsonAppender is a request body that encodes itself.
type jsonAppender interface {
	appendJSON(dst []byte) []byte
}

// marshalBody is json.Marshal, without reflection for a jsonAppender.
func marshalBody(v any) ([]byte, error) {
	if a, ok := v.(jsonAppender); ok {
		return a.appendJSON(nil), nil
	}
	return json.Marshal(v)
}

// fastAnswer is an answer that decodes itself, its "status" included; ok
// false means "use encoding/json".
type fastAnswer interface {
	decodeJSON(data []byte) (status string, ok bool)
}

// member reads the common members of an answer: it reads "status" into
// *status and skips the members the answer does not know. ok is false for
// a member encoding/json would match to a known one by case folding.
func member(d *fastjson.Decoder, k string, status *string, known ...string) (handled, ok bool) {
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

// produceBatchBody is the body of POST /producer/produce_batch.
type produceBatchBody struct {
	Topic      string
	ProducerID int64
	Messages   []batchItem
}

// appendJSON writes the body as encoding/json writes the equivalent map
// (keys sorted).
func (b produceBatchBody) appendJSON(dst []byte) []byte {
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

// produceBatchAnswer is the answer of produce_batch.
type produceBatchAnswer struct {
	Results []batchResult `json:"results"`
}

func (a *produceBatchAnswer) decodeJSON(data []byte) (status string, ok bool) {
	d := fastjson.NewDecoder(data)
	seen := false
	ok = d.Object(func(k string) bool {
		if k != "results" {
			_, ok := member(d, k, &status, "results")
			return ok
		}
		if seen || d.Null() {
			return false
		}
		seen = true
		a.Results = []batchResult{}
		return d.Array(func() bool {
			var r batchResult
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
						Code    string `json:"code"`
						Message string `json:"message"`
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

// pollAnswer is the answer of consume_batch.
type pollAnswer struct {
	Messages []Message `json:"messages"`
}

func (a *pollAnswer) decodeJSON(data []byte) (status string, ok bool) {
	d := fastjson.NewDecoder(data)
	seen := false
	ok = d.Object(func(k string) bool {
		if k != "messages" {
			_, ok := member(d, k, &status, "messages")
			return ok
		}
		if seen || d.Null() {
			return false
		}
		seen = true
		a.Messages = make([]Message, 0, bytes.Count(data, []byte(`"offset"`))) // no growing
		topic := ""
		return d.Array(func() bool {
			var m Message
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
						return !hasK // null leaves the key empty, as encoding/json does
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
