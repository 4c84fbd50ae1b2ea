package manager

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/logq/logq"
	"github.com/logq/logq/internal/fastjson"
)

// Parameter names, with the aliases clients of other implementations use.
var (
	pTopic      = []string{"topic", "topic_name", "name"}
	pPartition  = []string{"partition", "partition_id", "partition_index"}
	pPartitions = []string{"partitions", "partition_count", "num_partitions"}
	pProducer   = []string{"producer_id"}
	pConsumer   = []string{"consumer_id"}
	pBroker     = []string{"broker_id"}
	pMessage    = []string{"message"}
	pMessages   = []string{"messages"}
	pKey        = []string{"key"}
	pAddress    = []string{"address"}
	pMinSeq     = []string{"min_seq"}
	pMax        = []string{"max"}
	pWaitMS     = []string{"wait_ms"}
	pFrom       = []string{"from"}
	pLimit      = []string{"limit"}
	pCount      = []string{"count"}
	pExpect     = []string{"expect_partitions"}
	pRejoin     = []string{"rejoin"}
)

// params are a request's parameters, from the query string, a JSON object
// body or a form body (the body wins over the query string).
type params struct {
	body map[string]any // JSON body, numbers as json.Number
	form url.Values     // query string, then form body
}

// readBody reads the whole (size-limited) body; an oversized body is a
// logq ETooLarge error.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, logq.Errorf(logq.ETooLarge, "request body over %d bytes", tooLarge.Limit)
		}
		return nil, logq.Errorf(logq.EInvalid, "cannot read the request body")
	}
	return b, nil
}

// parseParams reads the request's parameters. Malformed JSON is a logq
// EInvalid error, an oversized body ETooLarge.
func parseParams(r *http.Request) (*params, error) {
	p := &params{form: r.URL.Query()}
	if err := checkUTF8(p.form); err != nil {
		return nil, err
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return p, nil
	}
	// Text is UTF-8 everywhere (JSON requires it, PostgreSQL stores it):
	// refuse rather than let the decoder replace bad bytes silently.
	if !utf8.Valid(body) {
		return nil, logq.Errorf(logq.EInvalid, "the request body is not valid UTF-8")
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case body[0] == '{':
		// JSON, whatever the content type says: curl -d sends JSON with a
		// form content type unless told otherwise.
		obj, err := decodeObject(body)
		if err != nil {
			return nil, err
		}
		p.body = obj
	case ct == "application/x-www-form-urlencoded" || (ct == "" && bytes.IndexByte(body, '=') > 0):
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, logq.Errorf(logq.EInvalid, "malformed form body")
		}
		if err := checkUTF8(vals); err != nil {
			return nil, err
		}
		for k, v := range vals {
			p.form[k] = v
		}
	default:
		return nil, logq.Errorf(logq.EInvalid, "the request body must be a JSON object or a urlencoded form")
	}
	return p, nil
}

// checkUTF8 refuses parameters (decoded from a query string or a form)
// that are not valid UTF-8.
func checkUTF8(vals url.Values) error {
	for k, vs := range vals {
		if !utf8.ValidString(k) {
			return logq.Errorf(logq.EInvalid, "a parameter name is not valid UTF-8")
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return logq.Errorf(logq.EInvalid, "parameter %q is not valid UTF-8", k)
			}
		}
	}
	return nil
}

// maxPartitionIndex bounds partition numbers at parsing; the topic's own
// partition count is checked where the topic is known.
const maxPartitionIndex = math.MaxInt32

// decodeObject decodes a JSON object, numbers as json.Number.
func decodeObject(b []byte) (map[string]any, error) {
	if obj, ok := fastjson.DecodeObject(b); ok {
		return obj, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, logq.Errorf(logq.EInvalid, "malformed JSON body: %s", jsonErrText(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, logq.Errorf(logq.EInvalid, "malformed JSON body: data after the object")
	}
	return obj, nil
}

// jsonErrText describes a JSON syntax error without echoing the input.
func jsonErrText(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return syn.Error() + " at byte " + strconv.FormatInt(syn.Offset, 10)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of input"
	}
	return "not a JSON object"
}

// paramsOf wraps one JSON object (an item of a batch) as params.
func paramsOf(obj map[string]any) *params { return &params{body: obj, form: url.Values{}} }

// lookup finds the first present name: the body's value, else the form's
// string. null counts as absent.
func (p *params) lookup(names []string) (v any, name string, ok bool) {
	for _, n := range names {
		if v, ok := p.body[n]; ok && v != nil {
			return v, n, true
		}
	}
	for _, n := range names {
		if vs, ok := p.form[n]; ok && len(vs) > 0 {
			return vs[0], n, true
		}
	}
	return nil, names[0], false
}

// str returns a string parameter ("" and false when absent).
func (p *params) str(names []string) (string, bool, error) {
	v, name, ok := p.lookup(names)
	if !ok {
		return "", false, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", false, logq.Errorf(logq.EInvalid, "%s must be a string", name)
	}
	return s, true, nil
}

// requiredStr is str for a parameter that must be present and non-empty.
func (p *params) requiredStr(names []string) (string, error) {
	s, ok, err := p.str(names)
	if err != nil {
		return "", err
	}
	if !ok || s == "" {
		return "", logq.Errorf(logq.EInvalid, "%s is required", names[0])
	}
	return s, nil
}

// integer returns an integer parameter: a JSON number without fraction or a
// numeric string, within [lo, hi].
func (p *params) integer(names []string, lo, hi int64) (int64, bool, error) {
	v, name, ok := p.lookup(names)
	if !ok {
		return 0, false, nil
	}
	var text string
	switch v := v.(type) {
	case json.Number:
		text = v.String()
	case string:
		text = strings.TrimSpace(v)
	default:
		return 0, false, logq.Errorf(logq.EInvalid, "%s must be an integer", name)
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		// 1e3 or 5.0 are integers too, when exactly so.
		f, ferr := strconv.ParseFloat(text, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
			return 0, false, logq.Errorf(logq.EInvalid, "%s must be an integer between %d and %d", name, lo, hi)
		}
		n = int64(f)
	}
	if n < lo || n > hi {
		return 0, false, logq.Errorf(logq.EInvalid, "%s must be between %d and %d; got %s", name, lo, hi, text)
	}
	return n, true, nil
}

// boolean returns a boolean parameter: a JSON boolean, or true/false/1/0
// as a string (false when absent).
func (p *params) boolean(names []string) (bool, error) {
	v, name, ok := p.lookup(names)
	if !ok {
		return false, nil
	}
	switch v := v.(type) {
	case bool:
		return v, nil
	case string:
		if b, err := strconv.ParseBool(strings.TrimSpace(v)); err == nil {
			return b, nil
		}
	}
	return false, logq.Errorf(logq.EInvalid, "%s must be true or false", name)
}

// requiredInt is integer for a parameter that must be present.
func (p *params) requiredInt(names []string, lo, hi int64) (int64, error) {
	n, ok, err := p.integer(names, lo, hi)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, logq.Errorf(logq.EInvalid, "%s is required", names[0])
	}
	return n, nil
}

// optPartition returns the partition parameter, nil when absent.
func (p *params) optPartition() (*int, error) {
	n, ok, err := p.integer(pPartition, 0, maxPartitionIndex)
	if err != nil || !ok {
		return nil, err
	}
	v := int(n)
	return &v, nil
}

// message returns the message text: a string, or the text of a JSON number
// or boolean. Objects and arrays are refused.
func (p *params) message() (string, error) {
	v, name, ok := p.lookup(pMessage)
	if !ok {
		return "", logq.Errorf(logq.EInvalid, "%s is required", name)
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	return "", logq.Errorf(logq.EInvalid, "%s must be a string", name)
}

// key returns the optional message key.
func (p *params) key() (*string, error) {
	s, ok, err := p.str(pKey)
	if err != nil || !ok {
		return nil, err
	}
	return &s, nil
}

// list returns a JSON array parameter (body only).
func (p *params) list(names []string) ([]any, error) {
	for _, n := range names {
		if v, ok := p.body[n]; ok && v != nil {
			l, isList := v.([]any)
			if !isList {
				return nil, logq.Errorf(logq.EInvalid, "%s must be a list", n)
			}
			return l, nil
		}
	}
	return nil, logq.Errorf(logq.EInvalid, "%s is required (a JSON list in the body)", names[0])
}
