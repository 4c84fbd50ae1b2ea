package httpauth_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/auth"
	"github.com/logq/logq/auth/httpauth"
	"github.com/logq/logq/internal/tlstest"
)

func TestMatch(t *testing.T) {
	tab := httpauth.Table{
		{Method: "GET", Path: "/topics/:topic", Resource: auth.Topic},
		{Method: "POST", Path: "/groups/:group/*rest", Resource: auth.Group},
		{Method: "*", Path: "/x", Resource: auth.Cluster},
		{Method: "GET", Path: "/x", Resource: Public},
	}
	for _, c := range []struct {
		method, path string
		want         int // index, -1 none
		param        string
	}{
		{"GET", "/topics/orders", 0, "orders"},
		{"GET", "/topics/a%2Fb", 0, "a/b"},
		{"GET", "/topics/", -1, ""},
		{"GET", "/topics/a/b", -1, ""},
		{"POST", "/topics/a", -1, ""},
		{"POST", "/groups/g/join", 1, "g"},
		{"POST", "/groups/g/offsets/x", 1, "g"},
		{"POST", "/groups/g", -1, ""},
		{"GET", "/x", 3, ""},
		{"DELETE", "/x", 2, ""},
	} {
		r, ps, ok := tab.Match(c.method, c.path)
		got := -1
		if ok {
			for i := range tab {
				if &tab[i] == r {
					got = i
				}
			}
		}
		if got != c.want {
			t.Errorf("%s %s matched %d, want %d", c.method, c.path, got, c.want)
		}
		if ok && c.param != "" && ps["topic"] != c.param && ps["group"] != c.param {
			t.Errorf("%s %s params %v", c.method, c.path, ps)
		}
	}
	if !tab.Has("POST", "/groups/:group/sync") || tab.Has("PUT", "/topics/:topic") {
		t.Error("Has is wrong")
	}
}

const Public = httpauth.Public

type fixture struct {
	dir                      *auth.Directory
	admin, alice, bob, brokr string // tokens
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{}
	var d *auth.Directory
	for _, p := range []struct {
		name string
		kind auth.Kind
		tok  *string
	}{{"root", auth.KindAdmin, &f.admin}, {"alice", auth.KindClient, &f.alice}, {"bob", auth.KindClient, &f.bob}, {"b1", auth.KindBroker, &f.brokr}} {
		tok, th := auth.NewToken()
		*p.tok = tok
		d = d.WithPrincipal(auth.Principal{Name: p.name, Kind: p.kind, Tokens: []auth.TokenHash{th}})
	}
	d = d.WithACL(auth.ACL{Principal: "alice", Resource: auth.Topic, Pattern: auth.Literal, Name: "orders", Operation: auth.OpProduce, Effect: auth.Allow})
	f.dir = d
	return f
}

func writeErr(w http.ResponseWriter, _ *http.Request, err error) {
	w.WriteHeader(logq.HTTPStatus(logq.ErrorCode(err)))
	w.Write([]byte(logq.ErrorMessage(err)))
}

func TestMiddleware(t *testing.T) {
	f := newFixture(t)
	ran := 0
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran++
		w.Write([]byte("ok"))
	})
	cfg := &httpauth.Config{Enabled: true, Auth: auth.NewAuthenticator(func() *auth.Directory { return f.dir }), WriteError: writeErr,
		Table: httpauth.Table{
			{Method: "GET", Path: "/healthz", Resource: Public},
			{Method: "POST", Path: "/produce", Resource: auth.Topic, Name: httpauth.Field("topic"), Op: auth.OpProduce},
			{Method: "POST", Path: "/brokers", Resource: auth.Cluster, Op: auth.OpAlter, Kinds: []auth.Kind{auth.KindBroker}},
		}}
	h := cfg.Handler(next)
	for _, c := range []struct {
		name, method, path, body, token string
		want                            int
	}{
		{"public", "GET", "/healthz", "", "", 200},
		{"none", "POST", "/produce", `{"topic":"orders"}`, "", 401},
		{"wrong", "POST", "/produce", `{"topic":"orders"}`, "logq_nope", 401},
		{"insufficient", "POST", "/produce", `{"topic":"orders"}`, f.bob, 403},
		{"other topic", "POST", "/produce", `{"topic":"other"}`, f.alice, 403},
		{"right", "POST", "/produce", `{"topic":"orders"}`, f.alice, 200},
		{"right by query", "POST", "/produce?topic=orders", `junk`, f.alice, 200},
		{"right by form", "POST", "/produce", `topic=orders`, f.alice, 200},
		{"admin", "POST", "/produce", `{"topic":"x"}`, f.admin, 200},
		{"broker only: client", "POST", "/brokers", `{}`, f.alice, 403},
		{"broker only: admin", "POST", "/brokers", `{}`, f.admin, 403},
		{"broker only: broker", "POST", "/brokers", `{}`, f.brokr, 200},
		{"no rule: client", "GET", "/secret", "", f.alice, 403},
		{"no rule: admin", "GET", "/secret", "", f.admin, 200},
		{"no rule: none", "GET", "/secret", "", "", 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := ran
			req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
			if strings.HasPrefix(c.body, "topic=") {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != c.want {
				t.Fatalf("status %d, want %d (%s)", w.Code, c.want, w.Body)
			}
			if (c.want == 200) != (ran == before+1) {
				t.Fatalf("handler ran %d times", ran-before)
			}
			if c.want == 401 && len(w.Header().Values("WWW-Authenticate")) != 2 {
				t.Fatalf("WWW-Authenticate = %v", w.Header().Values("WWW-Authenticate"))
			}
		})
	}
	// Open mode: everything passes.
	open := &httpauth.Config{Table: cfg.Table, WriteError: writeErr}
	w := httptest.NewRecorder()
	open.Handler(next).ServeHTTP(w, httptest.NewRequest("POST", "/brokers", nil))
	if w.Code != 200 {
		t.Fatalf("open mode: %d", w.Code)
	}
}

func TestQuota(t *testing.T) {
	f := newFixture(t)
	now := time.Unix(1000, 0)
	q := &httpauth.Quotas{ProduceBytesPerSec: 100, FetchBytesPerSec: 50, Now: func() time.Time { return now }}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1024)
		for {
			if _, err := r.Body.Read(buf); err != nil {
				break
			}
		}
		w.Write(make([]byte, 80))
	})
	cfg := &httpauth.Config{Enabled: true, Auth: auth.NewAuthenticator(func() *auth.Directory { return f.dir }), WriteError: writeErr, Quotas: q,
		Table: httpauth.Table{
			{Method: "POST", Path: "/produce", Resource: auth.Topic, Name: httpauth.Field("topic"), Op: auth.OpProduce, Quota: httpauth.QuotaProduce},
		}}
	h := cfg.Handler(next)
	do := func(tok string, n int) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/produce?topic=orders", strings.NewReader(strings.Repeat("x", n)))
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	if w := do(f.alice, 250); w.Code != 200 {
		t.Fatalf("first: %d", w.Code)
	}
	w := do(f.alice, 10) // 100 - 250 = -150: in debt for 1.5 s
	if w.Code != 429 || w.Header().Get("Retry-After") != "2" {
		t.Fatalf("in debt: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if w := do(f.admin, 1000); w.Code != 200 {
		t.Fatalf("admins are not throttled: %d", w.Code)
	}
	now = now.Add(1600 * time.Millisecond)
	if w := do(f.alice, 10); w.Code != 200 {
		t.Fatalf("after the refill: %d", w.Code)
	}
	// Fetch counts the answer.
	q.Charge("bob", httpauth.QuotaFetch, 120)
	if _, ok := q.Admit("bob", httpauth.QuotaFetch); ok {
		t.Fatal("fetch debt admitted")
	}
}

func TestTLSAndExposure(t *testing.T) {
	files := tlstest.New(t)
	srvCfg, err := httpauth.TLSFiles{Cert: files.Cert, Key: files.Key, ClientCA: files.CA}.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hi")) }))
	srv.TLS = srvCfg
	srv.StartTLS()
	defer srv.Close()
	get := func(f httpauth.TLSFiles) error {
		cc, err := f.ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		hc := &http.Client{}
		httpauth.SetClientTLS(hc, cc)
		if cc == nil {
			hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{}}
		}
		resp, err := hc.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
			hc.CloseIdleConnections()
		}
		return err
	}
	if err := get(httpauth.TLSFiles{CA: files.CA, Cert: files.ClientCert, Key: files.ClientKey}); err != nil {
		t.Fatalf("mutual TLS: %v", err)
	}
	if err := get(httpauth.TLSFiles{CA: files.CA}); err == nil {
		t.Fatal("no client certificate, yet served")
	}
	if err := get(httpauth.TLSFiles{}); err == nil {
		t.Fatal("an unknown CA was trusted")
	}
	if _, err := (httpauth.TLSFiles{Cert: files.Cert}).ServerConfig(); err == nil {
		t.Fatal("a certificate without a key")
	}
	for _, c := range []struct {
		addr           string
		auth, insecure bool
		ok             bool
	}{
		{"127.0.0.1:8080", false, false, true},
		{"localhost:8080", false, false, true},
		{"[::1]:8080", false, false, true},
		{":8080", false, false, false},
		{"0.0.0.0:8080", false, false, false},
		{"0.0.0.0:8080", true, false, true},
		{"0.0.0.0:8080", false, true, true},
	} {
		if err := httpauth.CheckExposure(c.addr, c.auth, c.insecure); (err == nil) != c.ok {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestTransportAddsCredentials(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = append(got, r.Header.Get("Authorization")) }))
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{}}
	httpauth.Wrap(hc, httpauth.Credentials{Token: "logq_x"})
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest("GET", srv.URL, nil)
	req.SetBasicAuth("u", "p")
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	hc.CloseIdleConnections()
	if got[0] != "Bearer logq_x" || !strings.HasPrefix(got[1], "Basic ") {
		t.Fatalf("headers %q", got)
	}
	if h := (httpauth.Credentials{User: "admin", Password: "pw"}).Header(); h != "Basic YWRtaW46cHc=" {
		t.Fatalf("basic header %q", h)
	}
}

// watchedBody records whether the middleware read it.
type watchedBody struct {
	*strings.Reader
	read bool
}

func (b *watchedBody) Read(p []byte) (int, error) { b.read = true; return b.Reader.Read(p) }
func (b *watchedBody) Close() error               { return nil }

// TestBodyReadOnlyWhenTheNameMatters: the body is read to learn a topic
// only when the principal's rights depend on it.
func TestBodyReadOnlyWhenTheNameMatters(t *testing.T) {
	f := newFixture(t)
	cfg := &httpauth.Config{Enabled: true, Auth: auth.NewAuthenticator(func() *auth.Directory { return f.dir }), WriteError: writeErr,
		Table: httpauth.Table{{Method: "POST", Path: "/produce", Resource: auth.Topic, Name: httpauth.Field("topic"), Op: auth.OpProduce}}}
	var readBefore bool
	var body *watchedBody
	h := cfg.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { readBefore = body.read }))
	for _, c := range []struct {
		tok      string
		wantRead bool
	}{{f.admin, false}, {f.brokr, false}, {f.alice, true}} {
		body = &watchedBody{Reader: strings.NewReader(`{"topic":"orders"}`)}
		req := httptest.NewRequest("POST", "/produce", nil)
		req.Body = body
		req.Header.Set("Authorization", "Bearer "+c.tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 || readBefore != c.wantRead {
			t.Errorf("%d, body read before the handler: %t, want %t", w.Code, readBefore, c.wantRead)
		}
	}
}
