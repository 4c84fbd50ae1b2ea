package eventlog_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/logq/logq"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/pgtest"
)

func TestReadPages(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dsn := pgtest.NewDB(t)
	pool := newPool(t, dsn)
	w := acquire(t, dsn, "w")
	var all []logq.Event
	for i := range 10 {
		all = append(all, mustAppend(t, w, ev("A", fmt.Sprintf(`{"i": %d}`, 2*i)), ev("B", fmt.Sprintf(`{"i": %d}`, 2*i+1)))...)
	}
	read := func(after, until int64, limit int) (got []logq.Event, pages []int) {
		t.Helper()
		err := eventlog.ReadPages(ctx, pool, after, until, limit, func(events []logq.Event) error {
			got = append(got, events...)
			pages = append(pages, len(events))
			return nil
		})
		if err != nil {
			t.Fatalf("ReadPages(after %d, until %d, limit %d): %v", after, until, limit, err)
		}
		return got, pages
	}
	for _, tc := range []struct {
		after, until int64
		limit        int
		want         []logq.Event
		pages        []int
	}{
		{0, 0, 3, all, []int{3, 3, 3, 3, 3, 3, 2}},
		{0, 0, 0, all, []int{20}},
		{5, 0, 10, all[5:], []int{10, 5}},
		{20, 0, 4, nil, nil},
		{0, 7, 3, all[:9], []int{3, 3, 3}}, // whole pages, up to the one holding 7
		{2, 3, 5, all[2:7], []int{5}},
	} {
		got, pages := read(tc.after, tc.until, tc.limit)
		if !slices.EqualFunc(got, tc.want, sameEvent) || !slices.Equal(pages, tc.pages) {
			t.Errorf("ReadPages(after %d, until %d, limit %d) read %d events in pages %v; want %d in %v",
				tc.after, tc.until, tc.limit, len(got), pages, len(tc.want), tc.pages)
		}
	}
	stop := errors.New("stop")
	calls := 0
	err := eventlog.ReadPages(ctx, pool, 0, 0, 2, func([]logq.Event) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("ReadPages with a failing fn = %v after %d calls; want its error after 1", err, calls)
	}
}
