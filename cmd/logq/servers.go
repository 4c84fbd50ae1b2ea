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

	"github.com/logq/logq/broker"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/manager"
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

func managerCmd(e *env) *cobra.Command {
	cmd, f := newCommand("manager", "run a manager (control plane and routing)", `Run a manager: the control plane's API (topics, registrations, brokers,
events) and the routing of produce and consume requests to brokers.
Role write takes the writer lock, read forwards writes to the writer, auto
competes for the lock (the holder writes; a reader takes over when it dies).
Every flag also reads LOGQ_<FLAG> from the environment (flags win).`, 0, 0)
	addr := f.String("addr", "127.0.0.1:8080", "listen `address` host:port")
	advertise := f.String("advertise", "", "`URL` others reach this manager at (default http://ADDR)")
	role := f.String("role", "auto", "`role`: write, read or auto")
	db := dbFlag(f, "control-plane PostgreSQL `URL` (required)")
	mode := tailFlag(f)
	hbi := f.Duration("heartbeat-interval", manager.DefaultHeartbeatInterval, "how often brokers heartbeat")
	hbt := f.Duration("heartbeat-timeout", manager.DefaultHeartbeatTimeout, "silence after which a broker is declared dead")
	name := f.String("name", "", "manager `name` in the writer lease and logs (default: the advertise URL)")
	clientTimeout := f.Duration("client-timeout", manager.DefaultClientTimeout, "silence after which a producer or consumer is shown inactive")
	clientSeenFlush := f.Duration("client-seen-flush", manager.DefaultClientSeenFlush, "how often a reader forwards client activity to the writer")
	liveness := f.Duration("liveness-check-interval", manager.DefaultLivenessCheck, "how often the writer looks for brokers past the heartbeat timeout")
	brokerTimeout := f.Duration("broker-timeout", manager.DefaultBrokerTimeout, "bound on one request to a broker or to the writer (plus any long-poll wait)")
	readHeaderTimeout := f.Duration("read-header-timeout", 5*time.Second, "bound on reading a request's headers")
	readTimeout := f.Duration("read-timeout", time.Minute, "bound on reading a whole request")
	writeTimeout := f.Duration("write-timeout", time.Minute, "bound on answering a request (must exceed the 30s long poll)")
	shutdownTimeout := f.Duration("shutdown-timeout", manager.DefaultShutdownTimeout, "bound on the graceful shutdown")
	maxBody := f.Int64("max-body-bytes", manager.DefaultMaxBodyBytes, "largest request body accepted (413 beyond)")
	maxMessage := f.Int("max-message-bytes", manager.DefaultMaxMessageBytes, "largest message (with its key) accepted by produce (413 beyond)")
	maxBatch := f.Int("max-batch", manager.DefaultMaxBatchMessages, "most messages in one produce_batch")
	mkLog := logFlags(f, "info")
	f.envAll()
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		ctx := cmd.Context()
		if *db == "" {
			return usageErrorf("manager: --db (or LOGQ_DATABASE_URL) is required")
		}
		r, err := manager.ParseRole(*role)
		if err != nil {
			return usageErrorf("manager: --role: %v", err)
		}
		tm, err := mode()
		if err != nil {
			return err
		}
		log, err := mkLog(e.stderr)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return fmt.Errorf("manager: %w", err)
		}
		adv := *advertise
		if adv == "" {
			adv = "http://" + dialableAddr(ln.Addr().String())
		}
		cfg := manager.Config{
			Name: *name, AdvertiseURL: adv, Role: r, DSN: *db, TailMode: tm,
			HeartbeatInterval: *hbi, HeartbeatTimeout: *hbt, LivenessCheckInterval: *liveness,
			ClientTimeout: *clientTimeout, ClientSeenFlush: *clientSeenFlush,
			BrokerTimeout: *brokerTimeout, ReadHeaderTimeout: *readHeaderTimeout, ReadTimeout: *readTimeout,
			WriteTimeout: *writeTimeout, ShutdownTimeout: *shutdownTimeout,
			MaxBodyBytes: *maxBody, MaxMessageBytes: *maxMessage, MaxBatchMessages: *maxBatch,
			Logger: log,
		}
		if err := cfg.Validate(); err != nil {
			ln.Close()
			return err
		}
		m, err := manager.New(ctx, cfg)
		if err != nil {
			ln.Close()
			return err
		}
		return m.Serve(ctx, ln)
	}
	return cmd
}

func brokerCmd(e *env) *cobra.Command {
	cmd, f := newCommand("broker", "run a broker (owns partitions, stores messages)", `Run a broker: it registers with the managers (getting an id; the same
address gets its old id back), heartbeats, learns which partitions it owns
from the event log, and serves appends and reads for them.
Every flag also reads LOGQ_<FLAG> from the environment (flags win).`, 0, 0)
	addr := f.String("addr", broker.DefaultListenAddr, "listen `address` host:port")
	advertise := f.String("advertise", "", "`host:port` managers and clients reach this broker at (default: ADDR)")
	managers := f.String("managers", "http://127.0.0.1:8080", "manager `URL`s, comma-separated")
	db := dbFlag(f, "control-plane PostgreSQL `URL` (required)")
	dataDB := f.String("data-db", "", "data-plane PostgreSQL `URL` (default: --db)")
	f.fromEnv("data-db", "LOGQ_DATA_DB", "LOGQ_DATA_DATABASE_URL")
	id := f.Int64("id", 0, "broker `id` (0: register and get one)")
	mode := tailFlag(f)
	hbi := f.Duration("heartbeat-interval", broker.DefaultHeartbeatInterval, "time between heartbeats")
	maxMessage := f.Int("max-message-bytes", broker.DefaultMaxMessageBytes, "largest message (with its key) accepted (413 beyond)")
	maxRequest := f.Int64("max-request-bytes", broker.DefaultMaxRequestBytes, "largest request body accepted (413 beyond)")
	maxAppend := f.Int("max-append-messages", broker.DefaultMaxAppendMessages, "most messages in one append request")
	readHeaderTimeout := f.Duration("read-header-timeout", 10*time.Second, "bound on reading a request's headers")
	readTimeout := f.Duration("read-timeout", time.Minute, "bound on reading a whole request")
	writeTimeout := f.Duration("write-timeout", broker.DefaultLongPollMax+time.Minute, "bound on answering a request (must exceed the 30s long poll)")
	shutdownTimeout := f.Duration("shutdown-timeout", broker.DefaultShutdownTimeout, "bound on the graceful shutdown (appends in flight are committed and answered)")
	mkLog := logFlags(f, "info")
	f.envAll()
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		ctx := cmd.Context()
		if *db == "" {
			return usageErrorf("broker: --db (or LOGQ_DATABASE_URL) is required")
		}
		if *id < 0 {
			return usageErrorf("broker: --id must not be negative")
		}
		tm, err := mode()
		if err != nil {
			return err
		}
		log, err := mkLog(e.stderr)
		if err != nil {
			return err
		}
		var mgrs []string
		for _, m := range strings.Split(*managers, ",") {
			if m = strings.TrimSpace(m); m != "" {
				mgrs = append(mgrs, m)
			}
		}
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return fmt.Errorf("broker: %w", err)
		}
		adv := *advertise
		if adv == "" {
			adv = dialableAddr(ln.Addr().String())
		}
		cfg := broker.Config{
			ID: *id, ListenAddr: ln.Addr().String(), AdvertiseAddr: adv, Managers: mgrs,
			DSN: *db, DataDSN: *dataDB, TailMode: tm, HeartbeatInterval: *hbi,
			MaxMessageBytes: *maxMessage, MaxRequestBytes: *maxRequest, MaxAppendMessages: *maxAppend,
			ReadHeaderTimeout: *readHeaderTimeout, ReadTimeout: *readTimeout, WriteTimeout: *writeTimeout,
			ShutdownTimeout: *shutdownTimeout, Logger: log,
		}
		if err := cfg.WithDefaults().Validate(); err != nil {
			ln.Close()
			return err
		}
		b, err := broker.New(ctx, cfg)
		if err != nil {
			ln.Close()
			return err
		}
		defer b.Close()
		return b.Serve(ctx, ln)
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

// shutdownGrace bounds how long dev waits for its servers on Ctrl-C.
const shutdownGrace = 30 * time.Second
