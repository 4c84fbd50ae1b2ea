package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/spf13/cobra"

	"github.com/logq/logq/internal/harness/bench"
)

func benchCmd(e *env) *cobra.Command {
	cmd, f := newCommand("bench", "benchmark logq against PostgreSQL and NATS JetStream (starts its own cluster)", `Benchmark logq against PostgreSQL itself and NATS JetStream. Starts its own cluster (a throwaway
PostgreSQL with fsync on, two managers in role auto, one broker per
partition), measures the figures of DESIGN.md §5 — batched and unbatched
produce, batched consume, produce and end-to-end latency, reader lag in both
tail modes, cold start with and without a snapshot, writer failover — each
against a baseline measured in the same run on the same PostgreSQL and
against an embedded NATS JetStream (--peer=false skips it), prints a
table of figures, ratios and targets, and stops everything it started.
A full run takes a few minutes; --quick is a smoke run of every path.
docs/benchmarks.md explains the figures.`, 0, 0)
	messages := f.Int("messages", 0, "messages of the batched produce and consume (default 1000000; --quick: 6000)")
	quick := f.Bool("quick", false, "tiny counts: check that every figure can be measured, in seconds")
	asJSON := f.Bool("json", false, "print the report as JSON")
	only := f.String("only", "", "run only these `sections`, comma-separated: "+strings.Join(bench.Sections, ", "))
	cpuprofile := f.String("cpuprofile", "", "write a CPU profile of the whole run (client, managers, brokers) to `FILE`")
	memprofile := f.String("memprofile", "", "write an allocation profile to `FILE` at the end")
	withPeer := f.Bool("peer", true, "measure NATS JetStream (embedded, file storage) beside logq; --peer=false skips it")
	plots := f.String("plots", "", "draw the scaling curves as SVG into `DIR` (scaling-partitions.svg, scaling-producers.svg)")
	driverProcess := f.Bool("driver-process", false, "run the load generator (the client of the throughput and scaling figures) in a process of its own, its CPU apart from the servers'")
	drive := f.Bool("drive", false, "internal: be the driver process of a run with --driver-process (requests on stdin, replies on stdout)")
	f.MarkHidden("drive")
	mkLog := logFlags(f, "error")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		if *messages < 0 {
			return usageErrorf("bench: --messages must be positive")
		}
		if *drive {
			return bench.Drive(ctx, e.stdin, e.stdout)
		}
		log, err := mkLog(e.stderr)
		if err != nil {
			return err
		}
		cfg := bench.Config{
			Messages: *messages, Quick: *quick, Logger: log, Progress: e.stderr, NoPeer: !*withPeer, PlotDir: *plots,
			Command: "logq " + strings.Join(e.args, " "),
		}
		if *driverProcess {
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			cfg.DriverCommand = []string{exe, "bench", "--drive"}
		}
		if *only != "" {
			for _, s := range strings.Split(*only, ",") {
				cfg.Only = append(cfg.Only, strings.TrimSpace(s))
			}
		}
		if err := cfg.Validate(); err != nil {
			return usageErrorf("bench: %v", err)
		}
		if *cpuprofile != "" {
			pf, err := os.Create(*cpuprofile)
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			defer pf.Close()
			if err := pprof.StartCPUProfile(pf); err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			defer pprof.StopCPUProfile()
		}
		rep, err := bench.Run(ctx, cfg)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("bench: %w", err)
		}
		if *memprofile != "" {
			mf, err := os.Create(*memprofile)
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			defer mf.Close()
			if err := pprof.Lookup("allocs").WriteTo(mf, 0); err != nil {
				return fmt.Errorf("bench: %w", err)
			}
		}
		if *asJSON {
			return rep.WriteJSON(e.stdout)
		}
		return rep.WriteTable(e.stdout)
	}
	return cmd
}
