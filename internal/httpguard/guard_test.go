package httpguard

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
)

// writeError is a server's error writer in miniature.
func writeError(w http.ResponseWriter, _ *http.Request, err error) {
	code := logq.ErrorCode(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(logq.HTTPStatus(code))
	json.NewEncoder(w).Encode(api.ErrorBody{Status: api.StatusFailure, Message: logq.ErrorMessage(err), Code: code})
}

// serve runs next behind a Guard for cfg on a loopback server.
func serve(t *testing.T, cfg Config, next http.Handler) (*Guard, *httptest.Server) {
	t.Helper()
	cfg.WriteError = writeError
	g := New(cfg)
	srv := httptest.NewServer(g.Handler(next))
	t.Cleanup(srv.Close)
	return g, srv
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Write([]byte("ok"))
})

type answer struct {
	status int
	body   api.ErrorBody
	header http.Header
}

func send(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s: %d answer is not JSON: %s", req.Method, req.URL, resp.StatusCode, raw)
		}
	}
	return a
}

func TestBrowserSafety(t *testing.T) {
	_, srv := serve(t, Config{AllowedHosts: []string{"logq.example:8080"}}, okHandler)
	self := srv.URL // http://127.0.0.1:port
	for _, c := range []struct {
		name    string
		method  string
		host    string
		headers map[string]string
		want    int
	}{
		{"curl POST", "POST", "", nil, 200},
		{"curl DELETE", "DELETE", "", nil, 200},
		{"same-origin POST", "POST", "", map[string]string{"Origin": self, "Sec-Fetch-Site": "same-origin"}, 200},
		{"typed URL", "POST", "", map[string]string{"Sec-Fetch-Site": "none"}, 200},
		{"foreign Origin POST", "POST", "", map[string]string{"Origin": "http://evil.example"}, 403},
		{"foreign Origin DELETE", "DELETE", "", map[string]string{"Origin": "http://evil.example"}, 403},
		{"null Origin POST", "POST", "", map[string]string{"Origin": "null"}, 403},
		{"other port Origin", "POST", "", map[string]string{"Origin": "http://127.0.0.1:1"}, 403},
		{"cross-site POST", "POST", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site POST", "PUT", "", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"foreign Origin GET", "GET", "", map[string]string{"Origin": "http://evil.example"}, 200},
		{"cross-site link", "GET", "", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}, 200},
		{"cross-site fetch GET", "GET", "", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}, 403},
		{"cross-site img GET", "GET", "", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}, 403},
		{"rebound Host", "GET", "attacker.example", nil, 403},
		{"rebound Host POST", "POST", "attacker.example:80", nil, 403},
		{"loopback-looking name", "GET", "127.0.0.1.attacker.example", nil, 403},
		{"localhost", "GET", "localhost:9999", nil, 200},
		{"sub.localhost", "GET", "ui.localhost", nil, 200},
		{"IPv6 loopback", "GET", "[::1]:8080", nil, 200},
		{"an IP address", "GET", "10.1.2.3:8080", nil, 200},
		{"configured name", "GET", "LOGQ.example.", nil, 200},
		{"configured name, same Origin", "POST", "logq.example:8080", map[string]string{"Origin": "http://logq.example:8080"}, 200},
		{"configured name, https Origin default port", "POST", "logq.example", map[string]string{"Origin": "https://logq.example"}, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, srv.URL+"/topics", strings.NewReader(`{"name":"t"}`))
			req.Header.Set("Content-Type", "text/plain")
			if c.host != "" {
				req.Host = c.host
			}
			for k, v := range c.headers {
				req.Header.Set(k, v)
			}
			a := send(t, req)
			if a.status != c.want {
				t.Fatalf("status %d, want %d (%+v)", a.status, c.want, a.body)
			}
			if c.want == 403 && (a.body.Code != logq.EForbidden || a.body.Status != "failure" || a.body.Message == "") {
				t.Fatalf("body %+v, want a forbidden failure", a.body)
			}
			if c.host != "" && c.want == 403 && !strings.Contains(a.body.Message, c.host) {
				t.Fatalf("message %q does not name the host %q", a.body.Message, c.host)
			}
		})
	}
}

func TestAnyHost(t *testing.T) {
	_, srv := serve(t, Config{AllowedHosts: []string{"*"}}, okHandler)
	req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
	req.Host = "attacker.example"
	if a := send(t, req); a.status != 200 {
		t.Fatalf("status %d with AllowedHosts *", a.status)
	}
}

func TestParseHosts(t *testing.T) {
	got, err := ParseHosts(" manager-1, manager-2:8080 ,,*")
	if err != nil || strings.Join(got, "|") != "manager-1|manager-2:8080|*" {
		t.Fatalf("ParseHosts = %q, %v", got, err)
	}
	if _, err := ParseHosts("a b"); !errors.Is(err, logq.ErrInvalid) {
		t.Fatalf("ParseHosts(a b) = %v, want invalid", err)
	}
}

// held is a handler that holds each request until released, announcing
// it on entered.
type held struct {
	entered chan string
	release chan struct{}
}

func newHeld() *held { return &held{entered: make(chan string, 16), release: make(chan struct{})} }

func (h *held) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/hold" {
		okHandler(w, r)
		return
	}
	h.entered <- r.URL.Path
	<-h.release
	w.Write([]byte("ok"))
}

func TestConcurrencyLimit(t *testing.T) {
	h := newHeld()
	g, srv := serve(t, Config{MaxRequests: 2, Exempt: []string{"/healthz"}}, h)
	done := make(chan int, 2)
	for range 2 {
		go func() {
			resp, err := http.Get(srv.URL + "/hold")
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
	}
	for range 2 {
		<-h.entered
	}
	req, _ := http.NewRequest("GET", srv.URL+"/topics", nil)
	a := send(t, req)
	if a.status != 503 || a.header.Get("Retry-After") == "" || a.body.Code != logq.EUnavailable {
		t.Fatalf("third request: %d %+v Retry-After %q, want 503 unavailable with Retry-After", a.status, a.body, a.header.Get("Retry-After"))
	}
	req, _ = http.NewRequest("GET", srv.URL+"/healthz", nil)
	if a := send(t, req); a.status != 200 {
		t.Fatalf("/healthz at the limit: %d", a.status)
	}
	close(h.release)
	for range 2 {
		if s := <-done; s != 200 {
			t.Fatalf("held request: %d", s)
		}
	}
	if n, b := g.InFlight(); n != 0 || b != 0 {
		t.Fatalf("in flight after: %d requests, %d bytes", n, b)
	}
	req, _ = http.NewRequest("GET", srv.URL+"/topics", nil)
	if a := send(t, req); a.status != 200 {
		t.Fatalf("after release: %d", a.status)
	}
}

func TestInflightBytesLimit(t *testing.T) {
	read := make(chan struct{}, 1)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1)
		io.ReadFull(r.Body, buf)
		read <- struct{}{}
		io.Copy(io.Discard, r.Body) // held until the sender finishes the body
		w.Write([]byte("ok"))
	})
	g, srv := serve(t, Config{MaxInflightBytes: 1000, MaxBodyBytes: 800}, next)

	// A request of 600 declared bytes, held open after its first byte.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", srv.URL+"/hold", pr)
	req.ContentLength = 600
	done := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	pw.Write([]byte("x"))
	<-read
	if _, b := g.InFlight(); b != 600 {
		t.Fatalf("reserved %d bytes, want 600", b)
	}

	// 500 more would hold 1100 > 1000: refused unread. A chunked body
	// reserves MaxBodyBytes (800): refused too. 300 fit.
	big, _ := http.NewRequest("POST", srv.URL+"/x", strings.NewReader(strings.Repeat("y", 500)))
	if a := send(t, big); a.status != 503 || a.header.Get("Retry-After") == "" || a.body.Code != logq.EUnavailable {
		t.Fatalf("over the byte bound: %d %+v", a.status, a.body)
	}
	chunked, _ := http.NewRequest("POST", srv.URL+"/x", io.MultiReader(strings.NewReader("z")))
	chunked.ContentLength = -1
	if a := send(t, chunked); a.status != 503 {
		t.Fatalf("chunked body over the byte bound: %d", a.status)
	}
	small, _ := http.NewRequest("POST", srv.URL+"/x", strings.NewReader(strings.Repeat("y", 300)))
	if a := send(t, small); a.status != 200 {
		t.Fatalf("within the byte bound: %d %+v", a.status, a.body)
	}

	pw.Write([]byte(strings.Repeat("x", 599)))
	pw.Close()
	select {
	case s := <-done:
		if s != 200 {
			t.Fatalf("held request: %d", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("held request did not finish")
	}
	if n, b := g.InFlight(); n != 0 || b != 0 {
		t.Fatalf("in flight after: %d requests, %d bytes", n, b)
	}
}
