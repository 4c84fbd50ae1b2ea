package manager

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/decide"
	"github.com/logq/logq/groups"
	"github.com/logq/logq/groups/pgoffsets"
	"github.com/logq/logq/projection"
)

// Consumer groups (docs/groups.md): the writer runs the group coordinator
// (package groups); every group route is a write, which a reader forwards,
// because the groups' live state (pending joins, sessions) is in the
// writer's memory. Generations and assignments are events; offsets are
// rows of group_offsets.

// Defaults of the group settings (Config.Group…).
const (
	DefaultGroupMinSessionTimeout = 6 * time.Second
	DefaultGroupMaxSessionTimeout = 30 * time.Minute
	DefaultGroupCheckInterval     = 100 * time.Millisecond
)

// groupRoutes registers the group routes (GROUPS_API.md).
func (m *Manager) groupRoutes(r *httprouter.Router) {
	m.handle(r, "POST", "/groups/:group/join", m.write(m.handleGroupJoin))
	m.handle(r, "POST", "/groups/:group/sync", m.write(m.handleGroupSync))
	m.handle(r, "POST", "/groups/:group/heartbeat", m.write(m.handleGroupHeartbeat))
	m.handle(r, "POST", "/groups/:group/leave", m.write(m.handleGroupLeave))
	m.handle(r, "POST", "/groups/:group/offsets", m.write(m.handleGroupCommit))
	m.handle(r, "GET", "/groups/:group/offsets", m.write(m.handleGroupOffsets))
	m.handle(r, "POST", "/groups/:group/offsets/reset", m.write(m.handleGroupReset))
	m.handle(r, "GET", "/groups", m.write(m.handleGroups))
	m.handle(r, "GET", "/groups/:group", m.write(m.handleGroup))
	m.handle(r, "DELETE", "/groups/:group", m.write(m.handleDeleteGroup))
}

// groupWait bounds one join or sync long poll on the writer: below the
// server's write timeout, with room for a reader's relay.
func (m *Manager) groupWait() time.Duration {
	if m.cfg.GroupMaxWait > 0 {
		return m.cfg.GroupMaxWait
	}
	return max(m.cfg.WriteTimeout-15*time.Second, m.cfg.WriteTimeout/2)
}

// forwardTimeout bounds a write forwarded to the writer: a group's join or
// sync long-polls, so it gets the long poll's bound and some.
func (m *Manager) forwardTimeout(r *http.Request) time.Duration {
	p := r.URL.Path
	if strings.HasPrefix(p, "/groups/") && (strings.HasSuffix(p, "/join") || strings.HasSuffix(p, "/sync")) {
		return m.groupWait() + max(m.cfg.BrokerTimeout, 5*time.Second)
	}
	return m.cfg.BrokerTimeout
}

// newGroups makes the coordinator over the manager's database; it is
// inactive until the manager leads (runGroups).
func (m *Manager) newGroups() *groups.Coordinator {
	return groups.New(groups.Config{
		MinSessionTimeout:     m.cfg.GroupMinSessionTimeout,
		MaxSessionTimeout:     m.cfg.GroupMaxSessionTimeout,
		InitialRebalanceDelay: m.cfg.GroupInitialRebalanceDelay,
		MaxWait:               m.groupWait(),
	}, groupCluster{m}, pgoffsets.New(m.db), m.offsetResolver())
}

// offsetResolver is Config.GroupOffsetResolver, or by default the
// brokers' offsets: their GET /v1/offsets through the manager's router
// (the same calls as GET /offsets).
func (m *Manager) offsetResolver() groups.OffsetResolver {
	if m.cfg.GroupOffsetResolver != nil {
		return m.cfg.GroupOffsetResolver
	}
	return brokerResolver{m}
}

// brokerResolver resolves resets to earliest (the log start offset), latest
// (the high watermark) and a time (the first offset at or after it, the
// high watermark when no record is that late) by asking the partitions'
// brokers.
type brokerResolver struct{ m *Manager }

func (b brokerResolver) ResolveOffsets(ctx context.Context, topic string, partitions []int, to string, timestampMS int64) (map[int]int64, error) {
	var at int64
	switch to {
	case api.ResetToEarliest:
		at = api.OffsetEarliest
	case api.ResetToLatest:
		at = api.OffsetLatest
	case api.ResetToDatetime:
		if timestampMS < 0 {
			return nil, logq.Errorf(logq.EInvalid, "reset to a datetime needs timestamp_ms >= 0; got %d", timestampMS)
		}
		at = timestampMS
	default:
		return nil, logq.Errorf(logq.EInvalid, "reset to %q: want earliest, latest, datetime or offset", to)
	}
	if b.m.router == nil {
		return nil, logq.Errorf(logq.EUnavailable, "the manager is starting: retry")
	}
	got, err := b.m.router.ListOffsets(ctx, topic, partitions, at)
	if err != nil {
		return nil, err
	}
	out := make(map[int]int64, len(got))
	for _, o := range got {
		if o.Error != nil {
			return nil, logq.Errorf(logq.EUnavailable, "the offsets of partition %d of %q are unknown (%s: %s); retry", o.Partition, topic, o.Error.Code, o.Error.Message)
		}
		off := o.Offset
		if off < 0 { // a time after every record's: the end
			off = o.HighWatermark
		}
		out[o.Partition] = off
	}
	return out, nil
}

// runGroups starts the coordinator for a writer term: it restores the
// groups from the state and runs Tick every GroupCheckInterval with
// Config.Now. The returned func stops both.
func (m *Manager) runGroups(ctx context.Context) (stop func()) {
	if m.groups == nil {
		return func() {}
	}
	m.mu.RLock()
	restored := m.state.Clone().Groups
	m.mu.RUnlock()
	m.groups.Restore(restored, m.cfg.Now())
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		interval := m.cfg.GroupCheckInterval
		if interval <= 0 {
			interval = DefaultGroupCheckInterval
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				m.groups.Tick(ctx, m.cfg.Now())
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
		m.groups.Stop()
	}
}

// CheckGroups runs the coordinator's time-driven rules as of now (session
// and rebalance timeouts); the writer runs it on a ticker, tests with the
// time they want. It returns the members removed.
func (m *Manager) CheckGroups(ctx context.Context, now time.Time) int {
	if m.groups == nil {
		return 0
	}
	return m.groups.Tick(ctx, now)
}

// groupCluster is the manager as the coordinator sees it.
type groupCluster struct{ m *Manager }

// Append is decide → log → apply for the coordinator's events, checked
// against the state first so that nothing logged can fail to apply.
func (c groupCluster) Append(ctx context.Context, events ...projection.Payload) error {
	_, err := c.m.writeOp(ctx, func(s *projection.State) (decide.Decision, error) {
		if err := projection.CheckGroupEvents(s, events); err != nil {
			return decide.Decision{}, logq.Internal(err, "group events")
		}
		return decide.Decision{Events: events}, nil
	})
	return err
}

func (c groupCluster) Partitions(topic string) int {
	c.m.mu.RLock()
	defer c.m.mu.RUnlock()
	if t, ok := c.m.state.Topics[topic]; ok {
		return len(t.Partitions)
	}
	return 0
}

// coordinator returns the group coordinator and the group named in the
// path.
func (m *Manager) coordinator(ps httprouter.Params) (*groups.Coordinator, string, error) {
	if m.groups == nil {
		return nil, "", logq.Errorf(logq.EUnavailable, "consumer groups are not running on this manager")
	}
	name := ps.ByName("group")
	return m.groups, name, api.ValidateGroup(name)
}

func (m *Manager) handleGroupJoin(r *http.Request, ps httprouter.Params) (any, error) {
	c, name, err := m.coordinator(ps)
	if err != nil {
		return nil, err
	}
	var p api.JoinGroupParams
	if err := m.decode(r, &p); err != nil {
		return nil, err
	}
	req, err := p.Request()
	if err != nil {
		return nil, err
	}
	ans, err := c.Join(r.Context(), name, req, m.cfg.Now())
	if err != nil && ans.MemberID != "" {
		// A join that outlasted the long poll: the member stays in the
		// group, and the error names it (member_id), so that a first
		// join rejoins as itself.
		code := logq.ErrorCode(err)
		body, merr := api.Marshal(api.JoinFailure{ErrorBody: api.ErrorBody{Status: api.StatusFailure, Code: code, Message: logq.ErrorMessage(err)}, MemberID: ans.MemberID})
		if merr != nil {
			return nil, err
		}
		return &rawResponse{status: logq.HTTPStatus(code), contentType: "application/json", body: append(body, '\n')}, nil
	}
	return ans, err
}

func (m *Manager) handleGroupSync(r *http.Request, ps httprouter.Params) (any, error) {
	c, name, err := m.coordinator(ps)
	if err != nil {
		return nil, err
	}
	var p api.SyncGroupParams
	if err := m.decode(r, &p); err != nil {
		return nil, err
	}
	req, err := p.Request()
	if err != nil {
		return nil, err
	}
	return c.Sync(r.Context(), name, req, m.cfg.Now())
}

func (m *Manager) handleGroupHeartbeat(r *http.Request, ps httprouter.Params) (any, error) {
	c, name, err := m.coordinator(ps)
	if err != nil {
		return nil, err
	}
	var p api.GroupHeartbeatParams
	if err := m.decode(r, &p); err != nil {
		return nil, err
	}
	req, err := p.Request()
	if err != nil {
		return nil, err
	}
	if err := c.Heartbeat(r.Context(), name, req, m.cfg.Now()); err != nil {
		return nil, err
	}
	return api.StatusAnswer{Status: success}, nil
}

func (m *Manager) handleGroupLeave(r *http.Request, ps httprouter.Params) (any, error) {
	c, name, err := m.coordinator(ps)
	if err != nil {
		return nil, err
	}
	var p api.LeaveGroupParams
	if err := m.decode(r, &p); err != nil {
		return nil, err
	}
	req, err := p.Request()
	if err != nil {
		return nil, err
	}
	return c.Leave(r.Context(), name, req, m.cfg.Now())
}

func (m *Manager) handleGroupCommit(r *http.Request, ps httprouter.Params) (any, error) {
	c, name, err := m.coordinator(ps)
	if err != nil {
		return nil, err
	}
	var p api.CommitOffsetsParams
	if err := m.decode(r, &p); err != nil {
		return nil, err
	}
	req, err := p.Request()
	if err != nil {
		return nil, err
	}
	return c.CommitOffsets(r.Context(), name, req, m.cfg.Now())
}

func (m *Manager) handleGroupOffsets(r *http.Request, ps httprouter.Params) (any, error) {
	c, name, err := m.coordinator(ps)
	if err != nil {
		return nil, err
	}
	if err := m.readOnly(r); err != nil {
		return nil, err
	}
	topics := r.URL.Query()["topic"]
	for _, t := range topics {
		if err := api.ValidateTopic(t); err != nil {
			return nil, err
		}
	}
	return c.FetchOffsets(r.Context(), name, topics)
}

func (m *Manager) handleGroupReset(r *http.Request, ps httprouter.Params) (any, error) {
	c, name, err := m.coordinator(ps)
	if err != nil {
		return nil, err
	}
	var p api.ResetOffsetsParams
	if err := m.decode(r, &p); err != nil {
		return nil, err
	}
	req, err := p.Request()
	if err != nil {
		return nil, err
	}
	return c.ResetOffsets(r.Context(), name, req, m.cfg.Now())
}

func (m *Manager) handleGroups(r *http.Request, _ httprouter.Params) (any, error) {
	if m.groups == nil {
		return nil, logq.Errorf(logq.EUnavailable, "consumer groups are not running on this manager")
	}
	if err := m.readOnly(r); err != nil {
		return nil, err
	}
	return m.groups.ListGroups(r.Context())
}

func (m *Manager) handleGroup(r *http.Request, ps httprouter.Params) (any, error) {
	c, name, err := m.coordinator(ps)
	if err != nil {
		return nil, err
	}
	if err := m.readOnly(r); err != nil {
		return nil, err
	}
	return c.DescribeGroup(r.Context(), name)
}

func (m *Manager) handleDeleteGroup(r *http.Request, ps httprouter.Params) (any, error) {
	c, name, err := m.coordinator(ps)
	if err != nil {
		return nil, err
	}
	if err := m.readOnly(r); err != nil {
		return nil, err
	}
	if err := c.DeleteGroup(r.Context(), name, m.cfg.Now()); err != nil {
		return nil, err
	}
	return api.StatusAnswer{Status: success}, nil
}
