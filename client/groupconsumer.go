package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
)

// The group consumer (docs/groups.md, "The Go consumer"): a GroupMember
// that fetches its partitions from the committed offsets and commits, at
// least once, what Poll has returned.

// Defaults of GroupConsumerConfig.
const (
	DefaultAutoCommitInterval = 5 * time.Second // Kafka's auto.commit.interval.ms
	DefaultGroupFetches       = 4               // topics fetched at once
	// DefaultGroupSessionTimeout is a group member's session timeout
	// unless configured (Kafka's default is 45 s; the managers accept 6 s
	// to 30 min by default).
	DefaultGroupSessionTimeout = 10 * time.Second
)

// Reset policies: where a group consumer starts in a partition without a
// committed offset, or whose offset is out of range (below the log start,
// after retention; or past the end).
const (
	ResetEarliest = "earliest" // the log start: every record still kept (the default)
	ResetLatest   = "latest"   // the end: only records produced from now on
)

// GroupConsumerConfig configures a GroupConsumer. The zero value consumes
// with the range assignor, a 10 s session, auto-commit every 5 s, from the
// earliest offset where the group has committed nothing.
type GroupConsumerConfig struct {
	// Assignor: "range" (default), "roundrobin", "sticky" or
	// "cooperative-sticky".
	Assignor string
	// ClientID is shown by describe.
	ClientID string
	// SessionTimeout (default 10 s), RebalanceTimeout (default 30 s) and
	// HeartbeatInterval (default a third of the session) of the member.
	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
	HeartbeatInterval time.Duration
	// NoAutoCommit turns auto-commit off: offsets are then committed only
	// by Commit, on a rebalance and by Close. By default the offsets of
	// what Poll returned are committed every AutoCommitInterval (default
	// 5 s, as Kafka's), at a Poll or in the background when no Poll comes.
	NoAutoCommit       bool
	AutoCommitInterval time.Duration
	// ResetPolicy is ResetEarliest (default) or ResetLatest.
	ResetPolicy string
	// MaxWait is how long a Poll waits for a first record when none is
	// ready (default 1 s, at most 30 s; negative: do not wait).
	MaxWait time.Duration
	// BatchSize bounds the records of a Poll that asks for 0 (default
	// 100, at most 10000).
	BatchSize int
	// MaxFetches bounds the topics fetched at once (default 4); the
	// partitions of a topic are fetched in one request, which the managers
	// answer with what the healthy partitions have (a hung partition only
	// delays itself, by the managers' partition timeout).
	MaxFetches int
}

// GroupConsumer consumes topics as a member of a consumer group, at least
// once: the offset of a record is committed only after Poll has returned
// it, so a member that dies, or loses its partitions in a rebalance,
// leaves its successor to redeliver at most what was returned and not yet
// committed; nothing acknowledged is skipped. Poll is for one goroutine at
// a time; Commit and Close may be called from any.
type GroupConsumer struct {
	c      *Client
	group  string
	topics []string
	cfg    GroupConsumerConfig
	member *GroupMember

	pollMu sync.Mutex // one Poll at a time

	mu        sync.Mutex
	assign    GroupAssignment // the assignment Poll works on
	pos       map[topicPart]int64
	pending   map[topicPart]bool // position unknown; true: reset by the policy (not the committed offset)
	delivered map[topicPart]int64
	committed map[topicPart]int64
	lastDone  time.Time // of the last commit attempt
	rotate    int       // where the next Poll starts handing out records
	rejoining bool      // the member gives up its assignment: no fetch until the next
	closed    bool

	commitMu sync.Mutex // one commit at a time

	stop chan struct{}
	done chan struct{}
}

type topicPart struct {
	topic     string
	partition int
}

// NewGroupConsumer joins group as a consumer of topics and returns once it
// has its first assignment; Poll then fetches from the group's committed
// offsets (ResetPolicy where none is committed). Close leaves the group.
func (c *Client) NewGroupConsumer(ctx context.Context, group string, topics []string, cfg GroupConsumerConfig) (*GroupConsumer, error) {
	if len(topics) == 0 {
		return nil, &Error{Code: logq.EInvalid, Message: "a group consumer needs topics"}
	}
	switch cfg.ResetPolicy {
	case "":
		cfg.ResetPolicy = ResetEarliest
	case ResetEarliest, ResetLatest:
	default:
		return nil, &Error{Code: logq.EInvalid, Message: fmt.Sprintf("reset policy %q: want earliest or latest", cfg.ResetPolicy)}
	}
	switch {
	case cfg.MaxWait == 0:
		cfg.MaxWait = DefaultMaxWait
	case cfg.MaxWait < 0:
		cfg.MaxWait = 0
	}
	cfg.MaxWait = min(cfg.MaxWait, maxWaitLimit)
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultPollBatch
	}
	cfg.BatchSize = min(cfg.BatchSize, MaxPoll)
	if cfg.AutoCommitInterval <= 0 {
		cfg.AutoCommitInterval = DefaultAutoCommitInterval
	}
	if cfg.MaxFetches <= 0 {
		cfg.MaxFetches = DefaultGroupFetches
	}
	g := &GroupConsumer{c: c, group: group, topics: slices.Clone(topics), cfg: cfg,
		pos: map[topicPart]int64{}, pending: map[topicPart]bool{}, delivered: map[topicPart]int64{}, committed: map[topicPart]int64{},
		lastDone: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	m, err := c.JoinGroupMember(ctx, group, GroupMemberConfig{Topics: g.topics, Assignor: cfg.Assignor, ClientID: cfg.ClientID,
		SessionTimeout: cfg.SessionTimeout, RebalanceTimeout: cfg.RebalanceTimeout, HeartbeatInterval: cfg.HeartbeatInterval,
		OnRevoke: g.onRevoke})
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.member = m
	g.mu.Unlock()
	if cfg.NoAutoCommit {
		close(g.done)
	} else {
		go g.autoCommit()
	}
	return g, nil
}

// Member is the consumer's group member (its id, generation and
// assignment).
func (g *GroupConsumer) Member() *GroupMember { return g.member }

// Assignment returns the partitions Poll reads now, by topic.
func (g *GroupConsumer) Assignment() map[string][]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string][]int{}
	for t, ps := range g.assign.Partitions {
		out[t] = slices.Clone(ps)
	}
	return out
}

// Poll returns up to max of the next records of the consumer's partitions
// (1…10000; 0 means BatchSize), waiting up to MaxWait for a first one; the
// records of a partition come in offset order. It takes in a new
// assignment first (the committed offsets of partitions new to it), and
// auto-commits what earlier Polls returned when the interval is due. An
// empty answer is no error. A partition whose offset is out of range
// (below the log start after retention) is reset by the policy; one whose
// broker does not answer is asked again at the next Poll from the same
// offset.
func (g *GroupConsumer) Poll(ctx context.Context, max int) ([]Message, error) {
	if max <= 0 {
		max = g.cfg.BatchSize
	}
	max = min(max, MaxPoll)
	g.pollMu.Lock()
	defer g.pollMu.Unlock()
	g.mu.Lock()
	closed := g.closed
	g.mu.Unlock()
	if closed {
		return nil, &Error{Code: logq.EInvalid, Message: "group consumer closed"}
	}
	select {
	case a := <-g.member.Changes():
		g.reassign(a)
	default:
	}
	if err := g.resolvePending(ctx); err != nil && !g.hasPositions() {
		return nil, err
	}
	if !g.cfg.NoAutoCommit && g.commitDue() {
		_ = g.Commit(ctx) // refused or failed: kept, tried again (a rejoin is under way)
	}
	return g.fetch(ctx, max)
}

// Commit commits the offsets of what Poll has returned, in the member's
// current generation, for the partitions it still has. A commit the group
// refuses (the generation is over: illegal_generation,
// rebalance_in_progress, unknown_member_id) makes the member rejoin; what
// was not committed is redelivered by whoever gets the partitions (at
// least once).
func (g *GroupConsumer) Commit(ctx context.Context) error {
	return g.commitAs(ctx, g.member.Assignment())
}

// Close commits what Poll returned, stops the auto-commit and leaves the
// group (its partitions move to the other members at once).
func (g *GroupConsumer) Close(ctx context.Context) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	g.mu.Unlock()
	if !g.cfg.NoAutoCommit {
		close(g.stop)
	}
	<-g.done
	g.pollMu.Lock() // a Poll in flight ends first: its records are committed too
	defer g.pollMu.Unlock()
	err := g.Commit(ctx)
	return errors.Join(err, g.member.Close(ctx))
}

// onRevoke runs in the member's heartbeat loop when a rebalance is
// announced: the old generation still commits, so what Poll returned of
// the partitions about to be given up is committed before the rejoin.
func (g *GroupConsumer) onRevoke(ctx context.Context, old GroupAssignment) {
	rt := g.cfg.RebalanceTimeout
	if rt <= 0 {
		rt = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, min(rt/2, 10*time.Second))
	defer cancel()
	g.mu.Lock()
	g.rejoining = true // Poll fetches nothing until the new assignment
	g.mu.Unlock()
	_ = g.commitAs(ctx, old) // refused: the successor redelivers
}

func (g *GroupConsumer) commitDue() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return time.Since(g.lastDone) >= g.cfg.AutoCommitInterval
}

// autoCommit commits every AutoCommitInterval that no Poll has.
func (g *GroupConsumer) autoCommit() {
	defer close(g.done)
	t := time.NewTicker(g.cfg.AutoCommitInterval / 2)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		if !g.commitDue() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), g.cfg.AutoCommitInterval)
		go func() { // the stop cancels a commit in flight
			select {
			case <-g.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		_ = g.Commit(ctx)
		cancel()
	}
}

// commitAs commits what Poll returned of a's partitions as a's member and
// generation.
func (g *GroupConsumer) commitAs(ctx context.Context, a GroupAssignment) error {
	g.commitMu.Lock()
	defer g.commitMu.Unlock()
	var offs []api.CommittedOffset
	g.mu.Lock()
	g.lastDone = time.Now()
	for t, ps := range a.Partitions {
		for _, p := range ps {
			k := topicPart{t, p}
			d, ok := g.delivered[k]
			if c, done := g.committed[k]; ok && (!done || c != d) {
				offs = append(offs, api.CommittedOffset{Topic: t, Partition: p, Offset: d})
			}
		}
	}
	g.mu.Unlock()
	if len(offs) == 0 || a.MemberID == "" {
		return nil
	}
	res, err := g.c.CommitOffsets(ctx, g.group, api.CommitOffsetsRequest{MemberID: a.MemberID, Generation: a.Generation, Offsets: offs})
	if err != nil {
		if errors.Is(err, logq.ErrIllegalGeneration) || errors.Is(err, logq.ErrRebalanceInProgress) || errors.Is(err, logq.ErrUnknownMemberID) {
			g.mu.Lock()
			m := g.member // nil while joining: the join is the rejoin
			g.mu.Unlock()
			if m != nil {
				m.Rejoin()
			}
		}
		return err
	}
	sent := map[topicPart]int64{}
	for _, o := range offs {
		sent[topicPart{o.Topic, o.Partition}] = o.Offset
	}
	var first error
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range res {
		k := topicPart{r.Topic, r.Partition}
		if r.Code != "" {
			if first == nil {
				first = itemError(r.Code, fmt.Sprintf("commit %s/%d: %s", r.Topic, r.Partition, r.Message))
			}
			continue
		}
		if off, ok := sent[k]; ok {
			g.committed[k] = off
		}
	}
	return first
}

// reassign makes a the assignment Poll works on: partitions it keeps keep
// their positions, new ones start from the committed offsets (looked up by
// resolvePending), the others are forgotten. When a is not the next
// generation of the same member (it was removed and joined again, or
// generations passed unseen, in which its partitions may have been another
// member's), every partition starts from the committed offsets: a position
// of its own would go back over what the other member has committed since.
func (g *GroupConsumer) reassign(a GroupAssignment) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if a.MemberID != g.assign.MemberID || a.Generation != g.assign.Generation+1 {
		g.assign = GroupAssignment{}
		clear(g.pos)
		clear(g.delivered)
		clear(g.committed)
		clear(g.pending)
	}
	now := map[topicPart]bool{}
	for t, ps := range a.Partitions {
		for _, p := range ps {
			k := topicPart{t, p}
			now[k] = true
			if !g.owns(k) {
				g.pending[k] = false
				delete(g.pos, k)
			}
		}
	}
	for _, m := range []map[topicPart]int64{g.pos, g.delivered, g.committed} {
		for k := range m {
			if !now[k] {
				delete(m, k)
			}
		}
	}
	for k := range g.pending {
		if !now[k] {
			delete(g.pending, k)
		}
	}
	g.assign = a
	g.rejoining = false
}

func (g *GroupConsumer) owns(k topicPart) bool {
	return slices.Contains(g.assign.Partitions[k.topic], k.partition)
}

func (g *GroupConsumer) hasPositions() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pos) > 0
}

// resolvePending finds the starting offsets of the partitions that have
// none: the group's committed offset, else (or after an out of range) the
// reset policy's. A partition it cannot resolve now stays pending.
func (g *GroupConsumer) resolvePending(ctx context.Context) error {
	g.mu.Lock()
	committedFirst := map[string][]int{}
	reset := map[string][]int{}
	for k, byPolicy := range g.pending {
		if byPolicy {
			reset[k.topic] = append(reset[k.topic], k.partition)
		} else {
			committedFirst[k.topic] = append(committedFirst[k.topic], k.partition)
		}
	}
	g.mu.Unlock()
	var firstErr error
	if len(committedFirst) > 0 {
		topics := make([]string, 0, len(committedFirst))
		for t := range committedFirst {
			topics = append(topics, t)
		}
		sort.Strings(topics)
		got, err := g.c.FetchOffsets(ctx, g.group, topics...)
		if err != nil {
			return err
		}
		g.mu.Lock()
		for _, o := range got {
			k := topicPart{o.Topic, o.Partition}
			byPolicy, ok := g.pending[k]
			if !ok || byPolicy {
				continue
			}
			if o.Offset < 0 {
				g.pending[k] = true
				reset[o.Topic] = append(reset[o.Topic], o.Partition)
				continue
			}
			g.pos[k] = o.Offset
			g.committed[k] = o.Offset
			delete(g.pending, k)
		}
		g.mu.Unlock()
	}
	at := int64(OffsetEarliest)
	if g.cfg.ResetPolicy == ResetLatest {
		at = OffsetLatest
	}
	for t, ps := range reset {
		var got []PartitionOffset
		var err error
		if len(ps) == 1 {
			got, err = g.c.ListOffsets(ctx, t, &ps[0], at)
		} else {
			got, err = g.c.ListOffsets(ctx, t, nil, at)
		}
		if err != nil {
			firstErr = firstOf(firstErr, err)
			continue
		}
		g.mu.Lock()
		for _, o := range got {
			k := topicPart{t, o.Partition}
			if byPolicy, ok := g.pending[k]; !ok || !byPolicy {
				continue
			}
			if o.Err != nil {
				firstErr = firstOf(firstErr, o.Err)
				continue
			}
			off := o.Offset
			if at == OffsetEarliest {
				off = o.LogStartOffset
			} else if off < 0 {
				off = o.HighWatermark
			}
			g.pos[k] = off
			delete(g.pending, k)
		}
		g.mu.Unlock()
	}
	return firstErr
}

func firstOf(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// fetch asks every topic with positions for its partitions' next records,
// at most MaxFetches topics at once; the first answer with records ends
// the others' long polls (a fetch moves nothing: they are asked again).
func (g *GroupConsumer) fetch(ctx context.Context, max int) ([]Message, error) {
	g.mu.Lock()
	from := map[string]map[int]int64{}
	for k, off := range g.pos {
		if from[k.topic] == nil {
			from[k.topic] = map[int]int64{}
		}
		from[k.topic][k.partition] = off
	}
	if g.rejoining {
		// The partitions may be another member's by now (its session
		// ended, or a rebalance is under way): wait for the assignment.
		clear(from)
	}
	g.mu.Unlock()
	if len(from) == 0 {
		// Nothing assigned (more members than partitions), nothing
		// resolved yet, or a rejoin under way: wait for a change, as a
		// long poll would.
		if g.cfg.MaxWait > 0 {
			t := time.NewTimer(g.cfg.MaxWait)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-t.C:
			case a := <-g.member.Changes():
				g.reassign(a)
			}
		}
		return nil, nil
	}
	topics := make([]string, 0, len(from))
	for t := range from {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		topic string
		ans   messagesAnswer
		err   error
	}
	results := make([]result, len(topics))
	sem := make(chan struct{}, g.cfg.MaxFetches)
	var wg sync.WaitGroup
	for i, t := range topics {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ans, err := g.c.fetchPartitions(fctx, t, from[t], max, g.cfg.MaxWait)
			results[i] = result{t, ans, err}
			if err == nil && len(ans.msgs) > 0 {
				cancel()
			}
		})
	}
	wg.Wait()

	// Every partition of a topic out of range fails the whole fetch (416):
	// ask each on its own which it is.
	outOfRange := map[topicPart]bool{}
	for i, r := range results {
		if !errors.Is(r.err, logq.ErrOffsetOutOfRange) {
			continue
		}
		results[i].err = nil
		for p, off := range from[r.topic] {
			if _, err := g.c.Fetch(ctx, r.topic, p, off, FetchOptions{Max: 1}); errors.Is(err, logq.ErrOffsetOutOfRange) {
				outOfRange[topicPart{r.topic, p}] = true
			}
		}
	}

	var out []Message
	var firstErr error
	byPart := map[topicPart][]Message{}
	var order []topicPart
	g.mu.Lock()
	defer g.mu.Unlock()
	for k := range outOfRange {
		if _, ok := g.pos[k]; ok {
			delete(g.pos, k)
			g.pending[k] = true
		}
	}
	for _, r := range results {
		if r.err != nil {
			if fctx.Err() == nil || ctx.Err() != nil {
				firstErr = firstOf(firstErr, r.err)
			}
			continue
		}
		for _, fp := range r.ans.partitions {
			k := topicPart{r.topic, fp.Partition}
			if _, ok := g.pos[k]; !ok {
				continue // reassigned meanwhile
			}
			if fp.Error != nil && fp.Error.Code == logq.EOffsetOutOfRange {
				delete(g.pos, k)
				g.pending[k] = true // reset by the policy at the next Poll
			}
		}
		for _, m := range r.ans.msgs {
			k := topicPart{r.topic, m.Partition}
			if _, ok := byPart[k]; !ok {
				order = append(order, k)
			}
			byPart[k] = append(byPart[k], m)
		}
	}
	// Hand out up to max, starting with a different partition each time
	// (none starves when the first ones have max records); what is left
	// over is fetched again: its partitions' positions stay.
	if len(order) > 0 {
		g.rotate++
		start := g.rotate % len(order)
		order = append(order[start:], order[:start]...)
	}
	for _, k := range order {
		for _, m := range byPart[k] {
			p, ok := g.pos[k]
			if !ok || len(out) == max {
				break // reassigned meanwhile, or enough
			}
			if m.Offset < p {
				continue
			}
			out = append(out, m)
			g.pos[k] = m.Offset + 1
			g.delivered[k] = m.Offset + 1
		}
	}
	if len(out) == 0 && firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// fetchPartitions is one GET /consumer/fetch of several partitions of a
// topic from the given offsets: per-partition errors are in the answer.
func (c *Client) fetchPartitions(ctx context.Context, topic string, from map[int]int64, max int, wait time.Duration) (messagesAnswer, error) {
	parts := make([]int, 0, len(from))
	for p := range from {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	pairs := make([]string, len(parts))
	for i, p := range parts {
		pairs[i] = strconv.Itoa(p) + ":" + strconv.FormatInt(from[p], 10)
	}
	q := url.Values{"topic": {topic}, "offsets": {strings.Join(pairs, ",")}, "max": {strconv.Itoa(max)}}
	if wait > 0 {
		q.Set("wait_ms", strconv.FormatInt(wait.Milliseconds(), 10))
	}
	out := messagesAnswer{topic: topic}
	err := c.do(ctx, call{method: http.MethodGet, path: "/consumer/fetch", query: q, wait: wait}, &out)
	return out, err
}
