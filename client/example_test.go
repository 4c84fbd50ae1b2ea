package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/logq/logq/client"
	"github.com/logq/logq/internal/harness/devcluster"
)

// exampleCluster starts a one-broker cluster (with its own throwaway
// PostgreSQL) for the runnable example. Against a real cluster, use its
// managers' URLs instead, e.g. the ones `logq dev` prints.
func exampleCluster() (managerURL string, stop func()) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := devcluster.Start(ctx, devcluster.Config{Readers: -1, Brokers: 1})
	if err != nil {
		log.Fatal(err)
	}
	return c.WriterURL(), func() { c.Close() }
}

// Produce one message and consume it.
func Example() {
	managerURL, stop := exampleCluster()
	defer stop()
	ctx := context.Background()

	c, err := client.New(client.Config{Managers: []string{managerURL}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateTopic(ctx, "greetings", 1); err != nil {
		log.Fatal(err)
	}

	p, err := c.NewProducer(ctx, "greetings", client.ProducerConfig{})
	if err != nil {
		log.Fatal(err)
	}
	ack, err := p.Produce(ctx, client.Record{Key: "en", Value: "hello"})
	if err != nil {
		log.Fatal(err)
	}
	p.Close()
	fmt.Printf("stored in partition %d at offset %d\n", ack.Partition, ack.Offset)

	cons, err := c.NewConsumer(ctx, "greetings", client.ConsumerConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer cons.Close()
	msgs, err := cons.Poll(ctx, 10)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range msgs {
		fmt.Println(m.Key, m.Value)
	}
	_, err = c.DescribeTopic(ctx, "no-such-topic")
	fmt.Println(errors.Is(err, client.ErrTopicNotFound))
	// Output:
	// stored in partition 0 at offset 0
	// en hello
	// true
}

// Send batches under the hood: queue many records, then wait for their
// results.
func ExampleProducer_Send() {
	ctx := context.Background()
	c, _ := client.New(client.Config{Managers: []string{"http://127.0.0.1:8080", "http://127.0.0.1:8081"}})
	defer c.Close()
	p, err := c.NewProducer(ctx, "orders", client.ProducerConfig{Linger: 10 * time.Millisecond, BatchSize: 5000})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	var futures []*client.Future
	for i := 0; i < 100000; i++ {
		futures = append(futures, p.Send(ctx, client.Record{Key: fmt.Sprint("customer-", i%100), Value: fmt.Sprint("order ", i)}))
	}
	if err := p.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	for _, f := range futures {
		if _, err := f.Wait(ctx); err != nil {
			log.Printf("lost: %v", err)
		}
	}
}

// Messages is a range-over-func iterator that long-polls for new messages.
func ExampleConsumer_Messages() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, _ := client.New(client.Config{})
	defer c.Close()
	cons, err := c.NewConsumer(ctx, "orders", client.ConsumerConfig{MaxWait: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer cons.Close()
	fmt.Println("resume later with consumer id", cons.ID())
	for m, err := range cons.Messages(ctx) {
		if err != nil {
			break // ctx done, or a failure that outlasted the retries
		}
		fmt.Printf("%d/%d %s=%s\n", m.Partition, m.Offset, m.Key, m.Value)
	}
}

// Errors from the server match logq's sentinels with errors.Is.
func ExampleError() {
	ctx := context.Background()
	c, _ := client.New(client.Config{})
	defer c.Close()
	_, err := c.CreateTopic(ctx, "orders", 3)
	var ce *client.Error
	switch {
	case errors.Is(err, client.ErrTopicExists):
		fmt.Println("already there")
	case errors.As(err, &ce):
		fmt.Println("HTTP", ce.StatusCode, ce.Code, ce.Message)
	case err != nil:
		log.Fatal(err)
	}
}
