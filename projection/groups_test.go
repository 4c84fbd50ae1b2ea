package projection_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

// groupBase is base plus a group at generation 1 with two members.
func groupBase() []projection.Payload {
	return append(append([]projection.Payload(nil), base...),
		projection.GroupRebalanced{Group: "g", Generation: 1, ProtocolType: "consumer", Protocol: "range", Leader: "m1",
			Members: []projection.GroupMember{
				{MemberID: "m2", ClientID: "c2", SessionTimeoutMS: 10000, RebalanceTimeoutMS: 30000, Topics: []string{"orders"}},
				{MemberID: "m1", ClientID: "c1", GroupInstanceID: "i1", SessionTimeoutMS: 10000, RebalanceTimeoutMS: 30000, Topics: []string{"orders"}},
			}})
}

func TestApplyGroups(t *testing.T) {
	assigned := projection.GroupAssigned{Group: "g", Generation: 1, Assignment: map[string]map[string][]int{
		"m1": {"orders": {1, 0}}, "m2": {"orders": {}},
	}}
	tests := []struct {
		name    string
		prefix  []projection.Payload // after groupBase
		event   projection.Payload
		wantErr string
		check   func(t *testing.T, g *projection.Group)
	}{
		{"rebalanced forms a sorted generation", nil,
			projection.GroupRebalanced{Group: "g", Generation: 2, ProtocolType: "consumer", Protocol: "roundrobin", Leader: "m2",
				Members: []projection.GroupMember{{MemberID: "m3"}, {MemberID: "m2"}}}, "",
			func(t *testing.T, g *projection.Group) {
				if g.Generation != 2 || g.Leader != "m2" || g.Protocol != "roundrobin" || len(g.Members) != 2 || g.Members[0].MemberID != "m2" {
					t.Errorf("group = %+v", g)
				}
				if g.AssignedGeneration != 0 {
					t.Errorf("assigned generation = %d, want 0 until the sync", g.AssignedGeneration)
				}
			}},
		{"generation must grow", nil, projection.GroupRebalanced{Group: "g", Generation: 1}, "does not exceed", nil},
		{"leader must be a member", nil, projection.GroupRebalanced{Group: "g", Generation: 2, Leader: "x",
			Members: []projection.GroupMember{{MemberID: "m1"}}}, "leader", nil},
		{"no duplicate members", nil, projection.GroupRebalanced{Group: "g", Generation: 2, Leader: "m1",
			Members: []projection.GroupMember{{MemberID: "m1"}, {MemberID: "m1"}}}, "twice", nil},
		{"empty member id", nil, projection.GroupRebalanced{Group: "g", Generation: 2, Leader: "",
			Members: []projection.GroupMember{{MemberID: ""}}}, "invalid member id", nil},
		{"empty generation", nil, projection.GroupRebalanced{Group: "g", Generation: 2}, "",
			func(t *testing.T, g *projection.Group) {
				if len(g.Members) != 0 || g.AssignedGeneration != 2 || g.Assignment != nil {
					t.Errorf("empty group = %+v", g)
				}
			}},
		{"bad group name", nil, projection.GroupRebalanced{Group: "a/b", Generation: 1}, "invalid character", nil},
		{"assigned", nil, assigned, "", func(t *testing.T, g *projection.Group) {
			want := map[string]map[string][]int{"m1": {"orders": {0, 1}}, "m2": {"orders": {}}}
			if g.AssignedGeneration != 1 || !reflect.DeepEqual(g.Assignment, want) {
				t.Errorf("assignment = %v at %d", g.Assignment, g.AssignedGeneration)
			}
		}},
		{"assigned twice", []projection.Payload{assigned}, assigned, "assigned already", nil},
		{"assigned for another generation", nil, projection.GroupAssigned{Group: "g", Generation: 2}, "not 2", nil},
		{"assigned to a stranger", nil, projection.GroupAssigned{Group: "g", Generation: 1,
			Assignment: map[string]map[string][]int{"zz": {"orders": {0}}}}, "no member", nil},
		{"assigned to an unknown group", nil, projection.GroupAssigned{Group: "h", Generation: 1}, "unknown group", nil},
		{"delete a group with members", nil, projection.GroupDeleted{Group: "g"}, "still has 2 members", nil},
		{"delete an empty group", []projection.Payload{projection.GroupRebalanced{Group: "g", Generation: 2}},
			projection.GroupDeleted{Group: "g"}, "", func(t *testing.T, g *projection.Group) {
				if g != nil {
					t.Errorf("group still there: %+v", g)
				}
			}},
		{"delete an unknown group", nil, projection.GroupDeleted{Group: "h"}, "unknown group", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := projection.New()
			all := append(append(groupBase(), tt.prefix...), tt.event)
			evs := events(all...)
			if err := projection.ApplyAll(s, evs[:len(evs)-1]); err != nil {
				t.Fatal(err)
			}
			before := projection.Render(s)
			err := projection.Apply(s, evs[len(evs)-1])
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if projection.Render(s) != before {
					t.Fatal("a failed Apply changed the state")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s.Groups["g"])
		})
	}
}

func TestGroupsSnapshotCloneAndRender(t *testing.T) {
	s := projection.New()
	all := append(groupBase(), projection.GroupAssigned{Group: "g", Generation: 1,
		Assignment: map[string]map[string][]int{"m1": {"orders": {0}}, "m2": {"orders": {1}}}},
		projection.GroupRebalanced{Group: "empty", Generation: 3})
	if err := projection.ApplyAll(s, events(all...)); err != nil {
		t.Fatal(err)
	}
	b, err := projection.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := projection.DecodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	if projection.Render(got) != projection.Render(s) || !reflect.DeepEqual(got.Groups, s.Groups) {
		t.Fatalf("round trip differs:\n%s\nwant\n%s", projection.Render(got), projection.Render(s))
	}
	r := projection.Render(s)
	for _, want := range []string{`group "g" generation 1 type "consumer" protocol "range" leader "m1" assigned 1`,
		`member "m1" client "c1" instance "i1"`, "    orders [1]", `group "empty" generation 3`} {
		if !strings.Contains(r, want) {
			t.Errorf("render lacks %q:\n%s", want, r)
		}
	}
	c := s.Clone()
	c.Groups["g"].Members[0].Topics[0] = "x"
	c.Groups["g"].Assignment["m1"]["orders"][0] = 9
	if s.Groups["g"].Members[0].Topics[0] != "orders" || s.Groups["g"].Assignment["m1"]["orders"][0] != 0 {
		t.Fatal("clone shares group memory")
	}
}

// groupEventsFromBytes turns fuzz input into group events over small name
// spaces, so that most of them hit real groups and members.
func groupEventsFromBytes(b []byte) []logq.Event {
	var out []logq.Event
	for len(b) >= 4 {
		op, x, y, z := b[0], int64(b[1]%6), int(b[2]%4), int(b[3]%4)
		b = b[4:]
		group := string(rune('g' + y%2))
		member := func(i int) string { return fmt.Sprintf("m%d", i%3) }
		var p projection.Payload
		switch op % 3 {
		case 0:
			var ms []projection.GroupMember
			for i := range z {
				ms = append(ms, projection.GroupMember{MemberID: member(i + y), ClientID: "c", Topics: []string{"orders"}})
			}
			leader := ""
			if len(ms) > 0 {
				leader = ms[int(x)%len(ms)].MemberID
			}
			p = projection.GroupRebalanced{Group: group, Generation: x, ProtocolType: "logq", Protocol: "range", Leader: leader, Members: ms}
		case 1:
			a := map[string]map[string][]int{}
			for i := range z {
				a[member(i)] = map[string][]int{"orders": {i, y}}
			}
			p = projection.GroupAssigned{Group: group, Generation: x, Assignment: a}
		default:
			p = projection.GroupDeleted{Group: group}
		}
		out = append(out, projection.NewEvent(p))
	}
	return out
}

// FuzzGroups: any sequence of group events folds without panics; failed
// events change nothing; CheckGroupEvents agrees with Apply; replaying and
// folding in chunks through snapshots give the same state.
func FuzzGroups(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 1, 1, 0, 2, 0, 2, 0, 0, 2, 0, 0, 0, 0, 3, 0, 1})
	f.Add([]byte{0, 1, 1, 1, 1, 1, 1, 1, 0, 2, 1, 3, 1, 2, 1, 3, 2, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1024 {
			b = b[:1024]
		}
		s := projection.New()
		var accepted []logq.Event
		for _, e := range groupEventsFromBytes(b) {
			e.Seq = s.Seq + 1
			p, _ := projection.Decode(e)
			checked := projection.CheckGroupEvents(s, []projection.Payload{p})
			before := projection.Render(s)
			err := projection.Apply(s, e)
			if (err == nil) != (checked == nil) {
				t.Fatalf("%s %s: Apply %v, CheckGroupEvents %v", e.Type, e.Data, err, checked)
			}
			if err != nil {
				if projection.Render(s) != before {
					t.Fatalf("failed Apply of %s changed the state", e.Data)
				}
				continue
			}
			accepted = append(accepted, e)
		}
		want := projection.Render(s)
		c := projection.New()
		chunk := 1 + len(b)%4
		for i := 0; i < len(accepted); i += chunk {
			if err := projection.ApplyAll(c, accepted[i:min(i+chunk, len(accepted))]); err != nil {
				t.Fatal(err)
			}
			enc, _ := projection.Encode(c)
			var err error
			if c, err = projection.DecodeState(enc); err != nil {
				t.Fatal(err)
			}
		}
		if got := projection.Render(c); got != want {
			t.Fatalf("chunked fold differs:\n%s\nwant\n%s", got, want)
		}
	})
}
