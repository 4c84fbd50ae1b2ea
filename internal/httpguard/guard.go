// Package httpguard is the middleware every logq HTTP server (managers,
// with their status page, and brokers) puts in front of its routes, with or
// without authentication:
//
//   - Host check (DNS rebinding): the Host header must name the server —
//     a loopback name, an IP address, this machine's host name, the host of
//     its advertise address or of its listen address, or a configured name
//     ("*" allows any). A page on attacker.example whose name was rebound to
//     127.0.0.1 sends "Host: attacker.example" and is refused.
//   - Cross-site refusal (CSRF): a state-changing request (any method but
//     GET, HEAD and OPTIONS) carrying an Origin other than the server's own,
//     or Sec-Fetch-Site cross-site or same-site, is refused; so is any
//     cross-site request that is not a top-level navigation (a script, an
//     image or a fetch reading from another site). Browsers send these
//     headers; curl, the Go client, the course's Python clients and
//     server-to-server calls do not, and pass.
//   - Limits: the requests in flight and the request-body bytes they may
//     hold are bounded per server; beyond either, 503 with Retry-After,
//     before the body is read. Exempt paths (/healthz, /metrics) are not
//     counted against the request bound, so a busy server still answers its
//     health checks.
//
// Refusals go through the server's own error writer, so they carry the one
// JSON error body and the codes of the logq vocabulary (403 forbidden, 503
// unavailable).
package httpguard

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"

	"github.com/logq/logq"
)

// Defaults for the servers' limits.
const (
	DefaultMaxInflightBytes = 256 << 20
	DefaultMaxRequests      = 1024
)

// AnyHost in AllowedHosts turns the Host check off.
const AnyHost = "*"

// Config configures a Guard.
type Config struct {
	// AllowedHosts are the names the server answers to besides loopback
	// names, IP addresses and this machine's host name: bare names,
	// host:port or URLs (only the host counts). Servers pass their
	// advertise and listen addresses here along with the configured names.
	// AnyHost allows any Host.
	AllowedHosts []string
	// MaxRequests bounds the requests in flight (not counting Exempt
	// paths); MaxInflightBytes bounds the body bytes they may hold. A
	// request reserves its Content-Length, capped at MaxBodyBytes, or
	// MaxBodyBytes when its length is unknown (chunked). Zero or negative:
	// no bound.
	MaxRequests      int
	MaxInflightBytes int64
	MaxBodyBytes     int64
	// Exempt paths are not counted against MaxRequests.
	Exempt []string
	// WriteError writes a refusal: the server's own error writer, which
	// maps the error's code to its status.
	WriteError func(w http.ResponseWriter, r *http.Request, err error)
}

// Guard is the middleware. Its counters are shared by all the requests of
// the handler it wraps.
type Guard struct {
	cfg      Config
	anyHost  bool
	hosts    map[string]bool
	exempt   map[string]bool
	requests atomic.Int64
	bytes    atomic.Int64
}

// New returns a Guard for cfg.
func New(cfg Config) *Guard {
	g := &Guard{cfg: cfg, hosts: map[string]bool{}, exempt: map[string]bool{}}
	if name, err := os.Hostname(); err == nil && name != "" {
		g.hosts[hostName(name)] = true
	}
	for _, h := range cfg.AllowedHosts {
		h = strings.TrimSpace(h)
		if h == AnyHost {
			g.anyHost = true
		} else if n := hostName(h); n != "" {
			g.hosts[n] = true
		}
	}
	for _, p := range cfg.Exempt {
		g.exempt[p] = true
	}
	return g
}

// ParseHosts splits a comma-separated list of host names (the
// --allowed-hosts flag) and checks each.
func ParseHosts(s string) ([]string, error) {
	var out []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		if h != AnyHost && (hostName(h) == "" || strings.ContainsAny(hostName(h), " /?#@")) {
			return nil, logq.Errorf(logq.EInvalid, "allowed host %q is not a host name", h)
		}
		out = append(out, h)
	}
	return out, nil
}

// Handler wraps next: foreign hosts and cross-site requests get 403, and
// requests beyond the limits 503, before next sees them.
func (g *Guard) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.hostAllowed(r.Host) {
			g.cfg.WriteError(w, r, logq.Errorf(logq.EForbidden,
				"host %q is not a name this server answers to (see --allowed-hosts)", r.Host))
			return
		}
		if why := crossSite(r); why != "" {
			g.cfg.WriteError(w, r, logq.Errorf(logq.EForbidden, "cross-site request refused: %s", why))
			return
		}
		if max := g.cfg.MaxRequests; max > 0 && !g.exempt[r.URL.Path] {
			if n := g.requests.Add(1); n > int64(max) {
				g.requests.Add(-1)
				g.busy(w, r, fmt.Sprintf("more than %d requests in flight", max))
				return
			}
			defer g.requests.Add(-1)
		}
		if max := g.cfg.MaxInflightBytes; max > 0 {
			if n := g.reservation(r); n > 0 {
				if g.bytes.Add(n) > max {
					g.bytes.Add(-n)
					g.busy(w, r, fmt.Sprintf("request bodies in flight over %d bytes", max))
					return
				}
				defer g.bytes.Add(-n)
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (g *Guard) busy(w http.ResponseWriter, r *http.Request, why string) {
	w.Header().Set("Retry-After", "1")
	g.cfg.WriteError(w, r, logq.Errorf(logq.EUnavailable, "server busy: %s; retry later", why))
}

// reservation is what r's body counts against MaxInflightBytes.
func (g *Guard) reservation(r *http.Request) int64 {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return 0
	}
	limit := g.cfg.MaxBodyBytes
	if limit <= 0 {
		limit = g.cfg.MaxInflightBytes
	}
	if r.ContentLength > 0 && r.ContentLength < limit {
		return r.ContentLength
	}
	return limit // unknown length, or over the per-request limit (refused with 413 inside)
}

// hostAllowed reports whether the Host header names this server. IP
// addresses always pass: rebinding needs a name the attacker controls.
func (g *Guard) hostAllowed(host string) bool {
	if g.anyHost || host == "" { // no Host: HTTP/1.0, never a browser
		return true
	}
	name := hostName(host)
	return name == "localhost" || strings.HasSuffix(name, ".localhost") ||
		net.ParseIP(name) != nil || g.hosts[name]
}

// hostName returns the lowercase host of a name, host:port, [v6]:port or
// URL, without a trailing dot.
func hostName(s string) string {
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil {
			s = u.Host
		}
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	return strings.TrimSuffix(strings.ToLower(s), ".")
}

// crossSite returns why r is a cross-site request to refuse, or "".
func crossSite(r *http.Request) string {
	unsafe := r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default: // cross-site, same-site, or a value we do not know
		if unsafe || r.Header.Get("Sec-Fetch-Mode") != "navigate" {
			return "Sec-Fetch-Site: " + site
		}
	}
	if origin := r.Header.Get("Origin"); unsafe && origin != "" && !sameOrigin(origin, r.Host) {
		return "Origin " + origin + " is not this server"
	}
	return ""
}

// sameOrigin reports whether origin (scheme://host[:port], or "null")
// names host. The scheme is not compared with the connection's: behind a
// TLS-terminating proxy an https page reaches a plain-HTTP listener.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return strings.EqualFold(withoutDefaultPort(u.Host, u.Scheme), withoutDefaultPort(host, u.Scheme))
}

func withoutDefaultPort(host, scheme string) string {
	if scheme == "http" {
		return strings.TrimSuffix(host, ":80")
	}
	return strings.TrimSuffix(host, ":443")
}
