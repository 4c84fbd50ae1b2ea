package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/logq/logq/auth"
	"github.com/logq/logq/auth/httpauth"
	"github.com/logq/logq/internal/pgtest"
)

// TestDevAuth: `logq dev --auth` prints the admin's export lines; with
// them the CLI works (token, or user and password), without them it is
// refused; users, tokens and ACLs are managed by the CLI, and a client
// principal gets exactly the rights its ACLs give.
func TestDevAuth(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	base := freePorts(t, 3)
	writer := fmt.Sprintf("http://127.0.0.1:%d", base)
	out, stop := startDev(t, "--db", dsn, "--addr", fmt.Sprintf("127.0.0.1:%d", base), "--readers", "1", "--brokers", "1", "--log-level", "error", "--auth")
	text := out.waitFor(t, "ready", time.Minute)
	tok := regexp.MustCompile(`(?m)^  export LOGQ_TOKEN=(logq_\S+)$`).FindStringSubmatch(text)
	pw := regexp.MustCompile(`(?m)^  export LOGQ_USER=admin LOGQ_PASSWORD=(\S+)$`).FindStringSubmatch(text)
	if tok == nil || pw == nil {
		t.Fatalf("no export lines in:\n%s", text)
	}
	if !strings.Contains(text, `-H "Authorization: Bearer $LOGQ_TOKEN"`) {
		t.Errorf("the curl lines carry no token:\n%s", text)
	}
	open := map[string]string{"LOGQ_MANAGER": writer}
	if r := runLogq(t, open, "", "topics", "create", "nope"); r.err == nil || !strings.Contains(r.stderr+r.err.Error(), "authentication required") {
		t.Fatalf("no credentials: %v %s", r.err, r.stderr)
	}
	admin := map[string]string{"LOGQ_MANAGER": writer, "LOGQ_TOKEN": tok[1]}
	byPassword := map[string]string{"LOGQ_MANAGER": writer, "LOGQ_USER": "admin", "LOGQ_PASSWORD": pw[1]}
	mustLogq(t, admin, "", "topics", "create", "orders", "--partitions", "1")
	if r := mustLogq(t, byPassword, "", "whoami"); r.stdout != "admin (admin)\n" {
		t.Fatalf("whoami: %q", r.stdout)
	}
	r := mustLogq(t, admin, "", "users", "create", "app", "--new-password", "app-secret-1")
	if !strings.Contains(r.stdout, `created client "app"`) {
		t.Fatalf("users create: %q", r.stdout)
	}
	mustLogq(t, admin, "", "acls", "add", "--principal", "app", "--resource", "topic", "--name", "orders", "--operation", "write")
	app := map[string]string{"LOGQ_MANAGER": writer, "LOGQ_USER": "app", "LOGQ_PASSWORD": "app-secret-1"}
	mustLogq(t, app, "a\nb\n", "produce", "--topic", "orders")
	if r := runLogq(t, app, "", "consume", "--topic", "orders", "--max", "1"); r.err == nil {
		t.Fatal("app consumed without the right")
	}
	if r := runLogq(t, app, "", "topics", "create", "other"); r.err == nil {
		t.Fatal("app created a topic without the right")
	}
	list := mustLogq(t, admin, "", "acls", "list").stdout
	if !strings.Contains(list, "app") || !strings.Contains(list, "produce") {
		t.Fatalf("acls list: %q", list)
	}
	r = mustLogq(t, admin, "", "tokens", "issue", "app")
	m := regexp.MustCompile(`token (logq_\S+) \(id ([0-9a-f]+);`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("tokens issue: %q", r.stdout)
	}
	appTok := map[string]string{"LOGQ_MANAGER": writer, "LOGQ_TOKEN": m[1]}
	if r := mustLogq(t, appTok, "", "whoami"); r.stdout != "app (client)\n" {
		t.Fatalf("whoami by token: %q", r.stdout)
	}
	mustLogq(t, admin, "", "tokens", "revoke", "app", m[2])
	if r := runLogq(t, appTok, "", "whoami"); r.err == nil {
		t.Fatal("a revoked token still works")
	}
	if r := mustLogq(t, admin, "", "users", "list").stdout; !strings.Contains(r, "brokers") || !strings.Contains(r, "app") {
		t.Fatalf("users list: %q", r)
	}
	mustLogq(t, admin, "", "users", "delete", "app")
	if r := runLogq(t, app, "", "whoami"); r.err == nil {
		t.Fatal("a deleted user still logs in")
	}
	stop()
}

// TestComposeServersStart: every server of docker-compose.yml listens on
// all interfaces, so each one needs --auth or --insecure, or it refuses to
// start (docs/deploy.md).
func TestComposeServersStart(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	for name, s := range c.Services {
		if len(s.Command) == 0 {
			continue
		}
		cmd, f, err := parseService(s.Command, s.Environment)
		if err != nil || (cmd != "manager" && cmd != "broker") {
			continue
		}
		authOn := f.Lookup("auth").Value.String() == "true"
		insecure := f.Lookup("insecure").Value.String() == "true"
		if !authOn && !insecure && !httpauth.IsLoopback(f.Lookup("addr").Value.String()) {
			t.Errorf("%s: listens on %s without --auth or --insecure: it would refuse to start", name, f.Lookup("addr").Value.String())
		}
	}
}

// TestServersWithAuth: `logq manager --auth` with bootstrap tokens and
// `logq broker --auth --token-file`: the broker registers with its own
// credentials, the admin token works from the CLI, and a manager refuses a
// non-loopback address without --auth or --insecure.
func TestServersWithAuth(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	admin, _ := auth.NewToken()
	mgrTok, _ := auth.NewToken()
	brokerTok, _ := auth.NewToken()
	file := filepath.Join(t.TempDir(), "broker.token")
	if err := os.WriteFile(file, []byte(brokerTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	maddr, mdone := serve(t, ctx, "manager serving", "manager", "--db", dsn, "--addr", "127.0.0.1:0", "--role", "write",
		"--log-format", "json", "--auth", "--token", mgrTok, "--admin-token", admin, "--broker-token", brokerTok)
	murl := "http://" + maddr
	_, bdone := serve(t, ctx, "broker serving", "broker", "--db", dsn, "--addr", "127.0.0.1:0", "--managers", murl,
		"--log-format", "json", "--heartbeat-interval", "1s", "--auth", "--token-file", file)
	envv := map[string]string{"LOGQ_MANAGER": murl, "LOGQ_TOKEN": admin}
	eventually(t, time.Minute, "the broker registered", func() bool {
		r := runLogq(t, envv, "", "brokers")
		return r.err == nil && strings.Count(r.stdout, " true ") == 1
	})
	mustLogq(t, envv, "", "topics", "create", "t", "--partitions", "1")
	mustLogq(t, envv, "a\nb\n", "produce", "--topic", "t")
	if r := mustLogq(t, envv, "", "consume", "--topic", "t"); strings.Count(r.stdout, "\n") != 2 {
		t.Fatalf("consume printed %q", r.stdout)
	}
	if r := runLogq(t, map[string]string{"LOGQ_MANAGER": murl}, "", "brokers"); r.err == nil {
		t.Fatal("brokers listed without credentials")
	}
	if r := runLogq(t, nil, "", "manager", "--db", dsn, "--addr", "0.0.0.0:0", "--role", "read", "--log-level", "disabled"); r.err == nil ||
		!strings.Contains(r.err.Error(), "refusing to listen") {
		t.Fatalf("an open manager on 0.0.0.0: %v", r.err)
	}
	if r := runLogq(t, nil, "", "manager", "--db", dsn, "--admin-token", "nope", "--log-level", "disabled"); r.err == nil || !strings.Contains(r.err.Error(), "logq tokens new") {
		t.Fatalf("a malformed bootstrap token: %v", r.err)
	}
	cancel()
	for _, d := range []<-chan error{bdone, mdone} {
		if err := <-d; err != nil {
			t.Fatalf("server returned %v", err)
		}
	}
}
