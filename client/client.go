package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/internal/sleep"
)

// DefaultManager is the manager URL used when Config.Managers is empty: the
// writer of `logq dev`.
const DefaultManager = "http://127.0.0.1:8080"

// Defaults for Config.
const (
	DefaultRetryTimeout = 30 * time.Second
	// FailoverMargin is what a producer's retry budget adds to the
	// cluster's heartbeat timeout: the writer's liveness check, the
	// reassignment and the new owner's takeover (Config.RetryTimeout).
	FailoverMargin        = 10 * time.Second
	DefaultMinBackoff     = 25 * time.Millisecond
	DefaultMaxBackoff     = time.Second
	DefaultRequestTimeout = 15 * time.Second
)

// maxResponseBytes caps the answers the client reads.
const maxResponseBytes = 256 << 20

// Config configures a Client. The zero value talks to DefaultManager.
type Config struct {
	// Managers are the base URLs of the managers to talk to, in order of
	// preference ("http://host:port"; a bare "host:port" gets http://). Any
	// manager serves any request: writes sent to a reader are forwarded to
	// the writer. When one is down the client moves to the next.
	Managers []string
	// HTTPClient sends the requests. Nil: a client with its own transport,
	// released by Close.
	HTTPClient *http.Client
	// RetryTimeout bounds the time one call spends retrying connection
	// errors and 503 answers (default 30 s). Negative: no retries. Left at
	// zero, a producer retries each record for at least the cluster's
	// heartbeat timeout plus FailoverMargin (learned from GET /healthz when
	// it starts), so a record for a partition whose broker hangs waits for
	// the partition to move rather than failing; a broker whose process
	// dies has its partitions moved within about a second.
	RetryTimeout time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// attempts (defaults 25 ms and 1 s; jittered).
	MinBackoff, MaxBackoff time.Duration
	// RequestTimeout bounds one attempt (default 15 s), on top of any
	// long-poll wait the request asks for.
	RequestTimeout time.Duration

	// Token (a bearer token), or User and Password (basic auth),
	// authenticate every request to managers and brokers. Left empty, New
	// reads LOGQ_TOKEN, or LOGQ_USER and LOGQ_PASSWORD, from the
	// environment (`logq dev --auth` prints them); NoEnv turns that off.
	Token, User, Password string
	// TLSCA is a PEM file of CAs to trust for https:// managers and brokers
	// besides the system's (default: LOGQ_TLS_CA).
	TLSCA string
	NoEnv bool
}

// Client talks to a logq cluster. It is safe for concurrent use.
type Client struct {
	managers []string
	http     *http.Client
	own      *http.Transport // closed by Close when we made it
	cfg      Config
	retrySet bool // Config.RetryTimeout was set: it bounds producers' retries too

	cur atomic.Int64 // index in managers of the manager to try first
	seq atomic.Int64 // highest control-plane seq seen: reads pass it as min_seq

	lanes sync.Map // direct idempotent appends waiting per partition (coalesce.go): directLaneKey → *directLane

	hbMu sync.Mutex
	hbs  map[*idleHeartbeat]struct{} // running idle heartbeats; Close stops them

	// heartbeatTimeout is the cluster's broker heartbeat timeout, learned
	// from GET /healthz by the first producer that needed it (0: not yet).
	heartbeatTimeout atomic.Int64

	statusDecodes atomic.Int64 // success answers whose status was decoded apart from them (client.attempt)
}

// New returns a Client for the managers in cfg. It does not contact them.
func New(cfg Config) (*Client, error) {
	if len(cfg.Managers) == 0 {
		cfg.Managers = []string{DefaultManager}
	}
	c := &Client{cfg: cfg, retrySet: cfg.RetryTimeout != 0}
	for _, m := range cfg.Managers {
		for _, part := range strings.Split(m, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			u, err := normalizeURL(part)
			if err != nil {
				return nil, &Error{Code: logq.EInvalid, Message: fmt.Sprintf("invalid manager URL %q: %v", part, err)}
			}
			c.managers = append(c.managers, u)
		}
	}
	if len(c.managers) == 0 {
		return nil, &Error{Code: logq.EInvalid, Message: "no manager URL"}
	}
	if c.cfg.RetryTimeout == 0 {
		c.cfg.RetryTimeout = DefaultRetryTimeout
	}
	if c.cfg.MinBackoff <= 0 {
		c.cfg.MinBackoff = DefaultMinBackoff
	}
	if c.cfg.MaxBackoff <= 0 {
		c.cfg.MaxBackoff = DefaultMaxBackoff
	}
	if c.cfg.MaxBackoff < c.cfg.MinBackoff {
		c.cfg.MaxBackoff = c.cfg.MinBackoff
	}
	if c.cfg.RequestTimeout <= 0 {
		c.cfg.RequestTimeout = DefaultRequestTimeout
	}
	c.http = cfg.HTTPClient
	if c.http == nil {
		c.own = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: 0, // long polls; attempts carry their own deadline
			ExpectContinueTimeout: time.Second,
		}
		c.http = &http.Client{Transport: c.own}
	}
	if err := c.secure(); err != nil { // auth.go
		return nil, err
	}
	return c, nil
}

// normalizeURL turns "host:port" into "http://host:port" and drops a
// trailing slash.
func normalizeURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return "", errors.New("no host")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// Managers returns the manager URLs the client uses, in order of preference.
func (c *Client) Managers() []string { return append([]string(nil), c.managers...) }

// Close stops the idle heartbeats of the client's producers and consumers
// and releases its idle connections. The Client must not be used
// afterwards.
func (c *Client) Close() error {
	c.hbMu.Lock()
	hbs := c.hbs
	c.hbs = nil
	c.hbMu.Unlock()
	for h := range hbs {
		h.stop()
	}
	if c.own != nil {
		c.own.CloseIdleConnections()
	} else {
		c.http.CloseIdleConnections()
	}
	return nil
}

// Seq returns the highest control-plane seq the client has seen in a write's
// answer. Reads pass it as min_seq, so a reader manager answers only once it
// has applied the client's own writes (read-your-writes).
func (c *Client) Seq() int64 { return c.seq.Load() }

// observeSeq records a seq answered by a write.
func (c *Client) observeSeq(seq int64) {
	for {
		cur := c.seq.Load()
		if seq <= cur || c.seq.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// call describes one API request.
type call struct {
	method string
	path   string
	query  url.Values
	body   any
	// wait is the long-poll time the request asks the server for: the
	// attempt's deadline is extended by it.
	wait time.Duration
	// noMinSeq leaves min_seq off (requests that are not reads).
	noMinSeq bool
	// base, when set, is the one server to send to (a broker): no manager
	// rotation.
	base string
	// header are extra request headers.
	header http.Header
	// retryIf, when set, is consulted for answers that are not retryable
	// by default.
	retryIf func(error) bool
	// once sends a single attempt: no retries.
	once bool
}

// do sends a request to the managers, retrying as the Config says, and
// decodes a success answer into out (when non-nil).
func (c *Client) do(ctx context.Context, cl call, out any) error {
	var body []byte
	if cl.body != nil {
		b, err := api.Marshal(cl.body)
		if err != nil {
			return &Error{Code: logq.EInvalid, Message: fmt.Sprintf("encode request: %v", err)}
		}
		body = b
	}
	q := url.Values{}
	for k, v := range cl.query {
		q[k] = v
	}
	if !cl.noMinSeq {
		if seq := c.seq.Load(); seq > 0 && q.Get("min_seq") == "" {
			q.Set("min_seq", strconv.FormatInt(seq, 10))
		}
	}
	var deadline time.Time
	if c.cfg.RetryTimeout > 0 {
		deadline = time.Now().Add(c.cfg.RetryTimeout)
	}
	var lastErr error
	var lastURL string
	for attempt := 0; ; attempt++ {
		base, idx := cl.base, int64(-1)
		if base == "" {
			idx = c.cur.Load() % int64(len(c.managers))
			base = c.managers[idx]
		}
		u := base + cl.path
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		lastURL = u
		err := c.attempt(ctx, cl, u, body, out)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		lastErr = err
		if !retryable(err) && (cl.retryIf == nil || !cl.retryIf(err)) {
			return err
		}
		if idx >= 0 && len(c.managers) > 1 && !cl.once {
			// Move on to the next manager (unless another call already did).
			c.cur.CompareAndSwap(idx, (idx+1)%int64(len(c.managers)))
		}
		if cl.once || c.cfg.RetryTimeout < 0 || (!deadline.IsZero() && time.Now().After(deadline)) {
			break
		}
		// Try every manager once quickly before backing off.
		if idx >= 0 && attempt < len(c.managers)-1 && isTransportError(err) {
			continue
		}
		d := c.backoff(attempt)
		if !deadline.IsZero() {
			d = min(d, time.Until(deadline))
		}
		if !sleep.For(ctx, d) {
			return ctx.Err()
		}
	}
	var e *Error
	if errors.As(lastErr, &e) {
		return lastErr
	}
	return unavailable(cl.method, lastURL, lastErr)
}

// attemptOnce is do without retries.
func (c *Client) attemptOnce(ctx context.Context, cl call, out any) error {
	cl.once = true
	return c.do(ctx, cl, out)
}

// attempt sends one request.
func (c *Client) attempt(ctx context.Context, cl call, u string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout+cl.wait)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u, rd)
	if err != nil {
		return &Error{Code: logq.EInvalid, Message: fmt.Sprintf("build request: %v", err)}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "logq-go-client")
	for k, v := range cl.header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := readResponse(resp)
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errorFromResponse(req, resp.StatusCode, data)
	}
	if out == nil || !bytes.HasPrefix(data, successPrefix) {
		// Not the servers' success answer (whose first member is the
		// status): look at the status first. The servers' own success
		// answers are decoded once, into out.
		c.statusDecodes.Add(1)
		var st struct {
			Status string `json:"status"`
		}
		if err := api.Unmarshal(data, &st); err != nil {
			return &Error{StatusCode: resp.StatusCode, Code: logq.EInternal, Method: req.Method, URL: redactURL(u),
				Message: fmt.Sprintf("%s %s: answer is not JSON: %v", req.Method, redactURL(u), err)}
		}
		if st.Status != "" && st.Status != "success" {
			return errorFromResponse(req, http.StatusInternalServerError, data)
		}
	}
	if ma, ok := out.(*messagesAnswer); ok {
		err := ma.decodeAnswer(data)
		releaseResponse(data) // the messages keep nothing of it
		if err != nil {
			return &Error{StatusCode: resp.StatusCode, Code: logq.EInternal, Method: req.Method, URL: redactURL(u),
				Message: fmt.Sprintf("%s %s: unexpected answer: %v", req.Method, redactURL(u), err)}
		}
		return nil
	}
	if pa, ok := out.(*api.ProduceBatchAnswer); ok && scanProduceAnswer(data, pa) {
		return nil
	}
	if out != nil {
		if err := api.Unmarshal(data, out); err != nil {
			return &Error{StatusCode: resp.StatusCode, Code: logq.EInternal, Method: req.Method, URL: redactURL(u),
				Message: fmt.Sprintf("%s %s: unexpected answer: %v", req.Method, redactURL(u), err)}
		}
	}
	return nil
}

// successPrefix begins every success answer of the servers.
var successPrefix = []byte(`{"status":"success"`)

// readResponse reads an answer whole, into one buffer of its
// Content-Length when it has one (bounded by maxResponseBytes).
func readResponse(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= maxResponseBytes {
		var b []byte
		if p, ok := responseBuffers.Get().(*[]byte); ok && int64(cap(*p)) >= n {
			b = (*p)[:n]
		} else {
			b = make([]byte, n)
		}
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
}

// responseBuffers are read buffers of answers, used again once decoded
// into values that keep nothing of them (releaseResponse): a poll's
// answer is a megabyte or two.
var responseBuffers sync.Pool

// maxPooledResponse bounds the buffers kept.
const maxPooledResponse = 8 << 20

// releaseResponse gives b, read by readResponse and no longer used, back.
func releaseResponse(b []byte) {
	if cap(b) <= maxPooledResponse {
		responseBuffers.Put(&b)
	}
}

// backoff returns the jittered delay before retry number attempt+1.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.MinBackoff << min(attempt, 20)
	if d <= 0 || d > c.cfg.MaxBackoff {
		d = c.cfg.MaxBackoff
	}
	// Equal jitter: between d/2 and d.
	return d/2 + rand.N(d/2+1)
}
