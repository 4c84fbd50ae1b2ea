// Package httpauth puts package auth in front of an HTTP server: one
// table of rules maps every route (method and path pattern) to the right
// it needs, and a middleware authenticates (401 with WWW-Authenticate for
// missing or wrong credentials), authorizes (403 without the right) and
// applies the principal's byte-rate quotas (429 with Retry-After) before
// any handler runs, so a refused request changes nothing.
//
// It also holds the client side every server uses to call the others: a
// RoundTripper that adds the server's own credentials, and the TLS
// configuration of listeners and clients (tls.go).
package httpauth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/logq/logq"
	"github.com/logq/logq/auth"
)

// Public marks a rule that needs no credentials.
const Public auth.ResourceType = "public"

// Rule is one route's auth decision.
type Rule struct {
	Method string // GET, POST, …; "*" any method
	Path   string // an httprouter pattern: /topics/:topic; a trailing /*rest matches any rest

	// Resource is the protected resource's type, or Public. Name says
	// which resource (nil: the cluster, or an ACL name of "*" can match).
	Resource auth.ResourceType
	Name     func(q *Request) string
	Op       auth.Operation

	// Kinds, if set, are the kinds of principal admitted, and the whole
	// decision: no ACL is consulted (broker registration: brokers, and
	// managers forwarding for them).
	Kinds []auth.Kind

	// Quota, if set, counts the request (produce: its body) or the answer
	// (fetch: the bytes written) against the principal's byte rate.
	Quota QuotaKind
}

// Request is what a rule's Name reads: path parameters, the query and the
// body's fields (the body is read, once, only if a field is asked for
// that the query does not carry).
type Request struct {
	R      *http.Request
	params map[string]string
	body   []byte
	read   bool
	err    error
	fields map[string]json.RawMessage
	form   url.Values
}

// Param returns a path parameter (":topic" in the pattern: "topic").
func (q *Request) Param(name string) string { return q.params[name] }

// Field returns the first of names found in the query string, then in the
// body (JSON object or form): a string, or a number as its digits.
func (q *Request) Field(names ...string) string {
	query := q.R.URL.Query()
	for _, n := range names {
		if v := query.Get(n); v != "" {
			return v
		}
	}
	q.readBody()
	for _, n := range names {
		if raw, ok := q.fields[n]; ok {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				return s
			}
			var num json.Number
			if json.Unmarshal(raw, &num) == nil {
				return num.String()
			}
		}
		if v := q.form.Get(n); v != "" {
			return v
		}
	}
	return ""
}

func (q *Request) readBody() {
	if q.read {
		return
	}
	q.read = true
	if q.R.Body == nil || q.R.Body == http.NoBody {
		return
	}
	q.body, q.err = io.ReadAll(q.R.Body)
	q.R.Body.Close()
	q.R.Body = io.NopCloser(bytes.NewReader(q.body))
	if q.err != nil {
		return
	}
	ct, _, _ := mime.ParseMediaType(q.R.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" {
		q.form, _ = url.ParseQuery(string(q.body))
		return
	}
	json.Unmarshal(q.body, &q.fields) // not an object: no fields
}

// Table is a server's rules.
type Table []Rule

// Match returns the rule of method and path, and the path parameters.
// Exact methods win over "*"; the first matching rule of a kind wins.
func (t Table) Match(method, path string) (*Rule, map[string]string, bool) {
	var any *Rule
	var anyParams map[string]string
	for i := range t {
		r := &t[i]
		if r.Method != method && r.Method != "*" {
			continue
		}
		params, ok := matchPath(r.Path, path)
		if !ok {
			continue
		}
		if r.Method == method {
			return r, params, true
		}
		if any == nil {
			any, anyParams = r, params
		}
	}
	return any, anyParams, any != nil
}

// Has reports whether t has a rule for exactly this method and pattern (a
// pattern matches itself), for the coverage tests.
func (t Table) Has(method, pattern string) bool {
	_, _, ok := t.Match(method, patternAsPath(pattern))
	return ok
}

// patternAsPath turns a pattern into a path it matches: each :param and
// *rest becomes a sample segment.
func patternAsPath(pattern string) string {
	segs := strings.Split(pattern, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
			segs[i] = "x"
		}
	}
	return strings.Join(segs, "/")
}

func matchPath(pattern, path string) (map[string]string, bool) {
	ps := strings.Split(strings.Trim(pattern, "/"), "/")
	xs := strings.Split(strings.Trim(path, "/"), "/")
	params := map[string]string{}
	for i, p := range ps {
		if strings.HasPrefix(p, "*") {
			params[p[1:]] = strings.Join(xs[min(i, len(xs)):], "/")
			return params, i < len(xs)
		}
		if i >= len(xs) {
			return nil, false
		}
		if strings.HasPrefix(p, ":") {
			if xs[i] == "" {
				return nil, false
			}
			v, err := url.PathUnescape(xs[i])
			if err != nil {
				return nil, false
			}
			params[p[1:]] = v
			continue
		}
		if p != xs[i] {
			return nil, false
		}
	}
	return params, len(ps) == len(xs)
}

// Helpers for rules' Name.

// Param names the resource by a path parameter.
func Param(name string) func(q *Request) string {
	return func(q *Request) string { return q.Param(name) }
}

// Field names the resource by the first of fields in the query or body.
func Field(names ...string) func(q *Request) string {
	return func(q *Request) string { return q.Field(names...) }
}

// Config configures the middleware.
type Config struct {
	// Enabled turns authentication and authorization on. Off: every
	// request passes (open mode) and no quota applies.
	Enabled bool
	Auth    *auth.Authenticator
	Table   Table
	// Quotas, if set, are the per-principal byte rates.
	Quotas *Quotas
	// WriteError writes a refusal (the server's one error writer).
	WriteError func(w http.ResponseWriter, r *http.Request, err error)
}

type ctxKey struct{}

// PrincipalFrom returns the principal the middleware authenticated for
// the request (false in open mode and on public routes).
func PrincipalFrom(ctx context.Context) (auth.Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(auth.Principal)
	return p, ok
}

// Handler wraps next: decide, then (maybe) run it.
func (c *Config) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.Enabled {
			next.ServeHTTP(w, r)
			return
		}
		rule, params, ok := c.Table.Match(r.Method, r.URL.Path)
		if ok && rule.Resource == Public {
			next.ServeHTTP(w, r)
			return
		}
		p, err := c.Auth.HTTP(r.Header.Get("Authorization"))
		if err != nil {
			w.Header().Add("WWW-Authenticate", `Bearer realm="logq"`)
			w.Header().Add("WWW-Authenticate", `Basic realm="logq", charset="UTF-8"`)
			msg := "authentication required: send a bearer token or user and password"
			if err == auth.ErrBadCredentials {
				msg = "wrong credentials"
			}
			c.WriteError(w, r, logq.Errorf(logq.EUnauthenticated, "%s", msg))
			return
		}
		if err := c.decide(r, rule, params, ok, p); err != nil {
			c.WriteError(w, r, err)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, p))
		if !ok || rule.Quota == "" || c.Quotas == nil {
			next.ServeHTTP(w, r)
			return
		}
		c.Quotas.serve(w, r, p, rule.Quota, next, c.WriteError)
	})
}

// decide authorizes p for the rule (a route without a rule: admins only,
// so that a route someone forgot in the table fails closed).
func (c *Config) decide(r *http.Request, rule *Rule, params map[string]string, ok bool, p auth.Principal) error {
	if !ok {
		if p.Kind == auth.KindAdmin {
			return nil
		}
		return logq.Errorf(logq.EForbidden, "%s %s has no auth rule: admins only", r.Method, r.URL.Path)
	}
	if len(rule.Kinds) > 0 {
		found := false
		for _, k := range rule.Kinds {
			found = found || k == p.Kind
		}
		if !found {
			return logq.Errorf(logq.EForbidden, "%s %s is for %s principals only; %q is a %s", r.Method, rule.Path, kindList(rule.Kinds), p.Name, p.Kind)
		}
		return nil // the kind is the decision: no ACL grants it, none takes it away
	}
	res := auth.Resource{Type: rule.Resource, Name: auth.ClusterName}
	if rule.Name != nil && auth.AuthorizeAll(c.Auth.Directory(), p, rule.Resource, rule.Op) {
		return nil // allowed whatever the name: do not read the body to learn it
	}
	if rule.Name != nil {
		q := &Request{R: r, params: params}
		res.Name = rule.Name(q)
		if q.err != nil {
			return logq.Errorf(logq.EInvalid, "cannot read the request body")
		}
	} else if rule.Resource != auth.Cluster {
		res.Name = "*"
	}
	if !c.Auth.Authorize(p, res, rule.Op) {
		return logq.Errorf(logq.EForbidden, "%q may not %s %s %q", p.Name, rule.Op, res.Type, res.Name)
	}
	return nil
}

func kindList(ks []auth.Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, " or ")
}

// Transport adds a server's own credentials (Authorization) to every
// request that carries none, over Base (nil: http.DefaultTransport).
type Transport struct {
	Base          http.RoundTripper
	Authorization string
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.Authorization == "" || r.Header.Get("Authorization") != "" {
		return base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", t.Authorization)
	return base.RoundTrip(r)
}

// CloseIdleConnections passes on to Base.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.Base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Credentials are a caller's own: a bearer token, or a user and password.
type Credentials struct {
	Token    string
	User     string
	Password string
}

// Header returns the Authorization header for c ("" when empty).
func (c Credentials) Header() string {
	if c.Token != "" {
		return "Bearer " + c.Token
	}
	if c.User != "" {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(c.User, c.Password)
		return req.Header.Get("Authorization")
	}
	return ""
}

// IsZero reports whether c holds nothing.
func (c Credentials) IsZero() bool { return c.Token == "" && c.User == "" }

// Wrap makes hc send c on every request that carries no credentials
// (no-op when c is empty).
func Wrap(hc *http.Client, c Credentials) {
	if c.IsZero() {
		return
	}
	hc.Transport = &Transport{Base: hc.Transport, Authorization: c.Header()}
}

// RetryAfter formats seconds for a Retry-After header (at least 1).
func RetryAfter(sec float64) string {
	n := int(sec + 0.999)
	if n < 1 {
		n = 1
	}
	return strconv.Itoa(n)
}
