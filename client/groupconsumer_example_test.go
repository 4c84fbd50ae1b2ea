package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/logq/logq/client"
)

// Consume a topic as a member of a consumer group, at least once: what
// Poll returned is committed at the next auto-commit, on a rebalance and
// by Close, so another member (or this one, restarted) goes on from there.
func ExampleClient_NewGroupConsumer() {
	managerURL, stop := exampleCluster()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	c, err := client.New(client.Config{Managers: []string{managerURL}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateTopic(ctx, "orders", 1); err != nil {
		log.Fatal(err)
	}
	p, err := c.NewProducer(ctx, "orders", client.ProducerConfig{})
	if err != nil {
		log.Fatal(err)
	}
	for i := range 3 {
		if _, err := p.Send(ctx, client.Record{Value: fmt.Sprint("order ", i)}).Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}
	p.Close()

	gc, err := c.NewGroupConsumer(ctx, "billing", []string{"orders"}, client.GroupConsumerConfig{})
	if err != nil {
		log.Fatal(err)
	}
	for n := 0; n < 3; {
		msgs, err := gc.Poll(ctx, 0)
		if err != nil {
			log.Fatal(err)
		}
		for _, m := range msgs {
			fmt.Println(m.Partition, m.Offset, m.Value)
			n++
		}
	}
	if err := gc.Close(ctx); err != nil { // commits, then leaves the group
		log.Fatal(err)
	}
	offs, err := c.FetchOffsets(ctx, "billing", "orders")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("committed", offs[0].Offset)
	// Output:
	// 0 0 order 0
	// 0 1 order 1
	// 0 2 order 2
	// committed 3
}
