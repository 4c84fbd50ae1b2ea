package main

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealth: logq health exits 0 on a 2xx answer and fails on anything
// else, as a container health check needs.
func TestHealth(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.Write([]byte(`{"status":"success"}`))
		case "/created":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	r := mustLogq(t, nil, "", "health", "--url", srv.URL+"/healthz")
	if !strings.HasPrefix(r.stdout, "ok: GET "+srv.URL+"/healthz: 200 OK") {
		t.Errorf("stdout %q", r.stdout)
	}
	mustLogq(t, map[string]string{"LOGQ_HEALTH_URL": srv.URL + "/created"}, "", "health")

	r = runLogq(t, nil, "", "health", "--url", srv.URL+"/down")
	var ue *usageError
	if r.err == nil || errors.As(r.err, &ue) || !strings.Contains(r.err.Error(), "503") {
		t.Errorf("health of a 503: %v", r.err)
	}

	// Nothing listens: a failure, not a hang.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if r := runLogq(t, nil, "", "health", "--url", "http://"+addr+"/healthz", "--timeout", "2s"); r.err == nil {
		t.Error("health of a closed port succeeded")
	}

	for _, args := range [][]string{
		{"health", "--url", "ftp://x/y"},
		{"health", "--url", "127.0.0.1:8080"},
		{"health", "--timeout", "0s"},
	} {
		if r := runLogq(t, nil, "", args...); !errors.As(r.err, &ue) {
			t.Errorf("logq %v: %v; want a usage error", args, r.err)
		}
	}
}
