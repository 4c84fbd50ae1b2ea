package manager

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/projection"
	"github.com/logq/logq/router"
	"github.com/logq/logq/statuspage"
)

// The status page (package statuspage) at GET /ui, and the writer's
// heartbeat ages at GET /ui/heartbeats (read by the readers' pages). The
// page sees this manager through pageSource.

// uiRoutes registers the status page, its assets and the heartbeat ages.
func (m *Manager) uiRoutes(r *httprouter.Router) {
	page := statuspage.New(statuspage.Config{
		Name: m.cfg.Name, AdvertiseURL: m.cfg.AdvertiseURL, Role: string(m.cfg.Role), TailMode: string(m.cfg.TailMode),
		HeartbeatInterval: m.cfg.HeartbeatInterval, HeartbeatTimeout: m.cfg.HeartbeatTimeout,
		Client: m.peers,
	}, pageSource{m})
	r.Handle("GET", "/ui", m.uiObserved("/ui", func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
		return page.Serve(w, r)
	}))
	r.Handle("GET", "/ui/assets/:name", m.uiObserved("/ui/assets/:name", func(w http.ResponseWriter, _ *http.Request, ps httprouter.Params) error {
		return statuspage.ServeAsset(w, ps.ByName("name"))
	}))
	m.handle(r, "GET", "/ui/heartbeats", m.handleUIHeartbeats)
}

// uiObserved adapts a handler that writes its own answer, or returns an
// error for writeError, and records its metrics.
func (m *Manager) uiObserved(route string, h func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		if err := h(sw, r, ps); err != nil {
			m.writeError(sw, r, err)
		}
		m.metrics.observeRequest(route, r.Method, sw.code(), time.Since(start))
	}
}

// handleUIHeartbeats is GET /ui/heartbeats: on the writer, the time since
// each broker's last heartbeat (on its clock); elsewhere not_writer.
func (m *Manager) handleUIHeartbeats(r *http.Request, _ httprouter.Params) (any, error) {
	ages, ok := m.heartbeatAges(statuspage.HeartbeatWait)
	if !ok {
		if !m.IsWriter() {
			return nil, logq.Errorf(logq.ENotWriter, "heartbeat ages are known to the writer only; this manager is not the writer")
		}
		return nil, logq.Errorf(logq.EUnavailable, "the writer is busy; retry")
	}
	ans := api.HeartbeatsAnswer{Status: success, Seq: m.AppliedSeq()}
	ids := make([]int64, 0, len(ages))
	for id := range ages {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		ans.Heartbeats = append(ans.Heartbeats, api.BrokerHeartbeat{BrokerID: id, AgeMS: ages[id].Milliseconds()})
	}
	return ans, nil
}

// pageSource is the manager as the status page sees it (statuspage.Source).
type pageSource struct{ m *Manager }

func (s pageSource) IsWriter() bool           { return s.m.IsWriter() }
func (s pageSource) State() *projection.State { return s.m.State() }
func (s pageSource) KnownWriter() string      { return s.m.knownWriter() }

func (s pageSource) StateAt(ctx context.Context, seq int64) (*projection.State, error) {
	return s.m.replica.StateAt(ctx, seq)
}

func (s pageSource) Events(ctx context.Context, from int64, limit int) ([]logq.Event, error) {
	return eventlog.Read(ctx, s.m.db, from, limit)
}

func (s pageSource) HeartbeatAges(wait time.Duration) (map[int64]time.Duration, bool) {
	return s.m.heartbeatAges(wait)
}

func (s pageSource) HighWatermarks(ctx context.Context, seq int64, brokers map[int64]string) map[statuspage.Partition]int64 {
	owners := make(map[int64]router.Owner, len(brokers))
	for id, addr := range brokers {
		owners[id] = router.Owner{Broker: id, Address: addr}
	}
	hwm := s.m.highWatermarks(ctx, owners, seq)
	out := make(map[statuspage.Partition]int64, len(hwm))
	for k, v := range hwm {
		out[statuspage.Partition{Topic: k.topic, Index: k.partition, Broker: k.broker}] = v
	}
	return out
}

// ConsumerLags asks the partitions' owners, as GET /consumers does.
func (s pageSource) ConsumerLags(ctx context.Context, consumers []statuspage.Consumer) []statuspage.Lag {
	infos := make([]clientInfo, len(consumers))
	for i, c := range consumers {
		infos[i] = clientInfo{ClientInfo: api.ClientInfo{ConsumerID: &c.ID, Topic: c.Topic}, parts: c.Partitions}
	}
	s.m.consumerLags(ctx, infos)
	out := make([]statuspage.Lag, len(infos))
	for i, c := range infos {
		out[i] = statuspage.Lag{Messages: *c.Lag, Known: *c.LagKnown}
	}
	return out
}
