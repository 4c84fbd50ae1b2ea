package broker

import (
	"testing"
	"time"

	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

// TestStartsFromSnapshot: a broker's cold start folds the newest snapshot
// and tails only the events after it. The events the snapshot covers are
// deleted, so a broker that replayed from seq 0 would not know it owns the
// partition; one started from the snapshot serves it, and learns the
// events appended after the snapshot too.
func TestStartsFromSnapshot(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	cp, seq := withTopic(t, dsn, "snap", 1)

	db := connect(t, dsn)
	ctx := pgtest.Context(t, time.Minute)
	all, err := eventlog.Read(ctx, db, 0, int(seq))
	if err != nil {
		t.Fatal(err)
	}
	s := projection.New()
	if err := projection.ApplyAll(s, all); err != nil {
		t.Fatal(err)
	}
	enc, err := projection.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := eventlog.SaveSnapshot(ctx, db, s.Seq, enc); err != nil {
		t.Fatal(err)
	}
	// Only the test's sabotage: the log before the snapshot is gone.
	if _, err := db.Exec(ctx, "DELETE FROM events WHERE seq <= $1", seq); err != nil {
		t.Fatal(err)
	}
	cp.topic("after", 1)
	later := cp.register("after", nil, testClients+1)

	b := startBroker(t, Config{DSN: dsn, ID: 1})
	b.waitApplied(later)
	if base := b.appendHTTP("snap", 0, 1, "a", "b"); base != 0 {
		t.Fatalf("append to a partition known from the snapshot: base %d; want 0", base)
	}
	if base := b.appendHTTP("after", 0, testClients+1, "c"); base != 0 {
		t.Fatalf("append to a partition assigned after the snapshot: base %d; want 0", base)
	}
}
