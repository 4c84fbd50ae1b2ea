package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/internal/harness/devcluster"
	"github.com/logq/logq/internal/harness/devcluster/devclustertest"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

// startCluster starts a dev cluster for the test and returns the
// environment that points logq at its managers.
func startCluster(t *testing.T) map[string]string {
	t.Helper()
	cl := devclustertest.Start(t, devcluster.Config{})
	return map[string]string{"LOGQ_MANAGER": strings.Join(cl.ManagerURLs(), ",")}
}

func TestClientCommandsEndToEnd(t *testing.T) {
	t.Parallel()
	envv := startCluster(t)

	r := mustLogq(t, envv, "", "topics", "create", "orders", "--partitions", "3")
	if !regexp.MustCompile(`^created topic orders with 3 partitions \(seq \d+\)\n$`).MatchString(r.stdout) {
		t.Fatalf("topics create printed %q", r.stdout)
	}
	if r := mustLogq(t, envv, "", "topics", "list"); r.stdout != "orders\n" {
		t.Fatalf("topics list printed %q", r.stdout)
	}
	r = mustLogq(t, envv, "", "topics", "describe", "orders")
	if !strings.HasPrefix(r.stdout, "topic orders, 3 partitions\nPARTITION") || len(regexp.MustCompile(`true +default\n`).FindAllString(r.stdout, -1)) != 3 {
		t.Fatalf("topics describe printed:\n%s", r.stdout)
	}

	// 2,500 lines from stdin, with progress, then 10 keyed lines from a file
	// to partition 1.
	var in strings.Builder
	for i := 0; i < 2500; i++ {
		fmt.Fprintf(&in, "line-%d\n", i)
	}
	r = mustLogq(t, envv, in.String(), "produce", "--topic", "orders", "--progress", "--batch-size", "300")
	if !strings.Contains(r.stderr, "produced 2500 of 2500 messages to orders") || !strings.Contains(r.stderr, "msg/s") {
		t.Fatalf("produce stderr:\n%s", r.stderr)
	}
	file := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(file, []byte(strings.Repeat("keyed\n", 10)), 0o644)
	r = mustLogq(t, envv, "", "produce", "--topic", "orders", "--key", "k", "--partition", "1", file)
	if !strings.Contains(r.stderr, "produced 10 of 10 messages to orders (partition:count 1:10)") {
		t.Fatalf("produce from a file: %s", r.stderr)
	}

	r = mustLogq(t, envv, "", "consume", "--topic", "orders", "--max", "100")
	m := regexp.MustCompile(`consumer id: (\d+)`).FindStringSubmatch(r.stderr)
	if m == nil || strings.Count(r.stdout, "\n") != 100 {
		t.Fatalf("consume --max 100: stdout has %d lines, stderr %q", strings.Count(r.stdout, "\n"), r.stderr)
	}
	id := m[1]
	if r := mustLogq(t, envv, "", "size", "--topic", "orders", "--consumer-id", id); r.stdout != "2410\n" {
		t.Fatalf("size = %q; want 2410", r.stdout)
	}
	r = mustLogq(t, envv, "", "consume", "--topic", "orders", "--consumer-id", id, "--format", "json")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2410 || r.stderr != "" {
		t.Fatalf("consume the rest: %d lines; stderr %q", len(lines), r.stderr)
	}
	keyed := 0
	for _, l := range lines {
		var msg struct {
			Partition int    `json:"partition"`
			Key       string `json:"key"`
			Message   string `json:"message"`
		}
		if err := json.Unmarshal([]byte(l), &msg); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if msg.Key == "k" && msg.Partition == 1 && msg.Message == "keyed" {
			keyed++
		}
	}
	if keyed != 10 {
		t.Fatalf("found %d keyed messages in partition 1; want 10", keyed)
	}
	if r := mustLogq(t, envv, "", "size", "--topic", "orders", "--consumer-id", id); r.stdout != "0\n" {
		t.Fatalf("size at the end = %q", r.stdout)
	}
	r = mustLogq(t, envv, "", "brokers")
	if strings.Count(r.stdout, " true ") != 3 || !strings.HasPrefix(r.stdout, "ID") {
		t.Fatalf("brokers:\n%s", r.stdout)
	}

	// Server errors: one line, and the sentinel survives.
	r = runLogq(t, envv, "", "topics", "describe", "nope")
	if !errors.Is(r.err, logq.ErrTopicNotFound) || strings.Contains(r.err.Error(), "\n") {
		t.Fatalf("describe unknown topic: %v", r.err)
	}
	r = runLogq(t, envv, "", "size", "--topic", "orders", "--consumer-id", "9999")
	if !errors.Is(r.err, logq.ErrConsumerNotFound) {
		t.Fatalf("size of an unknown consumer: %v", r.err)
	}
}

func TestEventCommandsAgainstALiveCluster(t *testing.T) {
	t.Parallel()
	cl := devclustertest.Start(t, devcluster.Config{Brokers: 2})
	db := map[string]string{"LOGQ_DATABASE_URL": cl.DSN}
	mgr := map[string]string{"LOGQ_MANAGER": cl.Managers[1].URL} // the reader
	mustLogq(t, mgr, "", "topics", "create", "a", "--partitions", "2")
	mustLogq(t, mgr, "x\ny\n", "produce", "--topic", "b")

	// A tail of the database sees what happens from now on.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tailOut := newSyncBuffer()
	tailDone := make(chan error, 1)
	go func() {
		tailDone <- run(ctx, []string{"events", "tail", "--db", cl.DSN}, func(string) string { return "" },
			strings.NewReader(""), tailOut, newSyncBuffer())
	}()

	// The same log, read from the manager and from the database.
	fromDB := mustLogq(t, db, "", "events", "list", "--json").stdout
	fromMgr := mustLogq(t, mgr, "", "events", "list", "--json", "--manager", cl.Managers[1].URL).stdout
	if fromDB != fromMgr || strings.Count(fromDB, "\n") < 8 {
		t.Fatalf("events list differs between --db and --manager:\n%s\n---\n%s", fromDB, fromMgr)
	}
	var events []logq.Event
	for _, l := range strings.Split(strings.TrimSpace(fromDB), "\n") {
		var e logq.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	table := mustLogq(t, db, "", "events", "list", "--type", "TopicCreated").stdout
	if strings.Count(table, "TopicCreated") != 2 {
		t.Fatalf("events list --type TopicCreated:\n%s", table)
	}
	if r := mustLogq(t, db, "", "events", "show", "1"); !strings.Contains(r.stdout, "type  WriterElected") {
		t.Fatalf("events show 1:\n%s", r.stdout)
	}
	// state --at matches the projection at every seq, from either source.
	for _, seq := range []int{1, len(events) / 2, len(events)} {
		st := projection.New()
		if err := projection.ApplyAll(st, events[:seq]); err != nil {
			t.Fatal(err)
		}
		a := mustLogq(t, db, "", "state", "--at", strconv.Itoa(seq)).stdout
		b := mustLogq(t, mgr, "", "state", "--at", strconv.Itoa(seq)).stdout
		if a != projection.Render(st) || b != a {
			t.Fatalf("state --at %d:\n%s\n---\n%s\n--- want\n%s", seq, a, b, projection.Render(st))
		}
	}
	// Replays agree with both live managers.
	for _, u := range cl.ManagerURLs() {
		r := mustLogq(t, db, "", "events", "verify", "--manager", u)
		if !strings.HasPrefix(r.stdout, "ok: replayed") {
			t.Fatalf("verify against %s: %s", u, r.stdout)
		}
		r = mustLogq(t, nil, "", "events", "verify", "--manager", u)
		if !strings.HasPrefix(r.stdout, "ok: replayed") {
			t.Fatalf("verify against %s from its own log: %s", u, r.stdout)
		}
	}

	mustLogq(t, mgr, "", "topics", "create", "tailed")
	tailOut.waitFor(t, `{"topic":"tailed"`, 20*time.Second)
	cancel()
	if err := <-tailDone; err != nil {
		t.Fatalf("tail ended with %v", err)
	}
}

// freePorts finds n consecutive free loopback ports.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	// Below Linux's ephemeral range (32768 and up), where the other tests'
	// outgoing connections take their local ports and runs of free ports
	// are rare on a busy machine.
	for attempt := 0; attempt < 200; attempt++ {
		base := 20000 + rand.IntN(12000)
		ok := true
		for i := 0; ok && i < n; i++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no run of free ports")
	return 0
}

// startDev runs `logq dev` until the returned stop is called.
func startDev(t *testing.T, args ...string) (out *syncBuffer, stop func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = newSyncBuffer()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"dev"}, args...), func(string) string { return "" },
			strings.NewReader(""), out, newSyncBuffer())
	}()
	stopped := false
	stop = func() string {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("dev returned %v", err)
			}
		}
		return out.String()
	}
	t.Cleanup(func() { stop() })
	return out, stop
}

func TestDevRunsAClusterAndResumesIt(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	base := freePorts(t, 4)
	addr := fmt.Sprintf("127.0.0.1:%d", base)
	args := []string{"--db", dsn, "--addr", addr, "--readers", "1", "--brokers", "2", "--log-level", "error",
		"--kafka-addr", "127.0.0.1:0"} // dev's default 127.0.0.1:9092 would collide across parallel tests

	out, stop := startDev(t, args...)
	text := out.waitFor(t, "ready", time.Minute)
	writer := fmt.Sprintf("http://127.0.0.1:%d", base)
	for _, want := range []string{
		"writer     " + writer, fmt.Sprintf("reader     http://127.0.0.1:%d", base+1),
		fmt.Sprintf("127.0.0.1:%d", base+2), fmt.Sprintf("127.0.0.1:%d", base+3),
		"logq topics create orders", "curl -s " + writer + "/topics", "ready: 2 managers, 2 brokers",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("dev output lacks %q:\n%s", want, text)
		}
	}
	envv := map[string]string{"LOGQ_MANAGER": writer}
	mustLogq(t, envv, "", "topics", "create", "orders", "--partitions", "2")
	mustLogq(t, envv, "1\n2\n3\n4\n", "produce", "--topic", "orders")
	r := mustLogq(t, envv, "", "consume", "--topic", "orders", "--max", "1")
	id := regexp.MustCompile(`consumer id: (\d+)`).FindStringSubmatch(r.stderr)[1]
	brokersBefore := mustLogq(t, envv, "", "brokers").stdout
	if !strings.Contains(stop(), "logq dev: stopped") {
		t.Fatalf("dev did not say it stopped:\n%s", out.String())
	}

	// Same database, same ports: the same cluster comes back.
	out, stop = startDev(t, args...)
	out.waitFor(t, "ready", time.Minute)
	if r := mustLogq(t, envv, "", "topics", "list"); r.stdout != "orders\n" {
		t.Fatalf("topics after restart: %q", r.stdout)
	}
	if r := mustLogq(t, envv, "", "size", "--topic", "orders", "--consumer-id", id); r.stdout != "3\n" {
		t.Fatalf("consumer position after restart: size %q; want 3", r.stdout)
	}
	if got := mustLogq(t, envv, "", "brokers").stdout; got != brokersBefore {
		t.Fatalf("brokers after restart:\n%s\nbefore:\n%s", got, brokersBefore)
	}
	if r := mustLogq(t, envv, "", "consume", "--topic", "orders", "--consumer-id", id); strings.Count(r.stdout, "\n") != 3 {
		t.Fatalf("consume after restart: %q", r.stdout)
	}
	stop()
}

// serve runs a server command until the test ends and returns the address
// it logged as serving on.
func serve(t *testing.T, ctx context.Context, message string, args ...string) (addr string, done <-chan error) {
	t.Helper()
	logs := newSyncBuffer()
	ch := make(chan error, 1)
	go func() {
		ch <- run(ctx, args, func(string) string { return "" }, strings.NewReader(""), newSyncBuffer(), logs)
	}()
	text := logs.waitFor(t, `"message":"`+message+`"`, time.Minute)
	for _, line := range strings.Split(text, "\n") {
		var entry struct {
			Addr    string `json:"addr"`
			Message string `json:"message"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Message == message {
			return entry.Addr, ch
		}
	}
	t.Fatalf("no %q line with an address in:\n%s", message, text)
	return "", nil
}

func TestManagerAndBrokerCommands(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	maddr, mdone := serve(t, ctx, "manager serving", "manager", "--db", dsn, "--addr", "127.0.0.1:0", "--role", "write",
		"--log-format", "json", "--heartbeat-interval", "1s", "--heartbeat-timeout", "5s")
	murl := "http://" + maddr
	var bdone []<-chan error
	for i := 0; i < 2; i++ {
		_, d := serve(t, ctx, "broker serving", "broker", "--db", dsn, "--addr", "127.0.0.1:0", "--managers", murl,
			"--log-format", "json", "--heartbeat-interval", "1s")
		bdone = append(bdone, d)
	}
	envv := map[string]string{"LOGQ_MANAGER": murl}
	// The brokers register in the background: wait for both, alive.
	eventually(t, time.Minute, "both brokers registered", func() bool {
		r := runLogq(t, envv, "", "brokers")
		return r.err == nil && strings.Count(r.stdout, " true ") == 2
	})
	mustLogq(t, envv, "", "topics", "create", "t", "--partitions", "2")
	mustLogq(t, envv, "a\nb\n", "produce", "--topic", "t")
	if r := mustLogq(t, envv, "", "consume", "--topic", "t"); strings.Count(r.stdout, "\n") != 2 {
		t.Fatalf("consume printed %q", r.stdout)
	}
	cancel()
	for _, d := range append(bdone, mdone) {
		if err := <-d; err != nil {
			t.Fatalf("server returned %v", err)
		}
	}
}

// eventually checks cond every 20 ms until it holds, failing the test after
// timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for: %s", timeout, what)
		case <-tick.C:
		}
	}
}
