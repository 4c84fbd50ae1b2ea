package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/logq/logq/api"
	"github.com/logq/logq/client"
)

// Join a consumer group, get the partitions assigned to this member,
// commit how far it read, and leave.
func ExampleClient_JoinGroupMember() {
	managerURL, stop := exampleCluster()
	defer stop()
	ctx := context.Background()

	c, err := client.New(client.Config{Managers: []string{managerURL}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateTopic(ctx, "orders", 3); err != nil {
		log.Fatal(err)
	}

	m, err := c.JoinGroupMember(ctx, "billing", client.GroupMemberConfig{Topics: []string{"orders"}})
	if err != nil {
		log.Fatal(err)
	}
	a := <-m.Changes() // every later rebalance arrives here too
	fmt.Println("generation", a.Generation, "partitions", a.Partitions["orders"])

	// … fetch records of the assigned partitions, process them, then:
	if _, err := m.Commit(ctx, []api.CommittedOffset{{Topic: "orders", Partition: 0, Offset: 10}}); err != nil {
		log.Fatal(err)
	}
	offs, err := c.FetchOffsets(ctx, "billing", "orders")
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range offs {
		fmt.Printf("partition %d committed %d\n", o.Partition, o.Offset)
	}
	if err := m.Close(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// generation 1 partitions [0 1 2]
	// partition 0 committed 10
	// partition 1 committed -1
	// partition 2 committed -1
}
