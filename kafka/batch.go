package kafka

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"slices"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// batch is one decoded record batch of a produce request.
type batch struct {
	producer Producer
	records  []Record
}

// errCorrupt marks a batch that does not decode (CORRUPT_MESSAGE).
var errCorrupt = errors.New("corrupt record batch")

// minRecordLen is the smallest record of a batch v2: length, attributes,
// timestamp and offset deltas, key and value lengths, header count.
const minRecordLen = 7

// maxDecompressed bounds a batch's records after decompression.
const maxDecompressed = 64 << 20

// decodeBatches decodes the record batches (v2) of one partition's produce
// data: checks each CRC, decompresses, and returns the records.
func decodeBatches(data []byte) ([]batch, error) {
	var out []batch
	for len(data) > 0 {
		if len(data) < 61 {
			return nil, fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(data))
		}
		length := int(int32(binary.BigEndian.Uint32(data[8:12])))
		if length < 49 || 12+length > len(data) {
			return nil, fmt.Errorf("%w: batch length %d", errCorrupt, length)
		}
		raw := data[:12+length]
		data = data[12+length:]
		if raw[16] != 2 {
			return nil, fmt.Errorf("%w: magic %d (only record batches v2)", errCorrupt, raw[16])
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(raw); err != nil {
			return nil, fmt.Errorf("%w: %v", errCorrupt, err)
		}
		if uint32(rb.CRC) != crc32.Checksum(raw[21:], crc32c) {
			return nil, fmt.Errorf("%w: CRC mismatch", errCorrupt)
		}
		if rb.Attributes&0x20 != 0 {
			return nil, fmt.Errorf("%w: control batches are not produced by clients", errCorrupt)
		}
		if rb.Attributes&0x10 != 0 {
			return nil, errTransactional
		}
		recs, err := decompress(rb.Records, int8(rb.Attributes&0x07))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errCorrupt, err)
		}
		b := batch{producer: Producer{ID: rb.ProducerID, Epoch: rb.ProducerEpoch, BaseSequence: rb.FirstSequence}}
		// One slice for the batch's records and one for all their headers;
		// keys and values stay parts of the request (or of the
		// decompressed records). NumRecords is the client's word: bounded
		// by the bytes there are (a record is at least 7).
		if rb.NumRecords > 0 {
			b.records = make([]Record, 0, min(int(rb.NumRecords), len(recs)/minRecordLen+1))
		}
		var hdrs []Header
		var r kmsg.Record
		rd := kbin.Reader{Src: recs}
		for i := int32(0); i < rb.NumRecords; i++ {
			start := rd.Src
			l := rd.Varint()
			if !rd.Ok() || l < 0 || int(l) > len(rd.Src) {
				return nil, fmt.Errorf("%w: record %d", errCorrupt, i)
			}
			hdrLen := len(start) - len(rd.Src)
			one := start[:hdrLen+int(l)]
			rd.Src = rd.Src[l:]
			// r's headers are decoded into again (they are copied out
			// below), their keys as strings over the bytes, which nothing
			// writes again.
			r.Headers = r.Headers[:0]
			if err := r.UnsafeReadFrom(one); err != nil {
				return nil, fmt.Errorf("%w: record %d: %v", errCorrupt, i, err)
			}
			rec := Record{Key: r.Key, Value: r.Value, Timestamp: time.UnixMilli(rb.FirstTimestamp + r.TimestampDelta64)}
			if len(r.Headers) > 0 {
				if hdrs == nil {
					// As many for every record left, bounded by the bytes
					// left (a header is at least 2).
					hdrs = make([]Header, 0, min(len(r.Headers)*int(rb.NumRecords-i), len(r.Headers)+len(rd.Src)/2))
				}
				at := len(hdrs)
				for _, h := range r.Headers {
					hdrs = append(hdrs, Header{Key: h.Key, Value: h.Value})
				}
				rec.Headers = hdrs[at:len(hdrs):len(hdrs)]
			}
			b.records = append(b.records, rec)
		}
		if len(rd.Src) != 0 {
			return nil, fmt.Errorf("%w: %d bytes after the last record", errCorrupt, len(rd.Src))
		}
		out = append(out, b)
	}
	return out, nil
}

var errTransactional = errors.New("transactional batches are not supported")

var zstdDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxDecompressed))

// xerialHeader starts snappy data framed the way the Java client does.
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// decompress returns the records of a batch compressed with codec (0 none,
// 1 gzip, 2 snappy, 3 lz4, 4 zstd).
func decompress(src []byte, codec int8) ([]byte, error) {
	switch codec {
	case 0:
		return src, nil
	case 1:
		zr, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, err
		}
		return readBounded(zr)
	case 2:
		if bytes.HasPrefix(src, xerialHeader) {
			return unxerial(src[16:])
		}
		return snappyBlock(src)
	case 3:
		return readBounded(lz4.NewReader(bytes.NewReader(src)))
	case 4:
		return zstdDec.DecodeAll(src, nil)
	}
	return nil, fmt.Errorf("unknown compression codec %d", codec)
}

func snappyBlock(src []byte) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, err
	}
	if n > maxDecompressed {
		return nil, fmt.Errorf("snappy block of %d bytes", n)
	}
	return s2.Decode(nil, src)
}

// unxerial decodes xerial-framed snappy (after its 16-byte header): chunks
// of a 4-byte length and a snappy block.
func unxerial(src []byte) ([]byte, error) {
	var out []byte
	for len(src) > 0 {
		if len(src) < 4 {
			return nil, errors.New("short xerial chunk")
		}
		n := int(binary.BigEndian.Uint32(src))
		src = src[4:]
		if n > len(src) {
			return nil, errors.New("short xerial chunk")
		}
		b, err := snappyBlock(src[:n])
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
		if len(out) > maxDecompressed {
			return nil, errors.New("decompressed batch too large")
		}
		src = src[n:]
	}
	return out, nil
}

func readBounded(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxDecompressed+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxDecompressed {
		return nil, errors.New("decompressed batch too large")
	}
	return b, nil
}

// appendBatch appends recs (offset-ordered, not empty) as one uncompressed
// record batch v2 with log-append-time timestamps when logAppendTime.
//
// The batch is written in place, each record once: its length is computed
// from its fields' sizes, not by encoding it first. The bytes are
// kmsg.RecordBatch's and kmsg.Record's (TestAppendBatchIsKmsg); only this
// body is encoded by hand, because kmsg has no way to append records into
// a batch without encoding each twice and copying the body again.
func appendBatch(dst []byte, recs []StoredRecord, logAppendTime bool) []byte {
	first, last := recs[0], recs[len(recs)-1]
	firstTS := first.Timestamp.UnixMilli()
	maxTS := firstTS
	size := batchHeaderLen
	for i := range recs {
		r := &recs[i]
		ts := r.Timestamp.UnixMilli()
		maxTS = max(maxTS, ts)
		n := recordBodyLen(r, ts-firstTS, int32(r.Offset-first.Offset))
		size += uvarintLen(zigzag(int64(n))) + n
	}
	start := len(dst)
	dst = slices.Grow(dst, size)[:start+batchHeaderLen]
	b := dst[start:]
	be := binary.BigEndian
	be.PutUint64(b[0:], uint64(first.Offset))
	be.PutUint32(b[12:], 0xffffffff) // PartitionLeaderEpoch -1
	b[16] = 2                        // Magic
	var attrs uint16
	if logAppendTime {
		attrs |= 0x08
	}
	be.PutUint16(b[21:], attrs)
	be.PutUint32(b[23:], uint32(int32(last.Offset-first.Offset)))
	be.PutUint64(b[27:], uint64(firstTS))
	be.PutUint64(b[35:], uint64(maxTS))
	be.PutUint64(b[43:], 0xffffffffffffffff) // ProducerID -1
	be.PutUint16(b[51:], 0xffff)             // ProducerEpoch -1
	be.PutUint32(b[53:], 0xffffffff)         // FirstSequence -1
	be.PutUint32(b[57:], uint32(len(recs)))
	for i := range recs {
		r := &recs[i]
		tsDelta := r.Timestamp.UnixMilli() - firstTS
		offDelta := int32(r.Offset - first.Offset)
		dst = binary.AppendVarint(dst, int64(recordBodyLen(r, tsDelta, offDelta)))
		dst = append(dst, 0) // attributes
		dst = binary.AppendVarint(dst, tsDelta)
		dst = binary.AppendVarint(dst, int64(offDelta))
		dst = appendVarintBytes(dst, r.Key)
		dst = appendVarintBytes(dst, r.Value)
		dst = binary.AppendVarint(dst, int64(len(r.Headers)))
		for _, h := range r.Headers {
			dst = binary.AppendVarint(dst, int64(len(h.Key)))
			dst = append(dst, h.Key...)
			dst = appendVarintBytes(dst, h.Value)
		}
	}
	b = dst[start:]
	be.PutUint32(b[8:], uint32(len(b)-12))
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32c))
	return dst
}

// batchHeaderLen is a record batch v2's size without its records.
const batchHeaderLen = 61

// recordBodyLen is the encoded size of r after its length prefix.
func recordBodyLen(r *StoredRecord, tsDelta int64, offDelta int32) int {
	n := 1 + uvarintLen(zigzag(tsDelta)) + uvarintLen(zigzag(int64(offDelta))) +
		varintBytesLen(r.Key) + varintBytesLen(r.Value) + uvarintLen(zigzag(int64(len(r.Headers))))
	for _, h := range r.Headers {
		n += uvarintLen(zigzag(int64(len(h.Key)))) + len(h.Key) + varintBytesLen(h.Value)
	}
	return n
}

// appendVarintBytes appends b as Kafka's varint-prefixed bytes (nil: -1).
func appendVarintBytes(dst, b []byte) []byte {
	if b == nil {
		return append(dst, 1) // zigzag(-1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

func varintBytesLen(b []byte) int {
	if b == nil {
		return 1
	}
	return uvarintLen(zigzag(int64(len(b)))) + len(b)
}

func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

// uvarintLen is the size of v as a uvarint.
func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }
