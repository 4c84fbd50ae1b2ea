package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

// params are a request's parameters, from the query string, a JSON object
// body or a form body (the body's win). Lenient in what it accepts: numbers
// also as numeric strings, aliases for some names; strict in types
// otherwise, with errors naming the parameter.
type params map[string]json.RawMessage

// request is an incoming request with its body, read once (capped), and
// its parameters, parsed on first use.
type request struct {
	*http.Request
	body   []byte
	parsed params
	err    error
}

// readRequest reads r's body, capped at limit bytes.
func readRequest(w http.ResponseWriter, r *http.Request, limit int64) (*request, error) {
	q := &request{Request: r}
	if r.Body == nil {
		return q, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, logq.Errorf(logq.ETooLarge, "request body over %d bytes", limit)
		}
		return nil, logq.Errorf(logq.EInvalid, "cannot read request body")
	}
	// Text is UTF-8 everywhere (JSON requires it, PostgreSQL stores it):
	// refuse rather than let the JSON decoder replace bad bytes silently.
	if !utf8.Valid(body) {
		return nil, logq.Errorf(logq.EInvalid, "request body is not valid UTF-8")
	}
	q.body = bytes.TrimSpace(body)
	return q, nil
}

// isForm reports whether the body is a form.
func (q *request) isForm() bool {
	ct, _, _ := mime.ParseMediaType(q.Header.Get("Content-Type"))
	return ct == "application/x-www-form-urlencoded"
}

// params returns the request's parameters: the query string's, then the
// body's (a JSON object or a form), the body's winning.
func (q *request) params() (params, error) {
	if q.parsed == nil && q.err == nil {
		q.parsed, q.err = q.parse()
	}
	return q.parsed, q.err
}

func (q *request) parse() (params, error) {
	p := params{}
	addValues := func(v url.Values) error {
		for k, vs := range v {
			if len(vs) > 0 {
				if !utf8.ValidString(k) || !utf8.ValidString(vs[0]) {
					return logq.Errorf(logq.EInvalid, "parameters must be valid UTF-8")
				}
				p[k], _ = json.Marshal(vs[0])
			}
		}
		return nil
	}
	if err := addValues(q.URL.Query()); err != nil {
		return nil, err
	}
	if len(q.body) == 0 {
		return p, nil
	}
	if q.isForm() {
		v, err := url.ParseQuery(string(q.body))
		if err != nil {
			return nil, logq.Errorf(logq.EInvalid, "malformed form body")
		}
		if err := addValues(v); err != nil {
			return nil, err
		}
		return p, nil
	}
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(q.body))
	if err := dec.Decode(&obj); err != nil {
		return nil, jsonError(err)
	}
	if obj == nil {
		return nil, logq.Errorf(logq.EInvalid, "request body must be a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, logq.Errorf(logq.EInvalid, "malformed JSON: data after the object")
	}
	for k, v := range obj {
		p[k] = v
	}
	return p, nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return logq.Errorf(logq.EInvalid, "malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return logq.Errorf(logq.EInvalid, "request body must be a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return logq.Errorf(logq.EInvalid, "malformed JSON: unexpected end")
	}
	return logq.Errorf(logq.EInvalid, "malformed JSON")
}

// lookup returns the first of names present and not null.
func (p params) lookup(names ...string) (string, json.RawMessage, bool) {
	for _, n := range names {
		if v, ok := p[n]; ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return n, v, true
		}
	}
	return names[0], nil, false
}

// str returns a string parameter; ok is false when it is absent.
func (p params) str(names ...string) (s string, ok bool, err error) {
	name, raw, ok := p.lookup(names...)
	if !ok {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, logq.Errorf(logq.EInvalid, "%s must be a string", name)
	}
	return s, true, nil
}

// int returns an integer parameter (a JSON number or a numeric string); ok
// is false when it is absent.
func (p params) int(names ...string) (n int64, ok bool, err error) {
	name, raw, ok := p.lookup(names...)
	if !ok {
		return 0, false, nil
	}
	text := string(bytes.TrimSpace(raw))
	if strings.HasPrefix(text, `"`) {
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, false, logq.Errorf(logq.EInvalid, "%s must be an integer", name)
		}
		text = strings.TrimSpace(text)
	}
	n, err = strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, false, logq.Errorf(logq.EInvalid, "%s must be an integer", name)
	}
	return n, true, nil
}

// requiredInt is int for a parameter that must be there and within
// [lo, hi].
func (p params) requiredInt(lo, hi int64, names ...string) (int64, error) {
	n, ok, err := p.int(names...)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, logq.Errorf(logq.EInvalid, "%s is required", names[0])
	}
	return n, checkRange(names[0], n, lo, hi)
}

// optionalInt is int with a default, within [lo, hi].
func (p params) optionalInt(def, lo, hi int64, names ...string) (int64, error) {
	n, ok, err := p.int(names...)
	if err != nil {
		return 0, err
	}
	if !ok {
		return def, nil
	}
	return n, checkRange(names[0], n, lo, hi)
}

func checkRange(name string, n, lo, hi int64) error {
	if n < lo || n > hi {
		return logq.Errorf(logq.EInvalid, "%s %d is outside %d..%d", name, n, lo, hi)
	}
	return nil
}

// topicPartition reads the topic and partition every partition-scoped
// request names.
func (p params) topicPartition() (string, int, error) {
	topic, ok, err := p.str("topic", "topic_name", "name")
	if err != nil {
		return "", 0, err
	}
	if !ok {
		return "", 0, logq.Errorf(logq.EInvalid, "topic is required")
	}
	if err := projection.ValidateTopicName(topic); err != nil {
		return "", 0, logq.Errorf(logq.EInvalid, "%v", err)
	}
	part, err := p.requiredInt(0, projection.MaxPartitions-1, "partition", "partition_id", "partition_index")
	if err != nil {
		return "", 0, err
	}
	return topic, int(part), nil
}

// appendMessages reads an append's messages: a "messages" array, or one
// message given at the top level ("message", "producer_id", "key").
func (p params) appendMessages(maxMessageBytes int) ([]message, error) {
	_, raw, ok := p.lookup("messages")
	if !ok {
		if _, _, single := p.lookup("message"); !single {
			return nil, logq.Errorf(logq.EInvalid, "messages is required")
		}
		m, err := p.message("", maxMessageBytes)
		if err != nil {
			return nil, err
		}
		return []message{m}, nil
	}
	var items []params
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, logq.Errorf(logq.EInvalid, "messages must be an array of objects")
	}
	if len(items) == 0 {
		return nil, logq.Errorf(logq.EInvalid, "messages is empty")
	}
	msgs := make([]message, len(items))
	for i, it := range items {
		if it == nil {
			return nil, logq.Errorf(logq.EInvalid, "messages[%d] must be an object", i)
		}
		m, err := it.message(fmt.Sprintf("messages[%d].", i), maxMessageBytes)
		if err != nil {
			return nil, err
		}
		msgs[i] = m
	}
	return msgs, nil
}

// message reads one message's fields; prefix names it in errors.
func (p params) message(prefix string, maxBytes int) (message, error) {
	var m message
	id, err := p.requiredInt(1, 1<<62, "producer_id")
	if err != nil {
		return m, withPrefix(prefix, err)
	}
	payload, ok, err := p.str("message", "value")
	if err != nil {
		return m, withPrefix(prefix, err)
	}
	if !ok {
		return m, withPrefix(prefix, logq.Errorf(logq.EInvalid, "message is required"))
	}
	key, hasKey, err := p.str("key")
	if err != nil {
		return m, withPrefix(prefix, err)
	}
	m = message{ProducerID: id, Payload: payload}
	if hasKey {
		m.Key = &key
	}
	return m, withPrefix(prefix, checkMessage(m, maxBytes))
}

// checkMessage checks a message's size and text.
func checkMessage(m message, maxBytes int) error {
	n := len(m.Payload)
	if m.Key != nil {
		n += len(*m.Key)
	}
	if n > maxBytes {
		return logq.Errorf(logq.ETooLarge, "message of %d bytes is over the %d-byte limit", n, maxBytes)
	}
	// PostgreSQL text cannot hold NUL.
	if strings.IndexByte(m.Payload, 0) >= 0 || (m.Key != nil && strings.IndexByte(*m.Key, 0) >= 0) {
		return logq.Errorf(logq.EInvalid, "message and key cannot contain NUL characters")
	}
	return nil
}

// withPrefix prefixes the message of a *logq.Error with the name of the
// item it concerns ("messages[3].").
func withPrefix(prefix string, err error) error {
	var le *logq.Error
	if err != nil && prefix != "" && errors.As(err, &le) {
		return logq.Errorf(le.Code, "%s%s", prefix, le.Message)
	}
	return err
}

// appendJSON is the common shape of an append body, decoded in one pass
// (fastAppend); anything else goes through the lenient params.
type appendJSON struct {
	Topic     *string `json:"topic"`
	Partition *int    `json:"partition"`
	Messages  []struct {
		ProducerID *int64  `json:"producer_id"`
		Key        *string `json:"key"`
		Message    *string `json:"message"`
	} `json:"messages"`
}

// fastAppend decodes an append request in its common shape: a JSON body
// with topic, partition and messages, every field of the expected type.
// ok is false for anything else (aliases, numeric strings, missing or
// mistyped fields, a query string, a form): the caller then reads the
// request leniently, which also explains any mistake.
func fastAppend(q *request) (topic string, partition int, msgs []message, ok bool) {
	if len(q.body) == 0 || q.body[0] != '{' || q.URL.RawQuery != "" || q.isForm() {
		return "", 0, nil, false
	}
	if topic, partition, msgs, ok := decodeAppend(q.body); ok {
		return topic, partition, msgs, true
	}
	var a appendJSON
	if err := json.Unmarshal(q.body, &a); err != nil || a.Topic == nil || a.Partition == nil || len(a.Messages) == 0 {
		return "", 0, nil, false
	}
	msgs = make([]message, len(a.Messages))
	for i, m := range a.Messages {
		if m.ProducerID == nil || m.Message == nil {
			return "", 0, nil, false
		}
		msgs[i] = message{ProducerID: *m.ProducerID, Key: m.Key, Payload: *m.Message}
	}
	return *a.Topic, *a.Partition, msgs, true
}

// checkAppend checks what fastAppend decoded, as the lenient path does.
func checkAppend(topic string, partition int, msgs []message, maxMessageBytes int) error {
	if err := projection.ValidateTopicName(topic); err != nil {
		return logq.Errorf(logq.EInvalid, "%v", err)
	}
	if err := checkRange("partition", int64(partition), 0, projection.MaxPartitions-1); err != nil {
		return err
	}
	for i, m := range msgs {
		prefix := fmt.Sprintf("messages[%d].", i)
		if err := checkRange("producer_id", m.ProducerID, 1, 1<<62); err != nil {
			return withPrefix(prefix, err)
		}
		if err := checkMessage(m, maxMessageBytes); err != nil {
			return withPrefix(prefix, err)
		}
	}
	return nil
}
