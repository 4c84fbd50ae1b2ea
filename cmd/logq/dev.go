package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/logq/logq/internal/harness/devcluster"
)

func devCmd(e *env) *cobra.Command {
	cmd, f := newCommand("dev", "run a local cluster: PostgreSQL, a writer, readers and brokers", `Run a whole cluster in this process, on loopback: PostgreSQL (a throwaway
one from this machine's PostgreSQL binaries unless --db is given), a writer
manager, --readers read managers and --brokers brokers. Prints the addresses
and a line containing "ready" once everything serves; Ctrl-C stops it all.

With --data DIR (or --db URL) the cluster survives a restart: the next
"logq dev" with the same --data or --db resumes the same topics, positions
and messages, and the brokers get their ids back (same addresses).`, 0, 0)
	db := dbFlag(f, "use the PostgreSQL database at `URL` instead of starting one")
	data := f.String("data", "", "keep the started PostgreSQL's data in `DIR` (resume it next time)")
	f.fromEnv("data", "LOGQ_DATA")
	addr := f.String("addr", "127.0.0.1:8080", "writer manager `host:port`; readers take the next ports, then brokers (port 0: random ports)")
	readers := f.Int("readers", 1, "number of read managers")
	brokers := f.Int("brokers", 3, "number of brokers")
	auto := f.Bool("auto", false, "run every manager in role auto (writer failover) instead of one writer and readers")
	mode := tailFlag(f)
	hbi := f.Duration("heartbeat-interval", 2*time.Second, "broker heartbeat interval")
	hbt := f.Duration("heartbeat-timeout", 10*time.Second, "silence after which a broker is declared dead")
	kafkaAddr := f.String("kafka-addr", "127.0.0.1:9092", "first broker's Kafka listener `host:port`; the next brokers take the next ports (port 0: random ports; empty: no Kafka listeners)")
	mkLog := logFlags(f, "warn")
	withAuth := f.Bool("auth", false, "turn authentication and authorization on: create an admin principal and print its token and password")
	insecure := f.Bool("insecure", false, "allow a non-loopback --addr without --auth (an open cluster on the network)")
	storage := f.Int("storage-clusters", 1, "number of storage clusters (PostgreSQL servers for data): the control plane's, then N-1 more started by dev; broker i writes to cluster i mod N (docs/scaling.md)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		if *db != "" && *data != "" {
			return usageErrorf("dev: --db and --data exclude each other (--data is for the PostgreSQL that dev starts)")
		}
		if *readers < 0 || *brokers < 0 {
			return usageErrorf("dev: --readers and --brokers must not be negative")
		}
		if *storage < 1 || *storage > 16 {
			return usageErrorf("dev: --storage-clusters must be between 1 and 16")
		}
		host, portStr, err := net.SplitHostPort(*addr)
		if err != nil {
			return usageErrorf("dev: --addr %q: want host:port", *addr)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port < 0 || port > 65535 {
			return usageErrorf("dev: --addr %q: bad port", *addr)
		}
		if *hbt <= *hbi {
			return usageErrorf("dev: --heartbeat-timeout must exceed --heartbeat-interval")
		}
		tm, err := mode()
		if err != nil {
			return err
		}
		log, err := mkLog(e.stderr)
		if err != nil {
			return err
		}
		cfg := devcluster.Config{
			DSN: *db, DataDir: *data, Host: host, Port: port,
			Readers: *readers, Brokers: *brokers, Auto: *auto, TailMode: tm,
			HeartbeatInterval: *hbi, HeartbeatTimeout: *hbt, Logger: log,
			Auth: *withAuth, Insecure: *insecure, StorageClusters: *storage,
		}
		// devcluster treats 0 as "the default"; -1 as none.
		if *readers == 0 {
			cfg.Readers = -1
		}
		if *brokers == 0 {
			cfg.Brokers = -1
		}
		if *kafkaAddr != "" {
			kh, kp, err := net.SplitHostPort(*kafkaAddr)
			if err != nil {
				return usageErrorf("dev: --kafka-addr %q: want host:port", *kafkaAddr)
			}
			if cfg.KafkaPort, err = strconv.Atoi(kp); err != nil || cfg.KafkaPort < 0 || cfg.KafkaPort > 65535 {
				return usageErrorf("dev: --kafka-addr %q: bad port", *kafkaAddr)
			}
			if kh != host {
				return usageErrorf("dev: --kafka-addr %q: the Kafka listeners share --addr's host %q", *kafkaAddr, host)
			}
			cfg.Kafka = true
		}
		fmt.Fprintln(e.stdout, "logq dev: starting…")
		startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		c, err := devcluster.Start(startCtx, cfg)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dev: %w", err)
		}
		defer func() {
			fmt.Fprintln(e.stdout, "logq dev: stopping…")
			c.Close()
			fmt.Fprintln(e.stdout, "logq dev: stopped")
		}()

		w := e.stdout
		switch {
		case *db != "":
			fmt.Fprintf(w, "  database   %s\n", redactDSN(c.DSN))
		case *data != "":
			fmt.Fprintf(w, "  postgres   %s (data kept in %s)\n", c.DSN, *data)
		default:
			fmt.Fprintf(w, "  postgres   %s (throwaway: removed on exit)\n", c.DSN)
		}
		for i, m := range c.Managers {
			role := "reader"
			switch {
			case *auto:
				role = "manager"
				if i == 0 {
					role = "manager (writer)"
				}
			case i == 0:
				role = "writer"
			}
			fmt.Fprintf(w, "  %-10s %s\n", role, m.URL)
		}
		for k, dsn := range c.DataDSNs[1:] {
			fmt.Fprintf(w, "  storage    %s: %s (throwaway unless --data)\n", devcluster.StorageClusterName(k+1), dsn)
		}
		for _, b := range c.Brokers {
			storage := ""
			if len(c.DataDSNs) > 1 {
				storage = " storage " + b.StorageCluster
			}
			if b.KafkaAddr != "" {
				fmt.Fprintf(w, "  broker %-3d %s (kafka %s)%s\n", b.ID, b.Addr, b.KafkaAddr, storage)
			} else {
				fmt.Fprintf(w, "  broker %-3d %s%s\n", b.ID, b.Addr, storage)
			}
		}
		kb := c.KafkaBootstrap()
		if kb != "" && !*withAuth {
			fmt.Fprintf(w, "  kafka      bootstrap %s (kcat -b %s -L)\n", kb, strings.Split(kb, ",")[0])
		} else if kb != "" {
			fmt.Fprintf(w, "  kafka      bootstrap %s (SASL: SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN; see below)\n", kb)
		}
		mgr := c.WriterURL()
		all := strings.Join(c.ManagerURLs(), ",")
		curlAuth := ""
		if *withAuth {
			fmt.Fprintf(w, `
Authentication is on (admin principal "admin"); the CLI and the Go client read:
  export LOGQ_TOKEN=%s
  export LOGQ_USER=admin LOGQ_PASSWORD=%s
`, c.AdminToken, c.AdminPassword)
			curlAuth = `-H "Authorization: Bearer $LOGQ_TOKEN" `
			if kb != "" {
				// docs/kafka.md, "Security": the Kafka listeners want SASL too.
				fmt.Fprintf(w, `Kafka clients log in with SASL as admin (or a user of "logq users create"):
  kcat -b %s -X security.protocol=SASL_PLAINTEXT -X sasl.mechanisms=SCRAM-SHA-256 -X sasl.username=admin -X sasl.password=%s -L
`, strings.Split(kb, ",")[0], c.AdminPassword)
			}
		}
		fmt.Fprintf(w, `
Try:
  export LOGQ_MANAGER=%s
  logq topics create orders --partitions 3
  seq 1 1000 | logq produce --topic orders
  logq consume --topic orders --max 5
  logq topics describe orders
  logq events list
  curl -s %s%s/topics
  curl -s %s-X POST %s/producer/register -d '{"topic":"orders"}'
  curl -s %s-X POST %s/producer/produce -d '{"topic":"orders","producer_id":1,"message":"hi"}'
`, all, curlAuth, mgr, curlAuth, mgr, curlAuth, mgr)
		if c.PG() != nil || *db != "" {
			fmt.Fprintf(w, "  logq state --db '%s'\n", c.DSN)
		}
		fmt.Fprintf(w, "\nready: %d managers, %d brokers (Ctrl-C to stop)\n", len(c.Managers), len(c.Brokers))
		select {
		case <-ctx.Done():
			return nil
		case <-anyDone(c):
			return fmt.Errorf("dev: a server stopped unexpectedly")
		}
	}
	return cmd
}

// anyDone is closed when any server of c stops on its own.
func anyDone(c *devcluster.Cluster) <-chan struct{} {
	ch := make(chan struct{})
	var once sync.Once
	for _, n := range append(append([]*devcluster.Node(nil), c.Managers...), c.Brokers...) {
		go func() {
			select {
			case <-n.Done():
				once.Do(func() { close(ch) })
			case <-ch:
			}
		}()
	}
	return ch
}

// redactDSN hides a password in a database URL.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if at := strings.IndexByte(rest, '@'); at >= 0 {
			if colon := strings.IndexByte(rest[:at], ':'); colon >= 0 {
				return dsn[:i+3] + rest[:colon] + ":***" + rest[at:]
			}
		}
	}
	return dsn
}
