// Package manager is logq's broker manager: the HTTP API that producers,
// consumers, brokers and operators talk to (docs/api.md, "Manager API").
//
// # State
//
// A manager's cluster state is the projection (package projection) of the
// control-plane event log (package eventlog), followed by an
// eventlog.Replica: rebuilt on start from the latest snapshot and the
// events after it, then kept current by tailing the log (notify or logical
// mode, Config.TailMode). One state sits behind a read-write mutex shared
// with the replica, which alone changes it; WaitApplied lets a
// request carrying min_seq wait (bounded) for a seq, which gives
// read-your-writes on any manager.
//
// # Roles
//
// Config.Role is write, read or auto. Write and auto managers compete for
// the writer's PostgreSQL advisory lock (eventlog.Acquire); the holder is
// the writer. A new writer first catches up to the end of the log, then
// appends WriterElected naming its AdvertiseURL, and only then accepts
// writes. It writes by "decide, log, then apply": under one mutex it turns
// a command into events from the current state, appends them through the
// lock's session (fenced: a writer that lost its session cannot append),
// then applies them; the tail, which keeps running, skips them. A writer
// whose session is lost stops accepting writes at once and competes again.
// Readers forward control-plane writes to the writer named by the latest
// WriterElected and relay its answer (after a failover, once the log names
// the new writer), or answer 503 not_writer when none is known.
//
// # Brokers
//
// Brokers register (POST /brokers: the same address keeps its id) and
// heartbeat through any manager; readers forward both to the writer, which
// keeps each broker's last heartbeat in memory. A new writer starts every
// timer afresh, so an election never declares a live broker dead.
// CheckLiveness (on a ticker, with the injected Config.Now clock, and
// callable directly) declares dead a broker silent for HeartbeatTimeout and
// reassigns its partitions to live brokers with a higher epoch, keeping
// each topic spread; the next heartbeat marks it alive again, leaving
// partitions where they are. Only changes are events.
//
// A broker whose process dies need not wait for that timeout: every broker
// holds a session lock in the control-plane database while it runs
// (eventlog.BrokerLock), and PostgreSQL ends the session of a process that
// dies. CheckSessions (every SessionCheckInterval, 250 ms; one read of
// pg_locks, eventlog.BrokerSessions) declares dead, with the same events, a
// broker the writer saw holding its lock that has been without it for
// SessionGrace (500 ms, time to reconnect after a dropped connection) — in
// all well under a second after kill -9. A broker that hangs (SIGSTOP, a
// paused VM) keeps its session and so its heartbeat timeout, and one that
// never took a lock (an older binary) is watched by heartbeats alone. A
// graceful shutdown releases the lock after the last request in flight,
// so its partitions move at once too.
//
// # Decisions and placement
//
// What the writer decides lives in package decide, as pure functions of
// the command, the state, the writer's in-memory liveness and the time:
// writer.go only runs decide → append → apply, then applies the decision's
// liveness effects. Placement is decide's: Kafka's round robin over the
// live brokers with a rotating start (each partition of a topic to the
// broker with the fewest of that topic, then the fewest in all, then on
// the ring of broker ids rotated by FNV-1a of the topic name), for new
// topics, added partitions and the partitions of dead or removed brokers
// alike.
//
// # Membership
//
// DELETE /brokers/{id} decommissions a broker: its partitions move to the
// live brokers (placement) with higher epochs and BrokerRemoved retires
// it, in one append (refused when no other broker is alive to take them).
// A removed broker's heartbeats and registrations (by id, or at its
// address unless the request says rejoin) are refused with 410
// broker_removed. POST /topics/{topic}/partitions adds partitions spread
// over the live brokers; POST /rebalance evens out every topic's spread
// and then the total load over the live brokers, each to within one,
// moving ownership only (decide.Rebalance; nothing on a balanced cluster).
//
// # Clients
//
// The writer also keeps, in memory, when it last heard from each producer
// and consumer (clients.go): any request counts, readers report the ids
// they served (POST /clients/seen) and idle clients heartbeat. A client
// silent for ClientTimeout is shown inactive and active again when heard
// from (ClientStatusChanged, decided by CheckLiveness).
//
// # Data plane
//
// Every manager routes produce, consume and size requests to the brokers
// owning the partitions through a router (package router), which routes by
// this manager's replica and sends its applied seq to the brokers; the
// manager registers the router's handlers and calls brokers for its own
// reads (high watermarks, lags) through it (brokers.go).
//
// # HTTP
//
// Handlers are methods that return a body or an error; one adapter writes
// answers and one writeError maps errors to statuses with logq.HTTPStatus,
// never sending an internal error's text. Bodies are size-limited, panics
// become JSON 500s, unknown routes JSON 404/405s; zerolog's hlog adds
// request ids and an access log, and /metrics serves Prometheus metrics
// from a registry of the manager's own (docs/metrics.md). GET /ui is the
// status page for people, package statuspage, which sees the manager
// through the narrow statuspage.Source (statuspage.go).
package manager
