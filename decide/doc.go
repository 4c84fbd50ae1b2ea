// Package decide holds the control-plane writer's decisions as pure
// functions: a command, the cluster state (*projection.State), what the
// writer knows in memory (Liveness: brokers' last heartbeats, when each
// broker was last seen holding its session lock, clients' last-seen
// times) and the time now go in; the events to append and the
// liveness Effects to apply come out, or an error of the logq vocabulary
// (logq.EInvalid, logq.ETopicNotFound, logq.EConflict, …). Nothing here
// does I/O, reads a clock or draws a random number, and nothing changes
// its inputs, so every decision is table-tested without PostgreSQL.
//
// The manager runs decide → append → apply: it calls a decision under its
// writer mutex, appends the events (projection.NewEvent of each payload),
// applies them to its state, and only then applies the Effects to its
// liveness (Liveness.Apply). A decision that fails, or an append that
// fails, changes nothing at all.
//
// # Placement
//
// Partitions are placed by Kafka's round robin over the live brokers,
// with a rotating start: each partition of a topic goes to the live broker
// holding the fewest partitions of that topic, ties broken by the fewest
// partitions in all, then by the broker's position on the ring of live
// broker ids (sorted) rotated to start at FNV-1a(topic) modulo the number
// of live brokers. A new topic therefore takes one partition on every live
// broker per round (6 partitions over 3 brokers: 2 each), each round
// starting at the least-loaded broker, and topics with equal loads start
// on different brokers. The same rule places a topic's added partitions
// and the partitions of a broker that died or was removed, so topics stay
// spread. Rebalance then evens out what placement alone cannot (a broker
// that joined, a broker back from the dead): first every topic until its
// partitions are within one of each other over the live brokers, then the
// total load until it is within one too, each move taking a partition of a
// topic the giver holds more of than the receiver, so the spread of every
// topic is kept. It moves ownership only (PartitionAssigned with the next
// epoch), each partition at most once, and decides nothing on a balanced
// cluster.
//
// # Storage clusters
//
// Every broker writes to one storage cluster (a PostgreSQL) and every
// partition's records live on one (storagecluster.go). A new partition
// first gets a storage cluster — round robin over the clusters that have
// a live broker, the one holding the fewest of the topic's partitions
// first — then a broker of that cluster by the rule above. Takeover,
// decommission and rebalance apply the rules above within each storage
// cluster on its own: a partition never moves to another cluster's
// broker, and one whose cluster has no live broker stays where it is.
package decide
