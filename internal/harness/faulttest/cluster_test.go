package faulttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/logq/logq/client"
	"github.com/logq/logq/internal/pgserver"
	"github.com/logq/logq/internal/pgtest"
)

// Timing of the servers under test: short, so that a dead broker is noticed
// within seconds (the defaults are 15 s / 60 s).
const (
	heartbeatInterval = 200 * time.Millisecond
	heartbeatTimeout  = 2 * time.Second
	livenessCheck     = 100 * time.Millisecond
	brokerTimeout     = 5 * time.Second // a manager's bound on one broker request
	topicName         = "faults"
	numPartitions     = 6
)

// proc is one server process (a child of the test): started, signalled,
// killed, restarted with the same arguments. Its output goes to a log file
// whose tail is printed when the test fails.
type proc struct {
	t       testing.TB
	name    string
	args    []string
	logPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error
	stopped bool // by SIGSTOP, until SIGCONT
}

func newProc(t testing.TB, dir, name string, args []string) *proc {
	p := &proc{t: t, name: name, args: args, logPath: filepath.Join(dir, name+".log")}
	t.Cleanup(p.cleanup)
	return p
}

// childEnv is the test's environment without LOGQ_ variables: the servers
// get everything from flags.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LOGQ_") {
			env = append(env, kv)
		}
	}
	return env
}

// start starts the process (again, after it exited).
func (p *proc) start() {
	p.t.Helper()
	if p.running() {
		p.t.Fatalf("%s: start while running", p.name)
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(f, "=== %s start: logq %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(p.args, " "))
	cmd := exec.Command(logqBin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = childEnv()
	// Its own process group, and SIGKILL should the test process die.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		p.t.Fatalf("%s: %v", p.name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.waitErr, p.stopped = cmd, done, nil, false
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(f, "=== %s exit: %v\n", time.Now().Format(time.RFC3339Nano), err)
		f.Close()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(done)
	}()
}

func (p *proc) running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || !p.running() {
		p.t.Fatalf("%s: signal %v: not running", p.name, sig)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%s: signal %v: %v", p.name, sig, err)
	}
	p.mu.Lock()
	switch sig {
	case syscall.SIGSTOP:
		p.stopped = true
	case syscall.SIGCONT:
		p.stopped = false
	}
	p.mu.Unlock()
}

// isStopped reports whether the process is stopped by SIGSTOP.
func (p *proc) isStopped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopped
}

// wait waits until the process has exited and returns its exit error (nil
// for exit status 0).
func (p *proc) wait(timeout time.Duration) error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return nil
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.waitErr
	case <-t.C:
		return fmt.Errorf("%s did not exit within %v", p.name, timeout)
	}
}

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill() {
	p.t.Helper()
	p.signal(syscall.SIGKILL)
	if err := p.wait(30 * time.Second); err != nil && !isSignalExit(err) {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

func isSignalExit(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee)
}

// cleanup kills the process if it still runs (stopped or not) and, when the
// test failed, prints the end of its log.
func (p *proc) cleanup() {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd != nil && p.running() {
		cmd.Process.Signal(syscall.SIGKILL) // works on a stopped process too
		p.wait(30 * time.Second)
	}
	if p.t.Failed() {
		b, _ := os.ReadFile(p.logPath)
		if len(b) > 6000 {
			b = b[len(b)-6000:]
		}
		p.t.Logf("--- end of %s's log:\n%s", p.name, b)
	}
}

// server is a manager or broker process and where it listens.
type server struct {
	*proc
	addr      string // 127.0.0.1:port
	url       string // http://addr
	kafkaAddr string // a broker's Kafka listener (clusterOpts.kafka), else ""
}

// cluster is a private PostgreSQL, two managers in role auto and brokers,
// all child processes of the test, and topic "faults" with six partitions.
type cluster struct {
	t        *testing.T
	pg       *pgserver.Server
	dsn      string
	db       *pgxpool.Pool // the checker's connection: the ground truth
	managers []*server
	brokers  []*server
	admin    *client.Client
	hc       *http.Client
}

type clusterOpts struct {
	// kafka gives every broker a Kafka listener (--kafka-addr; kafka_test.go).
	kafka bool

	managers, brokers int
	managerFlags      []string // extra flags for every manager
	// defaultTimings runs the servers at their default heartbeat interval,
	// heartbeat timeout and liveness check (15 s, 60 s, 1 s) instead of
	// the suite's short ones.
	defaultTimings bool
	brokerFlags    []string // extra flags for every broker (retention_test.go)
	// brokerArgs, when set, gives extra flags for broker i (0-based;
	// storageclusters_test.go).
	brokerArgs func(i int) []string
}

func startCluster(t *testing.T, o clusterOpts) *cluster {
	t.Helper()
	if o.managers == 0 {
		o.managers = 2
	}
	if o.brokers == 0 {
		o.brokers = 3
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pgs, dsn := pgtest.NewServer(t) // private to this test: it may restart it
	db, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	c := &cluster{t: t, pg: pgs, dsn: dsn, db: db, hc: &http.Client{Timeout: 5 * time.Second}}
	t.Cleanup(c.hc.CloseIdleConnections)
	dir := t.TempDir()
	level := os.Getenv("LOGQ_FAULT_LOG")
	if level == "" {
		level = "warn"
	}
	common := []string{"--db", dsn, "--log-level", level, "--log-format", "json"}
	timings := []string{"--heartbeat-timeout", heartbeatTimeout.String(), "--liveness-check-interval", livenessCheck.String()}
	if o.defaultTimings {
		timings = nil
	} else {
		common = append(common, "--heartbeat-interval", heartbeatInterval.String())
	}

	var urls []string
	for i := range o.managers {
		addr := freeAddr(t)
		urls = append(urls, "http://"+addr)
		args := append([]string{"manager", "--addr", addr, "--role", "auto", "--name", fmt.Sprintf("manager-%d", i+1),
			"--broker-timeout", brokerTimeout.String()}, common...)
		args = append(args, timings...)
		args = append(args, o.managerFlags...)
		s := &server{proc: newProc(t, dir, fmt.Sprintf("manager-%d", i+1), args), addr: addr, url: "http://" + addr}
		s.start()
		c.managers = append(c.managers, s)
		c.waitHealthy(ctx, s)
		if i == 0 {
			// The first manager takes the writer lock: a known writer.
			waitFor(t, ctx, "manager-1 to become the writer", func() (bool, error) {
				m, _ := c.writer(ctx)
				return m == s, nil
			})
		}
	}
	for i := range o.brokers {
		addr := freeAddr(t)
		args := append([]string{"broker", "--addr", addr, "--managers", strings.Join(urls, ","),
			"--shutdown-timeout", "20s"}, common...)
		kafkaAddr := ""
		if o.kafka {
			kafkaAddr = freeAddr(t)
			args = append(args, "--kafka-addr", kafkaAddr)
		}
		args = append(args, o.brokerFlags...)
		if o.brokerArgs != nil {
			args = append(args, o.brokerArgs(i)...)
		}
		s := &server{proc: newProc(t, dir, fmt.Sprintf("broker-%d", i+1), args), addr: addr, url: "http://" + addr}
		s.kafkaAddr = kafkaAddr
		s.start()
		c.brokers = append(c.brokers, s)
	}
	c.admin, err = client.New(client.Config{Managers: urls, MaxBackoff: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.admin.Close() })
	c.waitBrokersAlive(ctx)
	if _, err := c.admin.CreateTopic(ctx, topicName, numPartitions); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "every partition to be writable", func() (bool, error) {
		info, err := c.admin.DescribeTopic(ctx, topicName)
		if err != nil {
			return false, err
		}
		for _, p := range info.Partitions {
			if !p.Writable {
				return false, nil
			}
		}
		return len(info.Partitions) == numPartitions, nil
	})
	return c
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitFor polls cond every 25 ms until it holds; it fails the test after
// the context's deadline, with cond's last error. It returns the time it
// waited.
func waitFor(t testing.TB, ctx context.Context, what string, cond func() (bool, error)) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		ok, err := cond()
		if ok {
			return time.Since(start)
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting for %s (last error: %v)", time.Since(start).Round(time.Millisecond), what, last)
		case <-tick.C:
		}
	}
}

// tryWaitFor is waitFor with its own bound d, after which it reports false
// instead of failing the test.
func tryWaitFor(ctx context.Context, d time.Duration, cond func() (bool, error)) bool {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if ok, _ := cond(); ok {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

type health struct {
	Role        string `json:"role"`
	Writer      string `json:"writer"`
	WriterEpoch int64  `json:"writer_epoch"`
	Seq         int64  `json:"seq"`
}

// health asks a manager for GET /healthz (briefly: a manager that does not
// answer within a second is not the one to wait for).
func (c *cluster) health(ctx context.Context, s *server) (health, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var h health
	err := c.getJSON(ctx, s.url+"/healthz", &h)
	return h, err
}

func (c *cluster) getJSON(ctx context.Context, url string, out any) error {
	return c.getJSONWithin(ctx, 5*time.Second, url, out)
}

// getJSONWithin is getJSON bounded by d instead.
func (c *cluster) getJSONWithin(ctx context.Context, d time.Duration, url string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

func (c *cluster) waitHealthy(ctx context.Context, s *server) {
	c.t.Helper()
	waitFor(c.t, ctx, s.name+" to serve", func() (bool, error) {
		if !s.running() {
			c.t.Fatalf("%s exited: %v", s.name, s.wait(0))
		}
		var h map[string]any
		err := c.getJSON(ctx, s.url+"/healthz", &h)
		return err == nil, err
	})
}

// writer returns the manager that says it is the writer, if any, and its
// writer epoch.
func (c *cluster) writer(ctx context.Context) (*server, int64) {
	for _, m := range c.managers {
		if !m.running() || m.isStopped() {
			continue
		}
		if h, err := c.health(ctx, m); err == nil && h.Role == "writer" {
			return m, h.WriterEpoch
		}
	}
	return nil, 0
}

// waitNewWriter waits until a manager other than old (nil: any) is the
// writer with an epoch above epoch, and returns it.
func (c *cluster) waitNewWriter(ctx context.Context, old *server, epoch int64) *server {
	c.t.Helper()
	var next *server
	waitFor(c.t, ctx, "a new writer", func() (bool, error) {
		m, e := c.writer(ctx)
		next = m
		return m != nil && m != old && e > epoch, nil
	})
	return next
}

// metric returns the sum of a Prometheus counter's samples whose labels
// contain match, from a server's /metrics.
func (c *cluster) metric(ctx context.Context, s *server, name, match string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name) || !strings.Contains(line, match) {
			continue
		}
		rest := strings.TrimPrefix(line, name)
		if rest != "" && rest[0] != '{' && rest[0] != ' ' {
			continue // a longer name
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum, nil
}

// brokers returns the managers' view of the brokers, by address.
func (c *cluster) brokerInfos(ctx context.Context) (map[string]client.BrokerInfo, error) {
	infos, err := c.admin.Brokers(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]client.BrokerInfo{}
	for _, b := range infos {
		out[b.Address] = b
	}
	return out, nil
}

// waitBrokersAlive waits until every running broker is registered and alive.
func (c *cluster) waitBrokersAlive(ctx context.Context) {
	c.t.Helper()
	waitFor(c.t, ctx, "every broker to be alive", func() (bool, error) {
		infos, err := c.brokerInfos(ctx)
		if err != nil {
			return false, err
		}
		for _, b := range c.brokers {
			if b.running() && !infos[b.addr].Alive {
				return false, nil
			}
		}
		return true, nil
	})
}

// busiestBroker returns a broker owning partitions, and them.
func (c *cluster) busiestBroker(ctx context.Context) (*server, client.BrokerInfo) {
	c.t.Helper()
	infos, err := c.brokerInfos(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	var best *server
	var bestInfo client.BrokerInfo
	for _, b := range c.brokers {
		if i, ok := infos[b.addr]; ok && b.running() && i.Alive && len(i.Partitions) > len(bestInfo.Partitions) {
			best, bestInfo = b, i
		}
	}
	if best == nil {
		c.t.Fatal("no broker owns a partition")
	}
	return best, bestInfo
}

// waitReassigned waits until the managers give none of victim's partitions
// to it any more, each to a live broker at a higher epoch, and returns the
// time it waited.
func (c *cluster) waitReassigned(ctx context.Context, victim *server, before client.BrokerInfo) time.Duration {
	c.t.Helper()
	old := map[int]int64{}
	for _, p := range before.Partitions {
		old[p.Partition] = p.Epoch
	}
	return waitFor(c.t, ctx, victim.name+"'s partitions to move", func() (bool, error) {
		infos, err := c.brokerInfos(ctx)
		if err != nil {
			return false, err
		}
		moved := 0
		for addr, b := range infos {
			for _, p := range b.Partitions {
				e, ok := old[p.Partition]
				if !ok || p.Topic != topicName {
					continue
				}
				if addr == victim.addr || p.Epoch <= e {
					return false, nil
				}
				if b.Alive {
					moved++
				}
			}
		}
		return moved == len(old), nil
	})
}

// lastSeq is the event log's last seq.
func (c *cluster) lastSeq(ctx context.Context) int64 {
	c.t.Helper()
	var seq int64
	if err := c.db.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&seq); err != nil {
		c.t.Fatal(err)
	}
	return seq
}

// brokerDeaths counts the brokers declared dead after seq.
func (c *cluster) brokerDeaths(ctx context.Context, seq int64) int {
	c.t.Helper()
	var n int
	err := c.db.QueryRow(ctx, `SELECT count(*) FROM events WHERE seq > $1 AND type = 'BrokerStatusChanged' AND data->>'alive' = 'false'`, seq).Scan(&n)
	if err != nil {
		c.t.Fatal(err)
	}
	return n
}

// partitionEpochs reads the partitions' storage epochs and owners (the
// fencing tokens) from the database.
func (c *cluster) partitionEpochs(ctx context.Context) (map[int][2]int64, error) {
	rows, err := c.db.Query(ctx, `SELECT partition, epoch, owner FROM partitions WHERE topic = $1`, topicName)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int][2]int64{}
	for rows.Next() {
		var p int
		var epoch, owner int64
		if err := rows.Scan(&p, &epoch, &owner); err != nil {
			return nil, err
		}
		out[p] = [2]int64{epoch, owner}
	}
	return out, rows.Err()
}

// postJSON posts a raw body and returns the status and decoded answer.
func (c *cluster) postRaw(ctx context.Context, url, contentType string, body io.Reader) (int, map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("answer %d is not JSON: %q", resp.StatusCode, truncate(string(b), 200))
	}
	return resp.StatusCode, out, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
