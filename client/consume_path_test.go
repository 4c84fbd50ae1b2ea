package client_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/logq/logq/client"
	"github.com/logq/logq/internal/harness/devcluster"
	"github.com/logq/logq/internal/pgtest"
)

// Every consume path hands out each message exactly as stored — value,
// key, headers, timestamp, partition and offset — as Fetch reads it: a
// consumer through the managers (whose router passes the brokers' bytes
// through), a direct one, and a whole-topic one; and the servers' success
// answers are decoded once, not twice, by the client's scanner.
func TestConsumePathsDeliverRecordsAsStored(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Config{Readers: -1})
	ctx := pgtest.Context(t, 60*time.Second)
	c := clientWithTopic(ctx, t, client.Config{Managers: cl.ManagerURLs()}, "exact")
	p, err := c.NewProducer(ctx, "exact", client.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1_700_000_000_000)
	recs := []client.Record{
		{Value: "plain"},
		{Value: "<&> \"q\" \\ \n\t\u2028 é 😀", Key: "k<", Headers: []client.Header{{Key: "h", Value: []byte("v")}, {Key: "null"}}, Timestamp: at},
		{Value: string([]byte{0, 0xff, 0xfe}), Key: "\xff", Headers: []client.Header{{Key: "bin", Value: []byte{0xc3, 0x28}}}, Timestamp: at.Add(time.Hour)},
		{Value: ""},
	}
	for part := range 3 {
		for _, r := range recs {
			r.Partition = client.Partition(part)
			if _, err := p.Produce(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	p.Close()
	var stored []client.Message
	for part := range 3 {
		f, err := c.Fetch(ctx, "exact", part, 0, client.FetchOptions{})
		if err != nil || len(f.Messages) != len(recs) {
			t.Fatalf("fetch of partition %d: %+v, %v", part, f, err)
		}
		stored = append(stored, f.Messages...)
	}
	byPlace := func(a, b client.Message) int {
		if a.Partition != b.Partition {
			return a.Partition - b.Partition
		}
		return int(a.Offset - b.Offset)
	}
	for _, cfg := range []struct {
		name string
		cfg  client.ConsumerConfig
		want []client.Message
	}{
		{"via the managers", client.ConsumerConfig{Partition: client.Partition(1)}, stored[len(recs) : 2*len(recs)]},
		{"direct", client.ConsumerConfig{Partition: client.Partition(1), Direct: true}, stored[len(recs) : 2*len(recs)]},
		{"whole topic", client.ConsumerConfig{}, stored},
	} {
		cons, err := c.NewConsumer(ctx, "exact", cfg.cfg)
		if err != nil {
			t.Fatal(err)
		}
		before, slow := client.StatusDecodes(c), client.SlowDecodes()
		got := consumeAll(ctx, t, cons, len(cfg.want))
		cons.Close()
		if n := client.StatusDecodes(c) - before; n != 0 {
			t.Errorf("%s: %d answers decoded twice", cfg.name, n)
		}
		if n := client.SlowDecodes() - slow; n != 0 {
			t.Errorf("%s: %d answers decoded by the generic codec, not the scanner", cfg.name, n)
		}
		slices.SortFunc(got, byPlace)
		if !reflect.DeepEqual(got, cfg.want) {
			t.Fatalf("%s: consumed\n%+v\nstored\n%+v", cfg.name, got, cfg.want)
		}
	}
	if m := stored[len(recs)+1]; m.Key != "k<" || string(m.Headers[0].Value) != "v" || m.Headers[1].Value != nil || !m.Timestamp.Equal(at) || m.Offset != 1 {
		t.Fatalf("stored %+v", m)
	}
}
