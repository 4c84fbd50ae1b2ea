// Package bench is logq's benchmark (`logq bench`): it starts its own
// cluster (a throwaway PostgreSQL with fsync on, managers and brokers, as
// `logq dev` does) and measures the figures of DESIGN.md §5, each against a
// baseline measured in the same run on the same PostgreSQL: batched and
// unbatched produce, batched consume, produce and end-to-end latency,
// reader lag in both tail modes, cold start with and without a snapshot,
// and writer failover. The throughput and latency figures are also taken,
// in the same shapes and the same run, of a peer: NATS JetStream embedded
// in the process (package peer). The scaling section draws throughput and
// p99 against partitions and producers (package curves). The client of the
// throughput figures can run in a driver process of its own (Drive).
// docs/benchmarks.md explains the figures.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/logq/logq/client"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/harness/bench/peer"
	"github.com/logq/logq/internal/harness/devcluster"
	"github.com/logq/logq/internal/pg"
	"github.com/logq/logq/internal/pgserver"
)

// Sections of a run, in order. Each can be selected alone (Config.Only).
const (
	SectionProduce   = "produce"   // batched produce and batched consume (rows produce_batched, consume_batched)
	SectionUnbatched = "unbatched" // unbatched produce from many clients
	SectionKafka     = "kafka"     // the same over the Kafka protocol, franz-go clients (kafka.go)
	SectionLatency   = "latency"   // produce and end-to-end latency at a fixed rate
	SectionLag       = "lag"       // reader lag, both tail modes
	SectionColdStart = "coldstart" // projection rebuild from the event log
	SectionFailover  = "failover"  // writer failover in role auto
	SectionScaling   = "scaling"   // throughput and p99 against partitions and producers
)

// Sections lists every section in run order.
var Sections = []string{SectionProduce, SectionUnbatched, SectionKafka, SectionLatency, SectionLag, SectionColdStart, SectionScaling, SectionFailover}

// Config configures a run. Zero fields take the defaults of a full run
// (Defaults), or of a quick one with Quick.
type Config struct {
	// Messages is the number of 100-byte messages of the batched produce
	// and consume (default 1,000,000).
	Messages int
	// MessageSize is the payload size in bytes (default 100).
	MessageSize int
	// Partitions is the benchmark topic's partition count, one per broker
	// (default 3).
	Partitions int
	// Clients is the number of concurrent unbatched producers (default 64),
	// UnbatchedMessages the messages they send in all (and the baseline
	// inserts; default 60,000).
	Clients           int
	UnbatchedMessages int
	// Rate (messages/s) and LatencyFor (how long) shape the latency
	// measurement (defaults 5,000/s for 10 s).
	Rate       int
	LatencyFor time.Duration
	// LagEvents is the number of events appended for the reader-lag
	// measurement, at LagRate events/s (defaults 2,000 at 500/s).
	LagEvents int
	LagRate   int
	// Events is the size of the event log the cold start rebuilds (default
	// 1,000,000); SnapshotEvery how far before the end the snapshot is
	// (default 10,000: the managers' default snapshot interval, so the
	// worst case).
	Events        int
	SnapshotEvery int
	// NoPeer leaves out NATS JetStream, the peer measured beside logq in
	// the sections produce, unbatched, latency and scaling.
	NoPeer bool
	// ScalingPartitions and ScalingProducers are the points of the scaling
	// curves (defaults 1, 3, 12, 48 partitions with ScalingFixedProducers
	// producers, 64; and 1, 8, 64, 256 producers on Partitions
	// partitions); ScalingFor is how long each point runs (default 3 s).
	ScalingPartitions     []int
	ScalingProducers      []int
	ScalingFixedProducers int
	ScalingFor            time.Duration
	// PlotDir, when set, is where the scaling curves are drawn
	// (scaling-partitions.svg, scaling-producers.svg).
	PlotDir string
	// DriverCommand, when set, starts the driver process: the Go client
	// of the throughput figures (batched and unbatched produce, batched
	// consume) and of the scaling curves then runs in it, its CPU time
	// apart from the servers' (the latency figures keep their client in
	// this process). The command must run Drive on its standard input and
	// output (`logq bench --drive`).
	DriverCommand []string
	// Rounds: throughput figures and their baselines alternate in this many
	// rounds, so that a noisy neighbour slows both alike (default 3).
	Rounds int
	// Only runs these sections (default: all).
	Only []string
	// Quick makes every count tiny: a smoke run of every code path.
	Quick bool
	// Command is the command line, echoed in the report.
	Command string
	// Logger receives the servers' logs (default: none).
	Logger zerolog.Logger
	// Progress receives one line per step (default: none).
	Progress io.Writer
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	def := func(v *int, full, quick int) {
		if *v <= 0 {
			*v = full
			if c.Quick {
				*v = quick
			}
		}
	}
	def(&c.Messages, 1_000_000, 6_000)
	def(&c.MessageSize, 100, 100)
	def(&c.Partitions, 3, 3)
	def(&c.Clients, 64, 8)
	def(&c.UnbatchedMessages, 60_000, 400)
	def(&c.Rate, 5_000, 1_000)
	def(&c.LagEvents, 2_000, 40)
	def(&c.LagRate, 500, 200)
	def(&c.Events, 1_000_000, 5_000)
	def(&c.SnapshotEvery, 10_000, 1_000)
	def(&c.Rounds, 3, 1)
	def(&c.ScalingFixedProducers, 64, 8)
	if len(c.ScalingPartitions) == 0 {
		c.ScalingPartitions = []int{1, 3, 12, 48}
		if c.Quick {
			c.ScalingPartitions = []int{1, 3}
		}
	}
	if len(c.ScalingProducers) == 0 {
		c.ScalingProducers = []int{1, 8, 64, 256}
		if c.Quick {
			c.ScalingProducers = []int{1, 8}
		}
	}
	if c.ScalingFor <= 0 {
		c.ScalingFor = 3 * time.Second
		if c.Quick {
			c.ScalingFor = 150 * time.Millisecond
		}
	}
	if c.LatencyFor <= 0 {
		c.LatencyFor = 10 * time.Second
		if c.Quick {
			c.LatencyFor = 500 * time.Millisecond
		}
	}
	c.SnapshotEvery = min(c.SnapshotEvery, c.Events/2)
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return c
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	for _, s := range c.Only {
		if !slices.Contains(Sections, s) {
			return fmt.Errorf("unknown section %q (want %s)", s, strings.Join(Sections, ", "))
		}
	}
	for _, n := range append(slices.Clone(c.ScalingPartitions), c.ScalingProducers...) {
		if n <= 0 {
			return fmt.Errorf("scaling point %d is not positive", n)
		}
	}
	if c.MessageSize > 0 && c.MessageSize < 16 {
		return fmt.Errorf("message size %d is under 16 bytes", c.MessageSize)
	}
	return nil
}

func (c Config) runs(section string) bool {
	return len(c.Only) == 0 || slices.Contains(c.Only, section)
}

// env is a running benchmark environment.
type env struct {
	cfg     Config
	pg      *pgserver.Server
	cluster *devcluster.Cluster
	db      *pgxpool.Pool // the cluster's database, for the baselines
	client  *client.Client
	peer    *peer.Server // nil with NoPeer
	load    loadGen      // where the client of the throughput figures runs
	driver  *driverLoad  // the driver process, with DriverCommand
	report  *Report

	scalingTopics     map[string]bool       // topics the scaling section created
	scalingPeerTopics map[string]peer.Topic // and on JetStream
}

func (e *env) progress(format string, args ...any) {
	fmt.Fprintf(e.cfg.Progress, "bench: "+format+"\n", args...)
}

// Run starts a cluster, runs the benchmark and returns its report. It
// stops everything it started before returning, also on error or when ctx
// is done.
func Run(ctx context.Context, cfg Config) (_ *Report, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.PlotDir != "" {
		// Made (or refused) now, not after the minutes the curves take.
		if err := os.MkdirAll(cfg.PlotDir, 0o755); err != nil {
			return nil, fmt.Errorf("plots: %w", err)
		}
	}
	cfg.Progress = &syncWriter{w: cfg.Progress} // the driver process writes to it too
	start := time.Now()
	rep := &Report{
		Command: cfg.Command, Started: start, Cores: runtime.NumCPU(),
		GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, Fsync: true, Quick: cfg.Quick,
	}
	rep.LoadAvg[0] = loadAverage()
	e := &env{cfg: cfg, report: rep}
	defer e.close()

	e.progress("starting PostgreSQL (fsync on)")
	e.pg, err = pgserver.Start(ctx, pgserver.Options{Fsync: true})
	if err != nil {
		return nil, err
	}
	if err := createDatabase(ctx, e.pg.DSN("postgres"), "logq"); err != nil {
		return nil, err
	}
	dsn := e.pg.DSN("logq")
	if e.db, err = pg.Connect(ctx, dsn, int32(cfg.Clients+8)); err != nil {
		return nil, err
	}
	if err := pg.Migrate(ctx, e.db); err != nil {
		return nil, err
	}
	if err := e.db.QueryRow(ctx, "SHOW server_version").Scan(&rep.PostgreSQL); err != nil {
		return nil, fmt.Errorf("postgres version: %w", err)
	}
	rep.PostgreSQL = "PostgreSQL " + rep.PostgreSQL

	e.progress("starting the cluster: 2 managers (role auto), %d brokers", cfg.Partitions)
	e.cluster, err = devcluster.Start(ctx, devcluster.Config{
		DSN: dsn, Readers: 1, Brokers: cfg.Partitions, Auto: true,
		TailMode: eventlog.ModeNotify, Logger: cfg.Logger,
		Kafka: cfg.runs(SectionKafka), // Kafka listeners on random ports
	})
	if err != nil {
		return nil, err
	}
	e.client, err = client.New(client.Config{Managers: e.cluster.ManagerURLs()})
	if err != nil {
		return nil, err
	}

	if !cfg.NoPeer && slices.ContainsFunc([]string{SectionProduce, SectionUnbatched, SectionKafka, SectionLatency, SectionScaling}, cfg.runs) {
		e.progress("starting NATS JetStream (embedded, file storage)")
		if e.peer, err = peer.Start(); err != nil {
			return nil, err
		}
		rep.Peer = e.peer.Description()
	}

	e.load = localLoad{c: e.client, size: cfg.MessageSize}
	if len(cfg.DriverCommand) > 0 {
		e.progress("starting the driver process: %s", strings.Join(cfg.DriverCommand, " "))
		if e.driver, err = startDriver(ctx, cfg.DriverCommand, e.cluster.ManagerURLs(), cfg.MessageSize, cfg.Progress); err != nil {
			return nil, err
		}
		e.load = e.driver
		rep.DriverProcess = true
	}

	steps := []struct {
		section string
		run     func(context.Context) error
	}{
		{SectionProduce, e.produceAndConsume},
		{SectionUnbatched, e.unbatched},
		{SectionKafka, e.kafka},
		{SectionLatency, e.latency},
		{SectionLag, e.readerLag},
		{SectionColdStart, e.coldStart},
		{SectionScaling, e.scaling},
		{SectionFailover, e.failover}, // last: it stops the writer
	}
	for _, s := range steps {
		if !cfg.runs(s.section) {
			continue
		}
		if err := e.settle(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", s.section, err)
		}
		if err := s.run(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", s.section, err)
		}
	}
	rep.Duration = time.Since(start).Seconds()
	rep.LoadAvg[1] = loadAverage()
	return rep, nil
}

// settle starts a section on a quiet disk: the dirty pages the sections
// before it left in the page cache (JetStream's file store, which does not
// fsync, writes a section's messages there) are written back (sync(2)),
// and PostgreSQL checkpoints. Without it that writeback landed in the
// next section's measurement: the latency section, after the throughput
// sections of a full run, measured produce p99 of 74-79 ms against 11 ms
// alone, its commits' flushes queued behind the kernel's writeback of
// JetStream's data.
func (e *env) settle(ctx context.Context) error {
	syscall.Sync()
	if _, err := e.db.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint before the section: %w", err)
	}
	return nil
}

// close stops what Run started, in reverse order.
func (e *env) close() {
	if e.driver != nil {
		e.driver.close()
	}
	if e.peer != nil {
		e.peer.Close()
	}
	if e.client != nil {
		e.client.Close()
	}
	if e.cluster != nil {
		e.cluster.Close()
	}
	if e.db != nil {
		e.db.Close()
	}
	if e.pg != nil {
		e.pg.Stop()
	}
}

// createDatabase creates database name on the server at adminDSN.
func createDatabase(ctx context.Context, adminDSN, name string) error {
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// syncWriter serialises the writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// errShort is a measurement that did not see every message it waited for.
var errShort = errors.New("incomplete")
