package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/logq/logq/auth/httpauth"
)

// runHealth is `logq health`: GET a URL, succeed on a 2xx answer. The
// container image is distroless (no shell, no curl), so its health checks
// run the logq binary itself.
func healthCmd(e *env) *cobra.Command {
	cmd, f := newCommand("health", "check that a server answers (container health checks)", `Check that a server answers: GET --url and exit 0 on a 2xx answer, 1 on
anything else (another status, a refused connection, a timeout). Meant for
container health checks, where the image has no curl:
  logq health --url http://127.0.0.1:8080/healthz`, 0, 0)
	target := f.String("url", "http://127.0.0.1:8080/healthz", "`URL` to GET (a manager's or a broker's /healthz)")
	f.fromEnv("url", "LOGQ_HEALTH_URL")
	timeout := f.Duration("timeout", 5*time.Second, "bound on the whole request")
	f.fromEnv("timeout", "LOGQ_HEALTH_TIMEOUT")
	ca := f.String("tls-ca", "", "trust these CAs for an https:// --url (PEM `FILE`)")
	f.fromEnv("tls-ca", "LOGQ_TLS_CA")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		u, err := url.Parse(*target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageErrorf("health: --url %q: want an http:// or https:// URL", *target)
		}
		if *timeout <= 0 {
			return usageErrorf("health: --timeout must be positive")
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return usageErrorf("health: --url %q: %v", *target, err)
		}
		// No proxy (a health check talks to this host) and no kept connection.
		tr := &http.Transport{DisableKeepAlives: true}
		if tc, err := (httpauth.TLSFiles{CA: *ca}).ClientConfig(); err != nil {
			return usageErrorf("health: --tls-ca: %v", err)
		} else if tc != nil {
			tr.TLSClientConfig = tc
		}
		hc := &http.Client{Transport: tr}
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("health: GET %s: %w", u, err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("health: GET %s: %s", u, resp.Status)
		}
		fmt.Fprintf(e.stdout, "ok: GET %s: %s\n", u, resp.Status)
		return nil
	}
	return cmd
}
