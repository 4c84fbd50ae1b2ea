package manager

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/auth"
	"github.com/logq/logq/auth/httpauth"
	"github.com/logq/logq/broker"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/internal/tlstest"
)

// TestAuthTableCoversRoutes: every route registered in the source has an
// entry in the route table, so a new route without an auth decision fails
// here.
func TestAuthTableCoversRoutes(t *testing.T) {
	tab := (&Manager{}).authTable()
	routes := sourceRoutes(t)
	if len(routes) < 30 {
		t.Fatalf("found only %d routes: the source scan is broken", len(routes))
	}
	for _, r := range routes {
		if strings.HasPrefix(r.path, "/v1/") {
			continue // the brokers' routes, which the router calls
		}
		if !tab.Has(r.method, r.path) {
			t.Errorf("%s %s has no entry in authTable (authroutes.go): decide who may call it", r.method, r.path)
		}
	}
}

type principalTok struct{ name, token string }

// authFixture is a writer with auth on and principals for every right.
type authFixture struct {
	w        *node
	admin    string
	manager  string
	broker   string
	nobody   string            // a client without any ACL
	right    map[string]string // "topic/produce" → token of a client with exactly that right
	bootstrp []auth.Principal
}

func newPrincipal(name string, kind auth.Kind) (auth.Principal, string) {
	tok, th := auth.NewToken()
	return auth.Principal{Name: name, Kind: kind, Tokens: []auth.TokenHash{th}}, tok
}

func startAuthWriter(t *testing.T, dsn string, extra Config) *authFixture {
	t.Helper()
	f := &authFixture{right: map[string]string{}}
	var boot []auth.Principal
	add := func(name string, kind auth.Kind) string {
		p, tok := newPrincipal(name, kind)
		boot = append(boot, p)
		return tok
	}
	f.admin = add("admin", auth.KindAdmin)
	f.manager = add("managers", auth.KindManager)
	f.broker = add("brokers", auth.KindBroker)
	f.nobody = add("nobody", auth.KindClient)
	add("victim", auth.KindClient)
	for _, rt := range []auth.ResourceType{auth.Topic, auth.Group, auth.Cluster} {
		for _, op := range auth.Operations {
			f.right[string(rt)+"/"+string(op)] = add("r-"+string(rt)+"-"+string(op), auth.KindClient)
		}
	}
	f.bootstrp = boot
	cfg := extra
	cfg.Role, cfg.DSN, cfg.Auth, cfg.Bootstrap = RoleWrite, dsn, true, boot
	cfg.Credentials = httpauth.Credentials{Token: f.manager}
	f.w = startManager(t, cfg)
	if cfg.TLS.CA != "" {
		cc, _ := cfg.TLS.ClientConfig()
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cc}}
		tlsClients.Store(f.w.url, hc)
		t.Cleanup(func() { tlsClients.Delete(f.w.url); hc.CloseIdleConnections() })
	}
	waitWriter(t, f.w)
	waitFor(t, 10e9, "bootstrap principals", func() bool { // woken by f.w applying events
		_, ok := f.w.directory().Principal("r-cluster-alter")
		return ok
	}, f.w)
	names := map[auth.ResourceType]string{auth.Topic: "orders", auth.Group: "g1", auth.Cluster: auth.ClusterName}
	for _, rt := range []auth.ResourceType{auth.Topic, auth.Group, auth.Cluster} {
		for _, op := range auth.Operations {
			body := `{"principal":"r-` + string(rt) + "-" + string(op) + `","resource":"` + string(rt) + `","name":"` + names[rt] + `","operation":"` + string(op) + `"}`
			if st, b := authDo(t, f.w.url, "POST", "/acls", body, "Bearer "+f.admin); st != 200 {
				t.Fatalf("add acl %s: %d %s", body, st, b)
			}
		}
	}
	// A (fake) broker, a topic on it, producer 1 and consumer 1 of it.
	for _, c := range []struct{ path, body, tok string }{
		{"/brokers", `{"address":"127.0.0.1:1"}`, f.broker},
		{"/topics", `{"topic_name":"orders","partitions":1}`, f.admin},
	} {
		if st, b := authDo(t, f.w.url, "POST", c.path, c.body, "Bearer "+c.tok); st != 200 {
			t.Fatalf("POST %s: %d %s", c.path, st, b)
		}
	}
	// Producer 1 and consumer 1 have no owner (as if registered in open
	// mode): every principal with the topic right may use them (owners.go).
	if _, _, err := f.w.registerProducer(testCtx(t), "orders", nil, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.w.registerConsumer(testCtx(t), "orders", nil, ""); err != nil {
		t.Fatal(err)
	}
	return f
}

// tlsClients are the clients of TLS managers, by base URL.
var tlsClients sync.Map

func authDo(t *testing.T, base, method, path, body, authz string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(t), 10e9)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	hc := http.DefaultClient
	if c, ok := tlsClients.Load(base); ok {
		hc = c.(*http.Client)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 401 && len(resp.Header.Values("WWW-Authenticate")) == 0 {
		t.Errorf("%s %s: 401 without WWW-Authenticate", method, path)
	}
	return resp.StatusCode, string(b)
}

// TestAuthEveryRoute is table-driven over every route registered in the
// source: without credentials and with wrong ones it is 401, with a
// principal that lacks the right 403, and the event log does not move;
// with the right (and only that right) the request gets past auth.
func TestAuthEveryRoute(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	f := startAuthWriter(t, dsn, Config{})
	tab := f.w.authTable()
	pool := newPool(t, dsn)
	for _, r := range sourceRoutes(t) {
		if strings.HasPrefix(r.path, "/v1/") {
			continue // the brokers' routes, which the router calls
		}
		rule, _, ok := tab.Match(r.method, patternAsSample(r.path))
		if !ok {
			t.Errorf("%s %s: no rule", r.method, r.path)
			continue
		}
		path := patternAsSample(r.path)
		body := ""
		if r.method != "GET" {
			body = `{"topic":"orders","producer_id":1,"consumer_id":1}`
		} else {
			path += "?topic=orders"
		}
		name := r.method + " " + r.path
		if rule.Resource == httpauth.Public {
			if st, b := authDo(t, f.w.url, r.method, path, body, ""); st == 401 || st == 403 {
				t.Errorf("%s is public, got %d %s", name, st, b)
			}
			continue
		}
		before := lastSeq(t, pool)
		for _, c := range []struct{ what, authz string }{
			{"no credentials", ""},
			{"a wrong token", "Bearer logq_wrong"},
			{"a wrong password", "Basic YWRtaW46bm9wZQ=="},
			{"a foreign scheme", "Digest x"},
		} {
			if st, b := authDo(t, f.w.url, r.method, path, body, c.authz); st != 401 || !strings.Contains(b, logq.EUnauthenticated) {
				t.Errorf("%s with %s: %d %s, want 401", name, c.what, st, b)
			}
		}
		insufficient := []string{f.nobody}
		var right string
		switch {
		case len(rule.Kinds) > 0:
			kinds := map[auth.Kind]string{auth.KindAdmin: f.admin, auth.KindManager: f.manager, auth.KindBroker: f.broker, auth.KindClient: f.nobody}
			allowed := map[auth.Kind]bool{}
			for _, k := range rule.Kinds {
				allowed[k] = true
			}
			insufficient = nil
			for _, k := range auth.Kinds {
				if !allowed[k] {
					insufficient = append(insufficient, kinds[k])
				} else if right == "" {
					right = kinds[k]
				}
			}
		default:
			right = f.right[string(rule.Resource)+"/"+string(rule.Op)]
			// The same operation on another resource type is not enough.
			for _, rt := range []auth.ResourceType{auth.Topic, auth.Group, auth.Cluster} {
				if rt != rule.Resource {
					insufficient = append(insufficient, f.right[string(rt)+"/"+string(rule.Op)])
				}
			}
		}
		for _, tok := range insufficient {
			if st, b := authDo(t, f.w.url, r.method, path, body, "Bearer "+tok); st != 403 || !strings.Contains(b, logq.EForbidden) {
				t.Errorf("%s without the right: %d %s, want 403", name, st, b)
			}
		}
		if after := lastSeq(t, pool); after != before {
			t.Errorf("%s: refused requests moved the event log from %d to %d", name, before, after)
		}
		if right == "" {
			t.Errorf("%s: no principal has the right", name)
			continue
		}
		if st, b := authDo(t, f.w.url, r.method, path, body, "Bearer "+right); st == 401 || st == 403 {
			t.Errorf("%s with the right: %d %s", name, st, b)
		}
	}
}

// patternAsSample fills a route pattern's parameters with names the
// fixture's ACLs cover.
func patternAsSample(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		switch {
		case s == ":topic":
			segs[i] = "orders"
		case s == ":group":
			segs[i] = "g1"
		case s == ":name" && strings.HasPrefix(p, "/principals"):
			segs[i] = "victim"
		case strings.HasPrefix(s, ":"), strings.HasPrefix(s, "*"):
			segs[i] = "1"
		}
	}
	return strings.Join(segs, "/")
}

// TestRogueBrokerRefused: the case — a process with client (or
// no) credentials cannot register or heartbeat a broker; a broker
// principal can; and a reader forwards a broker's registration to the
// writer with its own manager credentials.
func TestRogueBrokerRefused(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	f := startAuthWriter(t, dsn, Config{})
	reader := startManager(t, Config{Role: RoleRead, DSN: dsn, Auth: true, Credentials: httpauth.Credentials{Token: f.manager}})
	waitSeq(t, reader, f.w.AppliedSeq())
	reg := `{"address":"127.0.0.1:1"}`
	for _, base := range []string{f.w.url, reader.url} {
		for _, tok := range []string{"", "Bearer " + f.nobody, "Bearer " + f.right["cluster/alter"]} {
			if st, b := authDo(t, base, "POST", "/brokers", reg, tok); st != 401 && st != 403 {
				t.Fatalf("rogue registration at %s with %q: %d %s", base, tok, st, b)
			}
		}
	}
	if len(f.w.State().Brokers) != 1 {
		t.Fatal("a rogue broker was registered")
	}
	st, b := authDo(t, reader.url, "POST", "/brokers", reg, "Bearer "+f.broker)
	if st != 200 {
		t.Fatalf("broker registration through the reader: %d %s", st, b)
	}
	var ans api.BrokerAnswer
	json.Unmarshal([]byte(b), &ans)
	if st, b := authDo(t, f.w.url, "POST", "/brokers/"+itoa(ans.BrokerID)+"/heartbeat", reg, "Bearer "+f.nobody); st != 403 {
		t.Fatalf("rogue heartbeat: %d %s", st, b)
	}
	if st, b := authDo(t, f.w.url, "POST", "/brokers/"+itoa(ans.BrokerID)+"/heartbeat", reg, "Bearer "+f.broker); st != 200 {
		t.Fatalf("heartbeat: %d %s", st, b)
	}
	// A reader without credentials of its own cannot forward.
	bare := startManager(t, Config{Role: RoleRead, DSN: dsn, Auth: true})
	waitSeq(t, bare, f.w.AppliedSeq())
	if st, _ := authDo(t, bare.url, "POST", "/topics", `{"topic_name":"x"}`, "Bearer "+f.admin); st != 503 {
		t.Fatalf("a reader without credentials forwarded: %d", st)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestSecurityAPI: users, tokens and ACLs through the API; a password
// works as basic auth; a revoked token stops working; nothing of the
// secret reaches the event log.
func TestSecurityAPI(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	f := startAuthWriter(t, dsn, Config{})
	admin := "Bearer " + f.admin
	st, b := authDo(t, f.w.url, "POST", "/principals", `{"name":"alice","kind":"client","password":"pw-alice-1","token":true}`, admin)
	if st != 200 {
		t.Fatalf("create: %d %s", st, b)
	}
	var pa api.PrincipalAnswer
	json.Unmarshal([]byte(b), &pa)
	if !strings.HasPrefix(pa.Token, auth.TokenPrefix) {
		t.Fatalf("no token in %s", b)
	}
	for _, bad := range []string{`{"name":"alice","token":true}`, `{"name":"a:b","token":true}`, `{"name":"bob"}`, `{"name":"bob","kind":"god","token":true}`, `{"name":"bob","token":true,"x":1}`} {
		if st, b := authDo(t, f.w.url, "POST", "/principals", bad, admin); st != 400 && st != 409 {
			t.Errorf("create %s: %d %s", bad, st, b)
		}
	}
	basic := "Basic " + b64("alice:pw-alice-1")
	if st, b := authDo(t, f.w.url, "GET", "/whoami", "", basic); st != 200 || !strings.Contains(b, `"alice"`) {
		t.Fatalf("whoami by password: %d %s", st, b)
	}
	if st, _ := authDo(t, f.w.url, "POST", "/topics", `{"topic_name":"orders2"}`, basic); st != 403 {
		t.Fatalf("alice created a topic without the right: %d", st)
	}
	if st, b := authDo(t, f.w.url, "POST", "/acls", `{"principal":"alice","resource":"topic","pattern":"prefix","name":"orders","operation":"create"}`, admin); st != 200 {
		t.Fatalf("add acl: %d %s", st, b)
	}
	if st, b := authDo(t, f.w.url, "POST", "/topics", `{"topic_name":"orders2"}`, "Bearer "+pa.Token); st != 200 {
		t.Fatalf("alice with the right: %d %s", st, b)
	}
	if st, b := authDo(t, f.w.url, "GET", "/acls", "", admin); st != 200 || !strings.Contains(b, `"prefix"`) {
		t.Fatalf("list acls: %d %s", st, b)
	}
	if st, b := authDo(t, f.w.url, "DELETE", "/principals/alice/tokens/"+pa.TokenID, "", admin); st != 200 {
		t.Fatalf("revoke: %d %s", st, b)
	}
	if st, _ := authDo(t, f.w.url, "GET", "/whoami", "", "Bearer "+pa.Token); st != 401 {
		t.Fatalf("a revoked token: %d", st)
	}
	if st, b := authDo(t, f.w.url, "GET", "/principals", "", admin); st != 200 || strings.Contains(b, "stored_key") || !strings.Contains(b, `"alice"`) {
		t.Fatalf("list principals: %d %s", st, b)
	}
	// The ledger holds no secret.
	pool := newPool(t, dsn)
	var n int
	if err := pool.QueryRow(testCtx(t), `SELECT count(*) FROM events WHERE data::text LIKE '%pw-alice-1%' OR data::text LIKE $1`, "%"+pa.Token[5:]+"%").Scan(&n); err != nil || n != 0 {
		t.Fatalf("secrets in the event log: %d %v", n, err)
	}
	if st, b := authDo(t, f.w.url, "DELETE", "/principals/alice", "", admin); st != 200 {
		t.Fatalf("delete: %d %s", st, b)
	}
	if st, _ := authDo(t, f.w.url, "GET", "/whoami", "", basic); st != 401 {
		t.Fatalf("a deleted principal's password: %d", st)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestOpenModeAndExposure: without auth, a loopback manager serves
// everyone (the default), and a manager refuses a non-loopback listener
// unless Insecure.
func TestOpenModeAndExposure(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	m := startManager(t, Config{Role: RoleWrite, DSN: dsn})
	waitWriter(t, m)
	authDo(t, m.url, "POST", "/brokers", `{"address":"127.0.0.1:1"}`, "")
	if st, b := authDo(t, m.url, "POST", "/topics", `{"topic_name":"t"}`, ""); st != 200 {
		t.Fatalf("open mode: %d %s", st, b)
	}
	if err := httpauth.CheckExposure("0.0.0.0:8080", false, false); err == nil {
		t.Fatal("exposure check passed")
	}
}

// TestManagerTLS: the API (and the status page) over TLS; a reader
// forwards to the writer over TLS with the CA it was given.
func TestManagerTLS(t *testing.T) {
	t.Parallel()
	files := tlstest.New(t)
	dsn := pgtest.NewDB(t)
	tlsFiles := httpauth.TLSFiles{Cert: files.Cert, Key: files.Key, CA: files.CA}
	w := startManagerTLS(t, Config{Role: RoleWrite, DSN: dsn, TLS: tlsFiles})
	waitWriter(t, w)
	r := startManagerTLS(t, Config{Role: RoleRead, DSN: dsn, TLS: tlsFiles})
	waitSeq(t, r, w.AppliedSeq())
	cc, _ := httpauth.TLSFiles{CA: files.CA}.ClientConfig()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cc}}
	defer hc.CloseIdleConnections()
	if resp, err := hc.Post(w.url+"/brokers", "application/json", strings.NewReader(`{"address":"127.0.0.1:1"}`)); err == nil {
		resp.Body.Close()
	}
	resp, err := hc.Post(r.url+"/topics", "application/json", strings.NewReader(`{"topic_name":"tls"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("forwarded over TLS: %d %s", resp.StatusCode, b)
	}
	for _, p := range []string{"/ui", "/healthz"} {
		resp, err := hc.Get(w.url + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s over TLS: %v %v", p, err, resp)
		}
		resp.Body.Close()
	}
}

func startManagerTLS(t *testing.T, cfg Config) *node {
	t.Helper()
	return startManager(t, cfg) // https:// when cfg.TLS has a certificate
}

// TestAuthEndToEnd: with auth everywhere, a broker registers with its own
// credentials, the manager routes produce and consume to it with its own,
// and a client with produce and consume rights on one topic uses it —
// over TLS on both hops.
func TestAuthEndToEnd(t *testing.T) {
	t.Parallel()
	files := tlstest.New(t)
	dsn := pgtest.NewDB(t)
	tlsFiles := httpauth.TLSFiles{Cert: files.Cert, Key: files.Key, CA: files.CA}
	f := startAuthWriter(t, dsn, Config{TLS: tlsFiles})
	b := startMemberBroker(t, broker.Config{DSN: dsn, Managers: []string{f.w.url}, Auth: true,
		Credentials: httpauth.Credentials{Token: f.broker}, TLS: tlsFiles})
	waitFor(t, 20e9, "the broker registered", func() bool {
		for _, br := range f.w.State().Brokers {
			if br.Alive && strings.HasPrefix(br.Address, "https://") {
				return true
			}
		}
		return false
	}, f.w)
	_ = b
	cc, _ := httpauth.TLSFiles{CA: files.CA}.ClientConfig()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cc}}
	defer hc.CloseIdleConnections()
	do := func(method, path, body, authz string) (int, string) {
		req, _ := http.NewRequest(method, f.w.url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", authz)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	admin := "Bearer " + f.admin
	if st, b := do("POST", "/topics", `{"topic_name":"e2e","partitions":1}`, admin); st != 200 {
		t.Fatalf("create: %d %s", st, b)
	}
	st, body := do("POST", "/principals", `{"name":"app","password":"app-pw-123"}`, admin)
	if st != 200 {
		t.Fatalf("principal: %d %s", st, body)
	}
	for _, op := range []string{"write", "read"} {
		if st, b := do("POST", "/acls", `{"principal":"app","resource":"topic","name":"e2e","operation":"`+op+`"}`, admin); st != 200 {
			t.Fatalf("acl: %d %s", st, b)
		}
	}
	app := "Basic " + b64("app:app-pw-123")
	var prod api.RegisterProducerAnswer
	st, body = do("POST", "/producer/register", `{"topic":"e2e"}`, app)
	if st != 200 {
		t.Fatalf("register: %d %s", st, body)
	}
	json.Unmarshal([]byte(body), &prod)
	if st, b := do("POST", "/producer/produce", `{"topic":"e2e","producer_id":`+itoa(prod.ProducerID)+`,"message":"hello"}`, app); st != 200 {
		t.Fatalf("produce: %d %s", st, b)
	}
	if st, b := do("POST", "/producer/produce", `{"topic":"orders","producer_id":`+itoa(prod.ProducerID)+`,"message":"x"}`, app); st != 403 {
		t.Fatalf("produce to another topic: %d %s", st, b)
	}
	var cons api.RegisterConsumerAnswer
	st, body = do("POST", "/consumer/register", `{"topic":"e2e"}`, app)
	if st != 200 {
		t.Fatalf("register consumer: %d %s", st, body)
	}
	json.Unmarshal([]byte(body), &cons)
	if st, b := do("GET", "/consumer/consume?topic=e2e&consumer_id="+itoa(cons.ConsumerID), "", app); st != 200 || !strings.Contains(b, "hello") {
		t.Fatalf("consume: %d %s", st, b)
	}
}

// TestProduceQuota: a client principal over its produce byte rate is
// answered 429 with Retry-After before anything is routed; an admin is not
// throttled.
func TestProduceQuota(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	f := startAuthWriter(t, dsn, Config{QuotaProduceBytesPerSec: 1000})
	producer := "Bearer " + f.right["topic/produce"]
	big := `{"topic":"orders","producer_id":1,"message":"` + strings.Repeat("x", 3000) + `"}`
	st, _ := authDo(t, f.w.url, "POST", "/producer/produce", big, producer) // admitted (its broker is unreachable: 503), charged 3 KB
	if st == 429 {
		t.Fatal("the first request was throttled")
	}
	ctx, cancel := context.WithTimeout(testCtx(t), 10e9)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", f.w.url+"/producer/produce", strings.NewReader(big))
	req.Header.Set("Authorization", producer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), logq.EThrottled) {
		t.Fatalf("over the quota: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	if st, b := authDo(t, f.w.url, "POST", "/producer/produce", big, "Bearer "+f.admin); st == 429 {
		t.Fatalf("an admin was throttled: %s", b)
	}
}
