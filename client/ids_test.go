package client_test

import (
	"errors"
	"testing"
	"time"

	"github.com/logq/logq/client"
	"github.com/logq/logq/internal/harness/devcluster"
	"github.com/logq/logq/internal/pgtest"
)

// TestDirectModeIDs: in direct mode the brokers refuse ids nobody
// registered (nothing stored, no position made), and accept a producer and
// a consumer registered a moment before, because the client sends the seq
// of its registration (X-Logq-Min-Seq).
func TestDirectModeIDs(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Config{Readers: -1})
	ctx := pgtest.Context(t, 60*time.Second)
	c := clientWithTopic(ctx, t, client.Config{Managers: cl.ManagerURLs()}, "ids")
	db := pgtest.Pool(t, cl.DSN, 2)
	rows := func() (messages, positions int) {
		t.Helper()
		if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM consumer_offsets)`).Scan(&messages, &positions); err != nil {
			t.Fatal(err)
		}
		return messages, positions
	}

	const unknown = 999999
	p, err := c.NewProducer(ctx, "ids", client.ProducerConfig{ID: unknown, Direct: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Produce(ctx, client.Record{Value: "x", Partition: client.Partition(0)}); !errors.Is(err, client.ErrProducerNotFound) {
		t.Fatalf("direct produce by an unknown producer: %v; want ErrProducerNotFound", err)
	}
	p.Close()
	cons, err := c.NewConsumer(ctx, "ids", client.ConsumerConfig{ID: unknown, Direct: true, MaxWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cons.Poll(ctx, 10); !errors.Is(err, client.ErrConsumerNotFound) {
		t.Fatalf("direct poll by an unknown consumer: %v; want ErrConsumerNotFound", err)
	}
	if m, pos := rows(); m != 0 || pos != 0 {
		t.Fatalf("after refused requests: %d messages, %d consumer_offsets rows; want none", m, pos)
	}

	// Registered just now, used at once, directly.
	p, err = c.NewProducer(ctx, "ids", client.ProducerConfig{Direct: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Produce(ctx, client.Record{Value: "fresh", Partition: client.Partition(0)}); err != nil {
		t.Fatalf("direct produce right after registering: %v", err)
	}
	cons, err = c.NewConsumer(ctx, "ids", client.ConsumerConfig{Direct: true, Partition: client.Partition(0), MaxWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := cons.Poll(ctx, 10)
	if err != nil || len(msgs) != 1 || msgs[0].Value != "fresh" {
		t.Fatalf("direct poll right after registering: %v %v", msgs, err)
	}
	if m, pos := rows(); m != 1 || pos != 1 {
		t.Fatalf("%d messages, %d consumer_offsets rows; want 1 and 1", m, pos)
	}
}
