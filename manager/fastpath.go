package manager

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/logq/logq"
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

// rawText is a consumed message's text and key as JSON, exactly as the
// broker's answer held them: the manager copies them into its own answer
// instead of encoding the decoded strings again — valid JSON of the same
// strings, and the same bytes as encoding/json's since the brokers encode
// as it does. The decoded strings alias the broker's answer, which is
// never reused.
type rawText struct {
	message, key []byte // key nil: null
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
		// As many as there are "offset" members (no growing), and [] is
		// empty, not nil, as with encoding/json.
		a.Messages = make([]brokerMessage, 0, bytes.Count(data, []byte(`"offset"`)))
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

// produceItems are the messages of a produce_batch, read one at a time (an
// item's mistake is found when its turn comes, as it always was).
type produceItems interface {
	len() int
	at(i int) (text string, key *string, explicit *int, err error)
}

// lenientItems are the items as encoding/json decoded them: strings or
// objects read with the lenient params.
type lenientItems []any

func (l lenientItems) len() int { return len(l) }

func (l lenientItems) at(i int) (text string, key *string, explicit *int, err error) {
	switch it := l[i].(type) {
	case string:
		return it, nil, nil, nil
	case map[string]any:
		ip := paramsOf(it)
		if text, err = ip.message(); err != nil {
			return "", nil, nil, itemError(i, err)
		}
		if key, err = ip.key(); err != nil {
			return "", nil, nil, itemError(i, err)
		}
		if explicit, err = ip.optPartition(); err != nil {
			return "", nil, nil, itemError(i, err)
		}
		return text, key, explicit, nil
	}
	return "", nil, nil, logq.Errorf(logq.EInvalid, "messages[%d] must be an object or a string", i)
}

// fastItem is one item decoded by decodeProduceBatch.
type fastItem struct {
	text     string
	key      *string
	explicit *int
}

type fastItems []fastItem

func (f fastItems) len() int { return len(f) }

func (f fastItems) at(i int) (string, *string, *int, error) {
	return f[i].text, f[i].key, f[i].explicit, nil
}

// produceBatchParams reads a produce_batch request and waits for its
// min_seq, as readParams and the lenient params do. The common shape — a
// query string of at most min_seq (digits), a JSON body of "topic" (a
// string), "producer_id" (a positive integer), "messages" (strings, or
// objects of "message", "key" — strings — and "partition", an integer in
// range) and "min_seq", each at most once — is decoded in one pass with
// no map per message; anything else goes through the lenient params.
func (m *Manager) produceBatchParams(r *http.Request) (producerID int64, topic string, items produceItems, err error) {
	if r.Body != nil && fastQuery(r.URL.RawQuery) {
		body, err := readBody(r)
		if err != nil {
			return 0, "", nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body)) // for the lenient path
		if id, t, list, minSeq, ok := decodeProduceBatch(body); ok {
			if minSeq < 0 { // not in the body: the query's
				minSeq, _ = strconv.ParseInt(r.URL.Query().Get("min_seq"), 10, 64)
			}
			if minSeq > 0 {
				ctx, cancel := context.WithTimeout(r.Context(), m.cfg.MinSeqWait)
				defer cancel()
				if err := m.WaitApplied(ctx, minSeq); err != nil {
					return 0, "", nil, err
				}
			}
			return id, t, list, nil
		}
	}
	p, err := m.readParams(r)
	if err != nil {
		return 0, "", nil, err
	}
	if producerID, err = p.requiredInt(pProducer, 1, math.MaxInt64); err != nil {
		return 0, "", nil, err
	}
	if topic, _, err = p.str(pTopic); err != nil {
		return 0, "", nil, err
	}
	list, err := p.list(pMessages)
	if err != nil {
		return 0, "", nil, err
	}
	return producerID, topic, lenientItems(list), nil
}

// fastQuery reports whether a query string holds nothing but min_seq with
// digits.
func fastQuery(q string) bool {
	if q == "" {
		return true
	}
	v, ok := strings.CutPrefix(q, "min_seq=")
	if !ok || v == "" || len(v) > 18 {
		return false
	}
	for _, c := range []byte(v) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// decodeProduceBatch decodes the common shape of a produce_batch body (see
// produceBatchParams); minSeq is -1 when the body has none.
func decodeProduceBatch(body []byte) (producerID int64, topic string, items fastItems, minSeq int64, ok bool) {
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
			items = fastItems{}
			return d.Array(func() bool {
				var it fastItem
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
