package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/internal/sleep"
)

// Consumer groups (docs/groups.md): the member protocol (JoinGroup,
// SyncGroup, HeartbeatGroup, LeaveGroup), committed offsets and the admin
// of groups. Group errors come back as logq's sentinels:
// logq.ErrRebalanceInProgress (rejoin), logq.ErrIllegalGeneration,
// logq.ErrUnknownMemberID (join again without a member id), …
// GroupMember runs the protocol in the background.

// groupWait is how long a join or a sync may wait on the server.
const groupWait = 60 * time.Second

func groupPath(group string, rest string) string {
	return "/groups/" + url.PathEscape(group) + rest
}

// JoinGroup joins (MemberID "") or rejoins a group and waits for the join
// phase to complete.
func (c *Client) JoinGroup(ctx context.Context, group string, req api.JoinGroupRequest) (api.JoinGroupAnswer, error) {
	var ans api.JoinGroupAnswer
	err := c.do(ctx, call{method: "POST", path: groupPath(group, "/join"), body: req, wait: groupWait, noMinSeq: true}, &ans)
	return ans, err
}

// SyncGroup sends the leader's assignments (protocol type "consumer") or
// asks for this member's (every member) and returns it.
func (c *Client) SyncGroup(ctx context.Context, group string, req api.SyncGroupRequest) (api.SyncGroupAnswer, error) {
	var ans api.SyncGroupAnswer
	err := c.do(ctx, call{method: "POST", path: groupPath(group, "/sync"), body: req, wait: groupWait, noMinSeq: true}, &ans)
	return ans, err
}

// HeartbeatGroup keeps a member's session; logq.ErrRebalanceInProgress
// means rejoin.
func (c *Client) HeartbeatGroup(ctx context.Context, group, memberID string, generation int64) error {
	return c.do(ctx, call{method: "POST", path: groupPath(group, "/heartbeat"), noMinSeq: true,
		body: api.GroupHeartbeatRequest{MemberID: memberID, Generation: generation}}, nil)
}

// LeaveGroup makes members leave a group at once.
func (c *Client) LeaveGroup(ctx context.Context, group string, memberIDs ...string) (api.LeaveGroupAnswer, error) {
	req := api.LeaveGroupRequest{}
	for _, id := range memberIDs {
		req.Members = append(req.Members, api.LeavingMember{MemberID: id})
	}
	return c.LeaveGroupMembers(ctx, group, req)
}

// LeaveGroupMembers makes members leave a group at once, each named by its
// member id or its group instance id (a static member).
func (c *Client) LeaveGroupMembers(ctx context.Context, group string, req api.LeaveGroupRequest) (api.LeaveGroupAnswer, error) {
	var ans api.LeaveGroupAnswer
	err := c.do(ctx, call{method: "POST", path: groupPath(group, "/leave"), body: req, noMinSeq: true}, &ans)
	return ans, err
}

// CommitOffsets commits offsets for a member of a generation (or, with
// generation -1 and no member, for a group without members) and returns
// the per-partition results: Code "" where committed.
func (c *Client) CommitOffsets(ctx context.Context, group string, req api.CommitOffsetsRequest) ([]api.OffsetResult, error) {
	var ans api.CommitOffsetsAnswer
	err := c.do(ctx, call{method: "POST", path: groupPath(group, "/offsets"), body: req, noMinSeq: true}, &ans)
	return ans.Offsets, err
}

// FetchOffsets returns a group's committed offsets of topics (every
// partition, -1 where nothing is committed), or all its committed offsets
// when no topic is given.
func (c *Client) FetchOffsets(ctx context.Context, group string, topics ...string) ([]api.CommittedOffset, error) {
	q := url.Values{}
	for _, t := range topics {
		q.Add("topic", t)
	}
	var ans api.GroupOffsetsAnswer
	err := c.do(ctx, call{method: "GET", path: groupPath(group, "/offsets"), query: q, noMinSeq: true}, &ans)
	return ans.Offsets, err
}

// ResetOffsets sets a group's offsets of a topic (only while the group has
// no members) and returns them.
func (c *Client) ResetOffsets(ctx context.Context, group string, req api.ResetOffsetsRequest) ([]api.CommittedOffset, error) {
	var ans api.GroupOffsetsAnswer
	err := c.do(ctx, call{method: "POST", path: groupPath(group, "/offsets/reset"), body: req, noMinSeq: true}, &ans)
	return ans.Offsets, err
}

// ListGroups lists the groups.
func (c *Client) ListGroups(ctx context.Context) ([]api.GroupListing, error) {
	var ans api.GroupsAnswer
	err := c.do(ctx, call{method: "GET", path: "/groups", noMinSeq: true}, &ans)
	return ans.Groups, err
}

// DescribeGroup describes a group: state, generation, members and their
// assignments.
func (c *Client) DescribeGroup(ctx context.Context, group string) (api.GroupAnswer, error) {
	var ans api.GroupAnswer
	err := c.do(ctx, call{method: "GET", path: groupPath(group, ""), noMinSeq: true}, &ans)
	return ans, err
}

// DeleteGroup deletes an empty group and its committed offsets.
func (c *Client) DeleteGroup(ctx context.Context, group string) error {
	return c.do(ctx, call{method: "DELETE", path: groupPath(group, ""), noMinSeq: true}, nil)
}

// GroupMemberConfig configures a GroupMember.
type GroupMemberConfig struct {
	Topics            []string      // subscription (required)
	Assignor          string        // "range" (default), "roundrobin", "sticky", "cooperative-sticky"
	ClientID          string        // shown by describe
	InstanceID        string        // group_instance_id: a static member
	SessionTimeout    time.Duration // default 10 s
	RebalanceTimeout  time.Duration // default 30 s
	HeartbeatInterval time.Duration // default a third of the session timeout
	// OnRevoke, when set, is called before the member rejoins after a
	// rebalance was announced, with the assignment it is about to give up:
	// its generation still commits (the group is preparing a rebalance),
	// so this is where a consumer commits what it has delivered.
	OnRevoke func(ctx context.Context, old GroupAssignment)
}

// GroupAssignment is a member's assignment in one generation.
type GroupAssignment struct {
	Generation int64
	MemberID   string
	Partitions map[string][]int // topic → partitions
}

// GroupMember is a member of a group with protocol type "logq" (the
// coordinator assigns): it joins, syncs, heartbeats in the background,
// rejoins on a rebalance and reports every new assignment on Changes.
// Between a rebalance and the next assignment its commits are refused
// (illegal_generation): consumption stays at-least-once.
type GroupMember struct {
	c     *Client
	group string
	cfg   GroupMemberConfig

	mu      sync.Mutex
	current GroupAssignment

	changes chan GroupAssignment
	nudge   chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

// JoinGroupMember joins group and returns once the first assignment is
// known (it is also the first value on Changes). The member runs until
// Close.
func (c *Client) JoinGroupMember(ctx context.Context, group string, cfg GroupMemberConfig) (*GroupMember, error) {
	if len(cfg.Topics) == 0 {
		return nil, &Error{Code: logq.EInvalid, Message: "a group member needs topics"}
	}
	if cfg.Assignor == "" {
		cfg.Assignor = "range"
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = DefaultGroupSessionTimeout
	}
	if cfg.RebalanceTimeout <= 0 {
		cfg.RebalanceTimeout = 30 * time.Second
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = cfg.SessionTimeout / 3
	}
	m := &GroupMember{c: c, group: group, cfg: cfg, changes: make(chan GroupAssignment, 1), nudge: make(chan struct{}, 1), done: make(chan struct{})}
	if err := m.rejoin(ctx); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go m.run(runCtx)
	return m, nil
}

// Assignment returns the current assignment.
func (m *GroupMember) Assignment() GroupAssignment {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.current
}

// Changes delivers every new assignment (the latest one when the reader
// is slow).
func (m *GroupMember) Changes() <-chan GroupAssignment { return m.changes }

// Rejoin makes the member rejoin now rather than at its next heartbeat
// (a commit was refused: its generation is over).
func (m *GroupMember) Rejoin() {
	select {
	case m.nudge <- struct{}{}:
	default:
	}
}

// Commit commits offsets as this member in its current generation.
func (m *GroupMember) Commit(ctx context.Context, offsets []api.CommittedOffset) ([]api.OffsetResult, error) {
	a := m.Assignment()
	return m.c.CommitOffsets(ctx, m.group, api.CommitOffsetsRequest{MemberID: a.MemberID, Generation: a.Generation,
		GroupInstanceID: m.cfg.InstanceID, Offsets: offsets})
}

// Close stops the heartbeats and leaves the group (a static member stays,
// as in Kafka, until its session times out).
func (m *GroupMember) Close(ctx context.Context) error {
	m.cancel()
	<-m.done
	if m.cfg.InstanceID != "" {
		return nil
	}
	id := m.Assignment().MemberID
	if id == "" {
		return nil
	}
	_, err := m.c.LeaveGroup(ctx, m.group, id)
	if errors.Is(err, logq.ErrUnknownMemberID) {
		return nil
	}
	return err
}

func (m *GroupMember) joinRequest(memberID string) api.JoinGroupRequest {
	md, _ := json.Marshal(api.LogqMetadata{Topics: m.cfg.Topics})
	return api.JoinGroupRequest{MemberID: memberID, GroupInstanceID: m.cfg.InstanceID, ClientID: m.cfg.ClientID,
		SessionTimeoutMS: m.cfg.SessionTimeout.Milliseconds(), RebalanceTimeoutMS: m.cfg.RebalanceTimeout.Milliseconds(),
		ProtocolType: api.ProtocolTypeLogq, Protocols: []api.GroupProtocol{{Name: m.cfg.Assignor, Metadata: md}}}
}

// rejoin joins and syncs until an assignment comes, rejoining on a
// rebalance and as a new member when the old id is unknown.
func (m *GroupMember) rejoin(ctx context.Context) error {
	id := m.Assignment().MemberID
	for {
		j, err := m.c.JoinGroup(ctx, m.group, m.joinRequest(id))
		switch {
		case errors.Is(err, logq.ErrUnknownMemberID):
			id = ""
			continue
		case errors.Is(err, logq.ErrRebalanceInProgress):
			// The join outlasted the coordinator's long poll: it is a member
			// now, under the id the answer names; rejoining with another
			// would add one more member each time.
			if ce := (*Error)(nil); errors.As(err, &ce) && ce.MemberID != "" {
				id = ce.MemberID
			}
			continue
		case err != nil:
			return err
		}
		id = j.MemberID
		s, err := m.c.SyncGroup(ctx, m.group, api.SyncGroupRequest{MemberID: id, GroupInstanceID: m.cfg.InstanceID, Generation: j.Generation})
		switch {
		case errors.Is(err, logq.ErrUnknownMemberID):
			id = ""
			continue
		case errors.Is(err, logq.ErrRebalanceInProgress), errors.Is(err, logq.ErrIllegalGeneration):
			continue
		case err != nil:
			return err
		}
		var parts api.LogqAssignment
		if len(s.Assignment) > 0 {
			if err := json.Unmarshal(s.Assignment, &parts); err != nil {
				return &Error{Code: logq.EInternal, Message: "group assignment is not JSON: " + err.Error()}
			}
		}
		a := GroupAssignment{Generation: j.Generation, MemberID: id, Partitions: map[string][]int{}}
		for t, ps := range parts {
			a.Partitions[t] = slices.Clone(ps)
		}
		m.mu.Lock()
		m.current = a
		m.mu.Unlock()
		select { // the latest assignment wins
		case <-m.changes:
		default:
		}
		m.changes <- a
		return nil
	}
}

// run heartbeats every HeartbeatInterval and rejoins when told to.
func (m *GroupMember) run(ctx context.Context) {
	defer close(m.done)
	t := time.NewTimer(m.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.nudge:
			t.Stop()
		}
		t.Reset(m.cfg.HeartbeatInterval)
		a := m.Assignment()
		err := m.c.HeartbeatGroup(ctx, m.group, a.MemberID, a.Generation)
		if err == nil || ctx.Err() != nil {
			continue
		}
		if errors.Is(err, logq.ErrUnknownMemberID) {
			m.mu.Lock()
			m.current.MemberID = ""
			m.mu.Unlock()
		} else if !errors.Is(err, logq.ErrRebalanceInProgress) && !errors.Is(err, logq.ErrIllegalGeneration) {
			continue // transient: the next heartbeat tries again
		}
		if m.cfg.OnRevoke != nil {
			m.cfg.OnRevoke(ctx, a)
		}
		for ctx.Err() == nil && m.rejoin(ctx) != nil {
			if !sleep.For(ctx, m.cfg.HeartbeatInterval) {
				return
			}
		}
	}
}
