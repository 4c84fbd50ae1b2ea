package projection_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

// seqOf numbers payloads as consecutive events from 1.
func events(payloads ...projection.Payload) []logq.Event {
	out := make([]logq.Event, len(payloads))
	for i, p := range payloads {
		e := projection.NewEvent(p)
		e.Seq, e.Epoch = int64(i+1), 1
		out[i] = e
	}
	return out
}

func intp(v int) *int { return &v }

// base is a small cluster every table case starts from.
var base = []projection.Payload{
	projection.WriterElected{Manager: "http://m1", Epoch: 1},
	projection.BrokerRegistered{BrokerID: 1, Address: "b1:9000"},
	projection.BrokerRegistered{BrokerID: 2, Address: "b2:9000"},
	projection.TopicCreated{Topic: "orders", Partitions: 2},
	projection.PartitionAssigned{Topic: "orders", Partition: 0, BrokerID: 1, Epoch: 1},
	projection.PartitionAssigned{Topic: "orders", Partition: 1, BrokerID: 2, Epoch: 1},
	projection.ProducerRegistered{ProducerID: 1, Topic: "orders"},
	projection.ConsumerRegistered{ConsumerID: 1, Topic: "orders", Partition: intp(1)},
}

func baseState(t *testing.T) *projection.State {
	t.Helper()
	s := projection.New()
	if err := projection.ApplyAll(s, events(base...)); err != nil {
		t.Fatalf("base: %v", err)
	}
	return s
}

func TestApply(t *testing.T) {
	tests := []struct {
		name    string
		event   projection.Payload
		wantErr string // substring; "" = success
		check   func(t *testing.T, s *projection.State)
	}{
		{"writer elected", projection.WriterElected{Manager: "http://m2", Epoch: 2}, "", func(t *testing.T, s *projection.State) {
			if s.Writer != "http://m2" || s.WriterEpoch != 2 {
				t.Errorf("writer = %q/%d", s.Writer, s.WriterEpoch)
			}
		}},
		{"writer epoch must grow", projection.WriterElected{Manager: "http://m2", Epoch: 1}, "does not exceed", nil},
		{"writer needs a name", projection.WriterElected{Epoch: 5}, "empty manager", nil},
		{"broker registered", projection.BrokerRegistered{BrokerID: 3, Address: "b3:9000"}, "", func(t *testing.T, s *projection.State) {
			if b := s.Brokers[3]; b == nil || !b.Alive || b.Address != "b3:9000" || s.NextIDs.Broker != 4 {
				t.Errorf("broker 3 = %+v, next %d", b, s.NextIDs.Broker)
			}
		}},
		{"broker re-registers at a new address", projection.BrokerRegistered{BrokerID: 1, Address: "b1:9001"}, "", func(t *testing.T, s *projection.State) {
			if s.Brokers[1].Address != "b1:9001" {
				t.Errorf("address = %q", s.Brokers[1].Address)
			}
		}},
		{"broker id must be positive", projection.BrokerRegistered{BrokerID: 0, Address: "x"}, "not positive", nil},
		{"broker address required", projection.BrokerRegistered{BrokerID: 9}, "invalid broker address", nil},
		{"broker dies", projection.BrokerStatusChanged{BrokerID: 2, Alive: false}, "", func(t *testing.T, s *projection.State) {
			if s.Brokers[2].Alive || s.Writable("orders", 1) || !s.Writable("orders", 0) {
				t.Errorf("broker 2 alive=%t writable(1)=%t", s.Brokers[2].Alive, s.Writable("orders", 1))
			}
		}},
		{"status change must change", projection.BrokerStatusChanged{BrokerID: 2, Alive: true}, "already has alive=true", nil},
		{"status of unknown broker", projection.BrokerStatusChanged{BrokerID: 7, Alive: false}, "unknown broker 7", nil},
		{"remove broker owning partitions", projection.BrokerRemoved{BrokerID: 1}, "still owns 1 partitions", nil},
		{"topic created", projection.TopicCreated{Topic: "logs", Partitions: 3}, "", func(t *testing.T, s *projection.State) {
			if tp := s.Topics["logs"]; tp == nil || len(tp.Partitions) != 3 || tp.Partitions[2].Index != 2 || tp.Partitions[2].Broker != 0 {
				t.Errorf("topic = %+v", tp)
			}
		}},
		{"duplicate topic", projection.TopicCreated{Topic: "orders", Partitions: 1}, `topic "orders" already exists`, nil},
		{"zero partitions", projection.TopicCreated{Topic: "x", Partitions: 0}, "outside 1..", nil},
		{"too many partitions", projection.TopicCreated{Topic: "x", Partitions: projection.MaxPartitions + 1}, "outside 1..", nil},
		{"bad topic name", projection.TopicCreated{Topic: "a b", Partitions: 1}, "outside [A-Za-z0-9._-]", nil},
		{"partitions added", projection.PartitionsAdded{Topic: "orders", Count: 2}, "", func(t *testing.T, s *projection.State) {
			if n := len(s.Topics["orders"].Partitions); n != 4 || s.Topics["orders"].Partitions[3].Index != 3 {
				t.Errorf("partitions = %d", n)
			}
		}},
		{"partitions added to unknown topic", projection.PartitionsAdded{Topic: "nope", Count: 1}, "unknown topic", nil},
		{"add zero partitions", projection.PartitionsAdded{Topic: "orders", Count: 0}, "cannot add 0", nil},
		{"reassignment with higher epoch", projection.PartitionAssigned{Topic: "orders", Partition: 1, BrokerID: 1, Epoch: 2}, "", func(t *testing.T, s *projection.State) {
			if got := s.PartitionsOf(1); len(got) != 2 || got[1].Epoch != 2 {
				t.Errorf("PartitionsOf(1) = %+v", got)
			}
		}},
		{"assignment epoch must grow", projection.PartitionAssigned{Topic: "orders", Partition: 1, BrokerID: 1, Epoch: 1}, "does not exceed", nil},
		{"assignment to unknown broker", projection.PartitionAssigned{Topic: "orders", Partition: 0, BrokerID: 9, Epoch: 5}, "unknown broker 9", nil},
		{"assignment to missing partition", projection.PartitionAssigned{Topic: "orders", Partition: 2, BrokerID: 1, Epoch: 5}, "no partition 2", nil},
		{"producer registered", projection.ProducerRegistered{ProducerID: 2, Topic: "orders", Partition: intp(0)}, "", func(t *testing.T, s *projection.State) {
			if p := s.Producers[2]; p == nil || *p.Partition != 0 || s.NextIDs.Producer != 3 {
				t.Errorf("producer = %+v", p)
			}
		}},
		{"duplicate producer", projection.ProducerRegistered{ProducerID: 1, Topic: "orders"}, "already registered", nil},
		{"producer for unknown topic", projection.ProducerRegistered{ProducerID: 5, Topic: "nope"}, "unknown topic", nil},
		{"consumer registered", projection.ConsumerRegistered{ConsumerID: 2, Topic: "orders"}, "", func(t *testing.T, s *projection.State) {
			if c := s.Consumers[2]; c == nil || c.Partition != nil || s.NextIDs.Consumer != 3 {
				t.Errorf("consumer = %+v", c)
			}
		}},
		{"consumer for missing partition", projection.ConsumerRegistered{ConsumerID: 2, Topic: "orders", Partition: intp(-1)}, "no partition -1", nil},
		{"consumer goes inactive", projection.ClientStatusChanged{Client: "consumer", ID: 1, Active: false}, "", func(t *testing.T, s *projection.State) {
			if !s.Consumers[1].Inactive {
				t.Error("consumer 1 still active")
			}
		}},
		{"client status must change", projection.ClientStatusChanged{Client: "producer", ID: 1, Active: true}, "already has active=true", nil},
		{"unknown client kind", projection.ClientStatusChanged{Client: "robot", ID: 1}, "unknown client kind", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseState(t)
			before := projection.Render(s)
			e := projection.NewEvent(tt.event)
			e.Seq = s.Seq + 1
			err := projection.Apply(s, e)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, projection.ErrInvariant) {
					t.Fatalf("Apply = %v; want an invariant error containing %q", err, tt.wantErr)
				}
				if after := projection.Render(s); after != before {
					t.Fatalf("failed Apply changed the state:\n%s\nwant\n%s", after, before)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if s.Seq != e.Seq {
				t.Errorf("Seq = %d; want %d", s.Seq, e.Seq)
			}
			tt.check(t, s)
		})
	}
}

func TestApplyRejectsGapsUnknownTypesAndBadData(t *testing.T) {
	s := baseState(t)
	before := projection.Render(s)
	for _, e := range []logq.Event{
		{Seq: s.Seq + 2, Type: projection.TypeBrokerRemoved, Data: json.RawMessage(`{"broker_id":1}`)},
		{Seq: s.Seq, Type: projection.TypeBrokerRemoved, Data: json.RawMessage(`{"broker_id":1}`)},
		{Seq: s.Seq + 1, Type: "TopicExploded", Data: json.RawMessage(`{}`)},
		{Seq: s.Seq + 1, Type: projection.TypeTopicCreated, Data: json.RawMessage(`{"topic":1}`)},
		{Seq: s.Seq + 1, Type: projection.TypeTopicCreated, Data: json.RawMessage(`nope`)},
	} {
		if err := projection.Apply(s, e); err == nil {
			t.Errorf("Apply(%d %s %s) = nil; want an error", e.Seq, e.Type, e.Data)
		}
	}
	if after := projection.Render(s); after != before {
		t.Fatalf("rejected events changed the state")
	}
}

func TestRemoveBrokerAfterMovingItsPartitions(t *testing.T) {
	s := baseState(t)
	more := []projection.Payload{
		projection.PartitionAssigned{Topic: "orders", Partition: 1, BrokerID: 1, Epoch: 2},
		projection.BrokerRemoved{BrokerID: 2},
	}
	for _, p := range more {
		e := projection.NewEvent(p)
		e.Seq = s.Seq + 1
		if err := projection.Apply(s, e); err != nil {
			t.Fatal(err)
		}
	}
	if b := s.Brokers[2]; !b.Removed || b.Alive {
		t.Fatalf("broker 2 = %+v", b)
	}
	if ids := s.BrokerIDs(); len(ids) != 1 || ids[0] != 1 {
		t.Fatalf("BrokerIDs = %v", ids)
	}
	e := projection.NewEvent(projection.BrokerRegistered{BrokerID: 2, Address: "b2:9000"})
	e.Seq = s.Seq + 1
	if err := projection.Apply(s, e); err == nil {
		t.Fatal("a removed broker re-registered under its old id")
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := baseState(t)
	b, err := projection.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := projection.DecodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	if projection.Render(got) != projection.Render(s) {
		t.Fatalf("round trip differs:\n%s\nwant\n%s", projection.Render(got), projection.Render(s))
	}
	b2, _ := projection.Encode(got)
	if string(b2) != string(b) {
		t.Fatal("encoding is not deterministic")
	}
	if _, err := projection.DecodeState([]byte(`{"version":99,"state":{}}`)); err == nil {
		t.Fatal("decoded an unknown snapshot version")
	}
}

func TestCloneIsDeep(t *testing.T) {
	s := baseState(t)
	c := s.Clone()
	c.Brokers[1].Alive = false
	c.Topics["orders"].Partitions[0].Epoch = 99
	*c.Consumers[1].Partition = 0
	if !s.Brokers[1].Alive || s.Topics["orders"].Partitions[0].Epoch != 1 || *s.Consumers[1].Partition != 1 {
		t.Fatal("mutating the clone changed the original")
	}
}
