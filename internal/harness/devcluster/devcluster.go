// Package devcluster starts a whole logq cluster in one process: a
// PostgreSQL (a throwaway one from the machine's binaries, unless a database
// URL is given), a writer manager, reader managers and brokers, all on
// loopback. `logq dev` runs it for people; the client's and the CLI's tests
// run it on random ports.
package devcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/logq/logq/api"
	"github.com/logq/logq/auth/httpauth"
	"github.com/logq/logq/broker"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/pg"
	"github.com/logq/logq/internal/pgserver"
	"github.com/logq/logq/manager"
)

// Config configures a cluster. The zero value is one writer, one reader and
// three brokers on random ports with a throwaway PostgreSQL.
type Config struct {
	// DSN is the database to use. Empty: start a PostgreSQL from the
	// machine's binaries (kept in DataDir when set, else thrown away).
	DSN string
	// DataDir keeps the started PostgreSQL's data, so a later Start with
	// the same DataDir resumes the same cluster.
	DataDir string
	// Host is the interface every server listens on (default 127.0.0.1).
	Host string
	// Port is the writer manager's port; readers take Port+1…Port+Readers
	// and brokers the ports after them. 0: every server on a random port.
	Port int
	// Readers and Brokers are how many reader managers and brokers to run.
	// Negative Readers or Brokers: none; zero: the defaults 1 and 3.
	Readers, Brokers int
	// Auto runs every manager in role auto (they compete for the writer
	// lock) instead of one writer and readers. The first one started wins.
	Auto bool
	// TailMode is how managers and brokers follow the event log.
	TailMode eventlog.Mode
	// HeartbeatInterval and HeartbeatTimeout (defaults 2 s and 10 s: a
	// stopped broker is noticed quickly in a dev cluster).
	HeartbeatInterval, HeartbeatTimeout time.Duration
	// Logger receives every server's logs. The zero value logs nothing.
	Logger zerolog.Logger
	// GroupMaxWait bounds a group join or sync long poll on the managers
	// (manager.Config.GroupMaxWait; 0: their default).
	GroupMaxWait time.Duration

	// Auth turns authentication and authorization on everywhere (auth.go):
	// the writer creates an admin principal (Cluster.AdminToken,
	// AdminPassword) and the managers' and brokers' own principals.
	Auth bool
	// Insecure lets the servers listen on a non-loopback Host without Auth.
	Insecure bool
	// Kafka gives every broker a Kafka protocol listener on Host: the first
	// on KafkaPort, the next brokers on the ports after it (KafkaPort 0:
	// random ports).
	Kafka     bool
	KafkaPort int
	// KafkaTLS serves the brokers' Kafka listeners over TLS (SSL, or
	// SASL_SSL with Auth); the HTTP listeners stay plain.
	KafkaTLS httpauth.TLSFiles
	// KafkaQuotaProduceBytes and KafkaQuotaFetchBytes are the brokers'
	// per-principal Kafka quotas (bytes/s, with Auth; 0: none).
	KafkaQuotaProduceBytes, KafkaQuotaFetchBytes float64

	// StorageClusters is how many storage clusters the brokers' data is
	// spread over (issue 17; 0 or 1: one, the control plane's database).
	// With N > 1, N-1 more PostgreSQL servers are started (their data kept
	// in DataDir/storage-K with DataDir, else thrown away; with DSN too),
	// and broker i writes to storage cluster i mod N:
	// "default" (the control plane's) and "pg2" … "pgN" (StorageClusterName).
	StorageClusters int
}

// StorageClusterName is the name of the k-th (0-based) storage cluster of
// a dev cluster.
func StorageClusterName(k int) string {
	if k == 0 {
		return "default"
	}
	return fmt.Sprintf("pg%d", k+1)
}

// Node is one running server.
type Node struct {
	Name string // "writer", "reader-1", "manager-2", "broker-3"
	Addr string // host:port it listens on
	URL  string // http://Addr
	ID   int64  // broker id, once registered (brokers only)
	// KafkaAddr is the broker's Kafka listener (host:port), if it has one.
	KafkaAddr string
	// StorageCluster and DataDSN are the storage cluster a broker writes
	// to and its database (brokers only).
	StorageCluster, DataDSN string

	cancel  context.CancelFunc
	done    chan struct{}
	err     error
	stopped bool
}

// Stop stops the server gracefully and waits for it.
func (n *Node) Stop() error {
	n.cancel()
	<-n.done
	return n.err
}

// Done is closed when the server has stopped.
func (n *Node) Done() <-chan struct{} { return n.done }

// Cluster is a running cluster.
type Cluster struct {
	// DSN is the control-plane (and data) database URL.
	DSN string
	// Managers are the managers: [0] is the writer (with Auto, the first
	// to start, which won the writer lock), then the readers.
	Managers []*Node
	// Brokers are the brokers, in start order.
	Brokers []*Node

	// AdminToken and AdminPassword log in as the admin principal "admin"
	// (with Config.Auth; empty otherwise).
	AdminToken, AdminPassword string

	// DataDSNs are the storage clusters' databases, by index: [0] is DSN.
	DataDSNs []string

	sec    *security // with Config.Auth (auth.go)
	cfg    Config
	pg     *pgserver.Server
	dataPG []*pgserver.Server // storage clusters 1… (index k-1)
	mu     sync.Mutex
	closed bool
}

// Start starts a cluster and returns once every server serves and every
// broker has registered and is alive. ctx bounds the start only; Close
// stops the cluster.
func Start(ctx context.Context, cfg Config) (_ *Cluster, err error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Readers == 0 {
		cfg.Readers = 1
	}
	if cfg.Brokers == 0 {
		cfg.Brokers = 3
	}
	cfg.Readers, cfg.Brokers = max(cfg.Readers, 0), max(cfg.Brokers, 0)
	if cfg.TailMode == "" {
		cfg.TailMode = eventlog.ModeNotify
	}
	if _, err := eventlog.ParseMode(string(cfg.TailMode)); err != nil {
		return nil, err
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 2 * time.Second
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = max(10*time.Second, 3*cfg.HeartbeatInterval)
	}
	if cfg.KafkaPort < 0 || cfg.KafkaPort+cfg.Brokers > 65535 {
		return nil, fmt.Errorf("devcluster: Kafka port %d leaves no room for %d brokers", cfg.KafkaPort, cfg.Brokers)
	}
	if cfg.Port < 0 || cfg.Port+cfg.Readers+cfg.Brokers > 65535 {
		return nil, fmt.Errorf("devcluster: port %d leaves no room for %d readers and %d brokers", cfg.Port, cfg.Readers, cfg.Brokers)
	}
	c := &Cluster{cfg: cfg, DSN: cfg.DSN}
	if err := c.setupAuth(); err != nil { // auth.go
		return nil, err
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()

	// Bind every port first: a busy port fails before anything runs.
	n := 1 + cfg.Readers + cfg.Brokers
	lns := make([]net.Listener, n)
	for i := range lns {
		port := 0
		if cfg.Port > 0 {
			port = cfg.Port + i
		}
		addr := net.JoinHostPort(cfg.Host, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns[:i] {
				l.Close()
			}
			return nil, fmt.Errorf("devcluster: listen on %s: %w", addr, err)
		}
		lns[i] = ln
	}
	closeFrom := func(i int) {
		for _, l := range lns[i:] {
			l.Close()
		}
	}

	if c.DSN == "" {
		s, err := pgserver.Start(ctx, pgserver.Options{Dir: cfg.DataDir})
		if err != nil {
			closeFrom(0)
			return nil, err
		}
		c.pg = s
		if err := ensureDatabase(ctx, s.DSN("postgres"), "logq"); err != nil {
			closeFrom(0)
			return nil, err
		}
		c.DSN = s.DSN("logq")
	}
	if err := c.prepare(ctx); err != nil {
		closeFrom(0)
		return nil, err
	}
	if err := c.startStorageClusters(ctx); err != nil {
		closeFrom(0)
		return nil, err
	}

	var urls []string
	for i := 0; i <= cfg.Readers; i++ {
		urls = append(urls, "http://"+lns[i].Addr().String())
	}
	for i := 0; i <= cfg.Readers; i++ {
		role, name := manager.RoleRead, fmt.Sprintf("reader-%d", i)
		switch {
		case cfg.Auto:
			role, name = manager.RoleAuto, fmt.Sprintf("manager-%d", i+1)
		case i == 0:
			role, name = manager.RoleWrite, "writer"
		}
		node, err := c.startManager(ctx, name, role, lns[i])
		if err != nil {
			closeFrom(i + 1)
			return nil, err
		}
		c.Managers = append(c.Managers, node)
		if i == 0 {
			// The first manager writes before anyone else starts.
			if err := waitHealth(ctx, node.URL, func(h health) bool { return h.Role == "writer" || h.Role == "write" }); err != nil {
				closeFrom(i + 1)
				return nil, fmt.Errorf("devcluster: %s did not become the writer: %w", name, err)
			}
		}
	}
	for i := 0; i < cfg.Brokers; i++ {
		ln := lns[1+cfg.Readers+i]
		kafkaAddr := ""
		if cfg.Kafka {
			port := 0
			if cfg.KafkaPort > 0 {
				port = cfg.KafkaPort + i
			}
			kafkaAddr = net.JoinHostPort(cfg.Host, strconv.Itoa(port))
		}
		k := i % len(c.DataDSNs)
		node, err := c.startBroker(ctx, fmt.Sprintf("broker-%d", i+1), urls, ln, kafkaAddr, StorageClusterName(k), c.DataDSNs[k])
		if err != nil {
			closeFrom(2 + cfg.Readers + i)
			return nil, err
		}
		c.Brokers = append(c.Brokers, node)
	}
	if err := c.WaitReady(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// ensureDatabase creates database name unless it exists.
func ensureDatabase(ctx context.Context, adminDSN, name string) error {
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return fmt.Errorf("devcluster: connect: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("devcluster: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("devcluster: create database: %w", err)
	}
	return nil
}

// prepare checks the database answers and migrates its schema.
func (c *Cluster) prepare(ctx context.Context) error {
	pool, err := pg.Connect(ctx, c.DSN, 2)
	if err != nil {
		return fmt.Errorf("devcluster: database: %w", err)
	}
	defer pool.Close()
	return pg.Migrate(ctx, pool)
}

func (c *Cluster) startManager(ctx context.Context, name string, role manager.Role, ln net.Listener) (*Node, error) {
	url := "http://" + ln.Addr().String()
	m, err := manager.New(ctx, manager.Config{
		Name:              name + "@" + ln.Addr().String(),
		AdvertiseURL:      url,
		Role:              role,
		DSN:               c.DSN,
		TailMode:          c.cfg.TailMode,
		HeartbeatInterval: c.cfg.HeartbeatInterval,
		HeartbeatTimeout:  c.cfg.HeartbeatTimeout,
		Logger:            c.cfg.Logger.With().Str("node", name).Logger(),
		Auth:              c.sec != nil, // auth.go
		Insecure:          c.cfg.Insecure,
		Bootstrap:         c.sec.bootstrap(),
		Credentials:       c.sec.managerCreds(),
		GroupMaxWait:      c.cfg.GroupMaxWait,
	})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("devcluster: %s: %w", name, err)
	}
	return serveNode(name, ln, m.Serve, func() {}), nil
}

func (c *Cluster) startBroker(ctx context.Context, name string, managers []string, ln net.Listener, kafkaAddr, storageCluster, dataDSN string) (*Node, error) {
	b, err := broker.New(ctx, broker.Config{
		ListenAddr:        ln.Addr().String(),
		AdvertiseAddr:     ln.Addr().String(),
		Managers:          managers,
		DSN:               c.DSN,
		DataDSN:           dataDSN,
		StorageCluster:    storageCluster,
		TailMode:          c.cfg.TailMode,
		HeartbeatInterval: c.cfg.HeartbeatInterval,
		Logger:            c.cfg.Logger.With().Str("node", name).Logger(),
		Auth:              c.sec != nil, // auth.go
		Insecure:          c.cfg.Insecure,
		Credentials:       c.sec.brokerCreds(),
		KafkaAddr:         kafkaAddr,
		KafkaTLS:          c.cfg.KafkaTLS,

		QuotaProduceBytesPerSec: c.cfg.KafkaQuotaProduceBytes,
		QuotaFetchBytesPerSec:   c.cfg.KafkaQuotaFetchBytes,
	})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("devcluster: %s: %w", name, err)
	}
	node := serveNode(name, ln, b.Serve, b.Close)
	node.KafkaAddr = b.KafkaAddr()
	node.StorageCluster, node.DataDSN = storageCluster, dataDSN
	return node, nil
}

// startStorageClusters starts the PostgreSQL servers of storage clusters
// 1… (cfg.StorageClusters) and sets DataDSNs.
func (c *Cluster) startStorageClusters(ctx context.Context) error {
	c.DataDSNs = []string{c.DSN}
	for k := 1; k < c.cfg.StorageClusters; k++ {
		dir := ""
		if c.cfg.DataDir != "" {
			dir = filepath.Join(c.cfg.DataDir, fmt.Sprintf("storage-%d", k+1))
		}
		s, err := pgserver.Start(ctx, pgserver.Options{Dir: dir})
		if err != nil {
			return fmt.Errorf("devcluster: storage cluster %s: %w", StorageClusterName(k), err)
		}
		c.dataPG = append(c.dataPG, s)
		if err := ensureDatabase(ctx, s.DSN("postgres"), "logq"); err != nil {
			return err
		}
		c.DataDSNs = append(c.DataDSNs, s.DSN("logq"))
	}
	return nil
}

// StoragePG returns the PostgreSQL server of storage cluster k (0-based;
// nil for 0 when the cluster was given a DSN).
func (c *Cluster) StoragePG(k int) *pgserver.Server {
	if k == 0 {
		return c.pg
	}
	return c.dataPG[k-1]
}

// KafkaBootstrap returns the brokers' Kafka listeners, comma-separated
// (what Kafka clients take as bootstrap servers); "" without Kafka.
func (c *Cluster) KafkaBootstrap() string {
	var addrs []string
	for _, b := range c.Brokers {
		if b.KafkaAddr != "" {
			addrs = append(addrs, b.KafkaAddr)
		}
	}
	return strings.Join(addrs, ",")
}

// serveNode runs serve on ln until the node is stopped, then release.
func serveNode(name string, ln net.Listener, serve func(context.Context, net.Listener) error, release func()) *Node {
	node := newNode(name, ln)
	ctx, cancel := context.WithCancel(context.Background())
	node.cancel = cancel
	go func() {
		defer close(node.done)
		node.err = serve(ctx, ln)
		release()
	}()
	return node
}

func newNode(name string, ln net.Listener) *Node {
	addr := ln.Addr().String()
	return &Node{Name: name, Addr: addr, URL: "http://" + addr, done: make(chan struct{})}
}

// ManagerURLs returns the managers' URLs, the writer first.
func (c *Cluster) ManagerURLs() []string {
	urls := make([]string, len(c.Managers))
	for i, m := range c.Managers {
		urls[i] = m.URL
	}
	return urls
}

// WriterURL is the URL of the first manager (the writer at start).
func (c *Cluster) WriterURL() string { return c.Managers[0].URL }

// PG returns the PostgreSQL server the cluster started, nil when it was given
// a DSN.
func (c *Cluster) PG() *pgserver.Server { return c.pg }

// WaitReady waits until every running manager answers /healthz and the
// managers know every running broker as alive at its address.
func (c *Cluster) WaitReady(ctx context.Context) error {
	var live []*Node
	for _, m := range c.Managers {
		select {
		case <-m.done:
			continue
		default:
		}
		if err := waitHealth(ctx, m.URL, func(health) bool { return true }); err != nil {
			return fmt.Errorf("devcluster: %s not serving: %w", m.Name, err)
		}
		live = append(live, m)
	}
	if len(live) == 0 {
		return errors.New("devcluster: no manager is running")
	}
	want := map[string]*Node{}
	for _, b := range c.Brokers {
		select {
		case <-b.done:
		default:
			want[b.Addr] = b
		}
	}
	return poll(ctx, func() (bool, error) {
		for _, m := range live {
			var out struct {
				Brokers []struct {
					ID      int64  `json:"broker_id"`
					Address string `json:"address"`
					Alive   bool   `json:"alive"`
				} `json:"brokers"`
			}
			if err := getJSON(ctx, m.URL+"/brokers", &out, c.sec.adminHeader()); err != nil {
				return false, nil
			}
			found := 0
			for _, b := range out.Brokers {
				if n, ok := want[b.Address]; ok && b.Alive {
					n.ID = b.ID
					found++
				}
			}
			if found < len(want) {
				return false, nil
			}
		}
		return true, nil
	})
}

// Close stops every server (brokers first, then managers) and the
// PostgreSQL it started. It returns the first error.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	var first error
	stopAll := func(nodes []*Node) {
		var wg sync.WaitGroup
		errs := make([]error, len(nodes))
		for i, n := range nodes {
			wg.Go(func() { errs[i] = n.Stop() })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil && first == nil {
				first = err
			}
		}
	}
	stopAll(c.Brokers)
	stopAll(c.Managers)
	for _, s := range c.dataPG {
		if err := s.Stop(); err != nil && first == nil {
			first = err
		}
	}
	if c.pg != nil {
		if err := c.pg.Stop(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// health is a server's answer of GET /healthz (a broker's decodes too:
// status and seq).
type health = api.HealthAnswer

// waitHealth polls url/healthz until ok accepts the answer or ctx is done.
func waitHealth(ctx context.Context, url string, ok func(health) bool) error {
	return poll(ctx, func() (bool, error) {
		var h health
		if err := getJSON(ctx, url+"/healthz", &h, ""); err != nil {
			return false, nil
		}
		return ok(h), nil
	})
}

// poll calls cond every 20 ms until it is true, fails, or ctx is done.
func poll(ctx context.Context, cond func() (bool, error)) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		done, err := cond()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

var httpClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func getJSON(ctx context.Context, url string, out any, authz string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
