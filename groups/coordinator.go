// Package groups is the consumer-group coordinator, run by the writer
// manager: Kafka's group membership protocol (join, sync, heartbeat,
// leave), with member ids assigned by the coordinator, generations, the
// join barrier bounded by the rebalance timeout, session timeouts, static
// members (group_instance_id), and committed offsets per group.
//
// Decide, log, apply: every generation the coordinator forms
// (projection.GroupRebalanced) and every assignment it distributes
// (projection.GroupAssigned) is appended to the event log through Cluster
// before the coordinator's memory changes; heartbeats, pending joins and
// committed offsets are not events (offsets live in PostgreSQL behind
// OffsetStore). After a writer failover the new writer calls Restore with
// the projection's groups: every member gets a fresh session timeout, and
// a generation whose sync had not completed is rebalanced again.
//
// Time-driven logic (session timeouts, the rebalance timeout, the sync
// timeout) runs in Tick, with the time passed in: the manager calls it on a
// ticker with its clock, tests with the time they want. Nothing here
// sleeps; a join or sync that waits is woken by whichever call completes
// its phase.
package groups

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/decide"
	"github.com/logq/logq/projection"
)

// Cluster is what the coordinator needs of the manager: the writer's
// append (decide → log → apply: the events are appended, then applied to
// the projection; an error means nothing was logged) and the topics'
// partition counts.
type Cluster interface {
	Append(ctx context.Context, events ...projection.Payload) error
	// Partitions returns the partition count of topic, 0 if it does not
	// exist.
	Partitions(topic string) int
}

// Config holds the coordinator's settings.
type Config struct {
	// Session timeouts a member may ask for (Kafka's
	// group.min/max.session.timeout.ms; defaults 6 s and 30 min).
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// InitialRebalanceDelay delays the first generation of an empty group
	// so that members starting together join one generation (Kafka's
	// group.initial.rebalance.delay.ms; default 0).
	InitialRebalanceDelay time.Duration
	// MaxWait bounds one join or sync call (real time: it bounds an HTTP
	// request, below the server's write timeout); a join still waiting
	// then answers rebalance_in_progress and the member rejoins. Default 50 s.
	MaxWait time.Duration
}

func (c Config) withDefaults() Config {
	if c.MinSessionTimeout <= 0 {
		c.MinSessionTimeout = 6 * time.Second
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = 30 * time.Minute
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 50 * time.Second
	}
	return c
}

// Coordinator runs every group of the cluster on the writer. It is
// inactive (answering unavailable) until Restore, and again after Stop.
type Coordinator struct {
	cfg      Config
	cluster  Cluster
	offsets  OffsetStore
	resolver OffsetResolver

	// mu guards active and the map of groups; each group has its own
	// lock for its state (group.mu), held across that group's appends and
	// offset commits, so that no generation changes between a check and
	// what it allows, and never while waiting for a join or a sync. Lock
	// order: a group's mu, then mu (never the other way round).
	mu     sync.Mutex
	active bool
	groups map[string]*group
}

// New returns an inactive coordinator. resolver may be nil: resets to
// earliest, latest or a time are then refused.
func New(cfg Config, cluster Cluster, offsets OffsetStore, resolver OffsetResolver) *Coordinator {
	return &Coordinator{cfg: cfg.withDefaults(), cluster: cluster, offsets: offsets, resolver: resolver, groups: map[string]*group{}}
}

type group struct {
	mu           sync.Mutex
	dead         bool // removed from the coordinator (stopped, deleted): look it up again
	name         string
	state        string // api.GroupEmpty, …
	protocolType string
	protocol     string
	generation   int64 // the latest logged (0: never formed)
	leader       string
	members      map[string]*member
	joinSeq      int

	rebalanceDeadline time.Time // PreparingRebalance: when the missing are dropped
	delayUntil        time.Time // PreparingRebalance of an empty group: no completion before
	syncDeadline      time.Time // CompletingRebalance: when a leader that did not sync is dropped
	syncCh            chan struct{}

	assignment map[string][]byte           // raw, per member, of the current generation
	decoded    map[string]map[string][]int // topic → partitions, per member
}

type member struct {
	id, instance, clientID string
	session, rebalance     time.Duration
	protocols              []api.GroupProtocol
	topics                 []string
	deadline               time.Time // session expiry
	joined                 bool      // rejoined during this PreparingRebalance
	joinWait               chan joinResult
	syncWaiting            bool
	seq                    int  // join order: the first becomes leader
	known                  bool // in a logged generation (it learnt its member id)
}

type joinResult struct {
	ans api.JoinGroupAnswer
	err error
}

// Restore makes the coordinator active with the groups of the projection
// (a writer term starts): members get a fresh session timeout from now;
// a generation whose assignment was not logged is rebalanced again.
func (c *Coordinator) Restore(groups map[string]*projection.Group, now time.Time) {
	c.Stop()
	restored := map[string]*group{}
	defer func() {
		c.mu.Lock()
		c.groups, c.active = restored, true
		c.mu.Unlock()
	}()
	for name, pg := range groups {
		g := &group{name: name, protocolType: pg.ProtocolType, protocol: pg.Protocol, generation: pg.Generation,
			leader: pg.Leader, members: map[string]*member{}, state: api.GroupEmpty}
		for i, pm := range pg.Members {
			m := &member{id: pm.MemberID, instance: pm.GroupInstanceID, clientID: pm.ClientID,
				session: time.Duration(pm.SessionTimeoutMS) * time.Millisecond, rebalance: time.Duration(pm.RebalanceTimeoutMS) * time.Millisecond,
				topics: slices.Clone(pm.Topics), seq: i}
			m.deadline, m.known = now.Add(m.session), true
			if pm.MemberID == pg.Leader {
				m.seq = -1
			}
			g.members[m.id] = m
			g.joinSeq = i + 1
		}
		restored[name] = g
		if len(g.members) == 0 {
			continue
		}
		raw, ok := encodeAssignments(pg.ProtocolType, pg.Assignment, g.members)
		if pg.AssignedGeneration == pg.Generation && ok {
			g.state, g.decoded, g.assignment = api.GroupStable, copyDecoded(pg.Assignment), raw
			continue
		}
		// The members' protocols are not in the ledger: they bring them
		// when they rejoin.
		c.prepareRebalance(g, now)
	}
}

// Stop makes the coordinator inactive (the writer term ended): waiting
// joins and syncs answer not_writer; the groups are forgotten (the next
// writer restores them from the log).
func (c *Coordinator) Stop() {
	c.mu.Lock()
	old := c.groups
	c.groups, c.active = map[string]*group{}, false
	c.mu.Unlock()
	for _, g := range old {
		g.mu.Lock()
		g.dead = true
		for _, m := range g.members {
			c.answerJoin(m, joinResult{err: logq.Errorf(logq.ENotWriter, "the coordinator moved (writer failover); retry")})
		}
		g.wakeSync()
		g.mu.Unlock()
	}
}

var errNotRunning = logq.Errorf(logq.ENotWriter, "the group coordinator is not running on this manager (not the writer, or loading); retry")

// lockGroup returns group name locked (the caller unlocks it); create
// makes a missing group (Empty, generation 0), otherwise a missing group
// is nil (not locked). It fails when the coordinator is not active.
func (c *Coordinator) lockGroup(name string, create bool) (*group, error) {
	for {
		c.mu.Lock()
		if !c.active {
			c.mu.Unlock()
			return nil, errNotRunning
		}
		g := c.groups[name]
		if g == nil {
			if !create {
				c.mu.Unlock()
				return nil, nil
			}
			g = &group{name: name, state: api.GroupEmpty, members: map[string]*member{}}
			c.groups[name] = g
		}
		c.mu.Unlock()
		g.mu.Lock()
		if !g.dead {
			return g, nil
		}
		g.mu.Unlock() // stopped or deleted meanwhile: look again
	}
}

// dropGroup removes g (locked by the caller) from the coordinator.
func (c *Coordinator) dropGroup(g *group) {
	g.dead = true
	c.mu.Lock()
	if c.groups[g.name] == g {
		delete(c.groups, g.name)
	}
	c.mu.Unlock()
}

// dropIfUnused drops g (locked) when it holds nothing: never formed, no
// members (a group made only to lock a name).
func (c *Coordinator) dropIfUnused(g *group) {
	if g.generation == 0 && len(g.members) == 0 {
		c.dropGroup(g)
	}
}

// allGroups returns the groups (not locked), sorted by name.
func (c *Coordinator) allGroups() []*group {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*group, 0, len(c.groups))
	for _, name := range slices.Sorted(maps.Keys(c.groups)) {
		out = append(out, c.groups[name])
	}
	return out
}

func (g *group) wakeSync() {
	if g.syncCh != nil {
		close(g.syncCh)
		g.syncCh = nil
	}
}

func (c *Coordinator) answerJoin(m *member, r joinResult) {
	if m.joinWait != nil {
		m.joinWait <- r
		m.joinWait = nil
	}
}

func newMemberID(clientID string) string {
	var b [16]byte
	rand.Read(b[:])
	prefix := clientID
	if prefix == "" || len(prefix) > 200 {
		prefix = "member"
	}
	return prefix + "-" + hex.EncodeToString(b[:])
}

func sameProtocols(a, b []api.GroupProtocol) bool {
	return slices.EqualFunc(a, b, func(x, y api.GroupProtocol) bool {
		return x.Name == y.Name && string(x.Metadata) == string(y.Metadata)
	})
}

// Join is POST /groups/{group}/join: it adds or rejoins a member and waits
// until the join phase completes (every known member rejoined, or the
// rebalance timeout dropped the missing), bounded by ctx and MaxWait.
func (c *Coordinator) Join(ctx context.Context, name string, req api.JoinGroupRequest, now time.Time) (api.JoinGroupAnswer, error) {
	if err := api.ValidateGroup(name); err != nil {
		return api.JoinGroupAnswer{}, err
	}
	session := time.Duration(req.SessionTimeoutMS) * time.Millisecond
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		return api.JoinGroupAnswer{}, logq.Errorf(logq.EInvalidSessionTimeout, "session_timeout_ms %d outside %d..%d",
			req.SessionTimeoutMS, c.cfg.MinSessionTimeout.Milliseconds(), c.cfg.MaxSessionTimeout.Milliseconds())
	}
	g, err := c.lockGroup(name, req.MemberID == "")
	if err != nil {
		return api.JoinGroupAnswer{}, err
	}
	if g == nil {
		return api.JoinGroupAnswer{}, logq.Errorf(logq.EUnknownMemberID, "group %q has no member %q", name, req.MemberID)
	}
	ch, ans, err := c.join(ctx, g, req, now)
	c.dropIfUnused(g)
	g.mu.Unlock()
	if err != nil || ch == nil {
		return ans, err
	}
	timer := time.NewTimer(c.cfg.MaxWait)
	defer timer.Stop()
	select {
	case r := <-ch:
		return r.ans, r.err
	case <-ctx.Done():
	case <-timer.C:
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case r := <-ch: // answered meanwhile
		return r.ans, r.err
	default:
	}
	var id string
	for _, m := range g.members {
		if m.joinWait == ch {
			m.joinWait = nil // it stays joined; it rejoins to learn the outcome
			id = m.id
		}
	}
	if ctx.Err() != nil {
		return api.JoinGroupAnswer{}, logq.Errorf(logq.ETimeout, "join cancelled")
	}
	// The member id goes with the error: a first join (member_id "") must
	// rejoin as the member it became, not as a new one.
	return api.JoinGroupAnswer{MemberID: id}, logq.Errorf(logq.ERebalanceInProgress, "group %q is still rebalancing; rejoin", name)
}

// join does Join's work under mu: it returns the channel to wait on, or an
// answer at once.
func (c *Coordinator) join(ctx context.Context, g *group, req api.JoinGroupRequest, now time.Time) (chan joinResult, api.JoinGroupAnswer, error) {
	name := g.name
	if len(g.members) > 0 && req.ProtocolType != g.protocolType {
		return nil, api.JoinGroupAnswer{}, logq.Errorf(logq.EInvalid, "inconsistent group protocol: group %q has protocol type %q, not %q", name, g.protocolType, req.ProtocolType)
	}
	if len(g.members) > 0 && !c.protocolPossible(g, req) {
		return nil, api.JoinGroupAnswer{}, logq.Errorf(logq.EInvalid, "inconsistent group protocol: no protocol of the join is supported by every member of %q", name)
	}
	var m *member
	if req.MemberID == "" {
		if len(g.members) >= projection.MaxGroupMembers {
			return nil, api.JoinGroupAnswer{}, logq.Errorf(logq.EConflict, "group %q has %d members, the most it may have", name, projection.MaxGroupMembers)
		}
		if req.GroupInstanceID != "" {
			if old := g.byInstance(req.GroupInstanceID); old != nil { // a static member restarted: fence the old id
				c.answerJoin(old, joinResult{err: logq.Errorf(logq.EUnknownMemberID, "fenced by a new member with instance id %q", req.GroupInstanceID)})
				delete(g.members, old.id)
			}
		}
		m = &member{id: newMemberID(req.ClientID), instance: req.GroupInstanceID, seq: g.joinSeq}
		g.joinSeq++
		g.members[m.id] = m
	} else {
		m = g.members[req.MemberID]
		if m == nil || m.instance != req.GroupInstanceID && req.GroupInstanceID != "" {
			return nil, api.JoinGroupAnswer{}, logq.Errorf(logq.EUnknownMemberID, "group %q has no member %q", name, req.MemberID)
		}
		if (g.state == api.GroupStable && m.id != g.leader || g.state == api.GroupCompletingRebalance) &&
			sameProtocols(m.protocols, req.Protocols) && m.clientID == req.ClientID {
			// Nothing changed: the answer of the current generation (as
			// in Kafka, the leader rejoining a stable group rebalances it).
			m.deadline = now.Add(m.session)
			return nil, c.joinAnswer(g, m), nil
		}
	}
	m.clientID, m.protocols = req.ClientID, req.Protocols
	m.session = time.Duration(req.SessionTimeoutMS) * time.Millisecond
	m.rebalance = time.Duration(req.RebalanceTimeoutMS) * time.Millisecond
	m.deadline = now.Add(m.session)
	g.protocolType = req.ProtocolType
	if g.state != api.GroupPreparingRebalance {
		c.prepareRebalance(g, now)
	}
	if m.joinWait != nil { // a second join of one member: the first is superseded
		c.answerJoin(m, joinResult{err: logq.Errorf(logq.ERebalanceInProgress, "superseded by a newer join of this member")})
	}
	ch := make(chan joinResult, 1)
	m.joinWait, m.joined = ch, true
	c.maybeCompleteJoin(ctx, g, now)
	return ch, api.JoinGroupAnswer{}, nil
}

func (g *group) byInstance(instance string) *member {
	for _, m := range g.members {
		if m.instance == instance {
			return m
		}
	}
	return nil
}

// protocolPossible reports whether some protocol of req is supported by
// every other member.
func (c *Coordinator) protocolPossible(g *group, req api.JoinGroupRequest) bool {
	for _, p := range req.Protocols {
		ok := true
		for _, m := range g.members {
			if m.id != req.MemberID && m.protocols != nil && !slices.ContainsFunc(m.protocols, func(q api.GroupProtocol) bool { return q.Name == p.Name }) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// prepareRebalance starts a join phase: every member must rejoin within
// the largest rebalance timeout.
func (c *Coordinator) prepareRebalance(g *group, now time.Time) {
	wasEmpty := g.state == api.GroupEmpty
	g.state = api.GroupPreparingRebalance
	var rt time.Duration
	for _, m := range g.members {
		rt = max(rt, m.rebalance, m.session)
		m.joined = m.joinWait != nil
		m.syncWaiting = false
	}
	g.rebalanceDeadline = now.Add(rt)
	g.delayUntil = time.Time{}
	if wasEmpty && c.cfg.InitialRebalanceDelay > 0 {
		g.delayUntil = now.Add(c.cfg.InitialRebalanceDelay)
		g.rebalanceDeadline = later(g.rebalanceDeadline, g.delayUntil)
	}
	g.wakeSync()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// maybeCompleteJoin completes the join phase when every member rejoined.
func (c *Coordinator) maybeCompleteJoin(ctx context.Context, g *group, now time.Time) {
	if g.state != api.GroupPreparingRebalance || now.Before(g.delayUntil) {
		return
	}
	for _, m := range g.members {
		if !m.joined {
			return
		}
	}
	c.completeJoin(ctx, g, now)
}

// completeJoin ends the join phase: members that did not rejoin are
// dropped, the generation is logged (with its assignment for protocol type
// "logq") and the waiting joins answered.
func (c *Coordinator) completeJoin(ctx context.Context, g *group, now time.Time) {
	for id, m := range g.members {
		if !m.joined {
			delete(g.members, id)
		}
	}
	if len(g.members) == 0 {
		c.becomeEmpty(ctx, g)
		return
	}
	ms := slices.SortedFunc(maps.Values(g.members), func(a, b *member) int { return a.seq - b.seq })
	leader := ms[0]
	if cur := g.members[g.leader]; cur != nil {
		leader = cur
	}
	protocol := chooseProtocol(leader, ms)
	ev := projection.GroupRebalanced{Group: g.name, Generation: g.generation + 1, ProtocolType: g.protocolType,
		Protocol: protocol, Leader: leader.id, Members: []projection.GroupMember{}}
	topics := map[string][]string{}
	for _, m := range ms {
		md := metadataOf(m, protocol)
		topics[m.id] = subscription(g.protocolType, md)
		ev.Members = append(ev.Members, projection.GroupMember{MemberID: m.id, ClientID: m.clientID, GroupInstanceID: m.instance,
			SessionTimeoutMS: m.session.Milliseconds(), RebalanceTimeoutMS: m.rebalance.Milliseconds(), Topics: topics[m.id]})
	}
	slices.SortFunc(ev.Members, func(a, b projection.GroupMember) int { return strings.Compare(a.MemberID, b.MemberID) })
	events := []projection.Payload{ev}
	var serverSide decide.Assignment
	if g.protocolType == api.ProtocolTypeLogq {
		var am []decide.AssignMember
		parts := map[string]int{}
		for _, m := range ms {
			am = append(am, decide.AssignMember{ID: m.id, Topics: topics[m.id]})
			for _, t := range topics[m.id] {
				parts[t] = c.cluster.Partitions(t)
			}
		}
		a, err := decide.Assign(protocol, am, parts, g.decoded)
		if err != nil {
			c.failJoin(g, err)
			return
		}
		serverSide = a
		events = append(events, projection.GroupAssigned{Group: g.name, Generation: ev.Generation, Assignment: a})
	}
	if err := c.cluster.Append(context.WithoutCancel(ctx), events...); err != nil {
		c.failJoin(g, err)
		return
	}
	g.generation, g.protocol, g.leader = ev.Generation, protocol, leader.id
	g.state, g.assignment, g.decoded = api.GroupCompletingRebalance, nil, nil
	g.syncCh = make(chan struct{})
	var rt time.Duration
	for _, m := range ms {
		m.topics, m.joined, m.syncWaiting, m.known = topics[m.id], false, false, true
		m.deadline = now.Add(m.session)
		rt = max(rt, m.rebalance)
	}
	g.syncDeadline = now.Add(rt)
	if serverSide != nil {
		c.setAssignment(g, serverSide, nil)
	}
	for _, m := range ms {
		c.answerJoin(m, joinResult{ans: c.joinAnswer(g, m)})
	}
}

// failJoin answers the waiting joins with err; the members rejoin, those
// new in this phase (they never learnt their id) as new members.
func (c *Coordinator) failJoin(g *group, err error) {
	for id, m := range g.members {
		c.answerJoin(m, joinResult{err: err})
		m.joined = false
		if !m.known {
			delete(g.members, id)
		}
	}
	if len(g.members) == 0 {
		g.state = api.GroupEmpty
		c.dropIfUnused(g)
	}
}

// becomeEmpty logs the empty generation of a group whose last member went.
func (c *Coordinator) becomeEmpty(ctx context.Context, g *group) {
	g.wakeSync()
	g.assignment, g.decoded = nil, nil
	if g.generation == 0 { // never formed: nothing in the log
		g.state = api.GroupEmpty
		c.dropGroup(g)
		return
	}
	ev := projection.GroupRebalanced{Group: g.name, Generation: g.generation + 1, ProtocolType: g.protocolType, Members: []projection.GroupMember{}}
	if err := c.cluster.Append(context.WithoutCancel(ctx), ev); err != nil {
		// Not logged: the members are gone from memory all the same; the
		// next writer, restoring the last generation, times them out.
		g.state = api.GroupEmpty
		return
	}
	g.generation, g.protocol, g.leader, g.state = ev.Generation, "", "", api.GroupEmpty
}

// chooseProtocol is Kafka's choice: among the protocols every member
// supports, each member votes for the first it lists; the most votes win,
// ties going to the leader's order.
func chooseProtocol(leader *member, ms []*member) string {
	supported := func(name string) bool {
		for _, m := range ms {
			if !slices.ContainsFunc(m.protocols, func(q api.GroupProtocol) bool { return q.Name == name }) {
				return false
			}
		}
		return true
	}
	votes := map[string]int{}
	for _, m := range ms {
		for _, p := range m.protocols {
			if supported(p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, p := range leader.protocols {
		if votes[p.Name] > votes[best] {
			best = p.Name
		}
	}
	if best == "" && len(leader.protocols) > 0 {
		best = leader.protocols[0].Name
	}
	return best
}

func metadataOf(m *member, protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// subscription reads the topics of a member's metadata, when the protocol
// type says how: JSON {"topics":[…]} for "logq", Kafka's
// ConsumerMemberMetadata for "consumer".
func subscription(protocolType string, md []byte) []string {
	var topics []string
	switch protocolType {
	case api.ProtocolTypeLogq:
		var meta api.LogqMetadata
		if json.Unmarshal(md, &meta) == nil {
			topics = meta.Topics
		}
	case api.ProtocolTypeConsumer:
		var meta kmsg.ConsumerMemberMetadata
		if meta.ReadFrom(md) == nil {
			topics = meta.Topics
		}
	}
	var out []string
	for _, t := range topics {
		if t != "" && len(t) <= projection.MaxTopicNameLen {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (c *Coordinator) joinAnswer(g *group, m *member) api.JoinGroupAnswer {
	ans := api.JoinGroupAnswer{Status: api.StatusSuccess, Generation: g.generation, ProtocolType: g.protocolType,
		Protocol: g.protocol, Leader: g.leader, MemberID: m.id, Members: []api.JoinGroupMember{}}
	if m.id == g.leader {
		for _, o := range slices.SortedFunc(maps.Values(g.members), func(a, b *member) int { return a.seq - b.seq }) {
			ans.Members = append(ans.Members, api.JoinGroupMember{MemberID: o.id, GroupInstanceID: o.instance, Metadata: metadataOf(o, g.protocol)})
		}
	}
	return ans
}

// setAssignment makes decoded (and raw, when the leader sent it) the
// current generation's assignment: the group is Stable.
func (c *Coordinator) setAssignment(g *group, decoded decide.Assignment, raw map[string][]byte) {
	if raw == nil {
		raw, _ = encodeAssignments(g.protocolType, decoded, g.members)
	}
	g.decoded, g.assignment, g.state = copyDecoded(decoded), raw, api.GroupStable
	g.wakeSync()
}

func copyDecoded(a map[string]map[string][]int) map[string]map[string][]int {
	out := make(map[string]map[string][]int, len(a))
	for m, ts := range a {
		out[m] = map[string][]int{}
		for t, ps := range ts {
			out[m][t] = slices.Clone(ps)
		}
	}
	return out
}

// encodeAssignments encodes decoded per member for the protocol type; ok
// is false for a protocol type whose assignments are opaque (they cannot
// be rebuilt from the log).
func encodeAssignments(protocolType string, decoded map[string]map[string][]int, members map[string]*member) (map[string][]byte, bool) {
	out := map[string][]byte{}
	for id := range members {
		topics := decoded[id]
		switch protocolType {
		case api.ProtocolTypeLogq:
			a := api.LogqAssignment{}
			for t, ps := range topics {
				a[t] = slices.Clone(ps)
			}
			b, _ := json.Marshal(a)
			out[id] = b
		case api.ProtocolTypeConsumer:
			var a kmsg.ConsumerMemberAssignment
			for _, t := range slices.Sorted(maps.Keys(topics)) {
				at := kmsg.ConsumerMemberAssignmentTopic{Topic: t}
				for _, p := range topics[t] {
					at.Partitions = append(at.Partitions, int32(p))
				}
				a.Topics = append(a.Topics, at)
			}
			out[id] = a.AppendTo(nil)
		default:
			return nil, false
		}
	}
	return out, true
}

// decodeAssignment reads a leader's assignment for one member: Kafka's
// ConsumerMemberAssignment for protocol type "consumer"; other types are
// opaque (nothing decoded).
func decodeAssignment(protocolType string, raw []byte) map[string][]int {
	out := map[string][]int{}
	if protocolType != api.ProtocolTypeConsumer || len(raw) == 0 {
		return out
	}
	var a kmsg.ConsumerMemberAssignment
	if a.ReadFrom(raw) != nil {
		return out
	}
	for _, t := range a.Topics {
		if t.Topic == "" || len(t.Topic) > projection.MaxTopicNameLen {
			continue
		}
		for _, p := range t.Partitions {
			if p >= 0 && p < projection.MaxPartitions && !slices.Contains(out[t.Topic], int(p)) {
				out[t.Topic] = append(out[t.Topic], int(p))
			}
		}
		if out[t.Topic] == nil {
			out[t.Topic] = []int{}
		}
		slices.Sort(out[t.Topic])
	}
	return out
}

// member finds a member for a call naming it, checking its generation:
// the errors are Kafka's (unknown_member_id, illegal_generation).
func (c *Coordinator) member(g *group, name, id, instance string, generation int64) (*group, *member, error) {
	if g == nil || g.members[id] == nil {
		return g, nil, logq.Errorf(logq.EUnknownMemberID, "group %q has no member %q", name, id)
	}
	m := g.members[id]
	if instance != "" && m.instance != instance {
		return g, nil, logq.Errorf(logq.EUnknownMemberID, "member %q of group %q is not instance %q (fenced)", id, name, instance)
	}
	if generation != g.generation {
		return g, m, logq.Errorf(logq.EIllegalGeneration, "group %q is at generation %d, not %d", name, g.generation, generation)
	}
	return g, m, nil
}

// Sync is POST /groups/{group}/sync: the leader sends the assignment (for
// protocol type "consumer"; for "logq" the coordinator assigned already),
// every member gets its own. A follower waits for the leader's sync,
// bounded by ctx and MaxWait.
func (c *Coordinator) Sync(ctx context.Context, name string, req api.SyncGroupRequest, now time.Time) (api.SyncGroupAnswer, error) {
	g, err := c.lockGroup(name, false)
	if err != nil {
		return api.SyncGroupAnswer{}, err
	}
	if g == nil {
		return api.SyncGroupAnswer{}, logq.Errorf(logq.EUnknownMemberID, "group %q has no member %q", name, req.MemberID)
	}
	ans, wait, err := c.sync(ctx, g, req, now)
	g.mu.Unlock()
	if err != nil || wait == nil {
		return ans, err
	}
	timer := time.NewTimer(c.cfg.MaxWait)
	defer timer.Stop()
	select {
	case <-wait:
	case <-ctx.Done():
	case <-timer.C:
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dead {
		return api.SyncGroupAnswer{}, errNotRunning
	}
	if m := g.members[req.MemberID]; m != nil {
		m.syncWaiting = false
	}
	if g.state == api.GroupStable && g.generation == req.Generation && g.members[req.MemberID] != nil {
		return c.syncAnswer(g, req.MemberID), nil
	}
	if ctx.Err() != nil {
		return api.SyncGroupAnswer{}, logq.Errorf(logq.ETimeout, "sync cancelled")
	}
	return api.SyncGroupAnswer{}, logq.Errorf(logq.ERebalanceInProgress, "group %q is rebalancing; rejoin", name)
}

func (c *Coordinator) sync(ctx context.Context, g *group, req api.SyncGroupRequest, now time.Time) (api.SyncGroupAnswer, chan struct{}, error) {
	name := g.name
	g, m, err := c.member(g, name, req.MemberID, req.GroupInstanceID, req.Generation)
	if err != nil {
		return api.SyncGroupAnswer{}, nil, err
	}
	m.deadline = now.Add(m.session)
	switch g.state {
	case api.GroupStable:
		return c.syncAnswer(g, m.id), nil, nil
	case api.GroupCompletingRebalance:
	default:
		return api.SyncGroupAnswer{}, nil, logq.Errorf(logq.ERebalanceInProgress, "group %q is rebalancing; rejoin", name)
	}
	if m.id != g.leader {
		m.syncWaiting = true
		return api.SyncGroupAnswer{}, g.syncCh, nil
	}
	raw := map[string][]byte{}
	decoded := map[string]map[string][]int{}
	for _, a := range req.Assignments {
		if g.members[a.MemberID] == nil {
			continue // Kafka ignores assignments to strangers
		}
		raw[a.MemberID] = a.Assignment
		decoded[a.MemberID] = decodeAssignment(g.protocolType, a.Assignment)
	}
	for id := range g.members {
		if decoded[id] == nil {
			decoded[id] = map[string][]int{}
		}
	}
	ev := projection.GroupAssigned{Group: name, Generation: g.generation, Assignment: decoded}
	if err := c.cluster.Append(context.WithoutCancel(ctx), ev); err != nil {
		return api.SyncGroupAnswer{}, nil, err
	}
	c.setAssignment(g, decoded, raw)
	return c.syncAnswer(g, m.id), nil, nil
}

func (c *Coordinator) syncAnswer(g *group, id string) api.SyncGroupAnswer {
	a := g.assignment[id]
	if a == nil {
		a = []byte{}
	}
	return api.SyncGroupAnswer{Status: api.StatusSuccess, ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: a}
}

// Heartbeat is POST /groups/{group}/heartbeat: it keeps the member's
// session; rebalance_in_progress tells it to rejoin.
func (c *Coordinator) Heartbeat(ctx context.Context, name string, req api.GroupHeartbeatRequest, now time.Time) error {
	g, err := c.lockGroup(name, false)
	if err != nil {
		return err
	}
	if g != nil {
		defer g.mu.Unlock()
	}
	g, m, err := c.member(g, name, req.MemberID, req.GroupInstanceID, req.Generation)
	if m != nil && logq.ErrorCode(err) == logq.EIllegalGeneration && g.state == api.GroupPreparingRebalance {
		err = nil // Kafka: in a join phase, any generation of a member hears "rejoin"
	}
	if err != nil {
		return err
	}
	m.deadline = now.Add(m.session)
	if g.state == api.GroupPreparingRebalance {
		return logq.Errorf(logq.ERebalanceInProgress, "group %q is rebalancing; rejoin", name)
	}
	return nil
}

// Leave is POST /groups/{group}/leave: the members go at once and the
// group rebalances (or becomes Empty).
func (c *Coordinator) Leave(ctx context.Context, name string, req api.LeaveGroupRequest, now time.Time) (api.LeaveGroupAnswer, error) {
	g, err := c.lockGroup(name, false)
	if err != nil {
		return api.LeaveGroupAnswer{}, err
	}
	if g != nil {
		defer g.mu.Unlock()
	}
	ans := api.LeaveGroupAnswer{Status: api.StatusSuccess}
	left := false
	for _, lm := range req.Members {
		out := api.LeftMember{MemberID: lm.MemberID, GroupInstanceID: lm.GroupInstanceID}
		var m *member
		if g != nil {
			if lm.MemberID != "" {
				m = g.members[lm.MemberID]
				if m != nil && lm.GroupInstanceID != "" && m.instance != lm.GroupInstanceID {
					m = nil
				}
			} else {
				m = g.byInstance(lm.GroupInstanceID)
			}
		}
		if m == nil {
			out.Code = logq.EUnknownMemberID
		} else {
			out.MemberID = m.id
			c.answerJoin(m, joinResult{err: logq.Errorf(logq.EUnknownMemberID, "member %q left group %q", m.id, name)})
			delete(g.members, m.id)
			left = true
		}
		ans.Members = append(ans.Members, out)
	}
	if len(req.Members) == 1 && ans.Members[0].Code != "" {
		return ans, logq.Errorf(logq.EUnknownMemberID, "group %q has no member %q", name, req.Members[0].MemberID+req.Members[0].GroupInstanceID)
	}
	if left {
		c.membersChanged(ctx, g, now)
	}
	return ans, nil
}

// membersChanged reacts to members removed from g: a rebalance, or the
// empty generation.
func (c *Coordinator) membersChanged(ctx context.Context, g *group, now time.Time) {
	if len(g.members) == 0 {
		c.becomeEmpty(ctx, g)
		return
	}
	if g.state != api.GroupPreparingRebalance {
		c.prepareRebalance(g, now)
	}
	c.maybeCompleteJoin(ctx, g, now)
}

// Tick runs the time-driven rules as of now: members whose session expired
// are removed (the group rebalances), a join phase past its rebalance
// timeout completes without the missing, and a leader that did not sync
// within the rebalance timeout is removed. The manager calls it on a
// ticker; tests call it with the time they want. It returns the number of
// members removed.
func (c *Coordinator) Tick(ctx context.Context, now time.Time) int {
	removed := 0
	for _, g := range c.allGroups() {
		removed += c.tickGroup(ctx, g, now)
	}
	return removed
}

func (c *Coordinator) tickGroup(ctx context.Context, g *group, now time.Time) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dead {
		return 0
	}
	removed := 0
	changed := false
	for id, m := range g.members {
		keep := g.state == api.GroupPreparingRebalance && m.joined || m.syncWaiting
		if !keep && now.After(m.deadline) {
			c.answerJoin(m, joinResult{err: logq.Errorf(logq.EUnknownMemberID, "session timed out")})
			delete(g.members, id)
			changed = true
			removed++
		}
	}
	if g.state == api.GroupCompletingRebalance && now.After(g.syncDeadline) {
		if l := g.members[g.leader]; l != nil {
			delete(g.members, l.id)
			changed = true
			removed++
		}
	}
	if changed {
		c.membersChanged(ctx, g, now)
	}
	if g.state == api.GroupPreparingRebalance && !now.Before(g.rebalanceDeadline) {
		c.completeJoin(ctx, g, now)
	} else {
		c.maybeCompleteJoin(ctx, g, now)
	}
	return removed
}
