package pgstore

import (
	"errors"
	"slices"
	"testing"

	"github.com/logq/logq"
	"github.com/logq/logq/broker/storage"
	"github.com/logq/logq/internal/pgtest"
)

// TestIdempotentMemoryGoesStale: the fast path decides from memory, and
// another writer of the partition (another store at the same epoch, a new
// owner) makes that memory stale. Every stale decision must end as the
// locked path would answer it: a retry the other store stored is a
// duplicate with its original offset, a batch after another's plain append
// gets the next offset, a batch at a superseded epoch is fenced. And the
// memory is learned again, so the path after the fallback is the fast one.
func TestIdempotentMemoryGoesStale(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dsn := pgtest.NewDB(t)
	a, b := New(pgtest.Pool(t, dsn, 4)), New(pgtest.Pool(t, dsn, 4))
	for _, s := range []*Store{a, b} {
		if _, err := s.Claim(ctx, "t", 0, 1, 1); err != nil { // b: the same owner again (a restart)
			t.Fatal(err)
		}
	}
	one := func(v string) []storage.Message { return []storage.Message{{ProducerID: 7, Value: []byte(v)}} }
	idem := func(s *Store, epoch, seq int64, v string) storage.AppendResult {
		t.Helper()
		res, err := s.Append(ctx, []storage.Batch{{Topic: "t", Partition: 0, Epoch: epoch, Msgs: one(v),
			Idem: &storage.Idempotence{ProducerID: 7, BaseSequence: seq}}})
		if err != nil {
			t.Fatalf("append %s: %v", v, err)
		}
		return res[0]
	}
	paths := func(s *Store) [2]int64 { return [2]int64{s.paths.idempotent.Load(), s.paths.idempotentFast.Load()} }
	step := func(what string, s *Store, before [2]int64, locked, fast int64) {
		t.Helper()
		if got := paths(s); got[0]-before[0] != locked || got[1]-before[1] != fast {
			t.Errorf("%s: took the locked path %d times and the fast one %d; want %d and %d",
				what, got[0]-before[0], got[1]-before[1], locked, fast)
		}
	}

	p := paths(a)
	if r := idem(a, 1, 0, "a"); r.Base != 0 || r.Duplicate || r.Err != nil {
		t.Fatalf("a = %+v", r)
	}
	step("a producer new to the store", a, p, 1, 0)
	p = paths(a)
	if r := idem(a, 1, 1, "b"); r.Base != 1 || r.Err != nil {
		t.Fatalf("b = %+v", r)
	}
	step("a known producer", a, p, 0, 1)

	// b stores seq 2; a, which does not know it, sees the retry of it.
	if r := idem(b, 1, 2, "c"); r.Base != 2 || r.Err != nil {
		t.Fatalf("c by the other store = %+v", r)
	}
	p = paths(a)
	if r := idem(a, 1, 2, "c"); r.Base != 2 || !r.Duplicate || r.Err != nil {
		t.Fatalf("the retry of c through the stale store = %+v; want a duplicate at 2", r)
	}
	step("a stale memory", a, p, 1, 1)
	p = paths(a)
	if r := idem(a, 1, 3, "d"); r.Base != 3 || r.Err != nil {
		t.Fatalf("d = %+v", r)
	}
	step("the memory learned again", a, p, 0, 1)

	// A plain append by b moves the partition on.
	if res, err := b.Append(ctx, []storage.Batch{{Topic: "t", Partition: 0, Epoch: 1, Msgs: one("plain")}}); err != nil || res[0].Base != 4 {
		t.Fatalf("plain append by the other store = %+v, %v", res, err)
	}
	if r := idem(a, 1, 4, "e"); r.Base != 5 || r.Err != nil {
		t.Fatalf("e after the other's plain append = %+v; want offset 5", r)
	}

	// A new owner: a's memory still has epoch 1.
	if _, err := b.Claim(ctx, "t", 0, 2, 2); err != nil {
		t.Fatal(err)
	}
	p = paths(a)
	if r := idem(a, 1, 5, "f"); !errors.Is(r.Err, logq.ErrFenced) {
		t.Fatalf("f at a superseded epoch = %+v; want fenced", r)
	}
	step("a superseded epoch", a, p, 1, 1)
	if r := idem(b, 2, 5, "f"); r.Base != 6 || r.Err != nil {
		t.Fatalf("f through the new owner = %+v", r)
	}

	var got []string
	for _, m := range all(t, b, "t", 0) {
		got = append(got, string(m.Value))
	}
	if want := []string{"a", "b", "c", "d", "plain", "e", "f"}; !slices.Equal(got, want) {
		t.Fatalf("partition holds %q; want %q", got, want)
	}
}

func all(t *testing.T, s *Store, topic string, partition int) []storage.StoredMessage {
	t.Helper()
	msgs, err := s.Read(testCtx(t), topic, partition, 0, 1000, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// TestBoundedReadPlain: a read whose row limit cannot exceed its byte
// budget at the partition's largest value is a plain range scan; the
// window that sums sizes row by row runs only where the budget can bind.
// Both answer as the budget says.
func TestBoundedReadPlain(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	db := pgtest.Pool(t, pgtest.NewDB(t), 4)
	s := New(db)
	for p := range 2 {
		if _, err := s.Claim(ctx, "t", p, 1, 1); err != nil {
			t.Fatal(err)
		}
	}
	small := make([]storage.Message, 3000)
	for i := range small {
		small[i] = storage.Message{ProducerID: 1, Value: make([]byte, 100)}
	}
	big := append(slices.Clone(small[:10]), storage.Message{ProducerID: 1, Value: make([]byte, 1<<20)})
	if _, err := s.Append(ctx, []storage.Batch{{Topic: "t", Partition: 0, Epoch: 1, Msgs: small}, {Topic: "t", Partition: 1, Epoch: 1, Msgs: big}}); err != nil {
		t.Fatal(err)
	}

	// windowRan runs readSQL under EXPLAIN ANALYZE and reports whether the
	// windowed branch read any row.
	windowRan := func(partition, limit, maxBytes int) bool {
		t.Helper()
		var plan []map[string]any
		if err := db.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+readSQL, "t", partition, 0, limit, maxBytes).Scan(&plan); err != nil {
			t.Fatal(err)
		}
		var walk func(n map[string]any, underWindow bool) (found, ran bool)
		walk = func(n map[string]any, underWindow bool) (found, ran bool) {
			underWindow = underWindow || n["Node Type"] == "WindowAgg"
			if underWindow && n["Node Type"] == "Index Scan" {
				return true, n["Actual Loops"].(float64) > 0
			}
			children, _ := n["Plans"].([]any)
			for _, c := range children {
				if f, r := walk(c.(map[string]any), underWindow); f {
					return f, r
				}
			}
			return false, false
		}
		found, ran := walk(plan[0]["Plan"].(map[string]any), false)
		if !found {
			t.Fatalf("no windowed index scan in the plan of readSQL: %v", plan)
		}
		return ran
	}
	for _, c := range []struct {
		name             string
		partition, limit int
		maxBytes         int
		window           bool
		want             int
	}{
		{"small values, the budget cannot bind", 0, 2000, 1 << 20, false, 2000},
		{"small values, the budget binds at 1,500 rows", 0, 2000, 150_000, false, 1500},
		{"small values, a tight budget", 0, 2000, 50_000, true, 500},
		{"one large value among small ones", 1, 2000, 4 << 20, true, 11},
		{"the large value starts within the budget", 1, 2000, 1500, true, 11},
		{"the large value past the budget", 1, 2000, 1000, true, 10},
		{"at least one row", 1, 1, 10, true, 1},
		{"a row limit the budget holds at the largest value", 1, 4, 4 << 20, false, 4},
	} {
		if got := windowRan(c.partition, c.limit, c.maxBytes); got != c.window {
			t.Errorf("%s: the windowed read ran: %v; want %v", c.name, got, c.window)
		}
		msgs, err := s.Read(ctx, "t", c.partition, 0, c.limit, c.maxBytes)
		if err != nil || len(msgs) != c.want {
			t.Errorf("%s: read %d messages, %v; want %d", c.name, len(msgs), err, c.want)
		}
	}
}
