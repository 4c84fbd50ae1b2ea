package projection

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/logq/logq"
)

var decodeSeeds = []struct{ typ, data string }{
	{TypeWriterElected, `{"manager":"http://127.0.0.1:8080","epoch":3}`},
	{TypeWriterElected, `{"epoch": 3, "manager": "http://m1"}`},
	{TypeWriterElected, ` { "manager" : "é" , "epoch" : -0 } `},
	{TypeWriterElected, `{"manager":"a\"b","epoch":1}`},
	{TypeWriterElected, `{"Manager":"m","epoch":1}`},
	{TypeWriterElected, `{"manager":"m","epoch":1.0}`},
	{TypeWriterElected, `{"manager":"m","epoch":01}`},
	{TypeWriterElected, `{"manager":"m","epoch":99999999999999999999}`},
	{TypeWriterElected, `{"manager":null,"epoch":null}`},
	{TypeWriterElected, `{"manager":"m","epoch":1}x`},
	{TypeWriterElected, `{"manager":"m","epoch":1,}`},
	{TypeWriterElected, `{"manager":"m" "epoch":1}`},
	{TypeWriterElected, `{"manager":"\xff","epoch":1}`},
	{TypeWriterElected, "{\"manager\":\"a\x01b\",\"epoch\":1}"},
	{TypeWriterElected, `null`},
	{TypeWriterElected, `{}`},
	{TypeWriterElected, `{`},
	{TypeWriterElected, ``},
	{TypeBrokerRegistered, `{"broker_id": 2, "address": "127.0.0.1:8091"}`},
	{TypeBrokerRegistered, `{"broker_id":"2","address":"a"}`},
	{TypeBrokerStatusChanged, `{"alive": false, "broker_id": 2}`},
	{TypeBrokerStatusChanged, `{"alive": 0, "broker_id": 2}`},
	{TypeBrokerStatusChanged, `{"alive": tru, "broker_id": 2}`},
	{TypeBrokerRemoved, `{"broker_id": 2}`},
	{TypeTopicCreated, `{"topic": "orders", "partitions": 3}`},
	{TypeTopicCreated, `{"topic": "orders", "partitions": 1e400}`},
	{TypePartitionsAdded, `{"topic": "orders", "count": 2}`},
	{TypePartitionAssigned, `{"epoch": 1, "topic": "orders", "broker_id": 1, "partition": 0}`},
	{TypePartitionAssigned, `{"epoch": 1, "topic": "orders", "broker_id": 1, "partition": 9223372036854775808}`},
	{TypeProducerRegistered, `{"topic": "orders", "producer_id": 7}`},
	{TypeProducerRegistered, `{"topic": "orders", "partition": 1, "producer_id": 7}`},
	{TypeProducerRegistered, `{"topic": "orders", "partition": 1, "partition": null, "producer_id": 7}`},
	{TypeProducerRegistered, `{"topic": "orders", "partition": [1], "producer_id": 7}`},
	{TypeConsumerRegistered, `{"topic": "orders", "partition": -1, "consumer_id": 7}`},
	{TypeProducerRegistered, `{"topic": "orders", "producer_id": 7, "principal": "alice"}`},
	{TypeConsumerRegistered, `{"topic": "orders", "consumer_id": 7, "principal": "bob", "partition": 0}`},
	{TypeConsumerRegistered, `{"topic": "orders", "consumer_id": 7, "principal": 1}`},
	{TypeClientStatusChanged, `{"id": 7, "active": true, "client": "producer"}`},
	{TypeClientStatusChanged, `{"id": 7, "active": true, "client": "producer", "extra": {"x": 1}}`},
	{"NoSuchType", `{}`},
}

// TestDecodeFastMatchesJSON: the fast path gives exactly encoding/json's
// payload whenever it does not fall back.
func TestDecodeFastMatchesJSON(t *testing.T) {
	for _, c := range decodeSeeds {
		checkDecode(t, c.typ, []byte(c.data))
	}
}

func FuzzDecodeFast(f *testing.F) {
	for _, c := range decodeSeeds {
		f.Add(c.typ, []byte(c.data))
	}
	f.Fuzz(checkDecode)
}

func checkDecode(t *testing.T, typ string, data []byte) {
	e := logq.Event{Seq: 1, Type: typ, Data: data}
	want, wantErr := decodeJSON(e)
	got, err := Decode(e)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("Decode(%s, %q): error %v, encoding/json: %v", typ, data, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode(%s, %q) = %#v, encoding/json: %#v", typ, data, got, want)
	}
}

// BenchmarkDecode compares the fast path with encoding/json on a typical
// event as PostgreSQL's jsonb renders it.
func BenchmarkDecode(b *testing.B) {
	e := logq.Event{Seq: 1, Type: TypePartitionAssigned, Data: []byte(`{"epoch": 4, "topic": "topic-07", "broker_id": 3, "partition": 5}`)}
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeJSON(e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestDecodeFastIsTaken: the event data the writer appends (every type, in
// the rendering PostgreSQL's jsonb gives back, and as encoding/json writes
// it) is decoded by the fast path, not by the encoding/json fallback: the
// cold start's speed rests on it. Decode of a typical event allocates only
// its payload and the topic string.
func TestDecodeFastIsTaken(t *testing.T) {
	one := 1
	for _, p := range []Payload{
		WriterElected{Manager: "http://m1", Epoch: 2},
		BrokerRegistered{BrokerID: 1, Address: "b1:9000"},
		BrokerStatusChanged{BrokerID: 1, Alive: true},
		BrokerRemoved{BrokerID: 1},
		TopicCreated{Topic: "orders", Partitions: 3},
		PartitionsAdded{Topic: "orders", Count: 2},
		PartitionAssigned{Topic: "orders", Partition: 1, BrokerID: 2, Epoch: 3},
		ProducerRegistered{ProducerID: 7, Topic: "orders", Partition: &one},
		ConsumerRegistered{ConsumerID: 7, Topic: "orders"},
		ClientStatusChanged{Client: "producer", ID: 7, Active: false},
	} {
		e := NewEvent(p)
		jsonb := bytes.ReplaceAll(bytes.ReplaceAll(e.Data, []byte(`":`), []byte(`": `)), []byte(`,"`), []byte(`, "`))
		for _, data := range [][]byte{e.Data, jsonb} {
			if _, ok := decodeFast(e.Type, data); !ok {
				t.Errorf("%s %s: the fast path declined", e.Type, data)
			}
		}
	}
	if testing.CoverMode() != "" || raceEnabled {
		return // allocation counts hold only without instrumentation
	}
	e := logq.Event{Seq: 1, Type: TypePartitionAssigned, Data: []byte(`{"epoch": 4, "topic": "topic-07", "broker_id": 3, "partition": 5}`)}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := Decode(e); err != nil {
			t.Fatal(err)
		}
	}); n > 2 {
		t.Fatalf("Decode allocates %v times, want ≤ 2 (encoding/json's path takes about 9)", n)
	}
}
