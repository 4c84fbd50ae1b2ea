package client

import (
	"time"
	"unicode/utf8"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
)

// Records are bytes. A Record's and a Message's Key and Value are Go
// strings, which hold any bytes (not only UTF-8): string(b) and []byte(s)
// convert without loss. On the wire a record that is not all valid UTF-8
// travels as base64 with "encoding":"base64" (docs/api.md); the client
// encodes and decodes it, so callers only ever see the bytes.

// Header is one record header: a text key and a value of bytes (nil: a
// null value).
type Header struct {
	Key   string
	Value []byte
}

// wireRecord is rec's value, key, headers and timestamp on the wire.
func wireRecord(rec Record) (value string, key *string, hs []api.Header, enc string, ts *int64) {
	if !rec.Timestamp.IsZero() {
		ms := rec.Timestamp.UnixMilli()
		ts = &ms
	}
	if len(rec.Headers) == 0 && utf8.ValidString(rec.Value) && utf8.ValidString(rec.Key) {
		// Text, as api.EncodeRecord would say, without its two copies of
		// the value (to bytes and back): TestWireRecordText.
		if rec.Key != "" {
			k := rec.Key
			key = &k
		}
		return rec.Value, key, nil, "", ts
	}
	var bh []api.BinHeader
	if len(rec.Headers) > 0 {
		bh = make([]api.BinHeader, len(rec.Headers))
		for i, h := range rec.Headers {
			bh[i] = api.BinHeader{Key: h.Key, Value: h.Value}
		}
	}
	var k []byte
	if rec.Key != "" {
		k = []byte(rec.Key)
	}
	key, value, hs, enc = api.EncodeRecord(k, []byte(rec.Value), bh, false)
	return value, key, hs, enc, ts
}

// fromWire decodes a delivered record into a Message (a record the server
// sent in a base64 that does not decode keeps its text: servers never do).
func (m *Message) fromWire(enc, value string, key *string, hs []api.Header, ts int64) {
	k, v, bh, err := api.DecodeRecord(enc, value, key, hs)
	if err != nil {
		m.Value = value
		if key != nil {
			m.Key = *key
		}
		return
	}
	m.Value = string(v)
	m.Key = string(k)
	if len(bh) > 0 {
		m.Headers = make([]Header, len(bh))
		for i, h := range bh {
			m.Headers[i] = Header{Key: h.Key, Value: h.Value}
		}
	}
	if ts != 0 {
		m.Timestamp = time.UnixMilli(ts)
	}
}

// Sentinels of the records' errors, for errors.Is (as those of errors.go).
var (
	ErrOutOfOrderSequence = logq.ErrOutOfOrderSequence // an idempotent batch whose sequence does not follow
	ErrProducerFenced     = logq.ErrProducerFenced     // a producer epoch older than the partition's
	ErrOffsetOutOfRange   = logq.ErrOffsetOutOfRange   // a fetch below the log start or past the end
)
