package manager

import (
	"net/http"
	"strconv"
	"time"

	"github.com/logq/logq/internal/prom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the manager's Prometheus metrics, on a registry of its own
// (several managers may share a process, as in tests and `logq dev`).
type metrics struct {
	reg            *prometheus.Registry
	requests       *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	lag            prometheus.Histogram
	appended       prometheus.Counter
	brokerRequests *prometheus.CounterVec
	forwarded      *prometheus.CounterVec
}

func newMetrics(m *Manager) *metrics {
	r := prom.NewRegistry()
	x := &metrics{
		reg: r.Registry,
		requests: r.CounterVec("logq_manager_http_requests_total",
			"HTTP requests served, by route, method and status code.", "route", "method", "code"),
		latency: r.HistogramVec("logq_manager_http_request_duration_seconds", "HTTP request latency, by route and method.",
			[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}, "route", "method"),
		lag: r.Histogram("logq_manager_reader_lag_seconds",
			"Time from an event's append (writer clock) to its apply here through the tail.",
			[]float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 5}),
		appended: r.Counter("logq_manager_events_appended_total", "Events appended by this manager as the writer."),
		brokerRequests: r.CounterVec("logq_manager_broker_requests_total",
			"Requests routed to brokers, by operation and outcome code.", "op", "code"),
		forwarded: r.CounterVec("logq_manager_forwarded_writes_total",
			"Writes forwarded to the writer, by HTTP status of its answer (0: unreachable).", "code"),
	}
	r.MustRegister(
		newClusterCollector(m),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "logq_manager_applied_seq",
			Help: "Seq of the last event applied to this manager's state.",
		}, func() float64 { return float64(m.AppliedSeq()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "logq_manager_is_writer",
			Help: "1 when this manager is the writer.",
		}, func() float64 {
			if m.IsWriter() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "logq_manager_writer_epoch",
			Help: "Leadership epoch of the latest WriterElected applied here.",
		}, func() float64 {
			m.mu.RLock()
			defer m.mu.RUnlock()
			return float64(m.state.WriterEpoch)
		}),
	)
	return x
}

// observeLag records the lag of an event appended at at.
func (x *metrics) observeLag(at time.Time) {
	if !at.IsZero() {
		x.lag.Observe(max(0, time.Since(at).Seconds()))
	}
}

// observeRequest records one served request.
func (x *metrics) observeRequest(route, method string, code int, d time.Duration) {
	x.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	x.latency.WithLabelValues(route, method).Observe(d.Seconds())
}

func (x *metrics) handler() http.Handler {
	return promhttp.HandlerFor(x.reg, promhttp.HandlerOpts{})
}
