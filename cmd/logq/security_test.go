package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

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
