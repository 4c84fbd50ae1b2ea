package manager

import (
	"fmt"
	"log"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/internal/httpguard"
)

// apiFunc is a handler: it returns the success body (marshalled as JSON
// with status 200) or an error (written by writeError). A *rawResponse
// body is written as is (forwarded answers).
type apiFunc func(r *http.Request, ps httprouter.Params) (any, error)

// rawResponse is an answer relayed verbatim from another server.
type rawResponse struct {
	status      int
	contentType string
	body        []byte
}

// routes builds the HTTP API: the router inside panic recovery, body
// limits, metrics and zerolog's request ids and access log.
func (m *Manager) routes() http.Handler {
	r := httprouter.New()
	r.HandleMethodNotAllowed = true
	r.HandleOPTIONS = false
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		m.writeError(w, req, logq.Errorf(logq.ENotFound, "no route %s %s", req.Method, req.URL.Path))
	})
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeFailure(w, http.StatusMethodNotAllowed, logq.EInvalid,
			fmt.Sprintf("method %s not allowed on %s (allowed: %s)", req.Method, req.URL.Path, w.Header().Get("Allow")))
	})

	// Control-plane writes: on a reader, forwarded to the writer.
	m.handle(r, "POST", "/topics", m.write(m.handleCreateTopic))
	m.handle(r, "POST", "/producer/register", m.write(m.handleRegisterProducer))
	m.handle(r, "POST", "/consumer/register", m.write(m.handleRegisterConsumer))
	m.handle(r, "POST", "/brokers", m.write(m.handleRegisterBroker))
	m.handle(r, "POST", "/brokers/:id/heartbeat", m.write(m.handleHeartbeat))
	m.handle(r, "DELETE", "/brokers/:id", m.write(m.handleRemoveBroker))
	m.handle(r, "POST", "/topics/:topic/partitions", m.write(m.handleAddPartitions))
	m.handle(r, "POST", "/rebalance", m.write(m.handleRebalance))
	m.handle(r, "POST", "/storage-clusters", m.write(m.handleRegisterStorageCluster)) // storageclusters.go
	m.handle(r, "POST", "/producers/:id/heartbeat", m.write(m.handleClientHeartbeat(kindProducer)))
	m.handle(r, "POST", "/consumers/:id/heartbeat", m.write(m.handleClientHeartbeat(kindConsumer)))
	m.handle(r, "POST", "/clients/seen", m.write(m.handleClientsSeen))
	// Topic configuration: retention (topicconfig.go).
	m.handle(r, "POST", "/topics/:topic/config", m.write(m.handleTopicConfig))
	// Topic deletion (manager/topicdelete.go).
	m.handle(r, "DELETE", "/topics/:topic", m.write(m.handleDeleteTopic))
	m.groupRoutes(r) // consumer groups (groups.go): all writes, forwarded by a reader

	// Reads, on every manager.
	m.handle(r, "GET", "/topics", m.handleTopics)
	m.handle(r, "GET", "/topics/:topic", m.handleTopic)
	m.handle(r, "GET", "/brokers", m.handleBrokers)
	m.handle(r, "GET", "/storage-clusters", m.handleStorageClusters) // storageclusters.go
	m.handle(r, "GET", "/producers", m.handleProducers)
	m.handle(r, "GET", "/consumers", m.handleConsumers)
	m.handle(r, "GET", "/events", m.handleEvents)
	m.handle(r, "GET", "/state", m.handleState)
	m.handle(r, "GET", "/healthz", m.handleHealth)
	m.uiRoutes(r) // the status page, /ui (statuspage.go)

	// Security: principals, tokens, ACLs (security.go).
	m.securityRoutes(r)

	// Data plane (package router), routed to brokers by every manager.
	m.handle(r, "POST", "/producer/produce", routed(m.router.Produce))
	m.handle(r, "POST", "/producer/produce_batch", routed(m.router.ProduceBatch))
	m.handle(r, "GET", "/consumer/consume", routed(m.router.Consume))
	m.handle(r, "POST", "/consumer/consume", routed(m.router.Consume))
	m.handle(r, "GET", "/consumer/consume_batch", routed(m.router.ConsumeBatch))
	m.handle(r, "POST", "/consumer/consume_batch", routed(m.router.ConsumeBatch))
	m.handle(r, "GET", "/size", routed(m.router.Size))
	// Records helper (issue 13): fetch and list offsets, moving nothing.
	m.handle(r, "GET", "/consumer/fetch", routed(m.router.Fetch))
	m.handle(r, "POST", "/consumer/fetch", routed(m.router.Fetch))
	m.handle(r, "GET", "/offsets", routed(m.router.Offsets))

	metricsHandler := m.metrics.handler()
	r.Handle("GET", "/metrics", func(w http.ResponseWriter, req *http.Request, _ httprouter.Params) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		metricsHandler.ServeHTTP(sw, req)
		m.metrics.observeRequest("/metrics", req.Method, sw.code(), time.Since(start))
	})

	var h http.Handler = r
	h = m.authenticate(h) // 401/403/429 by the route table (authroutes.go), before any handler
	h = m.limitBody(h)
	h = m.recoverPanics(h)
	h = httpguard.New(m.guardConfig()).Handler(h) // Host, cross-site and in-flight limits, before any body is read
	h = hlog.AccessHandler(func(req *http.Request, status, size int, d time.Duration) {
		hlog.FromRequest(req).Info().Str("method", req.Method).Str("path", req.URL.Path).
			Int("status", status).Int("size", size).Dur("duration", d).Msg("request")
	})(h)
	h = hlog.RemoteAddrHandler("remote")(h)
	h = hlog.RequestIDHandler("req_id", "X-Request-Id")(h)
	h = hlog.NewHandler(m.log)(h)
	return h
}

// handle registers fn on the router through the one adapter that writes
// answers and records metrics.
func (m *Manager) handle(r *httprouter.Router, method, path string, fn apiFunc) {
	r.Handle(method, path, func(w http.ResponseWriter, req *http.Request, ps httprouter.Params) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		body, err := fn(req, ps)
		switch {
		case err != nil:
			m.writeError(sw, req, err)
		default:
			if raw, ok := body.(*rawResponse); ok {
				sw.Header().Set("Content-Type", raw.contentType)
				sw.WriteHeader(raw.status)
				sw.Write(raw.body)
			} else {
				writeJSON(sw, http.StatusOK, body)
			}
		}
		m.metrics.observeRequest(path, method, sw.code(), time.Since(start))
	})
}

// writeError is the one place errors become HTTP answers: the status comes
// from logq.HTTPStatus, the message from logq.ErrorMessage (never the text
// of an internal error), and only internal errors are logged.
func (m *Manager) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := logq.ErrorCode(err)
	status := logq.HTTPStatus(code)
	if code == logq.EInternal {
		hlog.FromRequest(r).Error().Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg("internal error")
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeFailure(w, status, code, logq.ErrorMessage(err))
}

func writeFailure(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, api.ErrorBody{Status: api.StatusFailure, Message: message, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	if e, ok := v.(api.Encoded); ok { // already JSON (the router's consume_batch)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Length", strconv.Itoa(e.Len()+1))
		w.WriteHeader(status)
		for _, p := range e.Parts {
			w.Write(p)
		}
		w.Write([]byte{'\n'})
		if e.Done != nil {
			e.Done()
		}
		return
	}
	b, err := api.Marshal(v)
	if err != nil {
		b = []byte(`{"status":"failure","message":"internal error","code":"internal"}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// limitBody caps every request body at MaxBodyBytes.
func (m *Manager) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > m.cfg.MaxBodyBytes {
			writeFailure(w, http.StatusRequestEntityTooLarge, logq.ETooLarge,
				fmt.Sprintf("request body over %d bytes", m.cfg.MaxBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, m.cfg.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic into a logged internal error and a JSON 500.
func (m *Manager) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			hlog.FromRequest(r).Error().Str("panic", fmt.Sprint(v)).Bytes("stack", debug.Stack()).
				Str("method", r.Method).Str("path", r.URL.Path).Msg("handler panicked")
			writeFailure(w, http.StatusInternalServerError, logq.EInternal, "internal error")
		}()
		next.ServeHTTP(w, r)
	})
}

// statusWriter records the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// httpErrorLog routes net/http's own error log (TLS handshakes, bad
// requests) to zerolog at debug level.
func httpErrorLog(l zerolog.Logger) *log.Logger {
	return log.New(logWriter{l}, "", 0)
}

type logWriter struct{ l zerolog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.Debug().Str("source", "net/http").Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
