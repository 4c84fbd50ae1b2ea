package kafka

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
)

// fakeGroups is a coordinator for one member at a time per generation
// (each join starts a generation led by the joiner): enough for the Kafka
// side of the group APIs. The real one is the manager's (docs/groups.md).
// A join to group "slow" outlasts the long poll: rebalance_in_progress,
// naming the member it made.
type fakeGroups struct {
	mu     sync.Mutex
	next   int
	groups map[string]*fakeGroup
}

type fakeGroup struct {
	generation  int64
	protocol    string
	ptype       string
	leader      string
	members     map[string]api.JoinGroupRequest
	assignments map[string][]byte
	offsets     map[string]api.CommittedOffset // "topic/partition"
}

func (g *fakeGroups) group(name string, create bool) (*fakeGroup, error) {
	if g.groups == nil {
		g.groups = map[string]*fakeGroup{}
	}
	fg, ok := g.groups[name]
	if !ok {
		if !create {
			return nil, &logq.Error{Code: logq.EGroupNotFound, Message: "no group " + name}
		}
		fg = &fakeGroup{members: map[string]api.JoinGroupRequest{}, assignments: map[string][]byte{}, offsets: map[string]api.CommittedOffset{}}
		g.groups[name] = fg
	}
	return fg, nil
}

func (g *fakeGroups) JoinGroup(_ context.Context, name string, req api.JoinGroupRequest) (api.JoinGroupAnswer, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fg, _ := g.group(name, true)
	if req.SessionTimeoutMS < 1000 {
		return api.JoinGroupAnswer{}, &logq.Error{Code: logq.EInvalidSessionTimeout, Message: "short session"}
	}
	if req.MemberID == "" {
		g.next++
		req.MemberID = fmt.Sprintf("member-%d", g.next)
	}
	if name == "slow" {
		return api.JoinGroupAnswer{MemberID: req.MemberID}, &logq.Error{Code: logq.ERebalanceInProgress, Message: "long poll over"}
	}
	fg.members = map[string]api.JoinGroupRequest{req.MemberID: req}
	fg.generation++
	fg.leader, fg.protocol, fg.ptype = req.MemberID, req.Protocols[0].Name, req.ProtocolType
	return api.JoinGroupAnswer{Generation: fg.generation, Protocol: fg.protocol, Leader: fg.leader, MemberID: req.MemberID,
		Members: []api.JoinGroupMember{{MemberID: req.MemberID, Metadata: req.Protocols[0].Metadata}}}, nil
}

func (g *fakeGroups) check(fg *fakeGroup, member string, gen int64) error {
	if _, ok := fg.members[member]; !ok {
		return &logq.Error{Code: logq.EUnknownMemberID, Message: member}
	}
	if gen != fg.generation {
		return &logq.Error{Code: logq.EIllegalGeneration, Message: "generation"}
	}
	return nil
}

func (g *fakeGroups) SyncGroup(_ context.Context, name string, req api.SyncGroupRequest) (api.SyncGroupAnswer, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fg, err := g.group(name, false)
	if err != nil {
		return api.SyncGroupAnswer{}, err
	}
	if err := g.check(fg, req.MemberID, req.Generation); err != nil {
		return api.SyncGroupAnswer{}, err
	}
	for _, a := range req.Assignments {
		fg.assignments[a.MemberID] = a.Assignment
	}
	return api.SyncGroupAnswer{Protocol: fg.protocol, Assignment: fg.assignments[req.MemberID]}, nil
}

func (g *fakeGroups) HeartbeatGroup(_ context.Context, name, member string, gen int64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	fg, err := g.group(name, false)
	if err != nil {
		return err
	}
	return g.check(fg, member, gen)
}

func (g *fakeGroups) LeaveGroupMembers(_ context.Context, name string, req api.LeaveGroupRequest) (api.LeaveGroupAnswer, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fg, err := g.group(name, false)
	if err != nil {
		return api.LeaveGroupAnswer{}, err
	}
	var out api.LeaveGroupAnswer
	for _, m := range req.Members {
		lm := api.LeftMember{MemberID: m.MemberID}
		if _, ok := fg.members[m.MemberID]; !ok {
			lm.Code = logq.EUnknownMemberID
		}
		delete(fg.members, m.MemberID)
		out.Members = append(out.Members, lm)
	}
	if len(out.Members) == 1 && out.Members[0].Code != "" {
		return api.LeaveGroupAnswer{}, &logq.Error{Code: logq.EUnknownMemberID, Message: req.Members[0].MemberID}
	}
	return out, nil
}

func (g *fakeGroups) CommitOffsets(_ context.Context, name string, req api.CommitOffsetsRequest) ([]api.OffsetResult, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fg, _ := g.group(name, true)
	if req.Generation != -1 {
		if err := g.check(fg, req.MemberID, req.Generation); err != nil {
			return nil, err
		}
	}
	var out []api.OffsetResult
	for _, o := range req.Offsets {
		fg.offsets[fmt.Sprintf("%s/%d", o.Topic, o.Partition)] = o
		out = append(out, api.OffsetResult{Topic: o.Topic, Partition: o.Partition})
	}
	return out, nil
}

func (g *fakeGroups) FetchOffsets(_ context.Context, name string, topics ...string) ([]api.CommittedOffset, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fg, err := g.group(name, false)
	if err != nil {
		return nil, err
	}
	var out []api.CommittedOffset
	for _, o := range fg.offsets {
		if topics == nil || contains(topics, o.Topic) {
			out = append(out, o)
		}
	}
	return out, nil
}

func (g *fakeGroups) state(fg *fakeGroup) string {
	if len(fg.members) == 0 {
		return api.GroupEmpty
	}
	return api.GroupStable
}

func (g *fakeGroups) ListGroups(context.Context) ([]api.GroupListing, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []api.GroupListing
	for name, fg := range g.groups {
		out = append(out, api.GroupListing{Group: name, State: g.state(fg), ProtocolType: fg.ptype})
	}
	return out, nil
}

func (g *fakeGroups) DescribeGroup(_ context.Context, name string) (api.GroupAnswer, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fg, err := g.group(name, false)
	if err != nil {
		return api.GroupAnswer{}, err
	}
	d := api.GroupAnswer{Group: name, State: g.state(fg), ProtocolType: fg.ptype, Protocol: fg.protocol, Generation: fg.generation, Leader: fg.leader}
	for id, m := range fg.members {
		d.Members = append(d.Members, api.DescribedMember{MemberID: id, ClientID: m.ClientID, MemberMetadata: m.Protocols[0].Metadata, MemberAssignment: fg.assignments[id]})
	}
	return d, nil
}

func (g *fakeGroups) DeleteGroup(_ context.Context, name string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	fg, err := g.group(name, false)
	if err != nil {
		return err
	}
	if len(fg.members) > 0 {
		return &logq.Error{Code: logq.EGroupNotEmpty, Message: "members"}
	}
	delete(g.groups, name)
	return nil
}

// startFakeGroups serves a fake cluster whose Groups is a fakeGroups.
func startFakeGroups(t *testing.T) (*fakeCluster, *fakeGroups, string) {
	fg := &fakeGroups{}
	c, _, addr := startFake(t, func(cfg *Config) { cfg.Groups, cfg.AutoCreateTopics = fg, false })
	return c, fg, addr
}

func TestKgoGroupConsumerFake(t *testing.T) {
	c, _, addr := startFakeGroups(t)
	ctx := testCtx(t)
	c.CreateTopic(ctx, "g", 2)
	p, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("g"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range 40 {
		p.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}, nil)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	consume := func(n int) map[string]bool {
		g, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("grp"), kgo.ConsumeTopics("g"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close() // leaves the group
		seen := map[string]bool{}
		for len(seen) < n {
			fs := g.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
		}
		if err := g.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatal(err)
		}
		return seen
	}
	if got := consume(40); len(got) != 40 {
		t.Fatalf("saw %d", len(got))
	}
	for i := 40; i < 45; i++ {
		p.Produce(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}, nil)
	}
	p.Flush(ctx)
	for v := range consume(5) {
		if n, _ := strconv.Atoi(v); n < 40 {
			t.Errorf("resumed group re-read %s", v)
		}
	}

	adm := kadm.NewClient(p)
	listed, err := adm.ListGroups(ctx)
	if err != nil || len(listed.Groups()) != 1 || listed.Groups()[0] != "grp" {
		t.Fatalf("list: %v %v", listed, err)
	}
	described, err := adm.DescribeGroups(ctx, "grp")
	if err != nil || described.Error() != nil {
		t.Fatalf("describe: %v %v", err, described.Error())
	}
	if d := described["grp"]; d.ProtocolType != "consumer" || d.State != "Empty" {
		t.Errorf("described %+v", d)
	}
	offs, err := adm.FetchOffsets(ctx, "grp")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != 45 {
		t.Errorf("committed offsets sum to %d, want 45", total)
	}
	del, err := adm.DeleteGroups(ctx, "grp")
	if err != nil || del.Error() != nil {
		t.Fatalf("delete: %v %v", err, del.Error())
	}
	if d, _ := adm.DescribeGroups(ctx, "grp"); d["grp"].State != "Dead" {
		t.Errorf("deleted group described as %q", d["grp"].State)
	}
}

func TestGroupErrorCodes(t *testing.T) {
	for code, want := range map[string]int16{
		logq.ERebalanceInProgress: 27, logq.EIllegalGeneration: 22, logq.EUnknownMemberID: 25,
		logq.EGroupNotFound: 69, logq.EGroupNotEmpty: 68, logq.EInvalidSessionTimeout: 26,
		logq.ETopicNotFound: 3, logq.EFenced: 6, logq.EUnavailable: 5, logq.ETooLarge: 10,
	} {
		if got := errorCode(&logq.Error{Code: code}); got != want {
			t.Errorf("%s → %d, want %d", code, got, want)
		}
	}
	// Over Kafka: the coordinator's codes come back as Kafka's, and a first
	// join that outlasted the long poll as MEMBER_ID_REQUIRED with the
	// member it made (KIP-394; v4+, older clients cannot keep the id).
	_, _, addr := startFakeGroups(t)
	rc := dialRaw(t, addr)
	answer := func(req kmsg.Request, resp kmsg.Response) {
		rc.send(req, 1)
		_, body, err := rc.read()
		resp.SetVersion(req.GetVersion())
		if err == nil {
			err = resp.ReadFrom(body)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	hb, hbResp := kmsg.NewPtrHeartbeatRequest(), kmsg.NewPtrHeartbeatResponse()
	hb.Version, hb.Group, hb.MemberID, hb.Generation = 3, "nope", "m", 1
	if answer(hb, hbResp); hbResp.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Errorf("heartbeat of an unknown group: code %d", hbResp.ErrorCode)
	}
	for version, want := range map[int16]int16{3: kerr.RebalanceInProgress.Code, 4: kerr.MemberIDRequired.Code} {
		join, resp := kmsg.NewPtrJoinGroupRequest(), kmsg.NewPtrJoinGroupResponse()
		join.Version, join.Group, join.ProtocolType, join.SessionTimeoutMillis = version, "slow", "consumer", 10000
		join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
		if answer(join, resp); resp.ErrorCode != want || resp.MemberID == "" {
			t.Errorf("v%d join outlasting the long poll: code %d member %q, want %d naming the member", version, resp.ErrorCode, resp.MemberID, want)
		}
	}
}

// A member the manager has no raw assignment of (restored after a writer
// failover) is described with its decoded one, encoded as Kafka's.
func TestDescribedMemberAssignment(t *testing.T) {
	dm := describedMember(api.DescribedMember{MemberID: "m", Assignment: map[string][]int{"t": {0, 2}}})
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(dm.MemberAssignment); err != nil || len(a.Topics) != 1 || a.Topics[0].Topic != "t" || !slices.Equal(a.Topics[0].Partitions, []int32{0, 2}) {
		t.Errorf("decoded assignment described as %+v (%v)", a, err)
	}
	if dm := describedMember(api.DescribedMember{MemberAssignment: []byte{7}, Assignment: map[string][]int{"t": {0}}}); !slices.Equal(dm.MemberAssignment, []byte{7}) {
		t.Errorf("raw assignment described as %v", dm.MemberAssignment)
	}
}
