// Package curves draws the benchmark's scaling curves as SVG with
// gonum.org/v1/plot: for each system, throughput (top panel) and p99
// latency (bottom panel, log scale) against one variable (log scale),
// the variable's measured values as ticks.
package curves

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Series is one system's curve: at each X, a rate (messages/s) and a p99
// latency (ms).
type Series struct {
	Name string
	X    []float64
	Rate []float64
	P99  []float64
}

// Chart is one figure: a title, the X axis' label and the curves.
type Chart struct {
	Title, XLabel, Caption string
	Series                 []Series
}

// minLatency is where a p99 of 0 (no sample) is drawn on the log axis.
const minLatency = 0.001

// WriteSVG draws c to the file at path.
func WriteSVG(path string, c Chart) error {
	if len(c.Series) == 0 {
		return errors.New("curves: nothing to draw")
	}
	var xs []float64
	for _, s := range c.Series {
		if len(s.X) != len(s.Rate) || len(s.X) != len(s.P99) || len(s.X) == 0 {
			return fmt.Errorf("curves: series %s has %d x, %d rates, %d latencies", s.Name, len(s.X), len(s.Rate), len(s.P99))
		}
		for _, x := range s.X {
			if !(x > 0) {
				return fmt.Errorf("curves: series %s: x %v on a log axis", s.Name, x)
			}
			xs = append(xs, x)
		}
	}
	slices.Sort(xs)
	xs = slices.Compact(xs)
	var ticks plot.ConstantTicks
	for _, x := range xs {
		ticks = append(ticks, plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'f', -1, 64)})
	}

	rate := plot.New()
	rate.Title.Text = c.Title
	if c.Caption != "" {
		rate.Title.Text += "\n" + c.Caption
	}
	rate.Title.TextStyle.Font.Size = vg.Points(10)
	rate.Y.Label.Text = "throughput, msgs/s"
	rate.Y.Min = 0
	rate.Y.Tick.Marker = thousands{}
	lat := plot.New()
	lat.Y.Label.Text = "p99 produce latency, ms (log)"
	lat.Y.Scale = plot.LogScale{}
	lat.Y.Tick.Marker = logTicks{}
	lat.X.Label.Text = c.XLabel
	for _, p := range []*plot.Plot{rate, lat} {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = ticks
		p.X.Min, p.X.Max = xs[0]/1.3, xs[len(xs)-1]*1.3
		p.Add(plotter.NewGrid())
	}
	// The legend, top left in the upper panel, over room left for it.
	rate.Legend.Top, rate.Legend.Left = true, true
	rate.Legend.XOffs = vg.Points(6)
	rate.Legend.TextStyle.Font.Size = vg.Points(10)
	var maxRate, minLat, maxLat float64
	minLat = math.Inf(1)
	for _, s := range c.Series {
		for j := range s.X {
			maxRate = math.Max(maxRate, s.Rate[j])
			minLat = math.Min(minLat, math.Max(s.P99[j], minLatency))
			maxLat = math.Max(maxLat, math.Max(s.P99[j], minLatency))
		}
	}
	rate.Y.Max = math.Max(maxRate, 1) * (1 + 0.12*float64(len(c.Series)+1))
	lat.Y.Min, lat.Y.Max = minLat/1.5, maxLat*1.5
	for i, s := range c.Series {
		rxy, lxy := make(plotter.XYs, len(s.X)), make(plotter.XYs, len(s.X))
		for j, x := range s.X {
			rxy[j] = plotter.XY{X: x, Y: s.Rate[j]}
			lxy[j] = plotter.XY{X: x, Y: math.Max(s.P99[j], minLatency)}
		}
		for k, pd := range []struct {
			p   *plot.Plot
			xys plotter.XYs
		}{{rate, rxy}, {lat, lxy}} {
			l, pts, err := plotter.NewLinePoints(pd.xys)
			if err != nil {
				return fmt.Errorf("curves: %w", err)
			}
			l.Color = plotutil.Color(i)
			l.Dashes = plotutil.Dashes(i)
			pts.Color = plotutil.Color(i)
			pts.Shape = plotutil.Shape(i)
			pd.p.Add(l, pts)
			if k == 0 {
				rate.Legend.Add(s.Name, l, pts)
			}
		}
	}

	img := vgsvg.New(7*vg.Inch, 7*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(12), PadY: vg.Points(12)}
	canvases := plot.Align([][]*plot.Plot{{rate}, {lat}}, tiles, dc)
	rate.Draw(canvases[0][0])
	lat.Draw(canvases[1][0])
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("curves: %w", err)
	}
	if _, err := img.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("curves: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("curves: write %s: %w", path, err)
	}
	return nil
}

// thousands labels the default ticks of a rate axis as 20k, 40k, ….
type thousands struct{}

func (thousands) Ticks(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min, max)
	for i, t := range ticks {
		if t.Label == "" {
			continue
		}
		switch {
		case t.Value == 0:
			ticks[i].Label = "0"
		case math.Abs(t.Value) >= 1e6:
			ticks[i].Label = strconv.FormatFloat(t.Value/1e6, 'f', -1, 64) + "M"
		case math.Abs(t.Value) >= 1e3:
			ticks[i].Label = strconv.FormatFloat(t.Value/1e3, 'f', -1, 64) + "k"
		}
	}
	return ticks
}

// logTicks marks a log axis at 1, 2 and 5 of each decade (labelled) and
// the other integers of it (not).
type logTicks struct{}

func (logTicks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(min)); e <= math.Ceil(math.Log10(max)); e++ {
		for i := 1; i < 10; i++ {
			v := float64(i) * math.Pow10(int(e))
			if v < min || v > max {
				continue
			}
			t := plot.Tick{Value: v}
			if i == 1 || i == 2 || i == 5 {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}
