// Package prom declares logq's Prometheus metrics in one line each: a
// Registry wrapper whose constructors create and register a metric from its
// name, help and labels, and Gauges, a collector whose gauges are computed
// when /metrics is scraped (from state the server already holds).
package prom

import "github.com/prometheus/client_golang/prometheus"

// Registry creates metrics registered on a prometheus.Registry.
type Registry struct{ *prometheus.Registry }

// NewRegistry returns an empty registry.
func NewRegistry() Registry { return Registry{prometheus.NewRegistry()} }

// Counter creates and registers a counter.
func (r Registry) Counter(name, help string) prometheus.Counter {
	return register(r, prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help}))
}

// CounterVec creates and registers a counter with labels.
func (r Registry) CounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return register(r, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
}

// Gauge creates and registers a gauge.
func (r Registry) Gauge(name, help string) prometheus.Gauge {
	return register(r, prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help}))
}

// GaugeVec creates and registers a gauge with labels.
func (r Registry) GaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels))
}

// Histogram creates and registers a histogram.
func (r Registry) Histogram(name, help string, buckets []float64) prometheus.Histogram {
	return register(r, prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}))
}

// HistogramVec creates and registers a histogram with labels.
func (r Registry) HistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return register(r, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels))
}

func register[C prometheus.Collector](r Registry, c C) C {
	r.MustRegister(c)
	return c
}

// Gauges is a prometheus.Collector of gauges computed at scrape time:
// declare them with Gauge; the function given to NewGauges reports their
// samples.
type Gauges struct {
	descs   []*prometheus.Desc
	collect func(Sink)
}

// NewGauges returns a collector that calls collect on every scrape.
func NewGauges(collect func(Sink)) *Gauges { return &Gauges{collect: collect} }

// Gauge declares a gauge with labels.
func (g *Gauges) Gauge(name, help string, labels ...string) *prometheus.Desc {
	d := prometheus.NewDesc(name, help, labels, nil)
	g.descs = append(g.descs, d)
	return d
}

// Describe implements prometheus.Collector.
func (g *Gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range g.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (g *Gauges) Collect(ch chan<- prometheus.Metric) { g.collect(ch) }

// Sink takes one scrape's samples.
type Sink chan<- prometheus.Metric

// Set reports the value of gauge d with the given label values.
func (s Sink) Set(d *prometheus.Desc, v float64, labels ...string) {
	s <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}
