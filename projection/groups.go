package projection

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/logq/logq"
)

// Consumer groups in the ledger (docs/groups.md): the coordinator (package
// groups) logs every generation it forms and every assignment it
// distributes; heartbeats, pending joins and committed offsets are not
// events. After a writer failover the new writer rebuilds its groups from
// this state.

// Event types of consumer groups.
const (
	TypeGroupRebalanced = "GroupRebalanced"
	TypeGroupAssigned   = "GroupAssigned"
	TypeGroupDeleted    = "GroupDeleted"
)

// Limits of groups enforced by the fold (and by the coordinator before it
// appends).
const (
	MaxGroupNameLen = 255
	MaxGroupMembers = 1000
	MaxMemberIDLen  = 255
)

// GroupMember is one member of a generation.
type GroupMember struct {
	MemberID           string   `json:"member_id"`
	ClientID           string   `json:"client_id,omitempty"`
	GroupInstanceID    string   `json:"group_instance_id,omitempty"`
	SessionTimeoutMS   int64    `json:"session_timeout_ms"`
	RebalanceTimeoutMS int64    `json:"rebalance_timeout_ms"`
	Topics             []string `json:"topics,omitempty"` // its subscription, when the protocol says
}

// GroupRebalanced: a join phase completed and formed generation Generation
// with Members (sorted by member id). No members: the group is Empty (the
// last member left or timed out).
type GroupRebalanced struct {
	Group        string        `json:"group"`
	Generation   int64         `json:"generation"`
	ProtocolType string        `json:"protocol_type"`
	Protocol     string        `json:"protocol"`
	Leader       string        `json:"leader"`
	Members      []GroupMember `json:"members"`
}

// GroupAssigned: the assignment of generation Generation, member → topic →
// partitions (sorted), as the leader (protocol type "consumer") or the
// coordinator (protocol type "logq") computed it.
type GroupAssigned struct {
	Group      string                      `json:"group"`
	Generation int64                       `json:"generation"`
	Assignment map[string]map[string][]int `json:"assignment"`
}

// GroupDeleted: an empty group was deleted (with its committed offsets).
type GroupDeleted struct {
	Group string `json:"group"`
}

func (GroupRebalanced) EventType() string { return TypeGroupRebalanced }
func (GroupAssigned) EventType() string   { return TypeGroupAssigned }
func (GroupDeleted) EventType() string    { return TypeGroupDeleted }

// Group is a consumer group's latest generation and assignment.
type Group struct {
	Name         string        `json:"group"`
	Generation   int64         `json:"generation"`
	ProtocolType string        `json:"protocol_type"`
	Protocol     string        `json:"protocol"`
	Leader       string        `json:"leader"`
	Members      []GroupMember `json:"members"`
	// AssignedGeneration is the generation of Assignment; below Generation
	// while the generation's sync has not completed.
	AssignedGeneration int64                       `json:"assigned_generation"`
	Assignment         map[string]map[string][]int `json:"assignment,omitempty"`
}

// Member returns the member with id, or nil.
func (g *Group) Member(id string) *GroupMember {
	for i := range g.Members {
		if g.Members[i].MemberID == id {
			return &g.Members[i]
		}
	}
	return nil
}

// ValidateGroupName reports whether name is a valid group name: 1 to 255
// characters of printable UTF-8 without '/' (it is a path segment).
func ValidateGroupName(name string) error {
	if name == "" {
		return fmt.Errorf("group name is empty")
	}
	if len(name) > MaxGroupNameLen {
		return fmt.Errorf("group name longer than %d bytes", MaxGroupNameLen)
	}
	if !utf8.ValidString(name) || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("group name %q has an invalid character", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("group name %q has a control character", name)
		}
	}
	return nil
}

// checkGroup validates a group event against s.
func (s *State) checkGroup(e logq.Event, p Payload) error {
	switch p := p.(type) {
	case GroupRebalanced:
		if err := ValidateGroupName(p.Group); err != nil {
			return invariant(e, "%v", err)
		}
		var cur int64
		if g := s.Groups[p.Group]; g != nil {
			cur = g.Generation
		}
		if p.Generation <= cur {
			return invariant(e, "group %q generation %d does not exceed %d", p.Group, p.Generation, cur)
		}
		if len(p.Members) > MaxGroupMembers {
			return invariant(e, "group %q has more than %d members", p.Group, MaxGroupMembers)
		}
		seen := map[string]bool{}
		for _, m := range p.Members {
			if m.MemberID == "" || len(m.MemberID) > MaxMemberIDLen {
				return invariant(e, "group %q: invalid member id", p.Group)
			}
			if seen[m.MemberID] {
				return invariant(e, "group %q: member %q twice", p.Group, m.MemberID)
			}
			seen[m.MemberID] = true
		}
		if len(p.Members) == 0 && p.Leader != "" || len(p.Members) > 0 && !seen[p.Leader] {
			return invariant(e, "group %q: leader %q is not a member", p.Group, p.Leader)
		}
	case GroupAssigned:
		g := s.Groups[p.Group]
		if g == nil {
			return invariant(e, "unknown group %q", p.Group)
		}
		if p.Generation != g.Generation {
			return invariant(e, "group %q is at generation %d, not %d", p.Group, g.Generation, p.Generation)
		}
		if g.AssignedGeneration == g.Generation {
			return invariant(e, "group %q generation %d is assigned already", p.Group, p.Generation)
		}
		for member, topics := range p.Assignment {
			if g.Member(member) == nil {
				return invariant(e, "group %q has no member %q", p.Group, member)
			}
			for topic, parts := range topics {
				for _, n := range parts {
					if n < 0 || n >= MaxPartitions {
						return invariant(e, "group %q: partition %d of %q out of range", p.Group, n, topic)
					}
				}
			}
		}
	case GroupDeleted:
		g := s.Groups[p.Group]
		if g == nil {
			return invariant(e, "unknown group %q", p.Group)
		}
		if len(g.Members) > 0 {
			return invariant(e, "group %q still has %d members", p.Group, len(g.Members))
		}
	}
	return nil
}

// mutateGroup applies a checked group event.
func (s *State) mutateGroup(p Payload) {
	switch p := p.(type) {
	case GroupRebalanced:
		g := s.Groups[p.Group]
		if g == nil {
			g = &Group{Name: p.Group}
			s.Groups[p.Group] = g
		}
		g.Generation, g.ProtocolType, g.Protocol, g.Leader = p.Generation, p.ProtocolType, p.Protocol, p.Leader
		g.Members = copyMembers(p.Members)
		slices.SortFunc(g.Members, func(a, b GroupMember) int { return strings.Compare(a.MemberID, b.MemberID) })
		if len(g.Members) == 0 { // Empty: nothing to assign
			g.AssignedGeneration, g.Assignment = p.Generation, nil
		}
	case GroupAssigned:
		g := s.Groups[p.Group]
		g.AssignedGeneration, g.Assignment = p.Generation, copyAssignment(p.Assignment)
	case GroupDeleted:
		delete(s.Groups, p.Group)
	}
}

func copyMembers(ms []GroupMember) []GroupMember {
	out := make([]GroupMember, len(ms))
	for i, m := range ms {
		out[i] = m
		out[i].Topics = nil
		if len(m.Topics) > 0 {
			out[i].Topics = slices.Clone(m.Topics)
		}
	}
	return out
}

// copyAssignment deep-copies a, with partitions sorted and empty topic
// lists kept.
func copyAssignment(a map[string]map[string][]int) map[string]map[string][]int {
	if a == nil {
		return nil
	}
	out := make(map[string]map[string][]int, len(a))
	for m, topics := range a {
		t := make(map[string][]int, len(topics))
		for topic, parts := range topics {
			ps := slices.Clone(parts)
			if ps == nil {
				ps = []int{}
			}
			slices.Sort(ps)
			t[topic] = ps
		}
		out[m] = t
	}
	return out
}

// GroupNames returns the group names, sorted.
func (s *State) GroupNames() []string {
	return slices.Sorted(maps.Keys(s.Groups))
}

func cloneGroups(in map[string]*Group) map[string]*Group {
	out := make(map[string]*Group, len(in))
	for k, g := range in {
		c := *g
		c.Members = copyMembers(g.Members)
		c.Assignment = copyAssignment(g.Assignment)
		out[k] = &c
	}
	return out
}

// renderGroups writes the groups' lines of Render.
func renderGroups(b *strings.Builder, s *State) {
	for _, name := range s.GroupNames() {
		g := s.Groups[name]
		fmt.Fprintf(b, "group %q generation %d type %q protocol %q leader %q assigned %d\n",
			name, g.Generation, g.ProtocolType, g.Protocol, g.Leader, g.AssignedGeneration)
		for _, m := range g.Members {
			fmt.Fprintf(b, "  member %q client %q", m.MemberID, m.ClientID)
			if m.GroupInstanceID != "" {
				fmt.Fprintf(b, " instance %q", m.GroupInstanceID)
			}
			fmt.Fprintf(b, " session %dms rebalance %dms topics %v\n", m.SessionTimeoutMS, m.RebalanceTimeoutMS, m.Topics)
			topics := g.Assignment[m.MemberID]
			for _, t := range slices.Sorted(maps.Keys(topics)) {
				fmt.Fprintf(b, "    %s %v\n", t, topics[t])
			}
		}
	}
}

// appendGroups writes the groups' section of the binary snapshot (the last
// one): count, then per group (sorted) name, generation, protocol type,
// protocol, leader, assigned generation, members (count, then id, client
// id, instance id, session and rebalance timeouts, topics), assignment
// (count of members, then member, count of topics, then topic, partitions).
func appendGroups(b []byte, s *State) []byte {
	b = binary.AppendUvarint(b, uint64(len(s.Groups)))
	for _, name := range s.GroupNames() {
		g := s.Groups[name]
		b = appendString(b, name)
		b = binary.AppendVarint(b, g.Generation)
		b = appendString(b, g.ProtocolType)
		b = appendString(b, g.Protocol)
		b = appendString(b, g.Leader)
		b = binary.AppendVarint(b, g.AssignedGeneration)
		b = binary.AppendUvarint(b, uint64(len(g.Members)))
		for _, m := range g.Members {
			b = appendString(b, m.MemberID)
			b = appendString(b, m.ClientID)
			b = appendString(b, m.GroupInstanceID)
			b = binary.AppendVarint(b, m.SessionTimeoutMS)
			b = binary.AppendVarint(b, m.RebalanceTimeoutMS)
			b = appendStrings(b, m.Topics)
		}
		if g.Assignment == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
		}
		b = binary.AppendUvarint(b, uint64(len(g.Assignment)))
		for _, member := range slices.Sorted(maps.Keys(g.Assignment)) {
			topics := g.Assignment[member]
			b = appendString(b, member)
			b = binary.AppendUvarint(b, uint64(len(topics)))
			for _, t := range slices.Sorted(maps.Keys(topics)) {
				b = appendString(b, t)
				b = binary.AppendUvarint(b, uint64(len(topics[t])))
				for _, p := range topics[t] {
					b = binary.AppendVarint(b, int64(p))
				}
			}
		}
	}
	return b
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func (r *reader) strings() []string {
	n := r.count(1)
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.string()
	}
	return out
}

// readGroups reads the section appendGroups wrote.
func readGroups(r *reader) map[string]*Group {
	return readAll(r, 6, func(g *Group) string {
		g.Name = r.string()
		g.Generation = r.varint()
		g.ProtocolType = r.string()
		g.Protocol = r.string()
		g.Leader = r.string()
		g.AssignedGeneration = r.varint()
		g.Members = make([]GroupMember, r.count(5))
		for i := range g.Members {
			m := &g.Members[i]
			m.MemberID, m.ClientID, m.GroupInstanceID = r.string(), r.string(), r.string()
			m.SessionTimeoutMS, m.RebalanceTimeoutMS = r.varint(), r.varint()
			m.Topics = r.strings()
		}
		hasAssignment := r.byte() == 1
		n := r.count(2)
		if hasAssignment {
			g.Assignment = make(map[string]map[string][]int, n)
		}
		for range n {
			member := r.string()
			topics := make(map[string][]int)
			for range r.count(2) {
				t := r.string()
				parts := make([]int, r.count(1))
				for j := range parts {
					parts[j] = int(r.varint())
				}
				topics[t] = parts
			}
			if g.Assignment != nil {
				g.Assignment[member] = topics
			}
		}
		return g.Name
	})
}

// CheckGroupEvents reports whether the group events ps, in order, would
// apply to s without breaking an invariant, without changing s: the
// coordinator checks what it decided before it appends, so that nothing
// it logs can fail to apply.
func CheckGroupEvents(s *State, ps []Payload) error {
	t := &State{Groups: map[string]*Group{}}
	seen := map[string]bool{}
	for _, p := range ps {
		var name string
		switch p := p.(type) {
		case GroupRebalanced:
			name = p.Group
		case GroupAssigned:
			name = p.Group
		case GroupDeleted:
			name = p.Group
		default:
			return fmt.Errorf("%T is not a group event", p)
		}
		if !seen[name] {
			seen[name] = true
			if g := s.Groups[name]; g != nil {
				t.Groups[name] = cloneGroups(map[string]*Group{name: g})[name]
			}
		}
		e := logq.Event{Type: p.EventType()}
		if err := t.checkGroup(e, p); err != nil {
			return err
		}
		t.mutateGroup(p)
	}
	return nil
}
