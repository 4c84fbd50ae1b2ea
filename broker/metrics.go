package broker

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/logq/logq/internal/prom"
)

// metrics are a broker's Prometheus metrics, on the broker's own registry
// (several brokers may live in one process, as in tests and `logq dev`).
type metrics struct {
	reg prom.Registry

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
	r := prom.NewRegistry()
	latency := prometheus.ExponentialBuckets(0.0001, 2, 16)
	m := &metrics{
		reg: r,
		appendedMessages: r.Counter("logq_broker_appended_messages_total",
			"Messages committed by this broker."),
		appendRequests: r.CounterVec("logq_broker_append_requests_total",
			"Append requests answered, by result (ok or an error code).", "result"),
		consumedMessages: r.Counter("logq_broker_consumed_messages_total",
			"Messages returned to consumers."),
		consumeRequests: r.CounterVec("logq_broker_consume_requests_total",
			"Consume requests answered, by result (ok, empty or an error code).", "result"),
		batchMessages: r.Histogram("logq_broker_group_commit_messages",
			"Messages per group-commit transaction.", prometheus.ExponentialBuckets(1, 2, 15)),
		batchRequests: r.Histogram("logq_broker_group_commit_requests",
			"Append requests per group-commit transaction.", prometheus.ExponentialBuckets(1, 2, 12)),
		appendLatency: r.Histogram("logq_broker_append_seconds",
			"Time from an append request's arrival at the committer to its answer.", latency),
		consumeLatency: r.Histogram("logq_broker_consume_seconds",
			"Time to read a consumer's next messages and advance its position in storage (long-poll waits excluded).", latency),
		highWatermark: r.GaugeVec("logq_broker_high_watermark",
			"Next offset of each partition this broker serves.", "topic", "partition"),
		ownedPartitions: r.Gauge("logq_broker_partitions",
			"Partitions this broker serves."),
		appliedSeq: r.Gauge("logq_broker_applied_seq",
			"Last control-plane event whose assignments this broker has acted on."),
	}
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) setHighWatermark(topic string, partition int, hw int64) {
	m.highWatermark.WithLabelValues(topic, strconv.Itoa(partition)).Set(float64(hw))
}

func (m *metrics) dropPartition(topic string, partition int) {
	m.highWatermark.DeleteLabelValues(topic, strconv.Itoa(partition))
}
