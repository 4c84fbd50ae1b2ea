package eventlog

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logq/logq/internal/pg"
	"github.com/logq/logq/internal/pgtest"
)

// TestCollectBinary: events decoded from the binary wire format equal what
// pgx's own scanning gives, timestamps before 2000 and data with non-ASCII
// text included.
func TestCollectBinary(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := pg.Connect(ctx, pgtest.NewDB(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := pg.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(ctx, `INSERT INTO events (seq, at, type, data, epoch) VALUES
		(1, '2024-05-06 07:08:09.123456+00', 'TopicCreated', '{"topic": "orders", "partitions": 3}', 1),
		(2, '1999-12-31 23:59:59.999999+00', 'WriterElected', '{"manager": "é\u00e8 \"q\"", "epoch": 2}', 2),
		(3, '1970-01-01 00:00:00+00', 'X', '{}', 3),
		(4, '2262-04-11 23:47:16.854775+00', 'Y', '[1, {"a": null}]', 9223372036854775807)`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := queryEvents(ctx, db, "SELECT "+eventColumns+" FROM events ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	// The pool's queries take the fast path.
	fast, err := db.Query(ctx, "SELECT "+eventColumns+" FROM events ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	if !binaryEventRows(fast.FieldDescriptions()) {
		t.Errorf("events rows come as %+v: not the fast path", fast.FieldDescriptions())
	}
	fast.Close()
	rows, err := db.Query(ctx, "SELECT "+eventColumns+" FROM events ORDER BY seq", pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	if binaryEventRows(rows.FieldDescriptions()) {
		t.Fatal("the simple protocol sent binary columns: the reference is not the slow path")
	}
	want, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ev struct {
		Seq   int64
		At    time.Time
		Type  string
		Data  []byte
		Epoch int64
	}, err error) {
		err = row.Scan(&ev.Seq, &ev.At, &ev.Type, &ev.Data, &ev.Epoch)
		return ev, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Seq != w.Seq || !g.At.Equal(w.At) || g.At.Location() != time.UTC || g.Type != w.Type || string(g.Data) != string(w.Data) || g.Epoch != w.Epoch {
			t.Errorf("event %d: binary path %+v (data %s), text path %+v (data %s)", i, g, g.Data, w, w.Data)
		}
	}
}
