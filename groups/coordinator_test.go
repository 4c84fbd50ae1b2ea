package groups_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/groups"
	"github.com/logq/logq/groups/pgoffsets"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// cluster is the manager's part for the coordinator: it checks and folds
// the events into a projection, as the writer's append does.
type cluster struct {
	mu     sync.Mutex
	state  *projection.State
	events []projection.Payload
	topics map[string]int
	fail   error
	// hold, when set, holds group "slow"'s generations until it is
	// closed; holding tells that one is held.
	hold, holding chan struct{}
}

func (c *cluster) Append(_ context.Context, events ...projection.Payload) error {
	if r, ok := events[0].(projection.GroupRebalanced); ok && c.hold != nil && r.Group == "slow" {
		c.holding <- struct{}{}
		<-c.hold
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return c.fail
	}
	if err := projection.CheckGroupEvents(c.state, events); err != nil {
		return err
	}
	for _, p := range events {
		e := projection.NewEvent(p)
		e.Seq, e.Epoch = c.state.Seq+1, 1
		if err := projection.Apply(c.state, e); err != nil {
			return err
		}
		c.events = append(c.events, p)
	}
	return nil
}

func (c *cluster) Partitions(topic string) int { return c.topics[topic] }

func (c *cluster) group(name string) *projection.Group {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g := c.state.Groups[name]; g != nil {
		return c.state.Clone().Groups[name]
	}
	return nil
}

type env struct {
	t     *testing.T
	ctx   context.Context
	c     *groups.Coordinator
	cl    *cluster
	store *pgoffsets.Store
	now   time.Time
}

const session = 10 * time.Second

func newEnv(t *testing.T) *env {
	t.Helper()
	t.Parallel()
	ctx := pgtest.Context(t, time.Minute)
	store := pgoffsets.New(pgtest.Pool(t, pgtest.NewDB(t), 4))
	cl := &cluster{state: projection.New(), topics: map[string]int{"orders": 4, "audit": 2}}
	c := groups.New(groups.Config{MinSessionTimeout: time.Second}, cl, store, nil)
	now := time.Unix(1700000000, 0)
	c.Restore(nil, now)
	t.Cleanup(c.Stop)
	return &env{t: t, ctx: ctx, c: c, cl: cl, store: store, now: now}
}

func (e *env) advance(d time.Duration) { e.now = e.now.Add(d) }

func logqJoin(member string, topics ...string) api.JoinGroupRequest {
	md, _ := json.Marshal(api.LogqMetadata{Topics: topics})
	return api.JoinGroupRequest{MemberID: member, ClientID: "test", SessionTimeoutMS: session.Milliseconds(),
		RebalanceTimeoutMS: (30 * time.Second).Milliseconds(), ProtocolType: api.ProtocolTypeLogq,
		Protocols: []api.GroupProtocol{{Name: "range", Metadata: md}}}
}

type joined struct {
	ans api.JoinGroupAnswer
	err error
}

// joinAsync starts a join and returns where its answer arrives, once the
// coordinator holds it waiting (or it answered).
func (e *env) joinAsync(group string, req api.JoinGroupRequest) chan joined {
	e.t.Helper()
	before := e.c.Waiting(group)
	ch := make(chan joined, 1)
	now := e.now
	go func() {
		ans, err := e.c.Join(e.ctx, group, req, now)
		ch <- joined{ans, err}
	}()
	waitFor(e.t, "the join to wait or answer", func() bool { return len(ch) > 0 || e.c.Waiting(group) > before })
	return ch
}

func (e *env) join(group string, req api.JoinGroupRequest) api.JoinGroupAnswer {
	e.t.Helper()
	ans, err := e.c.Join(e.ctx, group, req, e.now)
	if err != nil {
		e.t.Fatalf("join %s: %v", req.MemberID, err)
	}
	return ans
}

func recv(t *testing.T, ch chan joined) api.JoinGroupAnswer {
	t.Helper()
	select {
	case j := <-ch:
		if j.err != nil {
			t.Fatalf("join: %v", j.err)
		}
		return j.ans
	case <-time.After(10 * time.Second):
		t.Fatal("join never answered")
	}
	return api.JoinGroupAnswer{}
}

func (e *env) sync(group string, ans api.JoinGroupAnswer) api.LogqAssignment {
	e.t.Helper()
	s, err := e.c.Sync(e.ctx, group, api.SyncGroupRequest{MemberID: ans.MemberID, Generation: ans.Generation}, e.now)
	if err != nil {
		e.t.Fatalf("sync %s: %v", ans.MemberID, err)
	}
	var a api.LogqAssignment
	if err := json.Unmarshal(s.Assignment, &a); err != nil {
		e.t.Fatalf("assignment %q: %v", s.Assignment, err)
	}
	return a
}

func (e *env) heartbeat(group, member string, gen int64) error {
	return e.c.Heartbeat(e.ctx, group, api.GroupHeartbeatRequest{MemberID: member, Generation: gen}, e.now)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if logq.ErrorCode(err) != code {
		t.Fatalf("err = %v, want %s", err, code)
	}
}

// twoMembers forms generation 2 of group "g" with members a and b over
// "orders": a alone (generation 1), then b joins and a rejoins.
func (e *env) twoMembers() (a, b api.JoinGroupAnswer) {
	e.t.Helper()
	a = e.join("g", logqJoin("", "orders"))
	if a.Generation != 1 || a.Leader != a.MemberID || len(a.Members) != 1 {
		e.t.Fatalf("first join = %+v", a)
	}
	if got := e.sync("g", a); !slices.Equal(got["orders"], []int{0, 1, 2, 3}) {
		e.t.Fatalf("a alone got %v", got)
	}
	bCh := e.joinAsync("g", logqJoin("", "orders"))
	wantCode(e.t, e.heartbeat("g", a.MemberID, 1), logq.ERebalanceInProgress)
	a = e.join("g", logqJoin(a.MemberID, "orders"))
	b = recv(e.t, bCh)
	if a.Generation != 2 || b.Generation != 2 || a.Leader != a.MemberID || b.Leader != a.MemberID || len(b.Members) != 0 || len(a.Members) != 2 {
		e.t.Fatalf("generation 2: a %+v b %+v", a, b)
	}
	return a, b
}

func TestJoinBarrierAndAssignment(t *testing.T) {
	e := newEnv(t)
	a, b := e.twoMembers()
	// Range over sorted member ids: the smaller id gets 0,1.
	first, second := a, b
	if b.MemberID < a.MemberID {
		first, second = b, a
	}
	if got := e.sync("g", first); !slices.Equal(got["orders"], []int{0, 1}) {
		t.Errorf("first got %v", got)
	}
	if got := e.sync("g", second); !slices.Equal(got["orders"], []int{2, 3}) {
		t.Errorf("second got %v", got)
	}
	if err := e.heartbeat("g", a.MemberID, 2); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.heartbeat("g", a.MemberID, 1), logq.EIllegalGeneration)
	wantCode(t, e.heartbeat("g", "stranger", 2), logq.EUnknownMemberID)
	// The ledger: generation 1 and its assignment, generation 2 and its.
	var types []string
	for _, p := range e.cl.events {
		types = append(types, p.EventType())
	}
	want := []string{"GroupRebalanced", "GroupAssigned", "GroupRebalanced", "GroupAssigned"}
	if !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
	g := e.cl.group("g")
	if g.Generation != 2 || g.AssignedGeneration != 2 || len(g.Members) != 2 || !slices.Equal(g.Members[0].Topics, []string{"orders"}) {
		t.Fatalf("projection group = %+v", g)
	}
	d, err := e.c.DescribeGroup(e.ctx, "g")
	if err != nil || d.State != api.GroupStable || d.Generation != 2 || len(d.Members) != 2 || len(d.Members[0].Assignment["orders"]) != 2 {
		t.Fatalf("describe = %+v, %v", d, err)
	}
}

func TestSessionTimeoutRemovesMemberAndRebalances(t *testing.T) {
	e := newEnv(t)
	a, b := e.twoMembers()
	e.advance(session / 2)
	if err := e.heartbeat("g", a.MemberID, 2); err != nil { // a keeps its session; b is silent
		t.Fatal(err)
	}
	e.advance(session/2 + time.Millisecond)
	if n := e.c.Tick(e.ctx, e.now); n != 1 {
		t.Fatalf("tick removed %d members, want 1 (b)", n)
	}
	wantCode(t, e.heartbeat("g", b.MemberID, 2), logq.EUnknownMemberID)
	wantCode(t, e.heartbeat("g", a.MemberID, 2), logq.ERebalanceInProgress)
	a = e.join("g", logqJoin(a.MemberID, "orders"))
	if a.Generation != 3 || len(a.Members) != 1 {
		t.Fatalf("generation 3 = %+v", a)
	}
	if got := e.sync("g", a); !slices.Equal(got["orders"], []int{0, 1, 2, 3}) {
		t.Fatalf("a after b's death got %v, want every partition", got)
	}
}

func TestRebalanceTimeoutDropsTheMissing(t *testing.T) {
	e := newEnv(t)
	a, b := e.twoMembers()
	cCh := e.joinAsync("g", logqJoin("", "orders"))
	// a rejoins, b never does (but keeps heartbeating, as a stuck poll loop would).
	aCh := e.joinAsync("g", logqJoin(a.MemberID, "orders"))
	e.advance(20 * time.Second)
	wantCode(t, e.heartbeat("g", b.MemberID, 2), logq.ERebalanceInProgress)
	e.c.Tick(e.ctx, e.now)
	if len(aCh) != 0 {
		t.Fatal("the join phase completed before the rebalance timeout")
	}
	e.advance(10*time.Second + time.Millisecond)
	e.c.Tick(e.ctx, e.now)
	a, c := recv(t, aCh), recv(t, cCh)
	if a.Generation != 3 || c.Generation != 3 || len(a.Members) != 2 {
		t.Fatalf("generation 3: a %+v c %+v", a, c)
	}
	wantCode(t, e.heartbeat("g", b.MemberID, 3), logq.EUnknownMemberID)
}

func TestZombieCommitRefused(t *testing.T) {
	e := newEnv(t)
	a, b := e.twoMembers()
	commit := func(member string, gen int64, offsets ...api.CommittedOffset) (api.CommitOffsetsAnswer, error) {
		return e.c.CommitOffsets(e.ctx, "g", api.CommitOffsetsRequest{MemberID: member, Generation: gen, Offsets: offsets}, e.now)
	}
	if _, err := commit(a.MemberID, 1, api.CommittedOffset{Topic: "orders", Partition: 0, Offset: 9}); logq.ErrorCode(err) != logq.EIllegalGeneration {
		t.Fatalf("old generation: %v", err)
	}
	if _, err := commit("zombie", 2, api.CommittedOffset{Topic: "orders", Partition: 0, Offset: 9}); logq.ErrorCode(err) != logq.EUnknownMemberID {
		t.Fatalf("unknown member: %v", err)
	}
	if _, err := commit("", -1, api.CommittedOffset{Topic: "orders", Partition: 0, Offset: 9}); logq.ErrorCode(err) != logq.EUnknownMemberID {
		t.Fatalf("standalone commit into a group with members: %v", err)
	}
	if got, _ := e.store.Fetch(e.ctx, "g", nil); len(got) != 0 {
		t.Fatalf("refused commits stored %v", got)
	}
	ans, err := commit(b.MemberID, 2, api.CommittedOffset{Topic: "orders", Partition: 2, Offset: 5, Metadata: "x"},
		api.CommittedOffset{Topic: "nope", Partition: 0, Offset: 1}, api.CommittedOffset{Topic: "orders", Partition: 4, Offset: 1})
	if err != nil || ans.Offsets[0].Code != "" || ans.Offsets[1].Code != logq.ETopicNotFound || ans.Offsets[2].Code != logq.ETopicNotFound {
		t.Fatalf("commit = %+v, %v", ans, err)
	}
	f, err := e.c.FetchOffsets(e.ctx, "g", []string{"orders"})
	if err != nil || len(f.Offsets) != 4 || f.Offsets[2].Offset != 5 || f.Offsets[2].Metadata != "x" || f.Offsets[0].Offset != -1 {
		t.Fatalf("fetch = %+v, %v", f, err)
	}
	if all, _ := e.store.Fetch(e.ctx, "g", nil); len(all) != 1 {
		t.Fatalf("unknown partitions grew rows: %v", all)
	}
	// Resets need an empty group.
	_, err = e.c.ResetOffsets(e.ctx, "g", api.ResetOffsetsRequest{Topic: "orders", To: api.ResetToOffset, Offset: 0}, e.now)
	wantCode(t, err, logq.EGroupNotEmpty)
	wantCode(t, e.c.DeleteGroup(e.ctx, "g", e.now), logq.EGroupNotEmpty)
}

func TestLeaveEmptiesThenStandaloneCommitResetAndDelete(t *testing.T) {
	e := newEnv(t)
	a, b := e.twoMembers()
	if _, err := e.c.Leave(e.ctx, "g", api.LeaveGroupRequest{Members: []api.LeavingMember{{MemberID: b.MemberID}}}, e.now); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.heartbeat("g", a.MemberID, 2), logq.ERebalanceInProgress)
	a = e.join("g", logqJoin(a.MemberID, "orders"))
	if a.Generation != 3 {
		t.Fatalf("after leave: %+v", a)
	}
	if _, err := e.c.Leave(e.ctx, "g", api.LeaveGroupRequest{Members: []api.LeavingMember{{MemberID: a.MemberID}}}, e.now); err != nil {
		t.Fatal(err)
	}
	if g := e.cl.group("g"); g.Generation != 4 || len(g.Members) != 0 {
		t.Fatalf("empty generation = %+v", g)
	}
	_, err := e.c.Leave(e.ctx, "g", api.LeaveGroupRequest{Members: []api.LeavingMember{{MemberID: a.MemberID}}}, e.now)
	wantCode(t, err, logq.EUnknownMemberID)
	// Empty: standalone commits and resets are allowed.
	if _, err := e.c.CommitOffsets(e.ctx, "g", api.CommitOffsetsRequest{Generation: -1,
		Offsets: []api.CommittedOffset{{Topic: "audit", Partition: 1, Offset: 3}}}, e.now); err != nil {
		t.Fatal(err)
	}
	r, err := e.c.ResetOffsets(e.ctx, "g", api.ResetOffsetsRequest{Topic: "orders", To: api.ResetToOffset, Offset: 7}, e.now)
	if err != nil || len(r.Offsets) != 4 {
		t.Fatalf("reset = %+v, %v", r, err)
	}
	_, err = e.c.ResetOffsets(e.ctx, "g", api.ResetOffsetsRequest{Topic: "orders", To: api.ResetToLatest}, e.now)
	wantCode(t, err, logq.EInvalid) // no resolver wired
	l, err := e.c.ListGroups(e.ctx)
	if err != nil || len(l.Groups) != 1 || l.Groups[0].State != api.GroupEmpty {
		t.Fatalf("list = %+v, %v", l, err)
	}
	if err := e.c.DeleteGroup(e.ctx, "g", e.now); err != nil {
		t.Fatal(err)
	}
	if e.cl.group("g") != nil {
		t.Fatal("group still in the projection")
	}
	if got, _ := e.store.Fetch(e.ctx, "g", nil); len(got) != 0 {
		t.Fatalf("offsets survived the delete: %v", got)
	}
	wantCode(t, e.c.DeleteGroup(e.ctx, "g", e.now), logq.EGroupNotFound)
	_, err = e.c.DescribeGroup(e.ctx, "g")
	wantCode(t, err, logq.EGroupNotFound)
}

func TestDifferentGroupsEachGetEveryPartition(t *testing.T) {
	e := newEnv(t)
	for _, g := range []string{"g1", "g2"} {
		a := e.join(g, logqJoin("", "orders", "audit"))
		got := e.sync(g, a)
		if !slices.Equal(got["orders"], []int{0, 1, 2, 3}) || !slices.Equal(got["audit"], []int{0, 1}) {
			t.Fatalf("%s got %v", g, got)
		}
	}
}

func TestFailoverRestoresGenerations(t *testing.T) {
	e := newEnv(t)
	a, b := e.twoMembers()
	e.sync("g", a)
	// A new writer: a fresh coordinator restored from the projection.
	c2 := groups.New(groups.Config{MinSessionTimeout: time.Second}, e.cl, e.store, nil)
	e.c.Stop()
	e.advance(time.Minute) // the failover took long: sessions restart anyway
	c2.Restore(e.cl.state.Clone().Groups, e.now)
	defer c2.Stop()
	e.c = c2
	if err := e.heartbeat("g", a.MemberID, 2); err != nil {
		t.Fatalf("heartbeat after failover: %v", err)
	}
	if got := e.sync("g", b); len(got["orders"]) != 2 {
		t.Fatalf("b's assignment after failover = %v", got)
	}
	// An in-flight rebalance restarts: c joins, then the writer fails over.
	cCh := e.joinAsync("g", logqJoin("", "orders"))
	wantCode(t, e.heartbeat("g", a.MemberID, 2), logq.ERebalanceInProgress)
	c3 := groups.New(groups.Config{MinSessionTimeout: time.Second}, e.cl, e.store, nil)
	e.c.Stop()
	j := <-cCh
	wantCode(t, j.err, logq.ENotWriter)
	c3.Restore(e.cl.state.Clone().Groups, e.now)
	defer c3.Stop()
	e.c = c3
	if err := e.heartbeat("g", a.MemberID, 2); err != nil { // generation 2 is stable in the ledger
		t.Fatalf("heartbeat: %v", err)
	}
}

func TestConsumerProtocolLeaderAssigns(t *testing.T) {
	e := newEnv(t)
	meta := kmsg.ConsumerMemberMetadata{Topics: []string{"orders"}}
	req := api.JoinGroupRequest{ClientID: "kafka", SessionTimeoutMS: 10000, ProtocolType: api.ProtocolTypeConsumer,
		Protocols: []api.GroupProtocol{{Name: "range", Metadata: meta.AppendTo(nil)}}}
	a := e.join("k", req)
	if len(a.Members) != 1 || len(a.Members[0].Metadata) == 0 {
		t.Fatalf("leader's join = %+v", a)
	}
	// A follower syncing first waits for the leader.
	asg := kmsg.ConsumerMemberAssignment{Topics: []kmsg.ConsumerMemberAssignmentTopic{{Topic: "orders", Partitions: []int32{3, 1}}}}
	s, err := e.c.Sync(e.ctx, "k", api.SyncGroupRequest{MemberID: a.MemberID, Generation: 1,
		Assignments: []api.SyncAssignment{{MemberID: a.MemberID, Assignment: asg.AppendTo(nil)}, {MemberID: "stranger", Assignment: []byte{1}}}}, e.now)
	if err != nil || string(s.Assignment) != string(asg.AppendTo(nil)) {
		t.Fatalf("sync = %+v, %v", s, err)
	}
	g := e.cl.group("k")
	if !slices.Equal(g.Assignment[a.MemberID]["orders"], []int{1, 3}) || !slices.Equal(g.Members[0].Topics, []string{"orders"}) {
		t.Fatalf("ledger = %+v", g)
	}
	// A join with another protocol type is refused.
	_, err = e.c.Join(e.ctx, "k", logqJoin("", "orders"), e.now)
	wantCode(t, err, logq.EInvalid)
	// Session timeout out of range.
	bad := req
	bad.SessionTimeoutMS = 10
	_, err = e.c.Join(e.ctx, "k", bad, e.now)
	wantCode(t, err, logq.EInvalidSessionTimeout)
}

func TestFollowerSyncWaitsForLeader(t *testing.T) {
	e := newEnv(t)
	meta := kmsg.ConsumerMemberMetadata{Topics: []string{"orders"}}
	req := api.JoinGroupRequest{ClientID: "kafka", SessionTimeoutMS: 10000, ProtocolType: api.ProtocolTypeConsumer,
		Protocols: []api.GroupProtocol{{Name: "range", Metadata: meta.AppendTo(nil)}}}
	a := e.join("k", req)
	e.c.Sync(e.ctx, "k", api.SyncGroupRequest{MemberID: a.MemberID, Generation: 1}, e.now)
	bCh := e.joinAsync("k", req)
	ra := req
	ra.MemberID = a.MemberID
	a = e.join("k", ra)
	b := recv(t, bCh)
	done := make(chan error, 1)
	var got api.SyncGroupAnswer
	go func() {
		var err error
		got, err = e.c.Sync(e.ctx, "k", api.SyncGroupRequest{MemberID: b.MemberID, Generation: b.Generation}, e.now)
		done <- err
	}()
	waitFor(t, "the follower's sync to wait", func() bool { return e.c.Waiting("k") == 1 })
	asg := kmsg.ConsumerMemberAssignment{Topics: []kmsg.ConsumerMemberAssignmentTopic{{Topic: "orders", Partitions: []int32{2, 3}}}}
	if _, err := e.c.Sync(e.ctx, "k", api.SyncGroupRequest{MemberID: a.MemberID, Generation: a.Generation,
		Assignments: []api.SyncAssignment{{MemberID: b.MemberID, Assignment: asg.AppendTo(nil)}}}, e.now); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil || string(got.Assignment) != string(asg.AppendTo(nil)) {
		t.Fatalf("follower sync = %+v, %v", got, err)
	}
}

func TestAppendFailureChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.cl.fail = errors.New("append failed")
	if _, err := e.c.Join(e.ctx, "g", logqJoin("", "orders"), e.now); err == nil {
		t.Fatal("join succeeded without its event")
	}
	if len(e.cl.events) != 0 {
		t.Fatal("events logged")
	}
	e.cl.fail = nil
	a := e.join("g", logqJoin("", "orders"))
	if a.Generation != 1 {
		t.Fatalf("after the failure: %+v", a)
	}
}

func TestStaticMemberReplacesItsOldID(t *testing.T) {
	e := newEnv(t)
	req := logqJoin("", "orders")
	req.GroupInstanceID = "host-1"
	a := e.join("g", req)
	a2 := e.join("g", req) // the instance restarted without its member id
	if a2.MemberID == a.MemberID || a2.Generation != 2 || len(a2.Members) != 1 {
		t.Fatalf("restarted static member = %+v (old %s)", a2, a.MemberID)
	}
	wantCode(t, e.heartbeat("g", a.MemberID, 1), logq.EUnknownMemberID)
}

func TestProtocolChosenByVotes(t *testing.T) {
	e := newEnv(t)
	md, _ := json.Marshal(api.LogqMetadata{Topics: []string{"orders"}})
	req := func(member string, names ...string) api.JoinGroupRequest {
		r := logqJoin(member, "orders")
		r.Protocols = nil
		for _, n := range names {
			r.Protocols = append(r.Protocols, api.GroupProtocol{Name: n, Metadata: md})
		}
		return r
	}
	a := e.join("g", req("", "range", "roundrobin"))
	bCh := e.joinAsync("g", req("", "roundrobin", "range"))
	cCh := e.joinAsync("g", req("", "roundrobin"))
	a = e.join("g", req(a.MemberID, "range", "roundrobin"))
	recv(t, bCh)
	recv(t, cCh)
	if a.Protocol != "roundrobin" { // a votes range, b and c roundrobin (range is not supported by c)
		t.Fatalf("protocol %q, want roundrobin", a.Protocol)
	}
	d, err := e.c.DescribeGroup(e.ctx, "g")
	if err != nil || len(d.Members) != 3 || string(d.Members[0].MemberMetadata) != string(md) || len(d.Members[0].MemberAssignment) == 0 {
		t.Fatalf("describe = %+v, %v", d, err)
	}
}

// TestGroupsDoNotWaitForEachOther: while one group's append is slow, the
// other groups join and heartbeat.
func TestGroupsDoNotWaitForEachOther(t *testing.T) {
	e := newEnv(t)
	a := e.join("fast", logqJoin("", "orders"))
	e.cl.hold, e.cl.holding = make(chan struct{}), make(chan struct{}, 1)
	slow := make(chan joined, 1)
	go func() {
		ans, err := e.c.Join(e.ctx, "slow", logqJoin("", "orders"), e.now)
		slow <- joined{ans, err}
	}()
	<-e.cl.holding // the slow group's append is in progress, holding its lock
	if err := e.heartbeat("fast", a.MemberID, 1); err != nil {
		t.Fatal(err)
	}
	b := e.join("other", logqJoin("", "orders"))
	if b.Generation != 1 {
		t.Fatalf("other = %+v", b)
	}
	close(e.cl.hold)
	if j := <-slow; j.err != nil || j.ans.Generation != 1 {
		t.Fatalf("slow = %+v", j)
	}
}
