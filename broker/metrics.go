package broker

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are a broker's Prometheus metrics, on the broker's own registry
// (several brokers may live in one process, as in tests and `logq dev`).
type metrics struct {
	reg *prometheus.Registry

	appendedMessages prometheus.Counter
	appendRequests   *prometheus.CounterVec // by result code ("ok" or a logq code)
	consumedMessages prometheus.Counter
	consumeRequests  *prometheus.CounterVec
	batchMessages    prometheus.Histogram
	batchRequests    prometheus.Histogram
	appendLatency    prometheus.Histogram
	consumeLatency   prometheus.Histogram
	highWatermark    *prometheus.GaugeVec
	ownedPartitions  prometheus.Gauge
	appliedSeq       prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		appendedMessages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logq_broker_appended_messages_total",
			Help: "Messages committed by this broker.",
		}),
		appendRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logq_broker_append_requests_total",
			Help: "Append requests answered, by result (ok or an error code).",
		}, []string{"result"}),
		consumedMessages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logq_broker_consumed_messages_total",
			Help: "Messages returned to consumers.",
		}),
		consumeRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logq_broker_consume_requests_total",
			Help: "Consume requests answered, by result (ok, empty or an error code).",
		}, []string{"result"}),
		batchMessages: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logq_broker_group_commit_messages",
			Help:    "Messages per group-commit transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 15),
		}),
		batchRequests: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logq_broker_group_commit_requests",
			Help:    "Append requests per group-commit transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		appendLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logq_broker_append_seconds",
			Help:    "Time from an append request's arrival at the committer to its answer.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		consumeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logq_broker_consume_seconds",
			Help:    "Time to read a consumer's next messages and advance its position in storage (long-poll waits excluded).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		highWatermark: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "logq_broker_high_watermark",
			Help: "Next offset of each partition this broker serves.",
		}, []string{"topic", "partition"}),
		ownedPartitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logq_broker_partitions",
			Help: "Partitions this broker serves.",
		}),
		appliedSeq: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logq_broker_applied_seq",
			Help: "Last control-plane event whose assignments this broker has acted on.",
		}),
	}
	m.reg.MustRegister(m.appendedMessages, m.appendRequests, m.consumedMessages, m.consumeRequests,
		m.batchMessages, m.batchRequests, m.appendLatency, m.consumeLatency, m.highWatermark, m.ownedPartitions, m.appliedSeq,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) setHighWatermark(topic string, partition int, hw int64) {
	m.highWatermark.WithLabelValues(topic, strconv.Itoa(partition)).Set(float64(hw))
}

func (m *metrics) dropPartition(topic string, partition int) {
	m.highWatermark.DeleteLabelValues(topic, strconv.Itoa(partition))
}
