package httpauth

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
)

// TLSFiles name a listener's or a client's TLS material (PEM files).
type TLSFiles struct {
	Cert     string // certificate chain (a listener's; a client's for mutual TLS)
	Key      string // its private key
	ClientCA string // listener: CAs whose client certificates are required (mutual TLS)
	CA       string // client: CAs to trust besides the system's
}

// ServerConfig returns the listener's TLS configuration, or nil when no
// certificate is set (plain HTTP). With ClientCA every client must
// present a certificate signed by it.
func (f TLSFiles) ServerConfig() (*tls.Config, error) {
	if f.Cert == "" && f.Key == "" {
		if f.ClientCA != "" {
			return nil, fmt.Errorf("tls: --tls-client-ca needs --tls-cert and --tls-key")
		}
		return nil, nil
	}
	if f.Cert == "" || f.Key == "" {
		return nil, fmt.Errorf("tls: --tls-cert and --tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if f.ClientCA != "" {
		pool, err := loadPool(f.ClientCA)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ClientConfig returns a client's TLS configuration: the system's roots
// plus CA, and Cert/Key as its client certificate (mutual TLS). Nil when
// nothing is set (the defaults).
func (f TLSFiles) ClientConfig() (*tls.Config, error) {
	if f.CA == "" && f.Cert == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CA != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: no certificate in %s", f.CA)
		}
		cfg.RootCAs = pool
	}
	if f.Cert != "" {
		cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls: no certificate in %s", file)
	}
	return pool, nil
}

// SetClientTLS gives hc's transport (an *http.Transport, possibly under a
// Transport) the TLS configuration cfg (nil: no change).
func SetClientTLS(hc *http.Client, cfg *tls.Config) {
	if cfg == nil {
		return
	}
	rt := hc.Transport
	if t, ok := rt.(*Transport); ok {
		rt = t.Base
	}
	switch t := rt.(type) {
	case *http.Transport:
		t.TLSClientConfig = cfg.Clone()
	case nil:
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = cfg.Clone()
		if a, ok := hc.Transport.(*Transport); ok {
			a.Base = tr
		} else {
			hc.Transport = tr
		}
	}
}

// Listen wraps ln in TLS when cfg is set.
func Listen(ln net.Listener, cfg *tls.Config) net.Listener {
	if cfg == nil {
		return ln
	}
	return tls.NewListener(ln, cfg)
}

// IsLoopback reports whether a listen address (host:port) binds loopback
// only: 127.0.0.0/8, ::1 or localhost. An empty host ("":8080) binds every
// interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckExposure is the start-up rule: a server without auth may listen
// only on loopback, unless insecure is set.
func CheckExposure(addr string, authOn, insecure bool) error {
	if authOn || insecure || IsLoopback(addr) {
		return nil
	}
	return fmt.Errorf("refusing to listen on %s without authentication: pass --auth (with credentials), or --insecure to serve an open API on a non-loopback address", addr)
}
