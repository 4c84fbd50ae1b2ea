package broker

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// The message scan without pgx's generic Scan (the storage side of the
// consume path).

// binaryMessageRows reports whether fds are the columns scanMessages reads
// ("offset", produced_at, producer_id, key, payload), the numbers and the
// time in binary format, as pgx asks for them (text is the same in both).
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
func scanBinaryMessages(rows pgx.Rows) ([]storedMessage, error) {
	var out []storedMessage
	for rows.Next() {
		raw := rows.RawValues()
		if len(raw) != 5 || len(raw[0]) != 8 || len(raw[1]) != 8 || len(raw[2]) != 8 || raw[4] == nil {
			return nil, fmt.Errorf("malformed messages row")
		}
		us := int64(binary.BigEndian.Uint64(raw[1]))
		if us == math.MaxInt64 || us == math.MinInt64 {
			return nil, fmt.Errorf("infinite produced_at in a messages row")
		}
		m := storedMessage{
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
