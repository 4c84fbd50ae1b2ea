package broker

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/logq/logq/auth"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

type brokerRoute struct{ method, path string }

// brokerSourceRoutes finds the routes the broker registers in its source:
// r.GET("/p", …), r.POST(…), … and r.Handler/Handle(method, "/p", …).
func brokerSourceRoutes(t *testing.T) []brokerRoute {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]string{"GET": "GET", "POST": "POST", "PUT": "PUT", "PATCH": "PATCH", "DELETE": "DELETE", "HEAD": "HEAD",
		"MethodGet": "GET", "MethodPost": "POST", "MethodPut": "PUT", "MethodPatch": "PATCH", "MethodDelete": "DELETE", "MethodHead": "HEAD"}
	lit := func(e ast.Expr) (string, bool) {
		switch v := e.(type) {
		case *ast.BasicLit:
			s, err := strconv.Unquote(v.Value)
			return s, err == nil && v.Kind == token.STRING
		case *ast.SelectorExpr:
			return v.Sel.Name, true
		}
		return "", false
	}
	var out []brokerRoute
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || len(call.Args) < 2 {
					return true
				}
				name := sel.Sel.Name
				if m, ok := methods[name]; ok {
					if p, ok := lit(call.Args[0]); ok && strings.HasPrefix(p, "/") {
						out = append(out, brokerRoute{m, p})
					}
				}
				if (name == "Handler" || name == "Handle" || name == "HandlerFunc") && len(call.Args) >= 3 {
					m, ok1 := lit(call.Args[0])
					p, ok2 := lit(call.Args[1])
					if ok1 && ok2 && methods[m] != "" && strings.HasPrefix(p, "/") {
						out = append(out, brokerRoute{methods[m], p})
					}
				}
				return true
			})
		}
	}
	return out
}

// TestBrokerAuthTableCoversRoutes: a new broker route without an auth
// decision fails here.
func TestBrokerAuthTableCoversRoutes(t *testing.T) {
	routes := brokerSourceRoutes(t)
	if len(routes) < 7 {
		t.Fatalf("found %d routes (%v): the source scan is broken", len(routes), routes)
	}
	tab := authTable()
	for _, r := range routes {
		if !tab.Has(r.method, r.path) {
			t.Errorf("%s %s has no entry in the broker's authTable (auth.go)", r.method, r.path)
		}
	}
}

// TestBrokerAuthEveryRoute: every broker route with no, wrong,
// insufficient and right credentials; nothing is appended by a refused
// request.
func TestBrokerAuthEveryRoute(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	cp, _ := withTopic(t, dsn, "orders", 1)
	toks := map[string]string{}
	var ps []projection.Payload
	for _, p := range []struct {
		name string
		kind auth.Kind
	}{{"managers", auth.KindManager}, {"nobody", auth.KindClient}, {"producer", auth.KindClient}, {"consumer", auth.KindClient}, {"describer", auth.KindClient}, {"other", auth.KindClient}} {
		tok, th := auth.NewToken()
		toks[p.name] = tok
		ps = append(ps, projection.PrincipalCreated{Name: p.name, Kind: p.kind, Tokens: []auth.TokenHash{th}})
	}
	acl := func(who, name string, op auth.Operation, rt auth.ResourceType) projection.Payload {
		return projection.AclAdded{ACL: auth.ACL{Principal: who, Resource: rt, Pattern: auth.Literal, Name: name, Operation: op, Effect: auth.Allow}}
	}
	ps = append(ps,
		acl("producer", "orders", auth.OpProduce, auth.Topic),
		acl("consumer", "orders", auth.OpConsume, auth.Topic),
		acl("describer", "orders", auth.OpDescribe, auth.Topic),
		acl("describer", auth.ClusterName, auth.OpDescribe, auth.Cluster),
		acl("other", "elsewhere", auth.OpAll, auth.Topic),
	)
	seq := cp.append(ps...)
	b := startBroker(t, Config{DSN: dsn, ID: 1, Auth: true})
	b.waitApplied(seq)
	tab := authTable()
	rightFor := map[auth.Operation]string{auth.OpProduce: "producer", auth.OpConsume: "consumer", auth.OpDescribe: "describer"}
	body := `{"topic":"orders","partition":0,"consumer_id":1,"messages":[{"producer_id":1,"message":"x"}]}`
	for _, r := range brokerSourceRoutes(t) {
		rule, _, _ := tab.Match(r.method, r.path)
		path := r.path + "?topic=orders&partition=0&consumer_id=1&offset=0"
		var reqBody any
		if r.method == "POST" {
			path, reqBody = r.path, body
		}
		name := r.method + " " + r.path
		bearer := func(who string) []string { return []string{"Authorization", "Bearer " + toks[who]} }
		if rule.Resource == "public" {
			if st, _ := b.do(r.method, path, reqBody); st == 401 || st == 403 {
				t.Errorf("%s is public: %d", name, st)
			}
			continue
		}
		if st, out := b.do(r.method, path, reqBody); st != 401 {
			t.Errorf("%s without credentials: %d %v", name, st, out)
		}
		if st, out := b.do(r.method, path, reqBody, "Authorization", "Bearer logq_nope"); st != 401 {
			t.Errorf("%s with a wrong token: %d %v", name, st, out)
		}
		for _, who := range []string{"nobody", "other"} {
			if st, out := b.do(r.method, path, reqBody, bearer(who)...); st != 403 {
				t.Errorf("%s as %s: %d %v", name, who, st, out)
			}
		}
		for _, who := range []string{rightFor[rule.Op], "managers"} {
			if st, out := b.do(r.method, path, reqBody, bearer(who)...); st == 401 || st == 403 {
				t.Errorf("%s as %s: %d %v", name, who, st, out)
			}
		}
	}
	// Only the two permitted appends (producer, managers) stored anything.
	st, out := b.do("GET", "/v1/read?topic=orders&partition=0&offset=0&max=100", nil, "Authorization", "Bearer "+toks["managers"])
	if st != http.StatusOK {
		t.Fatalf("read: %d %v", st, out)
	}
	if msgs, _ := out["messages"].([]any); len(msgs) != 2 {
		t.Fatalf("%d messages stored, want 2 (the refused appends stored nothing): %v", len(msgs), out)
	}
}
