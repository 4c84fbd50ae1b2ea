package projection

import (
	"encoding/json"
	"fmt"
	"maps"
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
	maps.Copy(s.Brokers, snap.State.Brokers)
	maps.Copy(s.Topics, snap.State.Topics)
	maps.Copy(s.Producers, snap.State.Producers)
	maps.Copy(s.Consumers, snap.State.Consumers)
	maps.Copy(s.Groups, snap.State.Groups)
	return s, nil
}

// Render returns a stable, human-readable rendering of s: the golden
// transcripts and `logq state` print it.
func Render(s *State) string {
	var b strings.Builder
	fmt.Fprintf(&b, "seq %d\nwriter %q epoch %d\n", s.Seq, s.Writer, s.WriterEpoch)
	fmt.Fprintf(&b, "next ids: broker %d producer %d consumer %d\n", s.NextIDs.Broker, s.NextIDs.Producer, s.NextIDs.Consumer)
	for _, id := range slices.Sorted(maps.Keys(s.Brokers)) {
		br := s.Brokers[id]
		status := "alive"
		switch {
		case br.Removed:
			status = "removed"
		case !br.Alive:
			status = "dead"
		}
		if br.KafkaAddress != "" {
			status += " kafka " + br.KafkaAddress
		}
		if br.StorageCluster != "" { // storagecluster.go
			status += " storage " + br.StorageCluster
		}
		fmt.Fprintf(&b, "broker %d %s %s\n", id, br.Address, status)
	}
	for _, name := range slices.Sorted(maps.Keys(s.DeletedTopics)) {
		fmt.Fprintf(&b, "deleted topic %s at seq %d\n", name, s.DeletedTopics[name])
	}
	for _, name := range s.TopicNames() {
		t := s.Topics[name]
		fmt.Fprintf(&b, "topic %s partitions %d\n", name, len(t.Partitions))
		if t.RetentionMs != 0 || t.RetentionBytes != 0 { // topicconfig.go
			fmt.Fprintf(&b, "  retention ms %d bytes %d\n", t.RetentionMs, t.RetentionBytes)
		}
		for _, p := range t.Partitions {
			fmt.Fprintf(&b, "  partition %d broker %d epoch %d", p.Index, p.Broker, p.Epoch)
			if p.StorageCluster != "" { // storagecluster.go
				fmt.Fprintf(&b, " storage %s", p.StorageCluster)
			}
			b.WriteString("\n")
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.Producers)) {
		p := s.Producers[id]
		renderClient(&b, "producer", id, p.Topic, p.Partition, p.Inactive, p.Principal)
	}
	for _, id := range slices.Sorted(maps.Keys(s.Consumers)) {
		c := s.Consumers[id]
		renderClient(&b, "consumer", id, c.Topic, c.Partition, c.Inactive, c.Principal)
	}
	renderSecurity(&b, s)                                              // security.go
	renderGroups(&b, s)                                                // consumer groups (groups.go)
	for _, name := range slices.Sorted(maps.Keys(s.StorageClusters)) { // storagecluster.go
		fmt.Fprintf(&b, "storage cluster %s\n", name)
	}
	return b.String()
}

// renderClient writes one producer's or consumer's line.
func renderClient(b *strings.Builder, kind string, id int64, topic string, partition *int, inactive bool, principal string) {
	part, status := "*", ""
	if partition != nil {
		part = fmt.Sprint(*partition)
	}
	if inactive {
		status = " inactive"
	}
	if principal != "" { // owners.go
		status += fmt.Sprintf(" owner %q", principal)
	}
	fmt.Fprintf(b, "%s %d topic %s partition %s%s\n", kind, id, topic, part, status)
}
