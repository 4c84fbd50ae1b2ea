package manager_test

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/logq/logq/internal/harness/devcluster"
	"github.com/logq/logq/internal/harness/devcluster/devclustertest"
)

// These tests run a whole cluster (devcluster: a writer, a reader, three
// brokers) on the test's own database, drive traffic through its HTTP API
// and look at what the servers expose: /metrics here, /ui in package
// statuspage.

// scrape is one /metrics answer, parsed.
type scrape map[string]*dto.MetricFamily

func getMetrics(t *testing.T, base string) scrape {
	t.Helper()
	resp, err := devclustertest.Client.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET %s/metrics: %v", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics: %s", base, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s/metrics: not the Prometheus text format: %v", base, err)
	}
	return fams
}

// sum adds up the samples of a family whose labels include match (counter,
// gauge or untyped value; a histogram's sample count).
func (s scrape) sum(name string, match ...string) float64 {
	fam, ok := s[name]
	if !ok {
		return 0
	}
	total := 0.0
next:
	for _, m := range fam.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(match); i += 2 {
			if labels[match[i]] != match[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			total += m.Untyped.GetValue()
		}
	}
	return total
}

func (s scrape) has(name string) bool { _, ok := s[name]; return ok }

// TestMetrics scrapes every server before and after traffic and checks that
// the numbers follow it: produce and consume counts and latencies, group
// commit batch sizes, high watermarks, consumer lag per consumer and
// partition, applied seq and reader lag, broker liveness and heartbeat
// age, the writer's epoch.
func TestMetrics(t *testing.T) {
	t.Parallel()
	c := devclustertest.Start(t, devcluster.Config{})
	writer, reader := c.Managers[0].URL, c.Managers[1].URL

	before := map[string]scrape{}
	for _, n := range append(append([]*devcluster.Node{}, c.Managers...), c.Brokers...) {
		before[n.Name] = getMetrics(t, n.URL)
	}
	for _, n := range c.Brokers {
		if got := before[n.Name].sum("logq_broker_appended_messages_total"); got != 0 {
			t.Errorf("%s: %v messages appended before any traffic", n.Name, got)
		}
	}
	// Through the reader: it routes produce and consume, forwards writes.
	tr := devclustertest.SendTraffic(t, reader, "metrics", 30, 10)

	// Brokers: what they committed and served, per partition and consumer.
	devclustertest.Eventually(t, 15*time.Second, func() string {
		var appended, consumed, hw, lag1, lag2, batches, consumes, omitted float64
		for _, n := range c.Brokers {
			s := getMetrics(t, n.URL)
			appended += s.sum("logq_broker_appended_messages_total")
			consumed += s.sum("logq_broker_consumed_messages_total")
			hw += s.sum("logq_broker_high_watermark", "topic", tr.Topic)
			lag1 += s.sum("logq_broker_consumer_lag", "topic", tr.Topic, "consumer", strconv.FormatInt(tr.Consumer, 10))
			lag2 += s.sum("logq_broker_consumer_lag", "topic", tr.Topic, "consumer", strconv.FormatInt(tr.Consumer2, 10), "partition", "0")
			hw0 := s.sum("logq_broker_high_watermark", "topic", tr.Topic, "partition", "0")
			if s.has("logq_broker_high_watermark") && hw0 > 0 && lag2 != hw0 {
				return fmt.Sprintf("%s: consumer %d lags %v in partition 0, whose high watermark is %v", n.Name, tr.Consumer2, lag2, hw0)
			}
			batches += s.sum("logq_broker_group_commit_messages")
			consumes += s.sum("logq_broker_consume_seconds")
			omitted += s.sum("logq_broker_consumer_lag_omitted")
			if s.sum("logq_broker_applied_seq") < float64(tr.Seq) {
				return fmt.Sprintf("%s: applied seq %v < %d", n.Name, s.sum("logq_broker_applied_seq"), tr.Seq)
			}
			if !s.has("logq_broker_append_seconds") || !s.has("logq_broker_group_commit_requests") {
				return n.Name + ": no append latency or group-commit request histogram"
			}
		}
		want := fmt.Sprintf("appended %d consumed %d hw %d lag %d batches>0 consumes>=%d omitted 0",
			tr.Produced, tr.Consumed, tr.Produced, tr.Produced-tr.Consumed, tr.Consumed)
		got := fmt.Sprintf("appended %v consumed %v hw %v lag %v batches %v consumes %v omitted %v",
			appended, consumed, hw, lag1, batches, consumes, omitted)
		if appended != float64(tr.Produced) || consumed != float64(tr.Consumed) || hw != float64(tr.Produced) ||
			lag1 != float64(tr.Produced-tr.Consumed) || batches == 0 || consumes < float64(tr.Consumed) || omitted != 0 {
			return "brokers: want " + want + ", got " + got
		}
		return ""
	})

	// Managers: routing on the reader, the cluster as both see it.
	devclustertest.Eventually(t, 15*time.Second, func() string {
		w, r := getMetrics(t, writer), getMetrics(t, reader)
		for _, x := range []struct {
			what      string
			got, want float64
		}{
			{"writer is_writer", w.sum("logq_manager_is_writer"), 1},
			{"reader is_writer", r.sum("logq_manager_is_writer"), 0},
			{"writer epoch (reader)", r.sum("logq_manager_writer_epoch"), w.sum("logq_manager_writer_epoch")},
			{"reader applied seq", r.sum("logq_manager_applied_seq"), w.sum("logq_manager_applied_seq")},
			{"produce requests on the reader", r.sum("logq_manager_http_requests_total", "route", "/producer/produce", "code", "200"), float64(tr.Produced)},
			{"produce latencies on the reader", r.sum("logq_manager_http_request_duration_seconds", "route", "/producer/produce"), float64(tr.Produced)},
			{"consume requests on the reader", r.sum("logq_manager_http_requests_total", "route", "/consumer/consume", "code", "200"), float64(tr.Consumed)},
			{"appends routed to brokers", r.sum("logq_manager_broker_requests_total", "op", "append", "code", "ok"), float64(tr.Produced)},
			{"writes forwarded by the reader", r.sum("logq_manager_forwarded_writes_total", "code", "200"), 4},
			{"live brokers (writer)", w.sum("logq_manager_broker_alive"), 3},
			{"live brokers (reader)", r.sum("logq_manager_broker_alive"), 3},
			{"assigned partitions", w.sum("logq_manager_broker_partitions"), 3},
			{"topics", r.sum("logq_manager_topics"), 1},
			{"partitions", r.sum("logq_manager_partitions"), 3},
			{"unwritable partitions", r.sum("logq_manager_partitions_unwritable"), 0},
			{"active consumers", r.sum("logq_manager_consumers", "state", "active"), 2},
			{"active producers", w.sum("logq_manager_producers", "state", "active"), 1},
			{"heartbeat ages (writer)", float64(len(w["logq_manager_broker_heartbeat_age_seconds"].GetMetric())), 3},
			{"heartbeat ages (reader)", float64(len(r["logq_manager_broker_heartbeat_age_seconds"].GetMetric())), 0},
			{"brokers watched by session (writer)", float64(len(w["logq_manager_broker_session_watched"].GetMetric())), 3},
		} {
			if x.got != x.want {
				return fmt.Sprintf("%s = %v, want %v", x.what, x.got, x.want)
			}
		}
		if w.sum("logq_manager_writer_epoch") < 1 || w.sum("logq_manager_applied_seq") < float64(tr.Seq) {
			return fmt.Sprintf("writer: epoch %v, applied seq %v (want ≥ 1, ≥ %d)", w.sum("logq_manager_writer_epoch"), w.sum("logq_manager_applied_seq"), tr.Seq)
		}
		if got, was := w.sum("logq_manager_events_appended_total"), before[c.Managers[0].Name].sum("logq_manager_events_appended_total"); got < was+4 {
			return fmt.Sprintf("writer appended %v events, %v before the traffic", got, was)
		}
		if got, was := r.sum("logq_manager_reader_lag_seconds"), before[c.Managers[1].Name].sum("logq_manager_reader_lag_seconds"); got < was+4 {
			return fmt.Sprintf("reader lag observed %v times, %v before the traffic", got, was)
		}
		for _, m := range w["logq_manager_broker_heartbeat_age_seconds"].GetMetric() {
			if age := m.GetGauge().GetValue(); age < 0 || age > 10 {
				return fmt.Sprintf("heartbeat age %v s (the dev cluster heartbeats every 2 s)", age)
			}
		}
		return ""
	})

	// docs/metrics.md lists exactly the logq_ metrics the servers expose.
	exposed := map[string]bool{}
	for _, n := range append(append([]*devcluster.Node{}, c.Managers...), c.Brokers...) {
		for name := range getMetrics(t, n.URL) {
			if strings.HasPrefix(name, "logq_") {
				exposed[name] = true
			}
		}
	}
	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(logq_[a-z_]+)`").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	for name := range exposed {
		if !documented[name] {
			t.Errorf("metric %s is not in docs/metrics.md", name)
		}
	}
	for name := range documented {
		if !exposed[name] {
			t.Errorf("docs/metrics.md lists %s, which no server exposes", name)
		}
	}

	// Bounded label sets: no family is labelled by anything unbounded but
	// the capped consumer lag.
	for name, fam := range getMetrics(t, writer) {
		for _, m := range fam.Metric {
			for _, l := range m.Label {
				switch l.GetName() {
				case "route", "method", "code", "op", "broker_id", "state", "quantile", "le", "version":
				default:
					if strings.HasPrefix(name, "logq_") {
						t.Errorf("%s has label %s", name, l.GetName())
					}
				}
			}
		}
	}
}
