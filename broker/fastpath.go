package broker

import (
	"net/http"
	"time"

	"github.com/logq/logq/internal/fastjson"
)

// The hot paths' JSON without reflection (internal/fastjson): the answers
// carrying messages, encoded byte for byte as encoding/json would, and the
// common shape of an append request, decoded in one pass (anything else
// goes through the lenient params, as before).

// writeMessages writes a consume or read answer: messagesAnswer's JSON,
// built from the stored messages directly.
func writeMessages(w http.ResponseWriter, topic string, partition int, msgs []storedMessage, hw *int64) {
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
	b = append(b, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// decodeAppend decodes an append body of the common shape: one JSON object
// of exactly "topic" (a string), "partition" (an integer) and "messages"
// (objects of "producer_id", "message" and an optional "key", a string or
// null), in any order. ok is false for anything else, including a member
// encoding/json would match case-insensitively, so that the lenient path
// answers (and explains) it.
func decodeAppend(body []byte) (topic string, partition int, msgs []message, ok bool) {
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
				return false // a second list: let encoding/json's rules decide
			}
			hasMessages = true
			return d.Array(func() bool {
				var (
					m                   message
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
