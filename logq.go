// Package logq holds the domain vocabulary shared by every part of logq, a
// partitioned, persistent log queue on PostgreSQL: the control-plane Event,
// the error kinds that travel from storage to HTTP and back to the client,
// and the database schema as numbered migrations (Migrations).
//
// The schema changes by adding a file to migrations/, never by editing one
// that has shipped: every server applies the files it does not find in the
// database's schema_migrations table, in order, on start.
//
// The servers live in manager/ and broker/, the control-plane log in
// eventlog/, the pure state fold in projection/ and the Go client in client/.
package logq

import (
	"encoding/json"
	"time"
)

// Event is one entry of the control plane's write-ahead log (table events).
// Seq is gap-free and in commit order; At is the writer's clock (data only);
// Epoch is the leadership epoch of the writer that appended it.
type Event struct {
	Seq   int64           `json:"seq"`
	At    time.Time       `json:"at"`
	Type  string          `json:"type"`
	Data  json.RawMessage `json:"data"`
	Epoch int64           `json:"epoch"`
}
