package decide

import (
	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

// DeleteTopic decides the deletion of a topic: TopicDeleted. Its
// partitions stop being served and its producers and consumers are gone;
// the stored records stay (unserved), so the name cannot be used again
// (see projection.TopicDeleted).
func DeleteTopic(s *projection.State, topic string) (Decision, error) {
	if _, ok := s.Topics[topic]; !ok {
		return Decision{}, logq.Errorf(logq.ETopicNotFound, "topic %q not found", topic)
	}
	return Decision{Events: []projection.Payload{projection.TopicDeleted{Topic: topic}}}, nil
}

// checkNotDeleted refuses to create a topic under a deleted one's name.
func checkNotDeleted(s *projection.State, topic string) error {
	if seq, ok := s.DeletedTopics[topic]; ok {
		return logq.Errorf(logq.EConflict, "topic %q was deleted (seq %d) and its records are still stored; a deleted topic's name cannot be used again, pick another", topic, seq)
	}
	return nil
}
