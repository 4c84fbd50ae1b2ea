package api

import (
	"encoding/base64"
	"math"
	"time"
	"unicode/utf8"

	"github.com/logq/logq"
)

// Records are bytes (docs/api.md, "Records: bytes, keys, headers,
// timestamps"). On the wire a record's value, key and header values travel
// as JSON text when they are valid UTF-8; a record whose bytes are not all
// text says "encoding":"base64", and then its value, its key and every
// header value are standard base64 (RFC 4648, with padding). Header keys
// are always text. The flag is per record, on produce as on answers:
// answers use text whenever they can, unless the client asks for
// encoding=base64 (every record then base64). Timestamps are Unix
// milliseconds.

// Names of the record parameters (package variables: a literal per call
// would be allocated on every message).
var (
	timestampNames = []string{"timestamp"}
	encodingNames  = []string{"encoding"}
)

// EncodingBase64 is the value of a record's "encoding" when its bytes
// travel as base64; "" (or "text") means as text.
const EncodingBase64 = "base64"

// MaxTimestamp bounds a record timestamp (ms): the end of year 9999.
const MaxTimestamp = 253402300799999

// MaxSequence and MaxProducerEpoch bound an idempotent producer's
// sequence and epoch (Kafka's int32 and int16).
const (
	MaxSequence      = math.MaxInt32
	MaxProducerEpoch = math.MaxInt16
)

// Header is one record header as sent and answered.
type Header struct {
	Key   string  `json:"key"`
	Value *string `json:"value"` // null: a null value; base64 when the record's encoding is
}

// HeaderItem is one header as accepted.
type HeaderItem struct {
	Key   Str `json:"key"`
	Value Str `json:"value"`
}

// BinHeader is a header as bytes.
type BinHeader struct {
	Key   string
	Value []byte // nil: null
}

// RecordFields are what a produced record carries beside its value and key.
type RecordFields struct {
	Encoding  Str          `json:"encoding"`
	Headers   []HeaderItem `json:"headers"`
	Timestamp Int          `json:"timestamp"`
}

// recordFields checks them.
func (f *RecordFields) recordFields() (enc string, hs []Header, ts *int64, err error) {
	if enc, err = encoding(&f.Encoding); err != nil {
		return "", nil, nil, err
	}
	if f.Headers != nil {
		hs = make([]Header, len(f.Headers))
		for i := range f.Headers {
			h := &f.Headers[i]
			k, ok, err := str([]string{"key"}, &h.Key)
			if err != nil || !ok {
				return "", nil, nil, logq.Errorf(logq.EInvalid, "headers[%d].key is required (a string)", i)
			}
			hs[i].Key = k
			v, ok, err := str([]string{"value"}, &h.Value)
			if err != nil {
				return "", nil, nil, logq.Errorf(logq.EInvalid, "headers[%d].value must be a string or null", i)
			}
			if ok {
				hs[i].Value = &v
			}
		}
	}
	t, ok, err := integer(timestampNames, 0, MaxTimestamp, &f.Timestamp)
	if err != nil {
		return "", nil, nil, err
	}
	if ok {
		v := t // on the heap only when given
		ts = &v
	}
	return enc, hs, ts, nil
}

// encoding reads an "encoding" parameter: "" (absent, or "text") or
// EncodingBase64.
func encoding(s *Str) (string, error) {
	v, _, err := str(encodingNames, s)
	switch {
	case err != nil:
		return "", err
	case v == "" || v == "text":
		return "", nil
	case v == EncodingBase64:
		return EncodingBase64, nil
	}
	return "", logq.Errorf(logq.EInvalid, "encoding must be %q or %q; got %q", "text", EncodingBase64, v)
}

// DecodeRecord turns a record as sent into bytes, refusing (400) base64
// that does not decode.
func DecodeRecord(enc, value string, key *string, hs []Header) (k, v []byte, bh []BinHeader, err error) {
	dec := func(what, s string) ([]byte, error) {
		if enc != EncodingBase64 {
			return []byte(s), nil
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, logq.Errorf(logq.EInvalid, "%s is not valid base64 (the record's encoding is base64)", what)
		}
		return b, nil
	}
	if v, err = dec("message", value); err != nil {
		return nil, nil, nil, err
	}
	if key != nil {
		if k, err = dec("key", *key); err != nil {
			return nil, nil, nil, err
		}
	}
	if len(hs) > 0 {
		bh = make([]BinHeader, len(hs))
		for i, h := range hs {
			bh[i].Key = h.Key
			if h.Value != nil {
				if bh[i].Value, err = dec("a header value", *h.Value); err != nil {
					return nil, nil, nil, err
				}
			}
		}
	}
	return k, v, bh, nil
}

// CheckRecord refuses, before anything is written, a record that cannot be
// stored: base64 that does not decode (400), over maxBytes with its key
// and headers (413). Manager and broker check with this one function.
func CheckRecord(enc, value string, key *string, hs []Header, maxBytes int) error {
	n := 0
	if enc != EncodingBase64 {
		// Text: its bytes are the record's (no copy on the hot path).
		n = len(value)
		if key != nil {
			n += len(*key)
		}
		for _, h := range hs {
			n += len(h.Key)
			if h.Value != nil {
				n += len(*h.Value)
			}
		}
	} else {
		k, v, bh, err := DecodeRecord(enc, value, key, hs)
		if err != nil {
			return err
		}
		n = len(k) + len(v)
		for _, h := range bh {
			n += len(h.Key) + len(h.Value)
		}
	}
	if n > maxBytes {
		return logq.Errorf(logq.ETooLarge, "message of %d bytes (with its key and headers) is over the %d-byte limit", n, maxBytes)
	}
	return nil
}

// EncodeRecord turns a record's bytes into its wire form: text when the
// value, the key and every header value are valid UTF-8 and base64 is not
// forced, else base64 with enc = EncodingBase64.
func EncodeRecord(key, value []byte, hs []BinHeader, forceBase64 bool) (k *string, v string, wh []Header, enc string) {
	b64 := forceBase64 || !utf8.Valid(value) || (key != nil && !utf8.Valid(key))
	for _, h := range hs {
		b64 = b64 || (h.Value != nil && !utf8.Valid(h.Value))
	}
	str := func(b []byte) string {
		if b64 {
			return base64.StdEncoding.EncodeToString(b)
		}
		return string(b)
	}
	if b64 {
		enc = EncodingBase64
	}
	if key != nil {
		s := str(key)
		k = &s
	}
	if len(hs) > 0 {
		wh = make([]Header, len(hs))
		for i, h := range hs {
			wh[i].Key = h.Key
			if h.Value != nil {
				s := str(h.Value)
				wh[i].Value = &s
			}
		}
	}
	return k, str(value), wh, enc
}

// Reencode returns a record answered as text as base64 (a client that asked
// for base64 always); one already in base64 is returned as it is.
func Reencode(enc string, value string, key *string, hs []Header) (string, *string, []Header, string) {
	if enc == EncodingBase64 {
		return value, key, hs, enc
	}
	var k []byte
	if key != nil {
		k = []byte(*key)
	}
	var bh []BinHeader
	for _, h := range hs {
		b := BinHeader{Key: h.Key}
		if h.Value != nil {
			b.Value = []byte(*h.Value)
		}
		bh = append(bh, b)
	}
	nk, nv, nh, ne := EncodeRecord(k, []byte(value), bh, true)
	return nv, nk, nh, ne
}

// Millis is t in Unix milliseconds.
func Millis(t time.Time) int64 { return t.UnixMilli() }

// answerEncoding reads the "encoding" a fetch or consume asks answers in:
// "" (text when possible) or EncodingBase64 (always).
func answerEncoding(s *Str) (bool, error) {
	enc, err := encoding(s)
	return enc == EncodingBase64, err
}

// PickKey is the key a partitioner hashes: the key's bytes, whatever their
// encoding on the wire (so that a key maps to one partition both ways).
func PickKey(enc string, key *string) *string {
	if key == nil || enc != EncodingBase64 {
		return key
	}
	b, err := base64.StdEncoding.DecodeString(*key)
	if err != nil {
		return key // refused by CheckRecord before any pick counts
	}
	s := string(b)
	return &s
}
