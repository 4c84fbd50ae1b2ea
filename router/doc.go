// Package router is the managers' data plane: it routes produce,
// produce_batch, consume, consume_batch and size requests (docs/api.md,
// "Manager API") to the brokers owning the partitions (docs/api.md,
// "Broker API").
//
// A Router routes by the cluster state of the manager that runs it (a
// State: the manager's replica of the event log, read under its lock),
// over one keep-alive HTTP client (NewPeerClient), sending the applied
// seq in X-Logq-Min-Seq so that a broker knows of an assignment before it
// checks ownership. A produce goes to the producer's partition, an
// explicit one, the key's FNV-1a hash modulo the partition count
// (api.KeyPartition) or the next writable partition in round robin
// (api.Partitioner). Appends to one partition that arrive while one is in
// flight to its broker are coalesced into one append (coalesce.go). A
// consume rotates over the consumer's partitions and returns the first
// message found; a consume_batch long-polls. On a fenced answer the router
// waits briefly for a newer event, re-routes and retries once.
//
// Its handlers return a body or an error, like the manager's: the manager
// registers them in its route table and writes their answers. OwnerOf and
// CallBroker are the broker calls of the manager's own reads (high
// watermarks, lags). The router does not import the manager: the manager
// hands it what it needs in a Config.
package router
