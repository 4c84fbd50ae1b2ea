package eventlog_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/pgtest"
)

func TestReadGetList(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dsn := pgtest.NewDB(t)
	pool := newPool(t, dsn)
	w := acquire(t, dsn, "w")

	if n, err := eventlog.LastSeq(ctx, pool); n != 0 || err != nil {
		t.Fatalf("LastSeq of an empty log = %d, %v; want 0", n, err)
	}
	var all []logq.Event
	all = append(all, mustAppend(t, w, ev("A", `{"i": 1}`), ev("B", `{"i": 2}`), ev("C", `{"i": 3}`))...)
	all = append(all, mustAppend(t, w, ev("A", `{"i": 4}`), ev("B", `{"i": 5}`))...)
	all = append(all, mustAppend(t, w, ev("C", `{"i": 6}`))...)

	if n, err := eventlog.LastSeq(ctx, pool); n != 6 || err != nil {
		t.Fatalf("LastSeq = %d, %v; want 6", n, err)
	}
	read, err := eventlog.Read(ctx, pool, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(read, all, sameEvent) {
		t.Fatalf("Read returned\n%+v\nwant what Append returned\n%+v", read, all)
	}
	if got, err := eventlog.Read(ctx, pool, 2, 3); err != nil || !slices.EqualFunc(got, all[2:5], sameEvent) {
		t.Errorf("Read(after 2, limit 3) = %+v, %v; want seqs 3..5", got, err)
	}
	if got, err := eventlog.Read(ctx, pool, 6, 10); err != nil || len(got) != 0 {
		t.Errorf("Read(after 6) = %+v, %v; want none", got, err)
	}

	if got, err := eventlog.Get(ctx, pool, 4); err != nil || !sameEvent(got, all[3]) {
		t.Errorf("Get(4) = %+v, %v; want %+v", got, err, all[3])
	}
	if _, err := eventlog.Get(ctx, pool, 7); !errors.Is(err, logq.ErrNotFound) {
		t.Errorf("Get(7) = %v; want ErrNotFound", err)
	}

	since, before := all[3].At, all[5].At // the second and third appends
	for name, tc := range map[string]struct {
		f    eventlog.Filter
		keep func(logq.Event) bool
	}{
		"all":         {eventlog.Filter{}, func(logq.Event) bool { return true }},
		"after":       {eventlog.Filter{After: 2}, func(e logq.Event) bool { return e.Seq > 2 }},
		"until":       {eventlog.Filter{Until: 4}, func(e logq.Event) bool { return e.Seq <= 4 }},
		"after until": {eventlog.Filter{After: 1, Until: 3}, func(e logq.Event) bool { return e.Seq > 1 && e.Seq <= 3 }},
		"types": {eventlog.Filter{Types: []string{"A", "C"}}, func(e logq.Event) bool {
			return e.Type == "A" || e.Type == "C"
		}},
		"since":  {eventlog.Filter{Since: since}, func(e logq.Event) bool { return !e.At.Before(since) }},
		"before": {eventlog.Filter{Before: before}, func(e logq.Event) bool { return e.At.Before(before) }},
		"since before types": {eventlog.Filter{Since: since, Before: before.Add(time.Microsecond), Types: []string{"B"}},
			func(e logq.Event) bool { return !e.At.Before(since) && !e.At.After(before) && e.Type == "B" }},
	} {
		want := slices.DeleteFunc(slices.Clone(all), func(e logq.Event) bool { return !tc.keep(e) })
		got, err := eventlog.List(ctx, pool, tc.f)
		if err != nil || !slices.EqualFunc(got, want, sameEvent) {
			t.Errorf("%s: List = %+v, %v; want %+v", name, got, err, want)
		}
		tc.f.Limit = 1
		got, err = eventlog.List(ctx, pool, tc.f)
		if err != nil || len(got) != min(1, len(want)) || (len(got) == 1 && !sameEvent(got[0], want[0])) {
			t.Errorf("%s, limit 1: List = %+v, %v; want the first of %+v", name, got, err, want)
		}
	}
}

func TestSnapshots(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	pool := newPool(t, pgtest.NewDB(t))

	if _, _, err := eventlog.LatestSnapshot(ctx, pool); !errors.Is(err, logq.ErrNotFound) {
		t.Fatalf("LatestSnapshot with none: %v; want ErrNotFound", err)
	}
	// Saved out of order: the newer is the one with the higher seq.
	if err := eventlog.SaveSnapshot(ctx, pool, 20, []byte("state@20")); err != nil {
		t.Fatal(err)
	}
	if err := eventlog.SaveSnapshot(ctx, pool, 10, []byte("state@10")); err != nil {
		t.Fatal(err)
	}
	if seq, state, err := eventlog.LatestSnapshot(ctx, pool); seq != 20 || string(state) != "state@20" || err != nil {
		t.Errorf("LatestSnapshot = %d, %q, %v; want 20, state@20", seq, state, err)
	}
	if seq, state, err := eventlog.LatestSnapshotAtOrBefore(ctx, pool, 15); seq != 10 || string(state) != "state@10" || err != nil {
		t.Errorf("LatestSnapshotAtOrBefore(15) = %d, %q, %v; want 10, state@10", seq, state, err)
	}
	if _, _, err := eventlog.LatestSnapshotAtOrBefore(ctx, pool, 5); !errors.Is(err, logq.ErrNotFound) {
		t.Errorf("LatestSnapshotAtOrBefore(5): %v; want ErrNotFound", err)
	}
	// Saving again at a seq replaces that snapshot.
	if err := eventlog.SaveSnapshot(ctx, pool, 20, []byte("state@20 again")); err != nil {
		t.Fatal(err)
	}
	if _, state, _ := eventlog.LatestSnapshot(ctx, pool); string(state) != "state@20 again" {
		t.Errorf("LatestSnapshot after re-save = %q", state)
	}
	if err := eventlog.SaveSnapshot(ctx, pool, -1, nil); !errors.Is(err, logq.ErrInvalid) {
		t.Errorf("SaveSnapshot(-1): %v; want ErrInvalid", err)
	}
}
