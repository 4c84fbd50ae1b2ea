package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/logq/logq"
	"github.com/logq/logq/broker"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/httpguard"
	"github.com/logq/logq/manager"
	"github.com/logq/logq/projection"
)

// logFlags adds --log-level and --log-format and returns the logger maker.
func logFlags(f *flags, defLevel string) func(w io.Writer) (zerolog.Logger, error) {
	level := f.String("log-level", defLevel, "log `level`: debug, info, warn, error or disabled")
	format := f.String("log-format", "auto", "log `format`: json, console, or auto (console on a terminal)")
	f.fromEnv("log-level", "LOGQ_LOG_LEVEL")
	f.fromEnv("log-format", "LOGQ_LOG_FORMAT")
	return func(w io.Writer) (zerolog.Logger, error) {
		lvl, err := zerolog.ParseLevel(strings.ToLower(*level))
		if err != nil || *level == "" {
			return zerolog.Nop(), usageErrorf("%s: --log-level %q: want debug, info, warn, error or disabled", f.name(), *level)
		}
		switch *format {
		case "json":
		case "console":
			w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
		case "auto":
			if isTerminal(w) {
				w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
			}
		default:
			return zerolog.Nop(), usageErrorf("%s: --log-format %q: want json, console or auto", f.name(), *format)
		}
		return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
	}
}

// dbFlag adds --db (env LOGQ_DATABASE_URL).
func dbFlag(f *flags, usage string) *string {
	s := f.String("db", "", usage)
	f.fromEnv("db", "LOGQ_DATABASE_URL", "LOGQ_DB")
	return s
}

func tailFlag(f *flags) func() (eventlog.Mode, error) {
	s := f.String("tail", string(eventlog.ModeNotify), "how to follow the event log (`MODE`: notify or logical)")
	f.fromEnv("tail", "LOGQ_TAIL")
	return func() (eventlog.Mode, error) {
		m, err := eventlog.ParseMode(*s)
		if err != nil {
			return "", usageErrorf("%s: --tail: %v", f.name(), err)
		}
		return m, nil
	}
}

// guardFlags adds --allowed-hosts, --max-inflight-bytes and --max-requests
// (internal/httpguard) and returns the parser of --allowed-hosts.
func guardFlags(f *flags, maxBytes *int64, maxRequests *int) func() ([]string, error) {
	hosts := f.String("allowed-hosts", "", "more host `names` this server answers to in the Host header, comma-separated (* for any; loopback names, IP addresses, the host name and the advertise host always pass)")
	f.Int64Var(maxBytes, "max-inflight-bytes", httpguard.DefaultMaxInflightBytes, "request-body bytes all requests in flight may hold (503 beyond)")
	f.IntVar(maxRequests, "max-requests", httpguard.DefaultMaxRequests, "requests in flight, /healthz and /metrics not counted (503 beyond)")
	return func() ([]string, error) {
		h, err := httpguard.ParseHosts(*hosts)
		if err != nil {
			return nil, usageErrorf("%s: --allowed-hosts: %s", f.name(), logq.ErrorMessage(err))
		}
		return h, nil
	}
}

func managerCmd(e *env) *cobra.Command {
	cmd, f := newCommand("manager", "run a manager (control plane and routing)", `Run a manager: the control plane's API (topics, registrations, brokers,
events) and the routing of produce and consume requests to brokers.
Role write takes the writer lock, read forwards writes to the writer, auto
competes for the lock (the holder writes; a reader takes over when it dies).
Every flag also reads LOGQ_<FLAG> from the environment (flags win).`, 0, 0)
	var cfg manager.Config
	addr := f.String("addr", "127.0.0.1:8080", "listen `address` host:port")
	f.StringVar(&cfg.AdvertiseURL, "advertise", "", "`URL` others reach this manager at (default http://ADDR)")
	role := f.String("role", "auto", "`role`: write, read or auto")
	db := dbFlag(f, "control-plane PostgreSQL `URL` (required)")
	mode := tailFlag(f)
	f.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", manager.DefaultHeartbeatInterval, "how often brokers heartbeat")
	f.DurationVar(&cfg.HeartbeatTimeout, "heartbeat-timeout", manager.DefaultHeartbeatTimeout, "silence after which a broker is declared dead")
	f.StringVar(&cfg.Name, "name", "", "manager `name` in the writer lease and logs (default: the advertise URL)")
	f.DurationVar(&cfg.ClientTimeout, "client-timeout", manager.DefaultClientTimeout, "silence after which a producer or consumer is shown inactive")
	f.DurationVar(&cfg.ClientSeenFlush, "client-seen-flush", manager.DefaultClientSeenFlush, "how often a reader forwards client activity to the writer")
	f.DurationVar(&cfg.LivenessCheckInterval, "liveness-check-interval", manager.DefaultLivenessCheck, "how often the writer looks for brokers past the heartbeat timeout")
	f.DurationVar(&cfg.BrokerTimeout, "broker-timeout", manager.DefaultBrokerTimeout, "bound on one request to a broker or to the writer (plus any long-poll wait)")
	f.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", 5*time.Second, "bound on reading a request's headers")
	f.DurationVar(&cfg.ReadTimeout, "read-timeout", time.Minute, "bound on reading a whole request")
	f.DurationVar(&cfg.WriteTimeout, "write-timeout", time.Minute, "bound on answering a request (must exceed the 30s long poll)")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", manager.DefaultShutdownTimeout, "bound on the graceful shutdown")
	f.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", manager.DefaultMaxBodyBytes, "largest request body accepted (413 beyond)")
	f.IntVar(&cfg.MaxMessageBytes, "max-message-bytes", manager.DefaultMaxMessageBytes, "largest message (with its key) accepted by produce (413 beyond)")
	f.IntVar(&cfg.MaxBatchMessages, "max-batch", manager.DefaultMaxBatchMessages, "most messages in one produce_batch")
	// Consumer groups (docs/groups.md).
	f.DurationVar(&cfg.GroupMinSessionTimeout, "group-min-session-timeout", manager.DefaultGroupMinSessionTimeout, "shortest session timeout a group member may ask for")
	f.DurationVar(&cfg.GroupMaxSessionTimeout, "group-max-session-timeout", manager.DefaultGroupMaxSessionTimeout, "longest session timeout a group member may ask for")
	f.DurationVar(&cfg.GroupInitialRebalanceDelay, "group-initial-rebalance-delay", 0, "delay of an empty group's first generation, for members starting together")
	hosts := guardFlags(f, &cfg.MaxInflightBytes, &cfg.MaxRequests)
	mkLog := logFlags(f, "info")
	sec := securityFlags(f, true) // security.go
	f.Float64Var(&cfg.QuotaProduceBytesPerSec, "quota-produce-bytes", 0, "per-principal produce `bytes/s` of client principals (0: none; 429 with Retry-After beyond)")
	f.Float64Var(&cfg.QuotaFetchBytesPerSec, "quota-fetch-bytes", 0, "per-principal consume `bytes/s` of client principals (0: none)")
	f.envAll()
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *db == "" {
			return usageErrorf("manager: --db (or LOGQ_DATABASE_URL) is required")
		}
		s, err := sec()
		if err != nil {
			return err
		}
		cfg.Auth, cfg.Insecure, cfg.Credentials, cfg.TLS, cfg.Bootstrap = s.auth, s.insecure, s.creds, s.tls, s.bootstrap
		cfg.DSN = *db
		if cfg.AllowedHosts, err = hosts(); err != nil {
			return err
		}
		if cfg.Role, err = manager.ParseRole(*role); err != nil {
			return usageErrorf("manager: --role: %v", err)
		}
		if cfg.TailMode, err = mode(); err != nil {
			return err
		}
		if cfg.Logger, err = mkLog(e.stderr); err != nil {
			return err
		}
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return fmt.Errorf("manager: %w", err)
		}
		defer ln.Close() // on an error before Serve, which closes it itself
		if cfg.AdvertiseURL == "" {
			scheme := "http://"
			if cfg.TLS.Cert != "" {
				scheme = "https://"
			}
			cfg.AdvertiseURL = scheme + dialableAddr(ln.Addr().String())
		}
		if err := cfg.Validate(); err != nil {
			return err
		}
		m, err := manager.New(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		return m.Serve(cmd.Context(), ln)
	}
	return cmd
}

func brokerCmd(e *env) *cobra.Command {
	cmd, f := newCommand("broker", "run a broker (owns partitions, stores messages)", `Run a broker: it registers with the managers (getting an id; the same
address gets its old id back), heartbeats, learns which partitions it owns
from the event log, and serves appends and reads for them.
Every flag also reads LOGQ_<FLAG> from the environment (flags win).`, 0, 0)
	var cfg broker.Config
	addr := f.String("addr", broker.DefaultListenAddr, "listen `address` host:port")
	f.StringVar(&cfg.AdvertiseAddr, "advertise", "", "`host:port` managers and clients reach this broker at (default: ADDR)")
	managers := f.String("managers", "http://127.0.0.1:8080", "manager `URL`s, comma-separated")
	db := dbFlag(f, "control-plane PostgreSQL `URL` (required)")
	f.StringVar(&cfg.DataDSN, "data-db", "", "data-plane PostgreSQL `URL` (default: --db)")
	f.fromEnv("data-db", "LOGQ_DATA_DB", "LOGQ_DATA_DATABASE_URL")
	f.Int64Var(&cfg.ID, "id", 0, "broker `id` (0: register and get one)")
	mode := tailFlag(f)
	f.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", broker.DefaultHeartbeatInterval, "time between heartbeats")
	f.IntVar(&cfg.MaxMessageBytes, "max-message-bytes", broker.DefaultMaxMessageBytes, "largest message (with its key) accepted (413 beyond)")
	f.Int64Var(&cfg.MaxRequestBytes, "max-request-bytes", broker.DefaultMaxRequestBytes, "largest request body accepted (413 beyond)")
	f.IntVar(&cfg.MaxAppendMessages, "max-append-messages", broker.DefaultMaxAppendMessages, "most messages in one append request")
	hosts := guardFlags(f, &cfg.MaxInflightBytes, &cfg.MaxRequests)
	f.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "bound on reading a request's headers")
	f.DurationVar(&cfg.ReadTimeout, "read-timeout", time.Minute, "bound on reading a whole request")
	f.DurationVar(&cfg.WriteTimeout, "write-timeout", broker.DefaultLongPollMax+time.Minute, "bound on answering a request (must exceed the 30s long poll)")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", broker.DefaultShutdownTimeout, "bound on the graceful shutdown (appends in flight are committed and answered)")
	retentionServerFlags(f, &cfg) // topicconfig.go
	f.StringVar(&cfg.KafkaAddr, "kafka-addr", "", "Kafka protocol listener `host:port` (empty: none; docs/kafka.md)")
	f.StringVar(&cfg.StorageCluster, "storage-cluster", projection.DefaultStorageCluster, "`name` of the storage cluster (the PostgreSQL behind --data-db) this broker writes to; brokers take over only partitions of their own (docs/scaling.md)")
	f.StringVar(&cfg.KafkaAdvertiseAddr, "kafka-advertise", "", "`host:port` Kafka clients reach this broker at (default: --kafka-addr)")
	f.Float64Var(&cfg.QuotaProduceBytesPerSec, "quota-produce-bytes", 0, "per-principal produce `bytes/s` of client principals on the Kafka listener (0: none; throttle_time_ms beyond)")
	f.Float64Var(&cfg.QuotaFetchBytesPerSec, "quota-fetch-bytes", 0, "per-principal fetch `bytes/s` of client principals on the Kafka listener (0: none)")
	mkLog := logFlags(f, "info")
	sec := securityFlags(f, false) // security.go
	f.envAll()
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *db == "" {
			return usageErrorf("broker: --db (or LOGQ_DATABASE_URL) is required")
		}
		if cfg.ID < 0 {
			return usageErrorf("broker: --id must not be negative")
		}
		s, err := sec()
		if err != nil {
			return err
		}
		cfg.Auth, cfg.Insecure, cfg.Credentials, cfg.TLS = s.auth, s.insecure, s.creds, s.tls
		cfg.DSN = *db
		if cfg.AllowedHosts, err = hosts(); err != nil {
			return err
		}
		if cfg.TailMode, err = mode(); err != nil {
			return err
		}
		if cfg.Logger, err = mkLog(e.stderr); err != nil {
			return err
		}
		for _, m := range strings.Split(*managers, ",") {
			if m = strings.TrimSpace(m); m != "" {
				cfg.Managers = append(cfg.Managers, m)
			}
		}
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return fmt.Errorf("broker: %w", err)
		}
		defer ln.Close() // on an error before Serve, which closes it itself
		cfg.ListenAddr = ln.Addr().String()
		if cfg.AdvertiseAddr == "" {
			cfg.AdvertiseAddr = dialableAddr(ln.Addr().String())
		}
		if err := cfg.WithDefaults().Validate(); err != nil {
			return err
		}
		b, err := broker.New(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		defer b.Close()
		return b.Serve(cmd.Context(), ln)
	}
	return cmd
}

// dialableAddr turns a wildcard listen address (":8080", "0.0.0.0:8080")
// into one others can dial: this host's name.
func dialableAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		name, err := os.Hostname()
		if err != nil || name == "" {
			name = "localhost"
		}
		return net.JoinHostPort(name, port)
	}
	return addr
}
