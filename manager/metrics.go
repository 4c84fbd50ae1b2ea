package manager

import (
	"net/http"
	"strconv"
	"time"

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
	reg := prometheus.NewRegistry()
	x := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logq_manager_http_requests_total",
			Help: "HTTP requests served, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "logq_manager_http_request_duration_seconds",
			Help:    "HTTP request latency, by route and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logq_manager_reader_lag_seconds",
			Help:    "Time from an event's append (writer clock) to its apply here through the tail.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 5},
		}),
		appended: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logq_manager_events_appended_total",
			Help: "Events appended by this manager as the writer.",
		}),
		brokerRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logq_manager_broker_requests_total",
			Help: "Requests routed to brokers, by operation and outcome code.",
		}, []string{"op", "code"}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logq_manager_forwarded_writes_total",
			Help: "Writes forwarded to the writer, by HTTP status of its answer (0: unreachable).",
		}, []string{"code"}),
	}
	reg.MustRegister(x.requests, x.latency, x.lag, x.appended, x.brokerRequests, x.forwarded,
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
