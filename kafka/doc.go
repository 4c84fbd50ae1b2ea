// Package kafka is logq's Kafka protocol listener: a TCP server that speaks
// the Kafka wire protocol (requests and answers encoded with franz-go's
// kmsg) so that unmodified Kafka clients — librdkafka (kcat,
// confluent-kafka), franz-go, kafkajs, sarama — produce to, fetch from and
// administer a logq broker.
//
// The server knows nothing of PostgreSQL, the event log or HTTP routing: it
// reaches the cluster only through three narrow interfaces defined here —
// Cluster (the control plane as this broker sees it, plus admin writes),
// Log (the data plane of the partitions this broker owns) and Groups (the
// consumer-group coordinator on the manager, in the api package's types).
// broker/kafka.go implements Cluster and Log on a broker, and Groups on the
// Go client. docs/kafka.md lists every API, its versions and what differs
// from Kafka.
//
// Each connection is served by one goroutine that reads size-prefixed
// requests and answers them one at a time, in order (as a Kafka broker
// does: pipelined requests are queued on the socket, never reordered).
//
// With Config.Auth the listener wants SASL (PLAIN, SCRAM-SHA-256/512;
// sasl.go) before anything but ApiVersions and the handshake, and every
// request is decided by one table, authzTable (authz.go), before the
// handler sees it; Config.Quotas throttles client principals' produce and
// fetch bytes with throttle_time_ms. TLS is the listener's (the broker
// wraps it).
package kafka
