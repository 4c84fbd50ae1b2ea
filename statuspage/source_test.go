package statuspage_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
	"github.com/logq/logq/statuspage"
)

// fakeSource is a cluster of two brokers and one topic of two partitions,
// with one consumer, in memory: the page's edges without a cluster.
type fakeSource struct {
	writer    bool
	events    []logq.Event
	stateAt   error                   // StateAt fails with it
	lagsLost  bool                    // lags over several partitions are not known
	ages      map[int64]time.Duration // nil: not known
	knownURL  string
	hwmBroker map[int64]string // the brokers HighWatermarks was asked
}

func newFakeSource(t *testing.T) *fakeSource {
	t.Helper()
	zero := 0
	payloads := []projection.Payload{
		projection.WriterElected{Manager: "http://w", Epoch: 1},
		projection.BrokerRegistered{BrokerID: 1, Address: "b1:1"},
		projection.BrokerRegistered{BrokerID: 2, Address: "b2:1"},
		projection.TopicCreated{Topic: "t", Partitions: 2},
		projection.PartitionAssigned{Topic: "t", Partition: 0, BrokerID: 1, Epoch: 1},
		projection.PartitionAssigned{Topic: "t", Partition: 1, BrokerID: 2, Epoch: 1},
		projection.ConsumerRegistered{ConsumerID: 1, Topic: "t"},
		projection.ConsumerRegistered{ConsumerID: 2, Topic: "t", Partition: &zero},
	}
	f := &fakeSource{}
	for i, p := range payloads {
		e := projection.NewEvent(p)
		e.Seq, e.Epoch, e.At = int64(i+1), 1, time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC)
		f.events = append(f.events, e)
	}
	return f
}

func (f *fakeSource) stateUpTo(seq int64) *projection.State {
	s := projection.New()
	if err := projection.ApplyAll(s, f.events[:seq]); err != nil {
		panic(err)
	}
	return s
}

func (f *fakeSource) IsWriter() bool           { return f.writer }
func (f *fakeSource) State() *projection.State { return f.stateUpTo(int64(len(f.events))) }
func (f *fakeSource) KnownWriter() string      { return f.knownURL }

func (f *fakeSource) StateAt(_ context.Context, seq int64) (*projection.State, error) {
	if f.stateAt != nil {
		return nil, f.stateAt
	}
	return f.stateUpTo(seq), nil
}

func (f *fakeSource) Events(_ context.Context, from int64, limit int) ([]logq.Event, error) {
	return f.events[from : from+int64(limit)], nil
}

func (f *fakeSource) HighWatermarks(_ context.Context, _ int64, brokers map[int64]string) map[statuspage.Partition]int64 {
	f.hwmBroker = brokers
	return map[statuspage.Partition]int64{{Topic: "t", Index: 0, Broker: 1}: 7} // broker 2 does not answer
}

func (f *fakeSource) ConsumerLags(_ context.Context, consumers []statuspage.Consumer) []statuspage.Lag {
	out := make([]statuspage.Lag, len(consumers))
	for i, c := range consumers {
		out[i] = statuspage.Lag{Messages: 3 * int64(len(c.Partitions)), Known: !f.lagsLost || len(c.Partitions) == 1}
	}
	return out
}

func (f *fakeSource) HeartbeatAges(time.Duration) (map[int64]time.Duration, bool) {
	return f.ages, f.ages != nil
}

func serve(t *testing.T, f *fakeSource, target string, html bool) (*httptest.ResponseRecorder, error) {
	t.Helper()
	page := statuspage.New(statuspage.Config{Name: "m", AdvertiseURL: "http://self", Role: "auto", TailMode: "notify",
		HeartbeatInterval: time.Second, HeartbeatTimeout: 5 * time.Second, Client: http.DefaultClient}, f)
	req := httptest.NewRequest("GET", target, nil)
	if html {
		req.Header.Set("Accept", "text/html")
	}
	w := httptest.NewRecorder()
	return w, page.Serve(w, req)
}

// TestServe covers what a cluster cannot easily show: a replay that fails,
// brokers and lags that do not answer, heartbeat notes on each role.
func TestServe(t *testing.T) {
	t.Parallel()
	t.Run("live writer", func(t *testing.T) {
		f := newFakeSource(t)
		f.writer, f.ages, f.lagsLost = true, map[int64]time.Duration{1: 400 * time.Millisecond, 2: 7 * time.Second}, true
		w, err := serve(t, f, "/ui", false)
		if err != nil || w.Code != 200 {
			t.Fatalf("%d, %v", w.Code, err)
		}
		body := text(w.Body.String())
		for _, want := range []string{"0.4s ago", "7.0s ago", "≥ 6?"} {
			if !strings.Contains(body, want) {
				t.Errorf("the page does not show %q:\n%s", want, tail(body, 2000))
			}
		}
		if got := topicRows(w.Body.String(), "t"); !strings.Contains(got["0"], " 7 yes") || !strings.Contains(got["1"], " ? yes") {
			t.Errorf("high watermarks: %v, want 7 for partition 0 and ? for 1 (its broker did not answer)", got)
		}
		if len(f.hwmBroker) != 2 || f.hwmBroker[1] != "b1:1" {
			t.Errorf("high watermarks asked of %v, want both live brokers", f.hwmBroker)
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("CSP %q", csp)
		}
	})
	t.Run("notes", func(t *testing.T) {
		for _, tc := range []struct {
			writer bool
			known  string
			want   string
		}{
			{true, "", "the writer is busy"},
			{false, "", "no writer is known"},
			{false, "http://self", "no writer is known"},
		} {
			f := newFakeSource(t)
			f.writer, f.knownURL = tc.writer, tc.known
			w, err := serve(t, f, "/ui", false)
			if err != nil || !strings.Contains(w.Body.String(), tc.want) {
				t.Errorf("writer %t, known writer %q: %v; the page does not say %q", tc.writer, tc.known, err, tc.want)
			}
		}
	})
	t.Run("replay fails", func(t *testing.T) {
		f := newFakeSource(t)
		f.stateAt = logq.Errorf(logq.EUnavailable, "database down")
		_, err := serve(t, f, "/ui?at=3", false)
		if logq.ErrorCode(err) != logq.EUnavailable || !strings.Contains(logq.ErrorMessage(err), "cannot replay to seq 3: database down") {
			t.Errorf("API client: %v, want unavailable, cannot replay", err)
		}
		w, err := serve(t, f, "/ui?at=3", true)
		if err != nil || w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "cannot replay to seq 3") {
			t.Errorf("browser: %d %v, want the page with the error and 503", w.Code, err)
		}
	})
	t.Run("replay", func(t *testing.T) {
		w, err := serve(t, newFakeSource(t), "/ui?at=5", false)
		if err != nil || w.Code != 200 {
			t.Fatalf("%d, %v", w.Code, err)
		}
		dom := w.Body.String()
		if got := topicRows(dom, "t"); len(got) != 2 || !strings.Contains(got["1"], "— no") {
			t.Errorf("at seq 5 partition 1 is not assigned yet: %v", got)
		}
		if len(rows(dom, "data-consumer-id")) != 0 || element(dom, "seq") != "5" {
			t.Errorf("at seq 5: consumers %v, seq %q", rows(dom, "data-consumer-id"), element(dom, "seq"))
		}
	})
	t.Run("limits", func(t *testing.T) {
		for _, target := range []string{"/ui?events=501", "/ui?events=-1", "/ui?at=9", "/ui?at=x"} {
			if _, err := serve(t, newFakeSource(t), target, false); logq.ErrorCode(err) != logq.EInvalid {
				t.Errorf("%s: %v, want invalid", target, err)
			}
		}
		w, err := serve(t, newFakeSource(t), "/ui?events=500", false)
		if err != nil || len(rows(w.Body.String(), "data-seq")) != 8 {
			t.Errorf("events=500: %v, %d event rows, want all 8", err, len(rows(w.Body.String(), "data-seq")))
		}
	})
}

func TestServeAsset(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{"ui.js": "text/javascript", "ui.css": "text/css", "page.html": "", "nope.js": "", ".": ""} {
		w := httptest.NewRecorder()
		err := statuspage.ServeAsset(w, name)
		switch {
		case want == "" && logq.ErrorCode(err) != logq.ENotFound:
			t.Errorf("%s: %v, want not_found", name, err)
		case want != "" && (err != nil || !strings.HasPrefix(w.Header().Get("Content-Type"), want)):
			t.Errorf("%s: %v, Content-Type %q", name, err, w.Header().Get("Content-Type"))
		}
	}
}
