package decide

import (
	"cmp"
	"maps"
	"slices"

	"github.com/logq/logq"
)

// Partition assignors of consumer groups, pure: the members (with their
// subscriptions) and the partition count of every topic in, the
// assignment out. The group coordinator (package groups) runs them for the
// protocol type "logq", where the server assigns; Kafka clients (protocol
// type "consumer") assign in their leader and send the result.

// Assignors the coordinator runs, by protocol name.
const (
	AssignRange             = "range"
	AssignRoundRobin        = "roundrobin"
	AssignSticky            = "sticky"
	AssignCooperativeSticky = "cooperative-sticky"
)

// Assignors lists the assignors Assign knows.
var Assignors = []string{AssignRange, AssignRoundRobin, AssignSticky, AssignCooperativeSticky}

// AssignMember is one member as an assignor sees it.
type AssignMember struct {
	ID     string
	Topics []string // subscription
}

// Assignment maps member → topic → partitions (sorted). Every member has an
// entry, empty when it got nothing.
type Assignment = map[string]map[string][]int

// Assign runs the assignor named name over members and partitions (topic
// → partition count; topics absent or with 0 partitions are skipped).
// prev is the previous generation's assignment, used by the sticky
// assignors. An unknown assignor is a logq.EInvalid error.
func Assign(name string, members []AssignMember, partitions map[string]int, prev Assignment) (Assignment, error) {
	switch name {
	case AssignRange:
		return Range(members, partitions), nil
	case AssignRoundRobin:
		return RoundRobin(members, partitions), nil
	case AssignSticky, AssignCooperativeSticky:
		return Sticky(members, partitions, prev), nil
	}
	return nil, logq.Errorf(logq.EInvalid, "unknown assignor %q (known: %v)", name, Assignors)
}

// sortedMembers returns members sorted by id, with sorted, deduplicated
// subscriptions, and the result with an empty entry for each.
func sortedMembers(members []AssignMember) ([]AssignMember, Assignment) {
	ms := make([]AssignMember, len(members))
	out := make(Assignment, len(members))
	for i, m := range members {
		topics := slices.Clone(m.Topics)
		slices.Sort(topics)
		ms[i] = AssignMember{ID: m.ID, Topics: slices.Compact(topics)}
		out[m.ID] = map[string][]int{}
	}
	slices.SortFunc(ms, func(a, b AssignMember) int { return cmp.Compare(a.ID, b.ID) })
	return ms, out
}

func give(a Assignment, member, topic string, p int) {
	a[member][topic] = append(a[member][topic], p)
}

// Range is Kafka's RangeAssignor: per topic, the partitions in order are cut
// into ranges over the subscribed members sorted by id, the first
// (partitions mod members) members taking one more.
func Range(members []AssignMember, partitions map[string]int) Assignment {
	ms, out := sortedMembers(members)
	for _, topic := range slices.Sorted(maps.Keys(partitions)) {
		n := partitions[topic]
		var subs []string
		for _, m := range ms {
			if _, ok := slices.BinarySearch(m.Topics, topic); ok {
				subs = append(subs, m.ID)
			}
		}
		if n <= 0 || len(subs) == 0 {
			continue
		}
		per, extra := n/len(subs), n%len(subs)
		p := 0
		for i, id := range subs {
			k := per
			if i < extra {
				k++
			}
			for range k {
				give(out, id, topic, p)
				p++
			}
		}
	}
	return out
}

// RoundRobin is Kafka's RoundRobinAssignor: all topic-partitions sorted
// (topic, then partition) are dealt in turn over the members sorted by id,
// a member that does not subscribe to a partition's topic being skipped.
func RoundRobin(members []AssignMember, partitions map[string]int) Assignment {
	ms, out := sortedMembers(members)
	if len(ms) == 0 {
		return out
	}
	next := 0
	for _, topic := range slices.Sorted(maps.Keys(partitions)) {
		for p := range max(partitions[topic], 0) {
			for tries := 0; tries < len(ms); tries++ {
				m := ms[next%len(ms)]
				next++
				if _, ok := slices.BinarySearch(m.Topics, topic); ok {
					give(out, m.ID, topic, p)
					break
				}
			}
		}
	}
	return out
}

type topicPartition struct {
	topic string
	p     int
}

// Sticky keeps every partition of prev with its member when that member
// still subscribes to its topic and holds no more than its fair share,
// then gives each remaining partition (sorted) to the subscribed member
// holding the fewest (ties by id). It serves "sticky" and
// "cooperative-sticky": the assignment is the same; the coordinator
// distributes it eagerly, in one rebalance (docs/groups.md).
func Sticky(members []AssignMember, partitions map[string]int, prev Assignment) Assignment {
	ms, out := sortedMembers(members)
	subscribed := map[string]map[string]bool{}
	for _, m := range ms {
		subscribed[m.ID] = map[string]bool{}
		for _, t := range m.Topics {
			subscribed[m.ID][t] = true
		}
	}
	var all []topicPartition
	for _, topic := range slices.Sorted(maps.Keys(partitions)) {
		for p := range max(partitions[topic], 0) {
			all = append(all, topicPartition{topic, p})
		}
	}
	if len(ms) == 0 {
		return out
	}
	quota := (len(all) + len(ms) - 1) / len(ms)
	count := map[string]int{}
	taken := map[topicPartition]bool{}
	for _, m := range ms {
		topics := prev[m.ID]
		for _, topic := range slices.Sorted(maps.Keys(topics)) {
			parts := slices.Clone(topics[topic])
			slices.Sort(parts)
			for _, p := range parts {
				tp := topicPartition{topic, p}
				if !subscribed[m.ID][topic] || p < 0 || p >= partitions[topic] || taken[tp] || count[m.ID] >= quota {
					continue
				}
				taken[tp] = true
				count[m.ID]++
				give(out, m.ID, topic, p)
			}
		}
	}
	for _, tp := range all {
		if taken[tp] {
			continue
		}
		best := ""
		for _, m := range ms {
			if subscribed[m.ID][tp.topic] && (best == "" || count[m.ID] < count[best]) {
				best = m.ID
			}
		}
		if best == "" {
			continue
		}
		count[best]++
		give(out, best, tp.topic, tp.p)
	}
	for _, topics := range out {
		for _, parts := range topics {
			slices.Sort(parts)
		}
	}
	return out
}
