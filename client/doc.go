// Package client is the Go client of logq, a partitioned, persistent log
// queue on PostgreSQL. It speaks the managers' HTTP API (and, for a
// producer in direct mode, the brokers' API) and takes care of what a caller
// should not have to: batching, retries with bounded backoff across a list of
// manager URLs, read-your-writes after control-plane writes, and mapping the
// server's error codes back to logq's sentinel errors.
//
// Produce and consume in ten lines:
//
//	c, err := client.New(client.Config{Managers: []string{"http://127.0.0.1:8080"}})
//	if err != nil { ... }
//	defer c.Close()
//	p, err := c.NewProducer(ctx, "orders", client.ProducerConfig{})
//	ack, err := p.Produce(ctx, client.Record{Key: "customer-7", Value: "hello"})
//	p.Close()
//	cons, err := c.NewConsumer(ctx, "orders", client.ConsumerConfig{})
//	defer cons.Close()
//	for m, err := range cons.Messages(ctx) {
//		if err != nil { break }
//		fmt.Println(m.Partition, m.Offset, m.Value)
//	}
//
// # Producing
//
// A [Producer] batches: [Producer.Send] queues a [Record] and returns a
// [Future] at once; records are sent together when a batch reaches
// [ProducerConfig.BatchSize] (or BatchBytes) or when the oldest has waited
// [ProducerConfig.Linger], like Kafka's batch.size and linger.ms.
// [Producer.Produce] is the synchronous form, [Producer.Flush] waits for
// everything sent so far. A record goes to its explicit partition if it has
// one, else to the partition of its key's hash (FNV-1a, modulo the partition
// count, computed by the server), else round robin over the partitions that
// are writable now. Within a partition, records are stored in the order they
// were sent (with the default MaxInFlight of 1).
//
// With [ProducerConfig.Direct], the producer sends to the brokers that own the
// partitions (the map of GET /topics/{topic}) and falls back to the manager
// when a broker is fenced or unreachable.
//
// # Consuming
//
// A [Consumer] has its own position in every partition it reads; every
// consumer sees every message. [Consumer.Poll] returns up to max messages,
// waiting up to [ConsumerConfig.MaxWait] for the first one (long poll);
// [Consumer.Messages] is the same as a range-over-func iterator, and
// [Consumer.Size] is the consumer's lag: messages left to read.
//
// A [GroupConsumer] ([Client.NewGroupConsumer]) consumes as a member of a
// consumer group, Kafka's way: the group's members share the partitions,
// each partition starts at the group's committed offset (else by
// [GroupConsumerConfig.ResetPolicy], earliest by default), and the offsets
// of what [GroupConsumer.Poll] returned are committed afterwards — at the
// next auto-commit (every 5 s by default), on a rebalance, by
// [GroupConsumer.Commit] and by [GroupConsumer.Close] — so delivery to the
// group is at least once (docs/groups.md).
//
// # Liveness
//
// The managers show a producer or consumer inactive when they have not heard
// from it for a while (a minute by default). Every request counts; a
// Producer or Consumer that has not talked to a manager for
// [ProducerConfig.HeartbeatInterval] / [ConsumerConfig.HeartbeatInterval]
// (default 15 s) sends a heartbeat, so an idle client stays active until it
// is closed. Close a Consumer too: it stops its heartbeats (Client.Close
// stops any left running).
//
// # Cluster changes
//
// [Client.RemoveBroker] decommissions a broker, [Client.AddPartitions] grows
// a topic, [Client.Rebalance] evens partitions out after brokers joined;
// [Client.Producers] and [Client.Consumers] list clients with their status,
// last contact and (consumers) lag.
//
// # Errors and retries
//
// Every call retries connection errors and 503 answers (no writer known,
// unavailable, timeout) with exponential backoff, moving to the next manager
// URL, until [Config.RetryTimeout] has passed or the context is done.
// Retries make delivery at-least-once: a produce whose answer was lost may be
// stored twice, and a consume whose answer was lost has advanced the
// consumer's position.
//
// Errors from the server are *[Error] values carrying the HTTP status, the
// logq error code and the server's message; errors.Is matches them against
// the sentinels ([ErrTopicNotFound], [ErrConsumerNotFound], …), which are
// logq's own, so the same check works on either side of the wire.
package client
