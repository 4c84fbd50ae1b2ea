package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv("LOGQ_BENCH_DRIVER") == "1" { // the driver process of TestDriverProcess
		if err := Drive(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// TestDriverProcess runs the throughput sections with the client in a
// driver process (this test binary, run as Drive) and checks that the
// figures come with the driver's CPU time.
func TestDriverProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t.Setenv("LOGQ_BENCH_DRIVER", "1") // for the child only: TestMain has run
	var progress bytes.Buffer
	rep, err := Run(ctx, Config{
		Quick: true, NoPeer: true, Only: []string{SectionProduce, SectionUnbatched}, Progress: &progress,
		DriverCommand: []string{os.Args[0], "-test.run=^$"},
	})
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, progress.String())
	}
	if !rep.DriverProcess || len(rep.Rows) != 5 { // produce, unbatched (via managers, direct), consume (via managers, direct)
		t.Fatalf("driver process %v, %d rows", rep.DriverProcess, len(rep.Rows))
	}
	for _, row := range rep.Rows {
		if !(row.Value > 0) || row.CPU == nil {
			t.Errorf("%s: value %v, cpu %+v", row.ID, row.Value, row.CPU)
		}
	}
	// CPU time is counted in clock ticks (10 ms): the unbatched produce,
	// at over 100 µs per message, shows the driver's part even when tiny.
	if row, _ := rep.Row("produce_unbatched"); row.CPU == nil || !(row.CPU.Driver > 0) {
		t.Errorf("unbatched produce without the driver's CPU: %+v", row.CPU)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	if !strings.Contains(table.String(), "driver process") {
		t.Errorf("the table does not say the driver ran apart:\n%s", table.String())
	}
}

// TestQuickRun runs the whole benchmark in quick mode (what `logq bench
// --quick` runs) and checks that it completes and reports every figure, in
// the table and in JSON. It checks no speed: that is the benchmark's job,
// on a quiet machine.
func TestQuickRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	plots := t.TempDir()
	rep, err := Run(ctx, Config{Quick: true, Progress: &progress, Command: "logq bench --quick", PlotDir: plots})
	if err != nil {
		t.Fatalf("quick run: %v\nprogress:\n%s", err, progress.String())
	}
	if rep.Cores < 1 || rep.GoVersion == "" || !strings.HasPrefix(rep.PostgreSQL, "PostgreSQL ") || !rep.Fsync {
		t.Errorf("report header: %d cores, %q, %q, fsync %v", rep.Cores, rep.GoVersion, rep.PostgreSQL, rep.Fsync)
	}
	for _, id := range rowOrder {
		row, ok := rep.Row(id)
		if !ok {
			t.Errorf("no figure %s", id)
			continue
		}
		if !(row.Value > 0) || math.IsInf(row.Value, 0) || row.Unit == "" || row.Title == "" || row.Note == "" {
			t.Errorf("%s: value %v %q, title %q, note %q", id, row.Value, row.Unit, row.Title, row.Note)
		}
		if row.BaselineName != "" && (!(row.Baseline > 0) || !(row.Ratio > 0)) {
			t.Errorf("%s: baseline %v, ratio %v", id, row.Baseline, row.Ratio)
		}
		if row.Target != "" && row.Pass == nil {
			t.Errorf("%s: target %q without a result", id, row.Target)
		}
	}
	// The peer: every throughput and latency row has JetStream's figure
	// and a ratio to it, and the report says JetStream does not fsync.
	for _, id := range []string{"produce_batched", "produce_unbatched", "consume_batched", "consume_batched_direct", "produce_latency", "e2e_latency"} {
		if row, _ := rep.Row(id); !(row.Peer > 0) || !(row.PeerRatio > 0) || math.IsInf(row.PeerRatio, 0) {
			t.Errorf("%s: JetStream %v, ratio %v", id, row.Peer, row.PeerRatio)
		}
	}
	if !strings.Contains(rep.Peer, "JetStream") || !strings.Contains(rep.Peer, "NOT fsync") {
		t.Errorf("peer description %q", rep.Peer)
	}
	// The scaling curves: every point through both systems, drawn.
	c := Config{Quick: true}.withDefaults()
	if want := 2 * (len(c.ScalingPartitions) + len(c.ScalingProducers)); len(rep.Scaling) != want {
		t.Errorf("%d scaling points, want %d: %+v", len(rep.Scaling), want, rep.Scaling)
	}
	for _, pt := range rep.Scaling {
		if !(pt.Rate > 0) || pt.Messages == 0 || !(pt.P99 > 0) || pt.Partitions == 0 || pt.Producers == 0 {
			t.Errorf("scaling point %+v", pt)
		}
	}
	if len(rep.Plots) != len(PlotFiles) {
		t.Errorf("plots %v, want %d", rep.Plots, len(PlotFiles))
	}
	for _, name := range PlotFiles {
		if b, err := os.ReadFile(filepath.Join(plots, name)); err != nil || !bytes.Contains(b, []byte("<svg")) {
			t.Errorf("plot %s: %v", name, err)
		}
	}
	if len(rep.Rows) != len(rowOrder) {
		t.Errorf("%d figures, want %d", len(rep.Rows), len(rowOrder))
	}

	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, row := range rep.Rows {
		if !strings.Contains(table.String(), row.Title) {
			t.Errorf("the table lacks %q:\n%s", row.Title, table.String())
		}
	}
	for _, want := range []string{"cores", "PostgreSQL", "go1", "TARGET", "RESULT", "CPU per message", "JETSTREAM", "NOT fsync", "Scaling", "LOGQ P99"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Rows) != len(rep.Rows) {
		t.Errorf("JSON report does not read back (%v): %s", err, js.String())
	}
	t.Logf("\n%s", table.String())
}

func TestConfig(t *testing.T) {
	if err := (Config{Only: []string{"produce", "nope"}}).Validate(); err == nil {
		t.Error("an unknown section passed")
	}
	c := Config{Quick: true}.withDefaults()
	if c.Messages >= 100_000 || c.Events >= 100_000 || c.SnapshotEvery > c.Events/2 {
		t.Errorf("quick defaults are not small: %+v", c)
	}
	if got := splitEven(10, 3); got[0]+got[1]+got[2] != 10 || got[0] != 4 {
		t.Errorf("splitEven(10, 3) = %v", got)
	}
}
