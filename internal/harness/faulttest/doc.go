// Package faulttest is logq's fault-injection suite. Its tests (there is no
// other code here) build the logq binary once, run a private PostgreSQL and
// a cluster of manager and broker processes, drive them with producers and
// consumers through the Go client, and inject faults: kill -9 of a broker
// and of the writer manager, SIGSTOP of a broker past its heartbeat timeout
// (a zombie owner that must be fenced), a PostgreSQL restart and a SIGTERM
// of a broker under load (graceful shutdown). After each fault and at the
// end a checker reads the messages table directly — the test's ground
// truth — and verifies that every acknowledged message is stored, offsets
// are gap-free, no producer's messages are reordered within a partition and
// every consumer saw its partitions in order.
//
//	go test ./internal/faulttest -count=1 -v                     # short form, < 3 min
//	LOGQ_FAULT_LONG=1 go test ./internal/faulttest -count=1 -v -timeout 60m
//
// docs/reliability.md states the guarantees and the figures of the last run.
package faulttest
