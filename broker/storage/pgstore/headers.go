package pgstore

import (
	"encoding/binary"
	"errors"

	"github.com/logq/logq/broker/storage"
)

// The headers column is bytea (migrations/0002_records.sql says why), NULL
// when a record has none, else each header in turn: the key's length
// (uvarint) and bytes, then the value's length as a varint (-1 for a null
// value) and bytes.

func encodeHeaders(hs []storage.Header) []byte {
	n := 0
	for _, h := range hs {
		n += len(h.Key) + len(h.Value) + 2*binary.MaxVarintLen32
	}
	buf := make([]byte, 0, n)
	for _, h := range hs {
		buf = binary.AppendUvarint(buf, uint64(len(h.Key)))
		buf = append(buf, h.Key...)
		if h.Value == nil {
			buf = binary.AppendVarint(buf, -1)
			continue
		}
		buf = binary.AppendVarint(buf, int64(len(h.Value)))
		buf = append(buf, h.Value...)
	}
	return buf
}

var errMalformedHeaders = errors.New("malformed headers column")

// decodeHeaders decodes the column; the headers' bytes are copied.
func decodeHeaders(b []byte) ([]storage.Header, error) {
	if b == nil {
		return nil, nil
	}
	var out []storage.Header
	for len(b) > 0 {
		kl, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < kl {
			return nil, errMalformedHeaders
		}
		h := storage.Header{Key: string(b[n : n+int(kl)])}
		b = b[n+int(kl):]
		vl, n := binary.Varint(b)
		if n <= 0 || vl < -1 || int64(len(b)-n) < vl {
			return nil, errMalformedHeaders
		}
		b = b[n:]
		if vl >= 0 {
			h.Value = append(make([]byte, 0, vl), b[:vl]...)
			b = b[vl:]
		}
		out = append(out, h)
	}
	return out, nil
}
