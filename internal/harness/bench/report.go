package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a run measured.
type Report struct {
	Command    string    `json:"command,omitempty"`
	Started    time.Time `json:"started"`
	Duration   float64   `json:"duration_s"`
	Cores      int       `json:"cores"`
	GoVersion  string    `json:"go_version"`
	OS         string    `json:"os"`
	PostgreSQL string    `json:"postgresql"`
	Fsync      bool      `json:"fsync"`
	Quick      bool      `json:"quick"`
	// DriverProcess: the client of the throughput and scaling figures ran
	// in a process of its own (CPUUse.Driver is its CPU time).
	DriverProcess bool `json:"driver_process,omitempty"`
	// LoadAvg is the machine's 1-minute load average at the start and at
	// the end of the run (Linux): above the core count, other work
	// competed for the CPU and the wall-clock figures suffer.
	LoadAvg [2]float64 `json:"load_average,omitempty"`
	Rows    []Row      `json:"results"`
	// Peer describes the peer the rows compare with ("" when it was not
	// measured): NATS JetStream, embedded, and how it stores.
	Peer string `json:"peer,omitempty"`
	// Scaling holds the points of the scaling curves (section scaling).
	Scaling []ScalingPoint `json:"scaling,omitempty"`
	// ScalingNote says how each scaling point was measured.
	ScalingNote string `json:"scaling_note,omitempty"`
	// Plots are the files the scaling curves were drawn to.
	Plots []string `json:"plots,omitempty"`
}

// ScalingPoint is one point of a scaling curve: a closed-loop load of
// unbatched producers on a topic, through logq or through the peer.
type ScalingPoint struct {
	// Curve is "partitions" (producers fixed) or "producers" (partitions
	// fixed).
	Curve      string `json:"curve"`
	System     string `json:"system"` // "logq" or "jetstream"
	Partitions int    `json:"partitions"`
	Producers  int    `json:"producers"`
	Messages   int    `json:"messages"`
	// Rate is messages acknowledged per second; P50 and P99 the produce
	// latency (send → ack) in ms.
	Rate float64 `json:"rate"`
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
}

// Row is one figure of the report.
type Row struct {
	// ID names the figure (stable, for scripts): produce_batched,
	// produce_unbatched, produce_unbatched_direct, consume_batched,
	// consume_batched_direct,
	// kafka_produce_batched, kafka_produce_unbatched, kafka_fetch,
	// produce_latency, e2e_latency,
	// reader_lag_notify, reader_lag_logical, cold_start_full,
	// cold_start_snapshot, writer_failover.
	ID    string `json:"id"`
	Title string `json:"title"`
	// Value is the headline figure in Unit: a rate, or the percentile or
	// duration the target is about; ValueName names it when it is not
	// obvious ("p99").
	Value     float64 `json:"value"`
	Unit      string  `json:"unit"`
	ValueName string  `json:"value_name,omitempty"`
	// Baseline and Ratio (Value / Baseline) for the rows measured against a
	// baseline in the same run.
	Baseline     float64 `json:"baseline,omitempty"`
	BaselineName string  `json:"baseline_name,omitempty"`
	Ratio        float64 `json:"ratio,omitempty"`
	// Peer is the same figure for NATS JetStream in the same shape, same
	// run (PeerName says what of it), PeerFigures its other numbers and
	// PeerRatio logq's over it: Value / Peer for a rate; for a latency row,
	// logq's p99 over JetStream's (PeerRatioName "p99": lower is better).
	Peer          float64  `json:"jetstream,omitempty"`
	PeerName      string   `json:"jetstream_name,omitempty"`
	PeerFigures   []Figure `json:"jetstream_figures,omitempty"`
	PeerRatio     float64  `json:"jetstream_ratio,omitempty"`
	PeerRatioName string   `json:"jetstream_ratio_name,omitempty"`
	// Target is DESIGN.md §5's bound ("" when the row is informational);
	// Pass says whether this run met it.
	Target string `json:"target,omitempty"`
	Pass   *bool  `json:"pass,omitempty"`
	// Figures are the other numbers of the row (percentiles, the fold-only
	// time, sample counts…), in the order printed.
	Figures []Figure `json:"figures,omitempty"`
	// CPU is the CPU time per message of both sides of a throughput row.
	CPU *CPUUse `json:"cpu_per_message_us,omitempty"`
	// Note says how the row was measured, briefly.
	Note string `json:"note,omitempty"`
}

// CPUUse is CPU time per message in microseconds: of this process (the Go
// client, managers and brokers, or the baseline's pgx client) and of
// PostgreSQL, for logq and for its baseline.
type CPUUse struct {
	Logq       float64 `json:"logq"`
	LogqPG     float64 `json:"logq_postgres"`
	Baseline   float64 `json:"baseline"`
	BaselinePG float64 `json:"baseline_postgres"`
	// Driver is the driver process's, with --driver-process (the client;
	// Logq is then the managers' and brokers' alone).
	Driver float64 `json:"driver,omitempty"`
	// Peer is JetStream's: server and client, both in this process.
	Peer float64 `json:"jetstream,omitempty"`
}

// Figure is a named secondary number of a row.
type Figure struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// Row IDs, in report order.
var rowOrder = []string{
	"produce_batched", "produce_unbatched", "produce_unbatched_direct", "consume_batched", "consume_batched_direct",
	"kafka_produce_batched", "kafka_produce_unbatched", "kafka_fetch",
	"produce_latency", "e2e_latency", "reader_lag_notify", "reader_lag_logical",
	"cold_start_full", "cold_start_snapshot", "writer_failover",
}

func (r *Report) add(row Row) {
	r.Rows = append(r.Rows, row)
	slices.SortStableFunc(r.Rows, func(a, b Row) int {
		return slices.Index(rowOrder, a.ID) - slices.Index(rowOrder, b.ID)
	})
}

// Row returns the row with the given ID.
func (r *Report) Row(id string) (Row, bool) {
	for _, row := range r.Rows {
		if row.ID == id {
			return row, true
		}
	}
	return Row{}, false
}

// Missed returns the rows whose target was missed.
func (r *Report) Missed() []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Pass != nil && !*row.Pass {
			out = append(out, row)
		}
	}
	return out
}

func pass(ok bool) *bool { return &ok }

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report as a table.
func (r *Report) WriteTable(w io.Writer) error {
	fsync := "off"
	if r.Fsync {
		fsync = "on"
	}
	fmt.Fprintf(w, "logq bench: %d cores, %s %s, %s (fsync %s)\n", r.Cores, r.GoVersion, r.OS, r.PostgreSQL, fsync)
	if r.Command != "" {
		fmt.Fprintf(w, "command: %s\n", r.Command)
	}
	fmt.Fprintf(w, "started %s, took %s", r.Started.UTC().Format(time.RFC3339), (time.Duration(r.Duration * float64(time.Second))).Round(time.Second))
	if r.LoadAvg != [2]float64{} {
		fmt.Fprintf(w, "; load average %.1f at the start, %.1f at the end", r.LoadAvg[0], r.LoadAvg[1])
	}
	fmt.Fprint(w, "\n\n")
	if r.Peer != "" {
		fmt.Fprintf(w, "peer: %s\n", r.Peer)
	}
	if r.DriverProcess {
		fmt.Fprintf(w, "driver process: the Go client of the throughput and scaling figures ran in a process of its own\n")
	}
	if r.Peer != "" || r.DriverProcess {
		fmt.Fprintln(w)
	}
	if err := r.writeRows(w); err != nil {
		return err
	}
	var cpu []string
	for _, row := range r.Rows {
		if c := row.CPU; c != nil {
			logq := fmt.Sprintf("%.1f + %.1f", c.Logq, c.LogqPG)
			if c.Driver > 0 {
				logq = fmt.Sprintf("%.1f + %.1f + %.1f", c.Logq, c.Driver, c.LogqPG)
			}
			total := c.Logq + c.Driver + c.LogqPG
			line := fmt.Sprintf("  %s\t%s = %.1f\t%.1f + %.1f = %.1f\t%.2fx",
				row.Title, logq, total, c.Baseline, c.BaselinePG, c.Baseline+c.BaselinePG,
				total/(c.Baseline+c.BaselinePG))
			if c.Peer > 0 {
				line += fmt.Sprintf("\t%.1f\t%.2fx", c.Peer, total/c.Peer)
			} else if r.Peer != "" {
				line += "\t\t"
			}
			cpu = append(cpu, line)
		}
	}
	if len(cpu) > 0 {
		how := "this process + PostgreSQL"
		if r.DriverProcess {
			how = "managers and brokers + driver process + PostgreSQL"
		}
		if r.Peer != "" {
			how += "; JetStream: its server and client, in this process"
		}
		fmt.Fprintf(w, "\nCPU per message, µs (logq: %s):\n", how)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		head := "  FIGURE\tLOGQ\tBASELINE\tLOGQ/BASELINE"
		if r.Peer != "" {
			head += "\tJETSTREAM\tLOGQ/JETSTREAM"
		}
		fmt.Fprintln(tw, head)
		for _, l := range cpu {
			fmt.Fprintln(tw, l)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Scaling) > 0 {
		if err := r.writeScaling(w); err != nil {
			return err
		}
	}
	var notes []string
	for _, row := range r.Rows {
		if row.Note != "" {
			notes = append(notes, fmt.Sprintf("  %s: %s", row.Title, row.Note))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nHow each figure was measured:\n%s\n", strings.Join(notes, "\n"))
	}
	return nil
}

// writeRows writes the table of figures, if any.
func (r *Report) writeRows(w io.Writer) error {
	if len(r.Rows) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	peerCols := "\tJETSTREAM (same run, no fsync)\tRATIO"
	if r.Peer == "" {
		peerCols = ""
	}
	fmt.Fprintln(tw, "FIGURE\tLOGQ\tBASELINE (same run)\tRATIO"+peerCols+"\tTARGET\tRESULT")
	withFigures := func(name string, v float64, unit string, figs []Figure) string {
		s := formatValue(v, unit)
		if name != "" {
			s = name + " " + s
		}
		for _, f := range figs {
			s += ", " + f.Name + " " + formatValue(f.Value, f.Unit)
		}
		return s
	}
	for _, row := range r.Rows {
		value := withFigures(row.ValueName, row.Value, row.Unit, row.Figures)
		base, ratio := "", ""
		if row.Baseline > 0 {
			base = row.BaselineName + " " + formatValue(row.Baseline, row.Unit)
			ratio = fmt.Sprintf("%.2fx", row.Ratio)
		}
		peer, peerRatio := "", ""
		if row.Peer > 0 {
			peer = withFigures(strings.TrimSpace(row.PeerName+" "+row.ValueName), row.Peer, row.Unit, row.PeerFigures)
			peerRatio = strings.TrimSpace(fmt.Sprintf("%s %.2fx", row.PeerRatioName, row.PeerRatio))
		}
		result := "info"
		if row.Pass != nil {
			result = "MISS"
			if *row.Pass {
				result = "pass"
			}
		}
		if r.Peer != "" {
			ratio += "\t" + peer + "\t" + peerRatio
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", row.Title, value, base, ratio, row.Target, result)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return nil
}

// writeScaling writes the scaling points as two tables, one per curve.
func (r *Report) writeScaling(w io.Writer) error {
	fmt.Fprintf(w, "\nScaling: %s\n", r.ScalingNote)
	for _, curve := range []string{"partitions", "producers"} {
		type pair struct{ logq, js *ScalingPoint }
		var keys [][2]int
		points := map[[2]int]*pair{}
		for i := range r.Scaling {
			pt := &r.Scaling[i]
			if pt.Curve != curve {
				continue
			}
			k := [2]int{pt.Partitions, pt.Producers}
			if points[k] == nil {
				points[k] = &pair{}
				keys = append(keys, k)
			}
			if pt.System == "logq" {
				points[k].logq = pt
			} else {
				points[k].js = pt
			}
		}
		if len(keys) == 0 {
			continue
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  PARTITIONS\tPRODUCERS\tLOGQ\tLOGQ P99\tJETSTREAM\tJETSTREAM P99\t")
		cell := func(pt *ScalingPoint) string {
			if pt == nil {
				return "\t"
			}
			return formatValue(pt.Rate, "msgs/s") + "\t" + formatValue(pt.P99, "ms")
		}
		for _, k := range keys {
			fmt.Fprintf(tw, "  %d\t%d\t%s\t%s\t\n", k[0], k[1], cell(points[k].logq), cell(points[k].js))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, p := range r.Plots {
		fmt.Fprintf(w, "plot: %s\n", p)
	}
	return nil
}

// formatValue prints v in unit with sensible precision.
func formatValue(v float64, unit string) string {
	switch unit {
	case "msgs/s", "events/s":
		return groupThousands(int64(math.Round(v))) + " " + unit
	case "ms":
		switch {
		case v < 1:
			return fmt.Sprintf("%.3f ms", v)
		case v < 10:
			return fmt.Sprintf("%.2f ms", v)
		case v < 100:
			return fmt.Sprintf("%.1f ms", v)
		}
		return fmt.Sprintf("%.0f ms", v)
	case "s":
		if v < 10 {
			return fmt.Sprintf("%.3f s", v)
		}
		return fmt.Sprintf("%.1f s", v)
	case "":
		return groupThousands(int64(math.Round(v)))
	}
	return fmt.Sprintf("%.3g %s", v, unit)
}

func groupThousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// percentile returns the p-th percentile (0 < p ≤ 1) of sorted samples, by
// the nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// latencyFigures returns the usual percentiles of samples as figures.
func latencyFigures(samples []time.Duration, ps ...float64) []Figure {
	slices.Sort(samples)
	var out []Figure
	for _, p := range ps {
		name := fmt.Sprintf("p%g", p*100)
		if p == 0.999 {
			name = "p999"
		}
		out = append(out, Figure{Name: name, Value: ms(percentile(samples, p)), Unit: "ms"})
	}
	return out
}
