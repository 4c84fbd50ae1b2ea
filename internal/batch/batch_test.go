package batch

import (
	"slices"
	"testing"
)

func TestTake(t *testing.T) {
	type req struct{ n, bytes int }
	count := func(r req) int { return r.n }
	size := func(r req) int { return r.bytes }
	keep := func(req) bool { return false }
	for _, tc := range []struct {
		name        string
		queue       []req
		maxN, maxB  int
		drop        func(req) bool
		want, after []req
	}{
		{"all fit", []req{{1, 10}, {2, 10}}, 10, 100, keep, []req{{1, 10}, {2, 10}}, []req{}},
		{"message bound", []req{{4, 1}, {4, 1}, {4, 1}}, 8, 100, keep, []req{{4, 1}, {4, 1}}, []req{{4, 1}}},
		{"byte bound", []req{{1, 60}, {1, 60}}, 10, 100, keep, []req{{1, 60}}, []req{{1, 60}}},
		{"one over the bounds goes alone", []req{{50, 500}, {1, 1}}, 10, 100, keep, []req{{50, 500}}, []req{{1, 1}}},
		{"dropped ones leave the queue", []req{{0, 0}, {1, 1}, {0, 0}, {1, 1}}, 10, 100,
			func(r req) bool { return r.n == 0 }, []req{{1, 1}, {1, 1}}, []req{}},
		{"empty", nil, 10, 100, keep, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := slices.Clone(tc.queue)
			got := Take(&q, tc.maxN, tc.maxB, count, size, tc.drop)
			if !slices.Equal(got, tc.want) || len(q) != len(tc.after) || !slices.Equal(q, tc.after) {
				t.Fatalf("Take = %v, queue left %v; want %v, %v", got, q, tc.want, tc.after)
			}
		})
	}
}

// A lane lets up to its bound of callers lead; a send that finds nothing
// left gives its place back, so the next newcomer leads again.
func TestLane(t *testing.T) {
	var l Lane[int]
	one := func(int) int { return 1 }
	keep := func(int) bool { return false }
	if !l.Join(1, 2) || !l.Join(2, 2) {
		t.Fatal("the first two callers of a lane of two did not lead")
	}
	if l.Join(3, 2) || l.Join(4, 2) {
		t.Fatal("a third caller led while two sends were on their way")
	}
	if got := l.Next(10, 10, one, one, keep); len(got) != 4 || l.Queued() != 0 {
		t.Fatalf("Next took %v, left %d", got, l.Queued())
	}
	if got := l.Next(10, 10, one, one, keep); got != nil {
		t.Fatalf("Next of an empty lane = %v", got)
	}
	// One send gave its place back: one newcomer leads, the next queues.
	if !l.Join(5, 2) || l.Join(6, 2) {
		t.Fatal("after one send ended, not exactly one newcomer led")
	}
}
