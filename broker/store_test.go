package broker

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/logq/logq/broker/storage"
	"github.com/logq/logq/broker/storage/pgstore"
	"github.com/logq/logq/internal/pgtest"
)

// The store's own tests are the conformance suite (broker/storage/
// storagetest), run by broker/storage/pgstore; these are helpers for the
// broker's tests that go through it.

// testStore is a store on its own database, with the pool for tests that
// hold PostgreSQL locks behind the store's back.
type testStore struct {
	storage.Store
	db *pgxpool.Pool
}

func newTestStore(t testing.TB) testStore {
	db := connect(t, pgtest.NewDB(t))
	return testStore{pgstore.New(db), db}
}

func msgsOf(producer int64, payloads ...string) []message {
	out := make([]message, len(payloads))
	for i, p := range payloads {
		out[i] = message{ProducerID: producer, Value: []byte(p)}
	}
	return out
}
