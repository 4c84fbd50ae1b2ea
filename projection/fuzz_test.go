package projection_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

// eventsFromBytes turns fuzz input into a stream of plausible events (small
// id spaces so that most hit real state) plus, now and then, raw JSON.
func eventsFromBytes(b []byte) []logq.Event {
	var out []logq.Event
	for len(b) >= 4 {
		op, x, y, z := b[0], int64(b[1]%5), int(b[2]%4), int64(b[3]%4)
		b = b[4:]
		topic := string(rune('a' + y%3))
		var p projection.Payload
		if op >= 200 && op < 220 { // storage clusters (storagecluster.go)
			sc := []string{"", "default", "s1", "s2"}[z]
			switch op % 4 {
			case 0:
				p = projection.StorageClusterRegistered{Name: sc}
			case 1:
				p = projection.BrokerRegistered{BrokerID: x, Address: "b", StorageCluster: sc}
			case 2:
				p = projection.TopicCreated{Topic: topic, Partitions: 2, StorageClusters: []string{sc, "s1"}}
			default:
				p = projection.PartitionsAdded{Topic: topic, Count: 1, StorageClusters: []string{sc}}
			}
			out = append(out, projection.NewEvent(p))
			continue
		}
		if op >= 220 { // security events (security_test.go)
			out = append(out, projection.NewEvent(securityPayload(op, x, y, z)))
			continue
		}
		switch op % 11 {
		case 0:
			p = projection.WriterElected{Manager: "m", Epoch: z + x}
		case 1:
			p = projection.BrokerRegistered{BrokerID: x, Address: "b"}
		case 2:
			p = projection.BrokerStatusChanged{BrokerID: x, Alive: z%2 == 0}
		case 3:
			p = projection.BrokerRemoved{BrokerID: x}
		case 4:
			p = projection.TopicCreated{Topic: topic, Partitions: int(z)}
		case 5:
			p = projection.PartitionsAdded{Topic: topic, Count: int(z)}
		case 6:
			p = projection.PartitionAssigned{Topic: topic, Partition: y, BrokerID: x, Epoch: z + int64(op/11)}
		case 7:
			part := y - 1
			p = projection.ProducerRegistered{ProducerID: x, Topic: topic, Partition: &part}
		case 8:
			p = projection.ConsumerRegistered{ConsumerID: x, Topic: topic}
		case 9:
			kind := "producer"
			if z%2 == 1 {
				kind = "consumer"
			}
			p = projection.ClientStatusChanged{Client: kind, ID: x, Active: y%2 == 0}
		default:
			// Raw bytes as the data of a known type: decoding must not panic.
			n := min(int(z)*3, len(b))
			out = append(out, logq.Event{Type: projection.Types[int(x)%len(projection.Types)], Data: json.RawMessage(b[:n])})
			b = b[n:]
			continue
		}
		out = append(out, projection.NewEvent(p))
	}
	return out
}

func FuzzApply(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 1, 1, 0, 0, 1, 2, 0, 0, 4, 0, 0, 2, 6, 1, 0, 1, 6, 2, 1, 1, 7, 1, 1, 0, 8, 1, 0, 0})
	f.Add([]byte{1, 1, 0, 0, 2, 1, 0, 1, 4, 0, 1, 3, 6, 1, 1, 2, 3, 1, 0, 0, 10, 2, 0, 3, '{', '}', 'x'})
	f.Add([]byte{4, 0, 0, 1, 5, 0, 0, 2, 9, 1, 0, 0, 10, 0, 0, 1, 'n', 'u', 'l'})
	f.Add([]byte{200, 0, 0, 2, 201, 1, 0, 2, 201, 2, 0, 0, 202, 0, 0, 2, 6, 1, 0, 1, 6, 2, 1, 1, 203, 0, 0, 3, 1, 1, 0, 0}) // storage clusters
	f.Add([]byte{222, 1, 0, 0, 226, 1, 0, 1, 224, 1, 0, 1, 225, 1, 0, 0, 228, 1, 0, 2, 229, 1, 0, 2, 223, 1, 0, 0})         // security events
	f.Fuzz(func(t *testing.T, b []byte) {
		// Bound the log: the checks below are quadratic in its length.
		if len(b) > 2048 {
			b = b[:2048]
		}
		// Fold, keeping the events that applied (failed ones change nothing).
		s := projection.New()
		var accepted []logq.Event
		for _, e := range eventsFromBytes(b) {
			e.Seq = s.Seq + 1
			before := projection.Render(s)
			if err := projection.Apply(s, e); err != nil {
				if projection.Render(s) != before {
					t.Fatalf("failed Apply of %s %s changed the state", e.Type, e.Data)
				}
				continue
			}
			accepted = append(accepted, e)
		}
		want := projection.Render(s)

		// Replaying the accepted log gives the same state, every time.
		again := projection.New()
		if err := projection.ApplyAll(again, accepted); err != nil {
			t.Fatalf("replay failed: %v", err)
		}
		if got := projection.Render(again); got != want {
			t.Fatalf("replay differs:\n%s\nwant\n%s", got, want)
		}

		// Folding in chunks through snapshots equals folding at once.
		chunk := 1 + len(b)%5
		c := projection.New()
		for i := 0; i < len(accepted); i += chunk {
			if err := projection.ApplyAll(c, accepted[i:min(i+chunk, len(accepted))]); err != nil {
				t.Fatalf("chunked fold failed: %v", err)
			}
			enc, err := projection.Encode(c)
			if err != nil {
				t.Fatal(err)
			}
			if c, err = projection.DecodeState(enc); err != nil {
				t.Fatalf("snapshot round trip: %v", err)
			}
		}
		if got := projection.Render(c); got != want {
			t.Fatalf("chunked fold differs:\n%s\nwant\n%s", got, want)
		}
	})
}

// FuzzDecode decodes any event data under every type name (and any type
// name): Decode returns a payload or an error, never panics; a decoded
// payload encodes and decodes back to itself, and applying it to an empty
// state either works or fails without changing the state.
func FuzzDecode(f *testing.F) {
	for _, typ := range projection.Types {
		f.Add(typ, []byte(`{}`))
	}
	f.Add(projection.TypePartitionAssigned, []byte(`{"topic":"a","partition":0,"broker_id":1,"epoch":1}`))
	f.Add(projection.TypeProducerRegistered, []byte(`{"producer_id":1,"topic":"a","partition":-1}`))
	f.Add(projection.TypeTopicCreated, []byte(`{"topic":"a","partitions":1e400}`))
	f.Add(projection.TypeBrokerRegistered, []byte(`{"broker_id":"1","address":null}`))
	f.Add(projection.TypeWriterElected, []byte(`null`))
	f.Add(projection.TypeClientStatusChanged, []byte(`{"client":"producer","id":1,"active":true,"extra":[1,2,{"x":null}]}`))
	f.Add("NoSuchType", []byte(`{}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		p, err := projection.Decode(logq.Event{Seq: 1, Type: typ, Data: data})
		if err != nil {
			return
		}
		if p.EventType() != typ {
			t.Fatalf("Decode(%s) gave a %s", typ, p.EventType())
		}
		again, err := projection.Decode(projection.NewEvent(p))
		if err != nil {
			t.Fatalf("re-decode of %#v: %v", p, err)
		}
		if !reflect.DeepEqual(again, p) {
			t.Fatalf("round trip: %#v became %#v", p, again)
		}
		s := projection.New()
		before := projection.Render(s)
		e := projection.NewEvent(p)
		e.Seq = 1
		if err := projection.Apply(s, e); err != nil && projection.Render(s) != before {
			t.Fatalf("failed Apply of %s %s changed the state", e.Type, e.Data)
		}
	})
}
