package broker

import (
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logq/logq/internal/pgtest"
)

// TestScanBinaryMessages: rows decoded from the binary wire format equal
// pgx's own scanning of the same rows (text protocol).
func TestScanBinaryMessages(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, time.Minute)
	db := connect(t, pgtest.NewDB(t))
	_, err := db.Exec(ctx, `INSERT INTO messages (topic, partition, "offset", produced_at, producer_id, key, payload) VALUES
		('t', 0, 0, '2025-01-02 03:04:05.123456+00', 1, NULL, 'hello'),
		('t', 0, 1, '1999-12-31 23:59:59.999999+00', 9223372036854775807, 'k é', ''),
		('t', 0, 2, '1970-01-01 00:00:00+00', 2, '', 'x "y" \ z')`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := newStore(db).read(ctx, "t", 0, 0, 10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	// The pool's queries take the fast path.
	fast, err := db.Query(ctx, `SELECT "offset", produced_at, producer_id, key, payload FROM messages`)
	if err != nil {
		t.Fatal(err)
	}
	if !binaryMessageRows(fast.FieldDescriptions()) {
		t.Errorf("message rows come as %+v: not the fast path", fast.FieldDescriptions())
	}
	fast.Close()
	rows, err := db.Query(ctx, `SELECT "offset", produced_at, producer_id, key, payload FROM messages ORDER BY "offset"`, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	if binaryMessageRows(rows.FieldDescriptions()) {
		t.Fatal("the simple protocol sent binary columns: the reference is not the slow path")
	}
	want, err := scanMessages(rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Offset != w.Offset || !g.ProducedAt.Equal(w.ProducedAt) || g.ProducerID != w.ProducerID ||
			!reflect.DeepEqual(g.Key, w.Key) || g.Payload != w.Payload ||
			g.ProducedAt.Format(time.RFC3339Nano) != w.ProducedAt.Format(time.RFC3339Nano) {
			t.Errorf("message %d: binary %+v, text %+v", i, g, w)
		}
	}
}
