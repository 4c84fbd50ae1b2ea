package projection_test

import (
	"strings"
	"testing"

	"github.com/logq/logq/projection"
)

func TestTopicDeleted(t *testing.T) {
	tests := []struct {
		name    string
		events  []projection.Payload
		wantErr string
		check   func(t *testing.T, s *projection.State)
	}{
		{"deletes the topic and its clients", []projection.Payload{projection.TopicDeleted{Topic: "orders"}}, "", func(t *testing.T, s *projection.State) {
			if _, ok := s.Topics["orders"]; ok {
				t.Error("topic still there")
			}
			if len(s.Producers) != 0 || len(s.Consumers) != 0 {
				t.Errorf("clients of the deleted topic kept: %v %v", s.Producers, s.Consumers)
			}
			if len(s.PartitionsOf(1)) != 0 || len(s.PartitionsOf(2)) != 0 {
				t.Error("partitions still assigned")
			}
			if s.NextIDs.Producer != 2 || s.NextIDs.Consumer != 2 {
				t.Errorf("ids would be reused: %+v", s.NextIDs)
			}
			if s.DeletedTopics["orders"] != int64(len(base)+1) {
				t.Errorf("deleted topics %v", s.DeletedTopics)
			}
		}},
		{"unknown topic", []projection.Payload{projection.TopicDeleted{Topic: "nope"}}, "unknown topic", nil},
		{"twice", []projection.Payload{projection.TopicDeleted{Topic: "orders"}, projection.TopicDeleted{Topic: "orders"}}, "unknown topic", nil},
		{"name not reusable", []projection.Payload{projection.TopicDeleted{Topic: "orders"}, projection.TopicCreated{Topic: "orders", Partitions: 1}}, "not reusable", nil},
		{"other topics untouched", []projection.Payload{projection.TopicCreated{Topic: "keep", Partitions: 1},
			projection.ProducerRegistered{ProducerID: 2, Topic: "keep"}, projection.TopicDeleted{Topic: "orders"}}, "", func(t *testing.T, s *projection.State) {
			if _, ok := s.Topics["keep"]; !ok || s.Producers[2] == nil {
				t.Error("keep or its producer lost")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := projection.New()
			evs := events(append(append([]projection.Payload{}, base...), tc.events...)...)
			if err := projection.ApplyAll(s, evs[:len(base)]); err != nil {
				t.Fatal(err)
			}
			before := projection.Render(s)
			var err error
			for _, e := range evs[len(base):] {
				before = projection.Render(s)
				if err = projection.Apply(s, e); err != nil {
					break
				}
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if projection.Render(s) != before {
					t.Fatal("a failed Apply changed the state")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
			// Snapshot and clone keep the deleted names.
			b, _ := projection.Encode(s)
			d, err := projection.DecodeState(b)
			if err != nil || projection.Render(d) != projection.Render(s) || projection.Render(s.Clone()) != projection.Render(s) {
				t.Fatalf("snapshot/clone lost state: %v", err)
			}
		})
	}
}
