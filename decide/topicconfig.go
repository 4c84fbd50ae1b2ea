package decide

import (
	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

// ChangeTopicConfig decides a topic's new configuration: the values given
// change (nil: unchanged), the event carries the whole configuration, and
// nothing is appended when nothing changes.
func ChangeTopicConfig(s *projection.State, topic string, retentionMs, retentionBytes *int64) (Decision, error) {
	t, ok := s.Topics[topic]
	if !ok {
		return Decision{}, logq.Errorf(logq.ETopicNotFound, "topic %q not found", topic)
	}
	if retentionMs == nil && retentionBytes == nil {
		return Decision{}, logq.Errorf(logq.EInvalid, "nothing to change: give retention_ms and/or retention_bytes")
	}
	ev := projection.TopicConfigChanged{Topic: topic, RetentionMs: t.RetentionMs, RetentionBytes: t.RetentionBytes}
	if retentionMs != nil {
		ev.RetentionMs = *retentionMs
	}
	if retentionBytes != nil {
		ev.RetentionBytes = *retentionBytes
	}
	if err := validateRetention(ev); err != nil {
		return Decision{}, err
	}
	if ev.RetentionMs == t.RetentionMs && ev.RetentionBytes == t.RetentionBytes {
		return Decision{}, nil
	}
	return Decision{Events: []projection.Payload{ev}}, nil
}

// CreateTopicConfigured is CreateTopic followed, when a retention is given
// that is not the cluster default, by the topic's TopicConfigChanged: one
// decision, appended together.
func CreateTopicConfigured(s *projection.State, topic string, n int, retentionMs, retentionBytes *int64) (Decision, error) {
	ev := projection.TopicConfigChanged{Topic: topic}
	if retentionMs != nil {
		ev.RetentionMs = *retentionMs
	}
	if retentionBytes != nil {
		ev.RetentionBytes = *retentionBytes
	}
	if err := validateRetention(ev); err != nil {
		return Decision{}, err
	}
	d, err := CreateTopic(s, topic, n)
	if err != nil || (ev.RetentionMs == 0 && ev.RetentionBytes == 0) {
		return d, err
	}
	d.Events = append(d.Events, ev)
	return d, nil
}

func validateRetention(ev projection.TopicConfigChanged) error {
	if err := projection.ValidateRetention("retention_ms", ev.RetentionMs); err != nil {
		return logq.Errorf(logq.EInvalid, "%v", err)
	}
	if err := projection.ValidateRetention("retention_bytes", ev.RetentionBytes); err != nil {
		return logq.Errorf(logq.EInvalid, "%v", err)
	}
	return nil
}
