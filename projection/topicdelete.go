package projection

import "github.com/logq/logq"

// TypeTopicDeleted is the event type of TopicDeleted.
const TypeTopicDeleted = "TopicDeleted"

// TopicDeleted: a topic was deleted. Its partitions are no longer assigned
// (their brokers stop serving them), and the producers and consumers
// registered for it are gone with it (their ids are not reused). The
// partitions' stored records stay in the data plane, unserved: the name is
// therefore not reusable (a TopicCreated of a deleted name is refused), so
// that a new topic never shows a deleted one's records.
type TopicDeleted struct {
	Topic string `json:"topic"`
}

func (TopicDeleted) EventType() string { return TypeTopicDeleted }

func (s *State) checkTopicDeleted(e logq.Event, p TopicDeleted) error {
	if _, ok := s.Topics[p.Topic]; !ok {
		return invariant(e, "unknown topic %q", p.Topic)
	}
	return nil
}

func (s *State) deleteTopic(seq int64, p TopicDeleted) {
	delete(s.Topics, p.Topic)
	for id, c := range s.Producers {
		if c.Topic == p.Topic {
			delete(s.Producers, id)
		}
	}
	for id, c := range s.Consumers {
		if c.Topic == p.Topic {
			delete(s.Consumers, id)
		}
	}
	if s.DeletedTopics == nil {
		s.DeletedTopics = map[string]int64{}
	}
	s.DeletedTopics[p.Topic] = seq
}

// checkNotDeleted refuses a TopicCreated of a deleted topic's name.
func (s *State) checkNotDeleted(e logq.Event, topic string) error {
	if seq, ok := s.DeletedTopics[topic]; ok {
		return invariant(e, "topic %q was deleted at seq %d; its name is not reusable", topic, seq)
	}
	return nil
}
