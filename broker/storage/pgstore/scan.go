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

// scanMessages reads message rows ("offset", produced_at, producer_id, key,
// payload): straight from the binary wire values when pgx asked for them
// in binary (its default), through pgx's generic Scan otherwise (the
// simple protocol, as behind some poolers).
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
		if err := rows.Scan(&m.Offset, &m.ProducedAt, &m.ProducerID, &m.Key, &m.Payload); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// binaryMessageRows reports whether fds are the columns scanMessages reads,
// the numbers and the time in binary format, as pgx asks for them (text is
// the same in both).
func binaryMessageRows(fds []pgconn.FieldDescription) bool {
	want := []uint32{pgtype.Int8OID, pgtype.TimestamptzOID, pgtype.Int8OID, pgtype.TextOID, pgtype.TextOID}
	if len(fds) != len(want) {
		return false
	}
	for i, fd := range fds {
		if fd.DataTypeOID != want[i] || (i < 3 && fd.Format != pgtype.BinaryFormatCode) {
			return false
		}
	}
	return true
}

// pgEpochUnix is the zero of PostgreSQL's binary timestamps (2000-01-01
// UTC, in microseconds from it), in Unix seconds.
const pgEpochUnix = 946684800

// scanBinaryMessages decodes message rows straight from the wire: a
// consume of 10,000 messages spends less on each row than pgx's generic
// Scan does.
func scanBinaryMessages(rows pgx.Rows) ([]storage.StoredMessage, error) {
	var out []storage.StoredMessage
	for rows.Next() {
		raw := rows.RawValues()
		if len(raw) != 5 || len(raw[0]) != 8 || len(raw[1]) != 8 || len(raw[2]) != 8 || raw[4] == nil {
			return nil, fmt.Errorf("malformed messages row")
		}
		us := int64(binary.BigEndian.Uint64(raw[1]))
		if us == math.MaxInt64 || us == math.MinInt64 {
			return nil, fmt.Errorf("infinite produced_at in a messages row")
		}
		m := storage.StoredMessage{
			Offset:     int64(binary.BigEndian.Uint64(raw[0])),
			ProducedAt: time.Unix(pgEpochUnix+us/1e6, us%1e6*1e3),
			ProducerID: int64(binary.BigEndian.Uint64(raw[2])),
			Payload:    string(raw[4]),
		}
		if raw[3] != nil {
			key := string(raw[3])
			m.Key = &key
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
