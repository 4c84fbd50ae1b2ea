package manager

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"

	"github.com/julienschmidt/httprouter"
	"github.com/rs/zerolog/hlog"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
)

// headerForwarded marks a write forwarded by a reader, naming it; a
// manager that is not the writer refuses such a write rather than forward
// it again (no loops between managers with stale views).
const headerForwarded = api.HeaderForwarded

// maxForwardAnswer bounds the writer's answer relayed to a client.
const maxForwardAnswer = 1 << 20

// write wraps a control-plane write: the writer runs it, a reader forwards
// the request to the writer and relays its answer.
func (m *Manager) write(fn apiFunc) apiFunc {
	return func(r *http.Request, ps httprouter.Params) (any, error) {
		if m.IsWriter() {
			return fn(r, ps)
		}
		return m.forward(r)
	}
}

// forward sends r to the writer named by the latest WriterElected and
// returns its answer as is. If that writer is gone (nothing listens at its
// address, or it answers not_writer: in both cases the write was not
// done), forward waits, bounded, for the log to name a newer writer and
// tries once more. A successful answer's seq is then awaited here
// (bounded) so that this manager reads its own forwarded writes.
func (m *Manager) forward(r *http.Request) (any, error) {
	if by := r.Header.Get(headerForwarded); by != "" {
		return nil, logq.Errorf(logq.ENotWriter, "this manager is not the writer (write forwarded by %s); retry", by)
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	m.mu.RLock()
	target, epoch := m.state.Writer, m.state.WriterEpoch
	m.mu.RUnlock()
	for attempt := 0; ; attempt++ {
		if target == "" || target == m.cfg.AdvertiseURL {
			return nil, logq.Errorf(logq.ENotWriter, "this manager is not the writer and no writer is known (election in progress?); retry shortly")
		}
		ans, gone, err := m.forwardTo(r, target, body)
		if !gone || attempt > 0 {
			return ans, err
		}
		if target, epoch = m.waitNewWriter(r.Context(), epoch); target == "" {
			return ans, err
		}
	}
}

// waitNewWriter waits (bounded by MinSeqWait) until the state names a
// writer with an epoch above epoch; it returns "" if none came.
func (m *Manager) waitNewWriter(ctx context.Context, epoch int64) (string, int64) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.MinSeqWait)
	defer cancel()
	for {
		m.mu.RLock()
		writer, e, seq := m.state.Writer, m.state.WriterEpoch, m.state.Seq
		m.mu.RUnlock()
		if e > epoch {
			return writer, e
		}
		if m.WaitApplied(ctx, seq+1) != nil {
			return "", epoch
		}
	}
}

// forwardTo sends one forwarded request. gone reports that target did not
// take the write: nothing listens there, or it is no longer the writer.
func (m *Manager) forwardTo(r *http.Request, target string, body []byte) (ans any, gone bool, err error) {
	ctx, cancel := context.WithTimeout(r.Context(), m.forwardTimeout(r)) // group long polls wait longer (groups.go)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, false, logq.Internal(err, "build forwarded request")
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set(headerForwarded, m.cfg.Name)
	if p, ok := actingPrincipal(r, m.directory()); ok {
		req.Header.Set(api.HeaderPrincipal, p.Name) // owners.go: the writer records who registered a client
	}
	if id, ok := hlog.IDFromRequest(r); ok {
		req.Header.Set("X-Request-Id", id.String())
	}
	resp, err := m.peers.Do(req)
	if err != nil {
		m.metrics.forwarded.WithLabelValues("0").Inc()
		if r.Context().Err() != nil {
			return nil, false, logq.Errorf(logq.ETimeout, "request cancelled")
		}
		var op *net.OpError
		dial := errors.As(err, &op) && op.Op == "dial"
		return nil, dial, logq.Errorf(logq.EUnavailable, "the writer %s is unreachable; retry", target)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxForwardAnswer))
	if err != nil {
		m.metrics.forwarded.WithLabelValues("0").Inc()
		return nil, false, logq.Errorf(logq.EUnavailable, "the writer %s broke off its answer; retry", target)
	}
	m.metrics.forwarded.WithLabelValues(strconv.Itoa(resp.StatusCode)).Inc()
	if resp.StatusCode == http.StatusUnauthorized && r.Header.Get(headerForwarded) == "" {
		// The writer refused this manager's own credentials (security.go):
		// a configuration error here, not the client's.
		return nil, false, logq.Errorf(logq.EUnavailable, "this manager cannot authenticate to the writer %s (check its --token); retry later", target)
	}
	var fields api.SeqAnswer
	api.Unmarshal(answer, &fields)
	if resp.StatusCode == http.StatusOK && fields.Seq > 0 {
		wctx, cancel := context.WithTimeout(r.Context(), m.cfg.MinSeqWait)
		m.WaitApplied(wctx, fields.Seq) // best effort: the answer stands either way
		cancel()
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/json"
	}
	gone = resp.StatusCode == http.StatusServiceUnavailable && fields.Code == logq.ENotWriter
	return &rawResponse{status: resp.StatusCode, contentType: ct, body: answer}, gone, nil
}
