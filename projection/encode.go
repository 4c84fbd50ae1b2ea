package projection

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// snapshotVersion is the version of the JSON snapshots that Encode wrote
// before the binary encoding (snapshot.go); DecodeState still reads them.
const snapshotVersion = 1

type snapshot struct {
	Version int    `json:"version"`
	State   *State `json:"state"`
}

// Encode returns a deterministic encoding of s for snapshots: the compact,
// versioned binary encoding of snapshot.go (a cold start decodes a state of
// a million clients in a few tens of milliseconds, where JSON takes
// seconds).
func Encode(s *State) ([]byte, error) {
	return encodeBinary(s), nil
}

// DecodeState is the inverse of Encode. It also reads the JSON snapshots
// of version 1.
func DecodeState(b []byte) (*State, error) {
	if isBinarySnapshot(b) {
		return decodeBinary(b)
	}
	var snap snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return nil, fmt.Errorf("decode snapshot: %w", err)
	}
	if snap.Version != snapshotVersion {
		return nil, fmt.Errorf("decode snapshot: version %d, want %d", snap.Version, snapshotVersion)
	}
	if snap.State == nil {
		return nil, fmt.Errorf("decode snapshot: no state")
	}
	s := New()
	s.Seq, s.WriterEpoch, s.Writer, s.NextIDs = snap.State.Seq, snap.State.WriterEpoch, snap.State.Writer, snap.State.NextIDs
	for k, v := range snap.State.Brokers {
		s.Brokers[k] = v
	}
	for k, v := range snap.State.Topics {
		s.Topics[k] = v
	}
	for k, v := range snap.State.Producers {
		s.Producers[k] = v
	}
	for k, v := range snap.State.Consumers {
		s.Consumers[k] = v
	}
	return s, nil
}

// Render returns a stable, human-readable rendering of s: the golden
// transcripts and `logq state` print it.
func Render(s *State) string {
	var b strings.Builder
	fmt.Fprintf(&b, "seq %d\nwriter %q epoch %d\n", s.Seq, s.Writer, s.WriterEpoch)
	fmt.Fprintf(&b, "next ids: broker %d producer %d consumer %d\n", s.NextIDs.Broker, s.NextIDs.Producer, s.NextIDs.Consumer)
	ids := make([]int64, 0, len(s.Brokers))
	for id := range s.Brokers {
		ids = append(ids, id)
	}
	sortInt64(ids)
	for _, id := range ids {
		br := s.Brokers[id]
		status := "alive"
		switch {
		case br.Removed:
			status = "removed"
		case !br.Alive:
			status = "dead"
		}
		fmt.Fprintf(&b, "broker %d %s %s\n", id, br.Address, status)
	}
	for _, name := range s.TopicNames() {
		t := s.Topics[name]
		fmt.Fprintf(&b, "topic %s partitions %d\n", name, len(t.Partitions))
		for _, p := range t.Partitions {
			fmt.Fprintf(&b, "  partition %d broker %d epoch %d\n", p.Index, p.Broker, p.Epoch)
		}
	}
	ids = ids[:0]
	for id := range s.Producers {
		ids = append(ids, id)
	}
	sortInt64(ids)
	for _, id := range ids {
		p := s.Producers[id]
		fmt.Fprintf(&b, "producer %d topic %s partition %s%s\n", id, p.Topic, partitionString(p.Partition), inactiveString(p.Inactive))
	}
	ids = ids[:0]
	for id := range s.Consumers {
		ids = append(ids, id)
	}
	sortInt64(ids)
	for _, id := range ids {
		c := s.Consumers[id]
		fmt.Fprintf(&b, "consumer %d topic %s partition %s%s\n", id, c.Topic, partitionString(c.Partition), inactiveString(c.Inactive))
	}
	return b.String()
}

func partitionString(p *int) string {
	if p == nil {
		return "*"
	}
	return fmt.Sprint(*p)
}

func inactiveString(inactive bool) string {
	if inactive {
		return " inactive"
	}
	return ""
}

func sortInt64(s []int64) { slices.Sort(s) }
