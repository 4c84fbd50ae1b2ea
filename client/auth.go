package client

import (
	"net/http"
	"os"

	"github.com/logq/logq"
	"github.com/logq/logq/auth/httpauth"
)

// secure applies Config's credentials and CA (or the environment's) to
// the client's HTTP client. A caller's own HTTPClient is copied, not
// changed (and keeps its own TLS settings).
func (c *Client) secure() error {
	cfg := &c.cfg
	if !cfg.NoEnv {
		if cfg.Token == "" && cfg.User == "" {
			cfg.Token = os.Getenv("LOGQ_TOKEN")
			if cfg.Token == "" {
				cfg.User, cfg.Password = os.Getenv("LOGQ_USER"), os.Getenv("LOGQ_PASSWORD")
			}
		}
		if cfg.TLSCA == "" {
			cfg.TLSCA = os.Getenv("LOGQ_TLS_CA")
		}
	}
	if cfg.TLSCA != "" {
		tc, err := httpauth.TLSFiles{CA: cfg.TLSCA}.ClientConfig()
		if err != nil {
			return &Error{Code: logq.EInvalid, Message: err.Error()}
		}
		if c.own != nil { // a caller's own HTTPClient brings its own TLS settings
			c.own.TLSClientConfig = tc
		}
	}
	creds := httpauth.Credentials{Token: cfg.Token, User: cfg.User, Password: cfg.Password}
	if creds.IsZero() {
		return nil
	}
	hc := *c.http
	hc.Transport = &httpauth.Transport{Base: c.http.Transport, Authorization: creds.Header()}
	if hc.Transport.(*httpauth.Transport).Base == nil {
		hc.Transport.(*httpauth.Transport).Base = http.DefaultTransport
	}
	c.http = &hc
	return nil
}
