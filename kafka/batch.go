package kafka

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
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
			var r kmsg.Record
			if err := r.ReadFrom(one); err != nil {
				return nil, fmt.Errorf("%w: record %d: %v", errCorrupt, i, err)
			}
			rec := Record{Key: r.Key, Value: r.Value, Timestamp: time.UnixMilli(rb.FirstTimestamp + r.TimestampDelta64)}
			for _, h := range r.Headers {
				rec.Headers = append(rec.Headers, Header{Key: h.Key, Value: h.Value})
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
func appendBatch(dst []byte, recs []StoredRecord, logAppendTime bool) []byte {
	first, last := recs[0], recs[len(recs)-1]
	firstTS := first.Timestamp.UnixMilli()
	maxTS := firstTS
	var body []byte
	for _, r := range recs {
		ts := r.Timestamp.UnixMilli()
		maxTS = max(maxTS, ts)
		rec := kmsg.Record{
			TimestampDelta64: ts - firstTS,
			OffsetDelta:      int32(r.Offset - first.Offset),
			Key:              r.Key,
			Value:            r.Value,
		}
		for _, h := range r.Headers {
			rec.Headers = append(rec.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		// Record.AppendTo writes Length as given: compute it first.
		rec.Length = int32(len(rec.AppendTo(nil)) - varintLen(0))
		body = rec.AppendTo(body)
	}
	var attrs int16
	if logAppendTime {
		attrs |= 0x08
	}
	rb := kmsg.RecordBatch{
		FirstOffset:          first.Offset,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           attrs,
		LastOffsetDelta:      int32(last.Offset - first.Offset),
		FirstTimestamp:       firstTS,
		MaxTimestamp:         maxTS,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(recs)),
		Records:              body,
	}
	start := len(dst)
	dst = rb.AppendTo(dst)
	b := dst[start:]
	binary.BigEndian.PutUint32(b[8:12], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:21], crc32.Checksum(b[21:], crc32c))
	return dst
}

func varintLen(v int32) int { return len(binary.AppendVarint(nil, int64(v))) }
