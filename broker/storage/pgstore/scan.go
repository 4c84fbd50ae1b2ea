package pgstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/logq/logq/broker/storage"
)

// scanMessages reads message rows ("offset", produced_at, ts, producer_id,
// key, value, headers): straight from the binary wire values when pgx
// asked for them in binary (its default), through pgx's generic Scan
// otherwise (the simple protocol, as behind some poolers).
func (s *Store) scanMessages(rows pgx.Rows) ([]storage.StoredMessage, error) {
	defer rows.Close()
	if binaryMessageRows(rows.FieldDescriptions()) {
		s.paths.binaryScan.Add(1)
		return scanBinaryMessages(rows)
	}
	s.paths.scan.Add(1)
	return scanGenericMessages(rows)
}

// scanGenericMessages decodes message rows through pgx's Scan.
func scanGenericMessages(rows pgx.Rows) ([]storage.StoredMessage, error) {
	var out []storage.StoredMessage
	for rows.Next() {
		var m storage.StoredMessage
		var headers []byte
		if err := rows.Scan(&m.Offset, &m.ProducedAt, &m.Timestamp, &m.ProducerID, &m.Key, &m.Value, &headers); err != nil {
			return nil, err
		}
		if m.Value == nil {
			m.Value = []byte{}
		}
		var err error
		if m.Headers, err = decodeHeaders(headers); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// binaryMessageRows reports whether fds are the columns scanMessages reads,
// every one in binary format, as pgx asks for them.
func binaryMessageRows(fds []pgconn.FieldDescription) bool {
	want := []uint32{pgtype.Int8OID, pgtype.TimestamptzOID, pgtype.TimestamptzOID, pgtype.Int8OID, pgtype.ByteaOID, pgtype.ByteaOID, pgtype.ByteaOID}
	if len(fds) != len(want) {
		return false
	}
	for i, fd := range fds {
		if fd.DataTypeOID != want[i] || fd.Format != pgtype.BinaryFormatCode {
			return false
		}
	}
	return true
}

// pgEpochUnix is the zero of PostgreSQL's binary timestamps (2000-01-01
// UTC, in microseconds from it), in Unix seconds.
const pgEpochUnix = 946684800

func binaryTime(raw []byte, what string) (time.Time, error) {
	us := int64(binary.BigEndian.Uint64(raw))
	if us == math.MaxInt64 || us == math.MinInt64 {
		return time.Time{}, fmt.Errorf("infinite %s in a messages row", what)
	}
	return time.Unix(pgEpochUnix+us/1e6, us%1e6*1e3), nil
}

// slabSize is how much scanBinaryMessages allocates at a time for the
// keys and values of the rows it reads.
const slabSize = 64 << 10

// scanBinaryMessages decodes message rows straight from the wire: a
// consume of 10,000 messages spends less on each row than pgx's generic
// Scan does. Keys and values are copied into slabs of slabSize shared by
// consecutive rows (one allocation per slab, not per row; a row larger
// than a slab gets its own), so a message kept keeps its slab alive.
func scanBinaryMessages(rows pgx.Rows) ([]storage.StoredMessage, error) {
	var out []storage.StoredMessage
	var slab []byte
	for rows.Next() {
		raw := rows.RawValues()
		if len(raw) != 7 || len(raw[0]) != 8 || len(raw[1]) != 8 || len(raw[2]) != 8 || len(raw[3]) != 8 || raw[5] == nil {
			return nil, fmt.Errorf("malformed messages row")
		}
		produced, err := binaryTime(raw[1], "produced_at")
		if err != nil {
			return nil, err
		}
		ts, err := binaryTime(raw[2], "ts")
		if err != nil {
			return nil, err
		}
		m := storage.StoredMessage{
			Offset:     int64(binary.BigEndian.Uint64(raw[0])),
			ProducedAt: produced,
			Timestamp:  ts,
			ProducerID: int64(binary.BigEndian.Uint64(raw[3])),
		}
		n := len(raw[4]) + len(raw[5])
		if cap(slab)-len(slab) < n {
			slab = make([]byte, 0, max(slabSize, n))
		}
		buf := slab[len(slab):len(slab):cap(slab)]
		slab = slab[:len(slab)+n]
		if raw[4] != nil {
			buf = append(buf, raw[4]...)
			m.Key = buf[:len(raw[4]):len(raw[4])]
		}
		buf = append(buf, raw[5]...)
		m.Value = buf[len(buf)-len(raw[5]) : len(buf) : len(buf)] // capped: an append must not reach the next row's
		if m.Value == nil {
			m.Value = []byte{} // an empty value, not NULL
		}
		if m.Headers, err = decodeHeaders(raw[6]); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
