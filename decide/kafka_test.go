package decide

import (
	"testing"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

func TestRegisterKafkaBroker(t *testing.T) {
	s := fold(t, projection.BrokerRegistered{BrokerID: 1, Address: "b1:1", KafkaAddress: "b1:9092"})
	tests := []struct {
		name      string
		kafka     string
		wantEvent bool
	}{
		{"same addresses: no event", "b1:9092", false},
		{"new Kafka address", "b1:9093", true},
		{"Kafka listener gone", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := RegisterKafkaBroker(s, "b1:1", tc.kafka, 0, false, t0)
			if err != nil {
				t.Fatal(err)
			}
			if d.ID != 1 {
				t.Fatalf("id %d", d.ID)
			}
			if got := len(d.Events) > 0; got != tc.wantEvent {
				t.Fatalf("events %v", d.Events)
			}
			if tc.wantEvent {
				if r := d.Events[0].(projection.BrokerRegistered); r.KafkaAddress != tc.kafka {
					t.Fatalf("event %+v", r)
				}
			}
		})
	}
	// A heartbeat from a new HTTP address keeps the Kafka address.
	d, err := Heartbeat(s, 1, "b1:2", t0)
	if err != nil {
		t.Fatal(err)
	}
	if r := d.Events[0].(projection.BrokerRegistered); r.KafkaAddress != "b1:9092" {
		t.Fatalf("heartbeat event %+v", r)
	}
}

func TestDeleteTopic(t *testing.T) {
	s := fold(t, projection.BrokerRegistered{BrokerID: 1, Address: "b1:1"},
		projection.TopicCreated{Topic: "t", Partitions: 1},
		projection.PartitionAssigned{Topic: "t", Partition: 0, BrokerID: 1, Epoch: 1})
	if _, err := DeleteTopic(s, "nope"); logq.ErrorCode(err) != logq.ETopicNotFound {
		t.Fatalf("delete of an unknown topic: %v", err)
	}
	d, err := DeleteTopic(s, "t")
	if err != nil || len(d.Events) != 1 {
		t.Fatalf("%v %v", d, err)
	}
	apply(t, s, d.Events)
	for name, create := range map[string]func() error{
		"create":   func() error { _, err := CreateTopic(s, "t", 1); return err },
		"producer": func() error { _, err := RegisterProducer(s, "t", nil, t0); return err },
	} {
		if err := create(); logq.ErrorCode(err) != logq.EConflict {
			t.Errorf("%s of a deleted name: %v", name, err)
		}
	}
}
