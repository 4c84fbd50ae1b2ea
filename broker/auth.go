package broker

import (
	"net/http"

	"github.com/logq/logq/auth"
	"github.com/logq/logq/auth/httpauth"
)

// Security on the broker (docs/security.md): every request is decided by
// the route table below before any handler runs. Managers (the router's
// calls) and brokers pass on their kind; a client calling a broker
// directly (the Go client's direct mode) needs the same topic rights as
// through a manager. The broker learns principals and ACLs from the event
// log it already follows.

// authTable is THE map of the broker's routes to the right each needs;
// TestBrokerAuthTableCoversRoutes fails on a route without an entry.
func authTable() httpauth.Table {
	topic := httpauth.Field("topic")
	const (
		T = auth.Topic
		C = auth.Cluster
	)
	return httpauth.Table{
		{Method: "GET", Path: "/healthz", Resource: httpauth.Public},
		{Method: "GET", Path: "/metrics", Resource: C, Op: auth.OpDescribe},
		{Method: "POST", Path: "/v1/append", Resource: T, Name: topic, Op: auth.OpProduce},
		{Method: "POST", Path: "/v1/consume", Resource: T, Name: topic, Op: auth.OpConsume},
		{Method: "GET", Path: "/v1/consume", Resource: T, Name: topic, Op: auth.OpConsume},
		{Method: "GET", Path: "/v1/read", Resource: T, Name: topic, Op: auth.OpConsume},
		{Method: "GET", Path: "/v1/fetch", Resource: T, Name: topic, Op: auth.OpConsume},    // records helper
		{Method: "POST", Path: "/v1/fetch", Resource: T, Name: topic, Op: auth.OpConsume},   // "
		{Method: "GET", Path: "/v1/offsets", Resource: T, Name: topic, Op: auth.OpDescribe}, // "
		{Method: "POST", Path: "/v1/offsets", Resource: T, Name: topic, Op: auth.OpConsume}, // "
		{Method: "GET", Path: "/v1/size", Resource: T, Name: topic, Op: auth.OpDescribe},
		{Method: "GET", Path: "/v1/partitions", Resource: C, Op: auth.OpDescribe},
	}
}

// directory is the security state as of the applied seq (immutable).
func (b *Broker) directory() *auth.Directory {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.state == nil {
		return nil
	}
	return b.state.Security
}

// authenticate wraps the router in the auth middleware (open mode: a
// pass-through). The body it may read to learn the topic is capped as the
// handlers cap it.
func (s *server) authenticate(next http.Handler) http.Handler {
	cfg := &httpauth.Config{
		Enabled:    s.cfg.Auth,
		Auth:       auth.NewAuthenticator(s.broker.directory),
		Table:      authTable(),
		WriteError: s.writeError,
	}
	h := cfg.Handler(next)
	if !s.cfg.Auth {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes)
		}
		h.ServeHTTP(w, r)
	})
}

// secureClient gives hc (registration and heartbeats) the broker's own
// credentials and TLS settings (validated by Config.Validate).
func (b *Broker) secureClient(hc *http.Client) {
	if cc, err := b.cfg.TLS.ClientConfig(); err == nil {
		httpauth.SetClientTLS(hc, cc)
	}
	httpauth.Wrap(hc, b.cfg.Credentials)
}
