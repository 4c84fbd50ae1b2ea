package manager

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/pg"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var modes = []eventlog.Mode{eventlog.ModeNotify, eventlog.ModeLogical}

// testCtx is bounded so that a hung test fails rather than stalls the run.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testLogger logs to the test at LOGQ_TEST_LOG level (default warn).
func testLogger(t *testing.T) zerolog.Logger {
	level, err := zerolog.ParseLevel(os.Getenv("LOGQ_TEST_LOG"))
	if err != nil || os.Getenv("LOGQ_TEST_LOG") == "" {
		level = zerolog.WarnLevel
	}
	return zerolog.New(zerolog.NewTestWriter(t)).Level(level).With().Timestamp().Logger()
}

// fakeClock is an injected clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// node is a manager serving on a loopback port.
type node struct {
	*Manager
	url    string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// startManager starts a manager on 127.0.0.1:0 (AdvertiseURL defaults to
// its address) and stops it when the test ends.
func startManager(t *testing.T, cfg Config) *node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	if cfg.TLS.Cert != "" {
		url = "https://" + ln.Addr().String()
	}
	if cfg.AdvertiseURL == "" {
		cfg.AdvertiseURL = url
	}
	cfg.Logger = testLogger(t).With().Str("node", url).Logger()
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	m, err := New(testCtx(t), cfg)
	if err != nil {
		ln.Close()
		t.Fatalf("manager.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{Manager: m, url: url, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- m.Serve(ctx, ln) }()
	t.Cleanup(func() { n.stop(t) })
	return n
}

// stop cancels the manager's Serve and waits for it to return.
func (n *node) stop(t *testing.T) {
	n.once.Do(func() {
		n.cancel()
		select {
		case err := <-n.done:
			if err != nil {
				t.Errorf("manager %s: Serve: %v", n.url, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("manager %s: Serve did not return", n.url)
		}
	})
}

// waitWriter waits until n is the writer.
// startWriterAndReader starts a writer manager on dsn, waits for it to
// lead, then starts a reader beside it.
func startWriterAndReader(t *testing.T, dsn string) (w, r *node) {
	t.Helper()
	w = startManager(t, Config{Role: RoleWrite, DSN: dsn})
	waitWriter(t, w)
	return w, startManager(t, Config{Role: RoleRead, DSN: dsn})
}

func waitWriter(t *testing.T, n *node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(t), 20*time.Second)
	defer cancel()
	if err := n.WaitWriter(ctx); err != nil {
		t.Fatal(err)
	}
}

// waitSeq waits until n has applied seq.
func waitSeq(t *testing.T, n *node, seq int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(t), 10*time.Second)
	defer cancel()
	if err := n.WaitApplied(ctx, seq); err != nil {
		t.Fatal(err)
	}
}

// waitState waits until cond holds for n's state (checked on every apply).
func waitState(t *testing.T, n *node, what string, cond func(*projection.State) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(t), 15*time.Second)
	defer cancel()
	for {
		s := n.State()
		if cond(s) {
			return
		}
		if err := n.WaitApplied(ctx, s.Seq+1); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
}

// newPool opens a pool for the test's own inspection of the event log.
func newPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pg.Connect(testCtx(t), dsn, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func lastSeq(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	seq, err := eventlog.LastSeq(testCtx(t), pool)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// testAPI is an HTTP client for tests.
type testAPI struct {
	t  *testing.T
	hc *http.Client
}

func newAPI(t *testing.T) *testAPI {
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &testAPI{t: t, hc: &http.Client{Transport: tr, Timeout: 40 * time.Second}}
}

// answer is a decoded JSON answer.
type answer struct {
	status int
	body   map[string]any
	raw    string
}

func (a answer) str(k string) string {
	s, _ := a.body[k].(string)
	return s
}

func (a answer) int(k string) int64 {
	n, ok := a.body[k].(json.Number)
	if !ok {
		return -1
	}
	v, _ := n.Int64()
	return v
}

// do sends a request. body is nil, a string (sent as is, with
// contentType), or a value sent as JSON.
func (a *testAPI) do(method, url string, body any, contentType ...string) answer {
	a.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
		ct = "application/json"
	}
	if len(contentType) > 0 {
		ct = contentType[0]
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("%s %s: read answer: %v", method, url, err)
	}
	ans := answer{status: resp.StatusCode, raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&ans.body); err != nil {
			a.t.Fatalf("%s %s: answer is not JSON: %v: %s", method, url, err, raw)
		}
	}
	return ans
}

// ok sends a request that must succeed and returns its answer.
func (a *testAPI) ok(method, url string, body any) answer {
	a.t.Helper()
	ans := a.do(method, url, body)
	if ans.status != http.StatusOK || ans.str("status") != "success" {
		a.t.Fatalf("%s %s: status %d: %s", method, url, ans.status, ans.raw)
	}
	return ans
}

// eventTypes lists the types of events with seq > after.
func eventTypes(t *testing.T, pool *pgxpool.Pool, after int64) []string {
	t.Helper()
	events, err := eventlog.Read(testCtx(t), pool, after, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
	}
	return types
}
