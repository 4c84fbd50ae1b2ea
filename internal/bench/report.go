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
	// LoadAvg is the machine's 1-minute load average at the start and at
	// the end of the run (Linux): above the core count, other work
	// competed for the CPU and the wall-clock figures suffer.
	LoadAvg [2]float64 `json:"load_average,omitempty"`
	Rows    []Row      `json:"results"`
}

// Row is one figure of the report.
type Row struct {
	// ID names the figure (stable, for scripts): produce_batched,
	// produce_unbatched, consume_batched, consume_batched_direct,
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
}

// Figure is a named secondary number of a row.
type Figure struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// Row IDs, in report order.
var rowOrder = []string{
	"produce_batched", "produce_unbatched", "consume_batched", "consume_batched_direct",
	"produce_latency", "e2e_latency", "reader_lag_notify", "reader_lag_logical",
	"cold_start_full", "cold_start_snapshot", "writer_failover",
}

// AllRows lists every row ID a full run reports.
func AllRows() []string { return slices.Clone(rowOrder) }

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
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tLOGQ\tBASELINE (same run)\tRATIO\tTARGET\tRESULT")
	for _, row := range r.Rows {
		value := formatValue(row.Value, row.Unit)
		if row.ValueName != "" {
			value = row.ValueName + " " + value
		}
		for _, f := range row.Figures {
			value += ", " + f.Name + " " + formatValue(f.Value, f.Unit)
		}
		base, ratio := "", ""
		if row.Baseline > 0 {
			base = row.BaselineName + " " + formatValue(row.Baseline, row.Unit)
			ratio = fmt.Sprintf("%.2fx", row.Ratio)
		}
		result := "info"
		if row.Pass != nil {
			result = "MISS"
			if *row.Pass {
				result = "pass"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", row.Title, value, base, ratio, row.Target, result)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var cpu []string
	for _, row := range r.Rows {
		if c := row.CPU; c != nil {
			cpu = append(cpu, fmt.Sprintf("  %s\t%.1f + %.1f = %.1f\t%.1f + %.1f = %.1f\t%.2fx",
				row.Title, c.Logq, c.LogqPG, c.Logq+c.LogqPG, c.Baseline, c.BaselinePG, c.Baseline+c.BaselinePG,
				(c.Logq+c.LogqPG)/(c.Baseline+c.BaselinePG)))
		}
	}
	if len(cpu) > 0 {
		fmt.Fprintf(w, "\nCPU per message, µs (this process + PostgreSQL):\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  FIGURE\tLOGQ\tBASELINE\tLOGQ/BASELINE")
		for _, l := range cpu {
			fmt.Fprintln(tw, l)
		}
		if err := tw.Flush(); err != nil {
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

// formatValue prints v in unit with sensible precision.
func formatValue(v float64, unit string) string {
	switch unit {
	case "msgs/s", "events/s":
		return groupThousands(int64(math.Round(v))) + " " + unit
	case "ms":
		switch {
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
