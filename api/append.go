package api

import (
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"time"
	"unicode/utf8"
)

// Appending answers' messages. A consume answers up to 10,000 records; a
// broker writes them with these instead of building an api.StoredMessage
// or api.BatchMessage per record (a string copy of every value and key)
// for the codec to encode. The bytes are the codec's: a string that the
// codec would write with no escape is copied as it is, and any other goes
// through the codec (TestAppendMessageIsMarshal).

// StoredRecord is a stored record as an answer carries it.
type StoredRecord struct {
	Offset     int64
	Key        []byte // nil: no key
	Value      []byte
	Headers    []BinHeader
	Timestamp  int64 // ms
	ProducerID int64
	ProducedAt time.Time
}

// AppendBatchMessage appends r as Marshal of its BatchMessage (topic and
// partition included) writes it: text when it is, else (or always, with
// forceBase64) base64 (EncodeRecord).
func AppendBatchMessage(dst []byte, topic string, partition int, r *StoredRecord, forceBase64 bool) []byte {
	dst = append(dst, `{"topic":`...)
	dst = appendString(dst, topic)
	dst = append(dst, `,"partition":`...)
	dst = strconv.AppendInt(dst, int64(partition), 10)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendInt(dst, r.Offset, 10)
	dst = appendRecordFields(dst, r, forceBase64)
	return append(dst, '}')
}

// AppendStoredMessage appends r as Marshal of its StoredMessage writes it.
func AppendStoredMessage(dst []byte, r *StoredRecord, forceBase64 bool) []byte {
	dst = append(dst, `{"offset":`...)
	dst = strconv.AppendInt(dst, r.Offset, 10)
	dst = appendRecordFields(dst, r, forceBase64)
	dst = append(dst, `,"producer_id":`...)
	dst = strconv.AppendInt(dst, r.ProducerID, 10)
	dst = append(dst, `,"produced_at":`...)
	b, err := r.ProducedAt.MarshalJSON()
	if err != nil { // a year past 9999: as the codec would fail, write what it can
		b = []byte(`null`)
	}
	dst = append(dst, b...)
	return append(dst, '}')
}

// appendRecordFields appends ,"message", "key", "encoding"?, "headers"?
// and "timestamp", in BatchMessage's (and StoredMessage's) order.
func appendRecordFields(dst []byte, r *StoredRecord, forceBase64 bool) []byte {
	b64 := forceBase64 || !utf8.Valid(r.Value) || (r.Key != nil && !utf8.Valid(r.Key))
	for _, h := range r.Headers {
		b64 = b64 || (h.Value != nil && !utf8.Valid(h.Value))
	}
	bytesOf := func(dst, b []byte) []byte {
		if b64 {
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, b)
			return append(dst, '"')
		}
		return appendBytes(dst, b)
	}
	dst = append(dst, `,"message":`...)
	dst = bytesOf(dst, r.Value)
	dst = append(dst, `,"key":`...)
	if r.Key == nil {
		dst = append(dst, `null`...)
	} else {
		dst = bytesOf(dst, r.Key)
	}
	if b64 {
		dst = append(dst, `,"encoding":"base64"`...)
	}
	if len(r.Headers) > 0 {
		dst = append(dst, `,"headers":[`...)
		for i, h := range r.Headers {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"key":`...)
			dst = appendString(dst, h.Key)
			dst = append(dst, `,"value":`...)
			if h.Value == nil {
				dst = append(dst, `null`...)
			} else {
				dst = bytesOf(dst, h.Value)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"timestamp":`...)
	return strconv.AppendInt(dst, r.Timestamp, 10)
}

// plainByte marks the bytes the codec writes in a string as they are:
// printable ASCII but the quote, the backslash and HTML's <, > and &
// (which it escapes), and the bytes of multi-byte UTF-8 but 0xE2, which
// begins U+2028 and U+2029 (escaped too).
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = true
	}
	for _, c := range []byte{'"', '\\', '<', '>', '&', 0x7f, 0xe2} {
		t[c] = false
	}
	return t
}()

// appendBytes appends b, valid UTF-8, as a JSON string.
func appendBytes(dst, b []byte) []byte {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if !plainWord(binary.LittleEndian.Uint64(b[i:])) {
			break
		}
	}
	for ; i < len(b); i++ {
		if !plainByte[b[i]] {
			return appendCodec(dst, string(b))
		}
	}
	dst = append(dst, '"')
	dst = append(dst, b...)
	return append(dst, '"')
}

// plainWord reports whether the 8 bytes of w are printable ASCII the
// codec writes as they are (plainByte), 8 at a time: no byte below 0x20
// or from 0x7f, none of " \ < > &.
func plainWord(w uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q, bs, lt, gt, amp := w^(lo*'"'), w^(lo*'\\'), w^(lo*'<'), w^(lo*'>'), w^(lo*'&')
	return (w+lo)&hi|w&hi|(w-lo*0x20)&^w&hi|
		(q-lo)&^q&hi|(bs-lo)&^bs&hi|(lt-lo)&^lt&hi|(gt-lo)&^gt&hi|(amp-lo)&^amp&hi == 0
}

// AppendJSONString appends s as the codec writes it, a JSON string.
func AppendJSONString(dst []byte, s string) []byte { return appendString(dst, s) }

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainByte[s[i]] {
			return appendCodec(dst, s)
		}
	}
	if !utf8.ValidString(s) {
		return appendCodec(dst, s)
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendCodec appends s as the codec writes it.
func appendCodec(dst []byte, s string) []byte {
	b, err := Marshal(s)
	if err != nil { // a string always encodes
		return append(dst, `""`...)
	}
	return append(dst, b...)
}
