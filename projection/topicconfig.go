package projection

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/logq/logq"
)

// TypeTopicConfigChanged is the event type of TopicConfigChanged.
const TypeTopicConfigChanged = "TopicConfigChanged"

// Retention values of a topic (TopicConfigChanged, Topic): 0 means the
// cluster default (the brokers' --retention-ms and --retention-bytes),
// RetentionForever keeps records forever on that axis, and a positive
// value is the limit (milliseconds after a record's timestamp; bytes of the
// partition's log on disk).
const (
	RetentionDefault = 0
	RetentionForever = -1
)

// TopicConfigChanged: a topic's configuration, whole (the fields not
// changing carry their current values): its retention by time and by size.
type TopicConfigChanged struct {
	Topic          string `json:"topic"`
	RetentionMs    int64  `json:"retention_ms"`
	RetentionBytes int64  `json:"retention_bytes"`
}

func (TopicConfigChanged) EventType() string { return TypeTopicConfigChanged }

// ValidateRetention reports whether v is a valid retention value: -1, 0 or
// positive.
func ValidateRetention(what string, v int64) error {
	if v < RetentionForever {
		return fmt.Errorf("%s %d: want -1 (forever), 0 (the cluster default) or a positive limit", what, v)
	}
	return nil
}

// checkTopicConfig is State.check for TopicConfigChanged.
func (s *State) checkTopicConfig(e logq.Event, p TopicConfigChanged) error {
	if _, ok := s.Topics[p.Topic]; !ok {
		return invariant(e, "unknown topic %q", p.Topic)
	}
	if err := ValidateRetention("retention_ms", p.RetentionMs); err != nil {
		return invariant(e, "%v", err)
	}
	if err := ValidateRetention("retention_bytes", p.RetentionBytes); err != nil {
		return invariant(e, "%v", err)
	}
	return nil
}

// mutateTopicConfig is State.mutate for TopicConfigChanged.
func (s *State) mutateTopicConfig(p TopicConfigChanged) {
	t := s.Topics[p.Topic]
	t.RetentionMs, t.RetentionBytes = p.RetentionMs, p.RetentionBytes
}

// decodeTopicConfig is decodeJSON for TopicConfigChanged.
func decodeTopicConfig(e logq.Event) (Payload, error) {
	var p TopicConfigChanged
	if err := json.Unmarshal(e.Data, &p); err != nil {
		return nil, fmt.Errorf("event %d (%s): malformed data: %w", e.Seq, e.Type, err)
	}
	return p, nil
}

// appendTopicConfigs appends the snapshot section of topic configs: the
// topics whose retention is not the default, sorted by name (version 3
// snapshots; older ones end before it).
func appendTopicConfigs(b []byte, s *State) []byte {
	var names []string
	for _, name := range s.TopicNames() {
		if t := s.Topics[name]; t.RetentionMs != 0 || t.RetentionBytes != 0 {
			names = append(names, name)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, name := range names {
		t := s.Topics[name]
		b = appendString(b, name)
		b = binary.AppendVarint(b, t.RetentionMs)
		b = binary.AppendVarint(b, t.RetentionBytes)
	}
	return b
}

// readTopicConfigs reads the section appendTopicConfigs wrote into s.
func readTopicConfigs(r *reader, s *State) {
	n := r.count(3)
	for range n {
		name := r.string()
		ms, bytes := r.varint(), r.varint()
		if r.err != nil {
			return
		}
		t, ok := s.Topics[name]
		if !ok {
			r.err = errTruncated
			return
		}
		t.RetentionMs, t.RetentionBytes = ms, bytes
	}
}
