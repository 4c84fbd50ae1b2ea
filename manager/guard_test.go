package manager

import (
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

// browserReq is a request as a browser (or curl, with no headers) sends it.
type browserReq struct {
	method, path, body, contentType string
	host                            string            // Host header; "" for the URL's
	headers                         map[string]string // Origin, Sec-Fetch-*
}

func sendRaw(ctx context.Context, t *testing.T, base string, q browserReq) (int, http.Header, api.ErrorBody) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, q.method, base+q.path, strings.NewReader(q.body))
	if err != nil {
		t.Fatal(err)
	}
	if q.contentType != "" {
		req.Header.Set("Content-Type", q.contentType)
	}
	if q.host != "" {
		req.Host = q.host
	}
	for k, v := range q.headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", q.method, q.path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var eb api.ErrorBody
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(raw, &eb); err != nil {
			t.Fatalf("%s %s: %d answer is not JSON: %s", q.method, q.path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, resp.Header, eb
}

// TestBrowserSafety: the CSRF and DNS-rebinding requests of issue 15 are
// refused with 403 and change nothing; the same requests as curl sends
// them, and same-origin ones, are served.
func TestBrowserSafety(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	m := startManager(t, Config{Role: RoleWrite, DSN: dsn})
	waitWriter(t, m)
	startBroker(t, dsn, m.url)
	waitState(t, m, "a live broker", func(s *projection.State) bool { return len(s.LiveBrokers()) == 1 })
	pool := newPool(t, dsn)
	ctx := testCtx(t)

	createTopic := browserReq{method: "POST", path: "/topics", body: `{"topic_name":"csrf","partitions":1}`, contentType: "text/plain"}
	rebalance := browserReq{method: "POST", path: "/rebalance", body: "a=1", contentType: "application/x-www-form-urlencoded"}
	with := func(q browserReq, host string, h ...string) browserReq {
		q.host, q.headers = host, map[string]string{}
		for i := 0; i+1 < len(h); i += 2 {
			q.headers[h[i]] = h[i+1]
		}
		return q
	}
	before := lastSeq(t, pool)
	for _, c := range []struct {
		name string
		q    browserReq
	}{
		{"text/plain JSON POST /topics from evil.example", with(createTopic, "", "Origin", "http://evil.example")},
		{"form POST /rebalance from evil.example", with(rebalance, "", "Origin", "http://evil.example")},
		{"Sec-Fetch-Site cross-site", with(createTopic, "", "Sec-Fetch-Site", "cross-site")},
		{"Host attacker.example", with(createTopic, "attacker.example")},
		{"Host attacker.example GET", with(browserReq{method: "GET", path: "/state"}, "attacker.example:8080")},
		{"status page under a rebound name", with(browserReq{method: "GET", path: "/ui"}, "attacker.example")},
	} {
		status, _, eb := sendRaw(ctx, t, m.url, c.q)
		if status != http.StatusForbidden || eb.Code != logq.EForbidden || eb.Status != api.StatusFailure {
			t.Errorf("%s: %d %+v, want 403 forbidden", c.name, status, eb)
		}
		if c.q.host != "" && !strings.Contains(eb.Message, c.q.host) {
			t.Errorf("%s: message %q does not name the host", c.name, eb.Message)
		}
	}
	if after := lastSeq(t, pool); after != before {
		t.Fatalf("refused requests moved the event log from seq %d to %d", before, after)
	}
	if _, ok := m.State().Topics["csrf"]; ok {
		t.Fatal("a refused request created the topic")
	}

	// As curl sends them: served. Same origin: served.
	for _, c := range []struct {
		name string
		q    browserReq
	}{
		{"curl POST /topics", createTopic},
		{"curl form POST /rebalance", rebalance},
		{"same-origin POST /rebalance", with(rebalance, "", "Origin", m.url, "Sec-Fetch-Site", "same-origin")},
		{"localhost Host", with(browserReq{method: "GET", path: "/topics"}, "localhost:1")},
	} {
		if status, _, eb := sendRaw(ctx, t, m.url, c.q); status != http.StatusOK {
			t.Errorf("%s: %d %+v, want 200", c.name, status, eb)
		}
	}
	if _, ok := m.State().Topics["csrf"]; !ok {
		t.Fatal("curl's POST /topics did not create the topic")
	}
}

// route is one route registered in this package's non-test source.
type route struct{ method, path string }

// sourceRoutes finds every route registration of package manager in its
// source: a call with a string-literal HTTP method followed by a
// string-literal path. A new route is therefore in the table below
// without anyone adding it.
func sourceRoutes(t *testing.T) []route {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true}
	var out []route
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				for i := 0; i+1 < len(call.Args); i++ {
					a, ok1 := call.Args[i].(*ast.BasicLit)
					b, ok2 := call.Args[i+1].(*ast.BasicLit)
					if !ok1 || !ok2 || a.Kind != token.STRING || b.Kind != token.STRING {
						continue
					}
					method, _ := strconv.Unquote(a.Value)
					path, _ := strconv.Unquote(b.Value)
					if methods[method] && strings.HasPrefix(path, "/") {
						out = append(out, route{method, path})
					}
				}
				return true
			})
		}
	}
	return out
}

// TestEveryWriteRouteRefusesForeignOrigin: table-driven over the routes
// registered in the source: every state-changing one refuses a foreign
// Origin and a cross-site Sec-Fetch-Site with 403 and the event log does
// not move; read routes still answer a foreign Origin (links, curl).
func TestEveryWriteRouteRefusesForeignOrigin(t *testing.T) {
	t.Parallel()
	routes := sourceRoutes(t)
	writes := 0
	for _, r := range routes {
		if r.method != "GET" && r.method != "HEAD" {
			writes++
		}
	}
	if writes < 10 || !containsRoute(routes, route{"POST", "/topics"}) || !containsRoute(routes, route{"DELETE", "/brokers/:id"}) {
		t.Fatalf("found %d write routes in %v: the source scan is broken", writes, routes)
	}
	dsn := pgtest.NewDB(t)
	m := startManager(t, Config{Role: RoleWrite, DSN: dsn})
	waitWriter(t, m)
	pool := newPool(t, dsn)
	ctx := testCtx(t)
	before := lastSeq(t, pool)
	for _, r := range routes {
		path := r.path
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") || strings.HasPrefix(seg, "*") {
				path = strings.Replace(path, seg, "1", 1)
			}
		}
		q := browserReq{method: r.method, path: path, body: `{"topic":"t","topic_name":"t","partitions":1}`, contentType: "text/plain"}
		if r.method == "GET" || r.method == "HEAD" {
			q.body, q.contentType = "", ""
			q.headers = map[string]string{"Origin": "http://evil.example"}
			if status, _, eb := sendRaw(ctx, t, m.url, q); status == http.StatusForbidden {
				t.Errorf("%s %s with a foreign Origin: 403 %+v; reads are not refused", r.method, r.path, eb)
			}
			continue
		}
		for _, h := range []map[string]string{{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}} {
			q.headers = h
			if status, _, eb := sendRaw(ctx, t, m.url, q); status != http.StatusForbidden || eb.Code != logq.EForbidden {
				t.Errorf("%s %s with %v: %d %+v, want 403 forbidden", r.method, r.path, h, status, eb)
			}
		}
	}
	if after := lastSeq(t, pool); after != before {
		t.Fatalf("refused writes moved the event log from seq %d to %d", before, after)
	}
}

func containsRoute(rs []route, r route) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// untilBusy sends probe until it is answered 503 unavailable with
// Retry-After and a message naming what (requests or bytes). Meanwhile
// hold, started in the background by the caller, holds the limit and
// reports its status on done when it ends: answered (a long poll may end
// early, empty) or refused as busy itself (it came while a probe held the
// limit), it is sent again; any other end fails the test.
func untilBusy(ctx context.Context, t *testing.T, base string, probe browserReq, what string, hold func(), done <-chan int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, hdr, eb := sendRaw(ctx, t, base, probe)
		if status == http.StatusServiceUnavailable {
			if hdr.Get("Retry-After") == "" || eb.Code != logq.EUnavailable || !strings.Contains(eb.Message, what) {
				t.Fatalf("busy answer: Retry-After %q, %+v", hdr.Get("Retry-After"), eb)
			}
			return
		}
		select {
		case status := <-done:
			if status != http.StatusOK && status != http.StatusServiceUnavailable {
				t.Fatalf("a request holding the limit ended with %d", status)
			}
			go hold()
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 503 (%s) while the limit was held (last %d %+v)", what, status, eb)
		}
		runtime.Gosched() // polling a condition, bounded by the deadline
	}
}

// consumerReady starts a writer with cfg and a broker, creates topic
// (one partition) and a consumer of it, and returns the manager and the
// consumer's id once a consume through the broker works.
func consumerReady(t *testing.T, cfg Config, topic string) (*node, int64) {
	t.Helper()
	cfg.Role, cfg.DSN = RoleWrite, pgtest.NewDB(t)
	m := startManager(t, cfg)
	waitWriter(t, m)
	startBroker(t, cfg.DSN, m.url)
	waitState(t, m, "a live broker", func(s *projection.State) bool { return len(s.LiveBrokers()) == 1 })
	a := newAPI(t)
	a.ok("POST", m.url+"/topics", map[string]any{"topic_name": topic, "partitions": 1})
	cid := a.ok("POST", m.url+"/consumer/register", map[string]any{"topic": topic}).int("consumer_id")
	a.ok("GET", fmt.Sprintf("%s/consumer/consume?topic=%s&consumer_id=%d", m.url, topic, cid), nil)
	return m, cid
}

// longPoll returns a func that sends a long-poll consume (body "" for a
// GET) and reports its status on done (0: transport error).
func longPoll(ctx context.Context, url, body string, done chan<- int) func() {
	return func() {
		method, rd := "GET", io.Reader(nil)
		if body != "" {
			method, rd = "POST", strings.NewReader(body)
		}
		req, _ := http.NewRequestWithContext(ctx, method, url, rd)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}
}

// TestRequestLimit: long-poll consumes hold the manager's request slots;
// beyond MaxRequests the answer is 503 with Retry-After, and /healthz and
// /metrics still answer.
func TestRequestLimit(t *testing.T) {
	t.Parallel()
	m, cid := consumerReady(t, Config{MaxRequests: 2}, "limits")
	ctx := testCtx(t)

	// Two long polls fill the two slots.
	pollCtx, stopPolls := context.WithCancel(ctx)
	polls := make(chan int, 2)
	poll := longPoll(pollCtx, fmt.Sprintf("%s/consumer/consume?topic=limits&consumer_id=%d&wait_ms=30000", m.url, cid), "", polls)
	for range 2 {
		go poll()
	}
	probe := browserReq{method: "GET", path: "/topics"}
	untilBusy(ctx, t, m.url, probe, "requests", poll, polls)
	for _, p := range []string{"/healthz", "/metrics"} {
		if status, _, eb := sendRaw(ctx, t, m.url, browserReq{method: "GET", path: p}); status != http.StatusOK {
			t.Fatalf("%s at the request limit: %d %+v", p, status, eb)
		}
	}
	stopPolls()
	for range 2 {
		<-polls
	}
}

// TestInflightBytesLimit: a long-poll consume whose body is padded to
// 60 KiB (JSON allows trailing blanks) holds that reservation while it
// waits; a 50 KiB body on top of it is over MaxInflightBytes (100 KiB) and
// refused unread with 503, /healthz answers, and when the poll ends the
// same body passes the guard again.
func TestInflightBytesLimit(t *testing.T) {
	t.Parallel()
	m, cid := consumerReady(t, Config{MaxBodyBytes: 64 << 10, MaxInflightBytes: 100 << 10}, "bytes")
	ctx := testCtx(t)

	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	held := make(chan int, 1)
	body := fmt.Sprintf(`{"topic":"bytes","consumer_id":%d,"wait_ms":30000}`, cid)
	poll := longPoll(pollCtx, m.url+"/consumer/consume", body+strings.Repeat(" ", 60<<10-len(body)), held)
	go poll()
	big := browserReq{method: "POST", path: "/producer/produce", contentType: "application/json",
		body: `{"topic":"bytes","message":"` + strings.Repeat("x", 50<<10) + `"}`}
	untilBusy(ctx, t, m.url, big, "bytes", poll, held)
	if status, _, _ := sendRaw(ctx, t, m.url, browserReq{method: "GET", path: "/healthz"}); status != http.StatusOK {
		t.Fatalf("/healthz at the byte limit: %d", status)
	}
	stopPoll()
	<-held
	// Released: the same body passes the guard (and fails inside: no producer_id).
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, _, _ := sendRaw(ctx, t, m.url, big)
		if status != http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the byte reservation of the ended poll was not released")
		}
		runtime.Gosched()
	}
}
