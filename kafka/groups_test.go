package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logq/logq"
)

// fakeGroups is a coordinator for one member at a time per generation
// (each join starts a generation led by the joiner): enough for the Kafka
// side of the group APIs. The real one is the manager's (GROUPS_API.md).
type fakeGroups struct {
	mu     sync.Mutex
	next   int
	groups map[string]*fakeGroup
}

type fakeGroup struct {
	generation  int32
	protocol    string
	ptype       string
	leader      string
	members     map[string]JoinRequest
	assignments map[string][]byte
	offsets     map[string]CommittedOffset // "topic/partition"
}

func (g *fakeGroups) group(name string, create bool) (*fakeGroup, error) {
	if g.groups == nil {
		g.groups = map[string]*fakeGroup{}
	}
	fg, ok := g.groups[name]
	if !ok {
		if !create {
			return nil, &logq.Error{Code: EGroupNotFound, Message: "no group " + name}
		}
		fg = &fakeGroup{members: map[string]JoinRequest{}, assignments: map[string][]byte{}, offsets: map[string]CommittedOffset{}}
		g.groups[name] = fg
	}
	return fg, nil
}

func (g *fakeGroups) Join(_ context.Context, name string, req JoinRequest) (JoinResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fg, _ := g.group(name, true)
	if req.SessionTimeoutMS < 1000 {
		return JoinResponse{}, &logq.Error{Code: EInvalidSessionTimeout, Message: "short session"}
	}
	if req.MemberID == "" {
		g.next++
		req.MemberID = fmt.Sprintf("member-%d", g.next)
	}
	fg.members = map[string]JoinRequest{req.MemberID: req}
	fg.generation++
	fg.leader, fg.protocol, fg.ptype = req.MemberID, req.Protocols[0].Name, req.ProtocolType
	return JoinResponse{Generation: fg.generation, Protocol: fg.protocol, Leader: fg.leader, MemberID: req.MemberID,
		Members: []JoinMember{{MemberID: req.MemberID, Metadata: req.Protocols[0].Metadata}}}, nil
}

func (g *fakeGroups) check(fg *fakeGroup, member string, gen int32) error {
	if _, ok := fg.members[member]; !ok {
		return &logq.Error{Code: EUnknownMemberID, Message: member}
	}
	if gen != fg.generation {
		return &logq.Error{Code: EIllegalGeneration, Message: "generation"}
	}
	return nil
}

func (g *fakeGroups) Sync(_ context.Context, name string, req SyncRequest) (SyncResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fg, err := g.group(name, false)
	if err != nil {
		return SyncResponse{}, err
	}
	if err := g.check(fg, req.MemberID, req.Generation); err != nil {
		return SyncResponse{}, err
	}
	for _, a := range req.Assignments {
		fg.assignments[a.MemberID] = a.Assignment
	}
	return SyncResponse{Protocol: fg.protocol, Assignment: fg.assignments[req.MemberID]}, nil
}

func (g *fakeGroups) Heartbeat(_ context.Context, name, member string, gen int32) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	fg, err := g.group(name, false)
	if err != nil {
		return err
	}
	return g.check(fg, member, gen)
}

func (g *fakeGroups) Leave(_ context.Context, name string, members []LeavingMember) ([]LeftMember, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fg, err := g.group(name, false)
	if err != nil {
		return nil, err
	}
	var out []LeftMember
	for _, m := range members {
		lm := LeftMember{MemberID: m.MemberID}
		if _, ok := fg.members[m.MemberID]; !ok {
			lm.Code = EUnknownMemberID
		}
		delete(fg.members, m.MemberID)
		out = append(out, lm)
	}
	if len(out) == 1 && out[0].Code != "" {
		return nil, &logq.Error{Code: EUnknownMemberID, Message: members[0].MemberID}
	}
	return out, nil
}

func (g *fakeGroups) CommitOffsets(_ context.Context, name string, req CommitRequest) ([]OffsetResult, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fg, _ := g.group(name, true)
	if req.Generation != -1 {
		if err := g.check(fg, req.MemberID, req.Generation); err != nil {
			return nil, err
		}
	}
	var out []OffsetResult
	for _, o := range req.Offsets {
		md := ""
		if o.Metadata != nil {
			md = *o.Metadata
		}
		fg.offsets[fmt.Sprintf("%s/%d", o.Topic, o.Partition)] = CommittedOffset{Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, Metadata: md}
		out = append(out, OffsetResult{Topic: o.Topic, Partition: o.Partition})
	}
	return out, nil
}

func (g *fakeGroups) FetchOffsets(_ context.Context, name string, topics []string) ([]CommittedOffset, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fg, err := g.group(name, false)
	if err != nil {
		return nil, err
	}
	var out []CommittedOffset
	for _, o := range fg.offsets {
		if topics == nil || contains(topics, o.Topic) {
			out = append(out, o)
		}
	}
	return out, nil
}

func (g *fakeGroups) state(fg *fakeGroup) string {
	if len(fg.members) == 0 {
		return "Empty"
	}
	return "Stable"
}

func (g *fakeGroups) List(context.Context) ([]GroupListing, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []GroupListing
	for name, fg := range g.groups {
		out = append(out, GroupListing{Group: name, State: g.state(fg), ProtocolType: fg.ptype})
	}
	return out, nil
}

func (g *fakeGroups) Describe(_ context.Context, name string) (GroupDescription, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fg, err := g.group(name, false)
	if err != nil {
		return GroupDescription{}, err
	}
	d := GroupDescription{Group: name, State: g.state(fg), ProtocolType: fg.ptype, Protocol: fg.protocol, Generation: fg.generation, Leader: fg.leader}
	for id, m := range fg.members {
		d.Members = append(d.Members, GroupMember{MemberID: id, ClientID: m.ClientID, Metadata: m.Protocols[0].Metadata, Assignment: fg.assignments[id]})
	}
	return d, nil
}

func (g *fakeGroups) Delete(_ context.Context, name string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	fg, err := g.group(name, false)
	if err != nil {
		return err
	}
	if len(fg.members) > 0 {
		return &logq.Error{Code: EGroupNotEmpty, Message: "members"}
	}
	delete(g.groups, name)
	return nil
}

// groupsHTTP serves GROUPS_API.md's routes on a Groups, so that the tests
// go through HTTPGroups' encoding as the broker's will.
func groupsHTTP(g Groups) http.Handler {
	fail := func(w http.ResponseWriter, err error) {
		code := logq.ErrorCode(err)
		status := map[string]int{ERebalanceInProgress: 409, EIllegalGeneration: 409, EUnknownMemberID: 409,
			EGroupNotFound: 404, EGroupNotEmpty: 409, EInvalidSessionTimeout: 400}[code]
		if status == 0 {
			status = 500
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"status": "failure", "code": code, "message": logq.ErrorMessage(err)})
	}
	ok := func(w http.ResponseWriter, v any, err error) {
		if err != nil {
			fail(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /groups/{group}/join", func(w http.ResponseWriter, r *http.Request) {
		var req JoinRequest
		json.NewDecoder(r.Body).Decode(&req)
		out, err := g.Join(r.Context(), r.PathValue("group"), req)
		ok(w, out, err)
	})
	mux.HandleFunc("POST /groups/{group}/sync", func(w http.ResponseWriter, r *http.Request) {
		var req SyncRequest
		json.NewDecoder(r.Body).Decode(&req)
		out, err := g.Sync(r.Context(), r.PathValue("group"), req)
		ok(w, out, err)
	})
	mux.HandleFunc("POST /groups/{group}/heartbeat", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			MemberID   string `json:"member_id"`
			Generation int32  `json:"generation"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		ok(w, map[string]string{"status": "success"}, g.Heartbeat(r.Context(), r.PathValue("group"), req.MemberID, req.Generation))
	})
	mux.HandleFunc("POST /groups/{group}/leave", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Members []LeavingMember `json:"members"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		out, err := g.Leave(r.Context(), r.PathValue("group"), req.Members)
		ok(w, map[string]any{"status": "success", "members": out}, err)
	})
	mux.HandleFunc("POST /groups/{group}/offsets", func(w http.ResponseWriter, r *http.Request) {
		var req CommitRequest
		json.NewDecoder(r.Body).Decode(&req)
		out, err := g.CommitOffsets(r.Context(), r.PathValue("group"), req)
		ok(w, map[string]any{"status": "success", "offsets": out}, err)
	})
	mux.HandleFunc("GET /groups/{group}/offsets", func(w http.ResponseWriter, r *http.Request) {
		out, err := g.FetchOffsets(r.Context(), r.PathValue("group"), r.URL.Query()["topic"])
		ok(w, map[string]any{"status": "success", "offsets": out}, err)
	})
	mux.HandleFunc("GET /groups", func(w http.ResponseWriter, r *http.Request) {
		out, err := g.List(r.Context())
		ok(w, map[string]any{"status": "success", "groups": out}, err)
	})
	mux.HandleFunc("GET /groups/{group}", func(w http.ResponseWriter, r *http.Request) {
		out, err := g.Describe(r.Context(), r.PathValue("group"))
		ok(w, out, err)
	})
	mux.HandleFunc("DELETE /groups/{group}", func(w http.ResponseWriter, r *http.Request) {
		ok(w, map[string]string{"status": "success"}, g.Delete(r.Context(), r.PathValue("group")))
	})
	return mux
}

// startFakeGroups serves a fake cluster whose Groups is HTTPGroups against
// groupsHTTP(fakeGroups).
func startFakeGroups(t *testing.T) (*fakeCluster, *fakeGroups, string) {
	t.Helper()
	c, l := newFake()
	fg := &fakeGroups{}
	hs := httptest.NewServer(groupsHTTP(fg))
	t.Cleanup(hs.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	c.self = BrokerInfo{ID: 1, Host: host, Port: int32(p)}
	s, err := New(Config{Cluster: c, Log: l, Groups: &HTTPGroups{Managers: []string{hs.URL}, Client: hs.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return c, fg, ln.Addr().String()
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
		ERebalanceInProgress: 27, EIllegalGeneration: 22, EUnknownMemberID: 25,
		EGroupNotFound: 69, EGroupNotEmpty: 68, EInvalidSessionTimeout: 26,
		logq.ETopicNotFound: 3, logq.EFenced: 6, logq.EUnavailable: 5, logq.ETooLarge: 10,
	} {
		if got := errorCode(&logq.Error{Code: code}); got != want {
			t.Errorf("%s → %d, want %d", code, got, want)
		}
	}
	// Through HTTP: the manager's body code comes back as the Kafka code.
	fg := &fakeGroups{}
	hs := httptest.NewServer(groupsHTTP(fg))
	defer hs.Close()
	g := &HTTPGroups{Managers: []string{hs.URL}, Client: hs.Client()}
	err := g.Heartbeat(context.Background(), "nope", "m", 1)
	if errorCode(err) != 69 || !strings.Contains(logq.ErrorMessage(err), "nope") {
		t.Errorf("heartbeat of an unknown group: %v (code %d)", err, errorCode(err))
	}
}
