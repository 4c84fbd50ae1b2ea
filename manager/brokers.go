package manager

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/logq/logq/router"
)

// The data plane (produce, consume, size) is package router's; the manager
// registers its handlers and calls brokers for its own reads (high
// watermarks, lags) through it.

// newRouter makes the manager's data plane, routing by its replica.
func (m *Manager) newRouter() *router.Router {
	return router.New(router.Config{
		State:            m.replica,
		Decode:           m.decode,
		Touch:            m.touch,
		Caller:           m.caller, // owners.go
		Observe:          func(op, code string) { m.metrics.brokerRequests.WithLabelValues(op, code).Inc() },
		Peers:            m.peers,
		BrokerTimeout:    m.cfg.BrokerTimeout,
		MinSeqWait:       m.cfg.MinSeqWait,
		MaxMessageBytes:  m.cfg.MaxMessageBytes,
		MaxBatchMessages: m.cfg.MaxBatchMessages,
	})
}

// routed adapts a router handler to the manager's route table.
func routed(fn func(*http.Request) (any, error)) apiFunc {
	return func(r *http.Request, _ httprouter.Params) (any, error) { return fn(r) }
}
