package groups

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/projection"
)

// OffsetStore keeps the committed offsets per group (in PostgreSQL:
// package groups/pgoffsets, the one package with SQL for group_offsets).
type OffsetStore interface {
	// Commit stores offsets of group in one transaction (all or none).
	Commit(ctx context.Context, group string, offsets []api.CommittedOffset, at time.Time) error
	// Fetch returns the committed offsets of group, of topics (none: all),
	// sorted by topic and partition.
	Fetch(ctx context.Context, group string, topics []string) ([]api.CommittedOffset, error)
	// Delete removes every offset of group.
	Delete(ctx context.Context, group string) error
	// Groups returns the names of the groups with committed offsets, sorted.
	Groups(ctx context.Context) ([]string, error)
}

// OffsetResolver answers partitions' offsets for resets to earliest,
// latest or a time: the brokers know them (their GET /v1/offsets), the
// coordinator does not. The manager wires it; without one, those resets
// are refused.
type OffsetResolver interface {
	// ResolveOffsets returns, for each partition of topic, the log start
	// offset (to api.ResetToEarliest), the high watermark
	// (api.ResetToLatest), or the first offset whose record's timestamp is
	// at or after timestampMS, the high watermark if none
	// (api.ResetToDatetime).
	ResolveOffsets(ctx context.Context, topic string, partitions []int, to string, timestampMS int64) (map[int]int64, error)
}

// CommitOffsets is POST /groups/{group}/offsets. A commit from a member of
// another generation, or from no member while the group has members, is
// refused whole (illegal_generation, unknown_member_id, or
// rebalance_in_progress while the generation's assignment is pending) and
// stores nothing; generation -1 without a member is a standalone commit,
// allowed while the group has no members. Partitions that do not exist, a
// negative offset or metadata over api.MaxOffsetMetadata bytes are refused
// per partition; the others are stored together.
func (c *Coordinator) CommitOffsets(ctx context.Context, name string, req api.CommitOffsetsRequest, now time.Time) (api.CommitOffsetsAnswer, error) {
	if err := api.ValidateGroup(name); err != nil {
		return api.CommitOffsetsAnswer{}, err
	}
	g, err := c.lockGroup(name, true) // held across the store: no join slips in between
	if err != nil {
		return api.CommitOffsetsAnswer{}, err
	}
	defer g.mu.Unlock()
	defer c.dropIfUnused(g)
	standalone := req.Generation < 0 && req.MemberID == "" && len(g.members) == 0
	if !standalone {
		if g.state == api.GroupCompletingRebalance && g.members[req.MemberID] != nil {
			return api.CommitOffsetsAnswer{}, logq.Errorf(logq.ERebalanceInProgress, "group %q is completing a rebalance; commit after the sync", name)
		}
		_, m, err := c.member(g, name, req.MemberID, req.GroupInstanceID, req.Generation)
		if err != nil {
			return api.CommitOffsetsAnswer{}, err
		}
		m.deadline = now.Add(m.session)
	}
	ans := api.CommitOffsetsAnswer{Status: api.StatusSuccess, Offsets: make([]api.OffsetResult, 0, len(req.Offsets))}
	var ok []api.CommittedOffset
	for _, o := range req.Offsets {
		r := api.OffsetResult{Topic: o.Topic, Partition: o.Partition}
		switch n := c.cluster.Partitions(o.Topic); {
		case o.Partition < 0 || o.Partition >= n:
			r.Code, r.Message = logq.ETopicNotFound, "unknown topic or partition"
		case o.Offset < 0:
			r.Code, r.Message = logq.EInvalid, "offset must not be negative"
		case len(o.Metadata) > api.MaxOffsetMetadata:
			r.Code, r.Message = logq.ETooLarge, "metadata over 4096 bytes"
		default:
			ok = append(ok, o)
		}
		ans.Offsets = append(ans.Offsets, r)
	}
	if len(ok) > 0 {
		if err := c.offsets.Commit(ctx, name, ok, now); err != nil {
			return api.CommitOffsetsAnswer{}, err
		}
	}
	return ans, nil
}

// FetchOffsets is GET /groups/{group}/offsets: the committed offsets of
// topics (every partition of each, -1 where nothing is committed), or all
// committed offsets of the group when topics is empty.
func (c *Coordinator) FetchOffsets(ctx context.Context, name string, topics []string) (api.GroupOffsetsAnswer, error) {
	if err := api.ValidateGroup(name); err != nil {
		return api.GroupOffsetsAnswer{}, err
	}
	got, err := c.offsets.Fetch(ctx, name, topics)
	if err != nil {
		return api.GroupOffsetsAnswer{}, err
	}
	ans := api.GroupOffsetsAnswer{Status: api.StatusSuccess, Group: name, Offsets: []api.CommittedOffset{}}
	if len(topics) == 0 {
		ans.Offsets = append(ans.Offsets, got...)
		return ans, nil
	}
	have := map[string]map[int]api.CommittedOffset{}
	for _, o := range got {
		if have[o.Topic] == nil {
			have[o.Topic] = map[int]api.CommittedOffset{}
		}
		have[o.Topic][o.Partition] = o
	}
	slices.Sort(topics)
	for _, t := range slices.Compact(topics) {
		n := c.cluster.Partitions(t)
		for p := range n {
			o, ok := have[t][p]
			if !ok {
				o = api.CommittedOffset{Topic: t, Partition: p, Offset: -1}
			}
			ans.Offsets = append(ans.Offsets, o)
		}
		// Offsets committed past the partitions that exist now (a topic
		// recreated smaller) are still shown.
		for _, p := range slices.Sorted(maps.Keys(have[t])) {
			if p >= n {
				ans.Offsets = append(ans.Offsets, have[t][p])
			}
		}
	}
	return ans, nil
}

// ResetOffsets is POST /groups/{group}/offsets/reset: the partitions of a
// topic (none: all) set to an offset, to earliest, latest or a time (through
// the OffsetResolver), only while the group has no members
// (group_not_empty otherwise).
func (c *Coordinator) ResetOffsets(ctx context.Context, name string, req api.ResetOffsetsRequest, now time.Time) (api.GroupOffsetsAnswer, error) {
	if err := api.ValidateGroup(name); err != nil {
		return api.GroupOffsetsAnswer{}, err
	}
	g, err := c.lockGroup(name, true) // held across the store: no member joins meanwhile
	if err != nil {
		return api.GroupOffsetsAnswer{}, err
	}
	defer g.mu.Unlock()
	defer c.dropIfUnused(g)
	if len(g.members) > 0 {
		return api.GroupOffsetsAnswer{}, logq.Errorf(logq.EGroupNotEmpty, "group %q has %d members: offsets are reset only in an empty group", name, len(g.members))
	}
	n := c.cluster.Partitions(req.Topic)
	if n == 0 {
		return api.GroupOffsetsAnswer{}, logq.Errorf(logq.ETopicNotFound, "topic %q not found", req.Topic)
	}
	parts := slices.Clone(req.Partitions)
	if len(parts) == 0 {
		for p := range n {
			parts = append(parts, p)
		}
	}
	slices.Sort(parts)
	parts = slices.Compact(parts)
	for _, p := range parts {
		if p < 0 || p >= n {
			return api.GroupOffsetsAnswer{}, logq.Errorf(logq.ETopicNotFound, "topic %q has no partition %d", req.Topic, p)
		}
	}
	to := map[int]int64{}
	switch req.To {
	case api.ResetToOffset:
		for _, p := range parts {
			to[p] = req.Offset
		}
	default:
		if c.resolver == nil {
			return api.GroupOffsetsAnswer{}, logq.Errorf(logq.EInvalid, "reset to %s is not supported: it needs the partitions' offsets from the brokers, which this manager cannot ask for", req.To)
		}
		got, err := c.resolver.ResolveOffsets(ctx, req.Topic, parts, req.To, req.TimestampMS)
		if err != nil {
			return api.GroupOffsetsAnswer{}, err
		}
		for _, p := range parts {
			off, ok := got[p]
			if !ok {
				return api.GroupOffsetsAnswer{}, logq.Errorf(logq.EUnavailable, "no offset for partition %d of %q; retry", p, req.Topic)
			}
			to[p] = off
		}
	}
	ans := api.GroupOffsetsAnswer{Status: api.StatusSuccess, Group: name}
	for _, p := range parts {
		ans.Offsets = append(ans.Offsets, api.CommittedOffset{Topic: req.Topic, Partition: p, Offset: to[p]})
	}
	if err := c.offsets.Commit(ctx, name, ans.Offsets, now); err != nil {
		return api.GroupOffsetsAnswer{}, err
	}
	return ans, nil
}

// ListGroups is GET /groups: the groups the coordinator runs, and those
// with nothing but committed offsets (Empty, no protocol type), sorted.
func (c *Coordinator) ListGroups(ctx context.Context) (api.GroupsAnswer, error) {
	stored, err := c.offsets.Groups(ctx)
	if err != nil {
		return api.GroupsAnswer{}, err
	}
	c.mu.Lock()
	active := c.active
	c.mu.Unlock()
	if !active {
		return api.GroupsAnswer{}, errNotRunning
	}
	seen := map[string]api.GroupListing{}
	for _, name := range stored {
		seen[name] = api.GroupListing{Group: name, State: api.GroupEmpty}
	}
	for _, g := range c.allGroups() {
		g.mu.Lock()
		if !g.dead {
			seen[g.name] = api.GroupListing{Group: g.name, State: g.state, ProtocolType: g.protocolType}
		}
		g.mu.Unlock()
	}
	ans := api.GroupsAnswer{Status: api.StatusSuccess, Groups: []api.GroupListing{}}
	for _, name := range slices.Sorted(maps.Keys(seen)) {
		ans.Groups = append(ans.Groups, seen[name])
	}
	return ans, nil
}

// DescribeGroup is GET /groups/{group}: state, generation, members and
// their assignments (decoded for protocol types "consumer" and "logq").
// A group with only committed offsets is Empty; no group at all is
// group_not_found.
func (c *Coordinator) DescribeGroup(ctx context.Context, name string) (api.GroupAnswer, error) {
	if err := api.ValidateGroup(name); err != nil {
		return api.GroupAnswer{}, err
	}
	g, err := c.lockGroup(name, false)
	if err != nil {
		return api.GroupAnswer{}, err
	}
	if g == nil {
		stored, err := c.offsets.Fetch(ctx, name, nil)
		if err != nil {
			return api.GroupAnswer{}, err
		}
		if len(stored) == 0 {
			return api.GroupAnswer{}, logq.Errorf(logq.EGroupNotFound, "group %q not found", name)
		}
		return api.GroupAnswer{Status: api.StatusSuccess, Group: name, State: api.GroupEmpty, Members: []api.DescribedMember{}}, nil
	}
	defer g.mu.Unlock()
	ans := api.GroupAnswer{Status: api.StatusSuccess, Group: name, State: g.state, ProtocolType: g.protocolType,
		Protocol: g.protocol, Generation: g.generation, Leader: g.leader, Members: []api.DescribedMember{}}
	for _, id := range slices.Sorted(maps.Keys(g.members)) {
		m := g.members[id]
		dm := api.DescribedMember{MemberID: id, GroupInstanceID: m.instance, ClientID: m.clientID, Topics: m.topics,
			MemberMetadata: metadataOf(m, g.protocol)}
		if g.state == api.GroupStable {
			dm.Assignment, dm.MemberAssignment = g.decoded[id], g.assignment[id]
		}
		ans.Members = append(ans.Members, dm)
	}
	return ans, nil
}

// DeleteGroup is DELETE /groups/{group}: an empty group and its committed
// offsets go (GroupDeleted); a group with members is group_not_empty.
func (c *Coordinator) DeleteGroup(ctx context.Context, name string, now time.Time) error {
	if err := api.ValidateGroup(name); err != nil {
		return err
	}
	g, err := c.lockGroup(name, true) // held across the delete: no member joins meanwhile
	if err != nil {
		return err
	}
	defer g.mu.Unlock()
	if len(g.members) > 0 {
		return logq.Errorf(logq.EGroupNotEmpty, "group %q has %d members", name, len(g.members))
	}
	stored, err := c.offsets.Fetch(ctx, name, nil)
	if err != nil {
		return err
	}
	if g.generation == 0 && len(stored) == 0 {
		c.dropGroup(g)
		return logq.Errorf(logq.EGroupNotFound, "group %q not found", name)
	}
	if g.generation > 0 {
		if err := c.cluster.Append(context.WithoutCancel(ctx), projection.GroupDeleted{Group: name}); err != nil {
			return err
		}
	}
	c.dropGroup(g)
	return c.offsets.Delete(ctx, name)
}
