package broker

import "github.com/logq/logq/broker/storage"

// The broker reaches partition data only through storage.Store (on
// PostgreSQL, broker/storage/pgstore); these are its records under the
// names the broker's code uses.
type (
	message       = storage.Message       // one message to append
	storedMessage = storage.StoredMessage // one message as stored, at its offset
)
