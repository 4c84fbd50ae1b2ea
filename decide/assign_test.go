package decide

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestRangeAndRoundRobin(t *testing.T) {
	both := []string{"t0", "t1"}
	members := []AssignMember{{ID: "c1", Topics: both}, {ID: "c0", Topics: both}}
	parts := map[string]int{"t0": 3, "t1": 3}
	tests := []struct {
		name string
		got  Assignment
		want Assignment
	}{
		// Kafka's javadoc examples: C0, C1 over t0, t1 with 3 partitions each.
		{"range", Range(members, parts), Assignment{
			"c0": {"t0": {0, 1}, "t1": {0, 1}}, "c1": {"t0": {2}, "t1": {2}}}},
		{"roundrobin", RoundRobin(members, parts), Assignment{
			"c0": {"t0": {0, 2}, "t1": {1}}, "c1": {"t0": {1}, "t1": {0, 2}}}},
		// Round robin skips members that do not subscribe.
		{"roundrobin subscriptions", RoundRobin([]AssignMember{{ID: "c0", Topics: []string{"t0"}},
			{ID: "c1", Topics: both}, {ID: "c2", Topics: []string{"t1"}}}, map[string]int{"t0": 1, "t1": 3}), Assignment{
			"c0": {"t0": {0}}, "c1": {"t1": {0, 2}}, "c2": {"t1": {1}}}},
		{"range more members than partitions", Range([]AssignMember{{ID: "a", Topics: []string{"t"}},
			{ID: "b", Topics: []string{"t"}}, {ID: "c", Topics: []string{"t"}}}, map[string]int{"t": 2}), Assignment{
			"a": {"t": {0}}, "b": {"t": {1}}, "c": {}}},
		{"unknown topic skipped", Range([]AssignMember{{ID: "a", Topics: []string{"nope"}}}, map[string]int{"t": 2}),
			Assignment{"a": {}}},
		{"sticky keeps what it can", Sticky([]AssignMember{{ID: "a", Topics: []string{"t"}}, {ID: "b", Topics: []string{"t"}},
			{ID: "c", Topics: []string{"t"}}}, map[string]int{"t": 6}, Assignment{"a": {"t": {0, 1, 2}}, "b": {"t": {3, 4, 5}}}),
			Assignment{"a": {"t": {0, 1}}, "b": {"t": {3, 4}}, "c": {"t": {2, 5}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	if _, err := Assign("nope", members, parts, nil); err == nil {
		t.Error("unknown assignor accepted")
	}
}

// TestAssignProperty: for random members, subscriptions and topics, every
// assignor gives each partition of a subscribed topic to exactly one member
// that subscribes to it, and nothing else; range and round robin are
// balanced as Kafka's are.
func TestAssignProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 500 {
		topics := map[string]int{}
		for i := range 1 + rng.IntN(4) {
			topics[fmt.Sprintf("t%d", i)] = rng.IntN(9)
		}
		var members []AssignMember
		for i := range rng.IntN(6) {
			var subs []string
			for tp := range topics {
				if rng.IntN(3) > 0 {
					subs = append(subs, tp)
				}
			}
			members = append(members, AssignMember{ID: fmt.Sprintf("m%d", i), Topics: subs})
		}
		var prev Assignment
		for _, name := range Assignors {
			a, err := Assign(name, members, topics, prev)
			if err != nil {
				t.Fatal(err)
			}
			prev = a
			owners := map[string]string{}
			for _, m := range members {
				subs := map[string]bool{}
				for _, tp := range m.Topics {
					subs[tp] = true
				}
				if _, ok := a[m.ID]; !ok {
					t.Fatalf("%d %s: member %s has no entry", iter, name, m.ID)
				}
				for tp, parts := range a[m.ID] {
					if !subs[tp] {
						t.Fatalf("%d %s: %s got %s without subscribing", iter, name, m.ID, tp)
					}
					for _, p := range parts {
						k := fmt.Sprintf("%s/%d", tp, p)
						if p < 0 || p >= topics[tp] {
							t.Fatalf("%d %s: %s got nonexistent %s", iter, name, m.ID, k)
						}
						if o, ok := owners[k]; ok {
							t.Fatalf("%d %s: %s to both %s and %s", iter, name, k, o, m.ID)
						}
						owners[k] = m.ID
					}
				}
			}
			for tp, n := range topics {
				subscribed := false
				for _, m := range members {
					for _, s := range m.Topics {
						subscribed = subscribed || s == tp
					}
				}
				for p := range n {
					if _, ok := owners[fmt.Sprintf("%s/%d", tp, p)]; subscribed && !ok {
						t.Fatalf("%d %s: %s/%d unassigned (members %v)", iter, name, tp, p, members)
					}
				}
			}
		}
	}
}
