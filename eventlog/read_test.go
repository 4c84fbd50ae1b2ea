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

func TestGetList(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dsn := pgtest.NewDB(t)
	pool := pgtest.Pool(t, dsn, 4)
	w := acquire(t, dsn, "w")

	// Read, LastSeq and snapshots are the conformance suite's (ReadAfter).
	var all []logq.Event
	all = append(all, mustAppend(t, w, ev("A", `{"i": 1}`), ev("B", `{"i": 2}`), ev("C", `{"i": 3}`))...)
	all = append(all, mustAppend(t, w, ev("A", `{"i": 4}`), ev("B", `{"i": 5}`))...)
	all = append(all, mustAppend(t, w, ev("C", `{"i": 6}`))...)

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
