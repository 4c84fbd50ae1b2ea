package manager

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

// groupCall is one group request's outcome, for requests sent from
// goroutines (no t there).
type groupCall struct {
	status int
	body   map[string]any
	err    error
}

func groupPost(hc *http.Client, url string, body any) groupCall {
	data, _ := json.Marshal(body)
	resp, err := hc.Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		return groupCall{err: err}
	}
	defer resp.Body.Close()
	c := groupCall{status: resp.StatusCode}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	c.err = dec.Decode(&c.body)
	return c
}

func logqJoinBody(member string) map[string]any {
	md, _ := json.Marshal(api.LogqMetadata{Topics: []string{"orders"}})
	return map[string]any{"member_id": member, "client_id": "test", "session_timeout_ms": 10000,
		"rebalance_timeout_ms": 20000, "protocol_type": "logq",
		"protocols": []map[string]any{{"name": "range", "metadata": base64.StdEncoding.EncodeToString(md)}}}
}

type groupMember struct {
	id  string
	gen int64
}

// joinAll sends the joins at once (they wait for each other) and returns
// the members in order.
func joinAll(t *testing.T, a *testAPI, url string, ids ...string) []groupMember {
	t.Helper()
	chs := make([]chan groupCall, len(ids))
	for i, id := range ids {
		chs[i] = make(chan groupCall, 1)
		go func() { chs[i] <- groupPost(a.hc, url+"/groups/g/join", logqJoinBody(id)) }()
	}
	out := make([]groupMember, len(ids))
	for i, ch := range chs {
		c := <-ch
		if c.err != nil || c.status != 200 {
			t.Fatalf("join %q: %d %v %v", ids[i], c.status, c.body, c.err)
		}
		gen, _ := c.body["generation"].(json.Number).Int64()
		out[i] = groupMember{id: c.body["member_id"].(string), gen: gen}
	}
	return out
}

// syncAll returns each member's partitions of "orders" and checks that
// together they are every partition, once.
func syncAll(t *testing.T, a *testAPI, url string, ms ...groupMember) [][]int {
	t.Helper()
	var out [][]int
	var all []int
	for _, m := range ms {
		ans := a.ok("POST", url+"/groups/g/sync", map[string]any{"member_id": m.id, "generation": m.gen})
		raw, _ := base64.StdEncoding.DecodeString(ans.str("assignment"))
		var asg api.LogqAssignment
		if err := json.Unmarshal(raw, &asg); err != nil {
			t.Fatalf("assignment %q: %v", raw, err)
		}
		out = append(out, asg["orders"])
		all = append(all, asg["orders"]...)
	}
	slices.Sort(all)
	if !slices.Equal(all, []int{0, 1, 2, 3}) {
		t.Fatalf("assignments %v do not cover every partition once", out)
	}
	return out
}

// waitGroup polls GET /groups/g on url until cond holds (deadline 10 s).
func waitGroup(t *testing.T, a *testAPI, url, what string, cond func(answer) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond(a.ok("GET", url+"/groups/g", nil)) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func wantGroupError(t *testing.T, ans answer, status int, code string) {
	t.Helper()
	if ans.status != status || ans.str("code") != code {
		t.Fatalf("status %d code %q, want %d %s: %s", ans.status, ans.str("code"), status, code, ans.raw)
	}
}

// TestGroupsOverHTTP: members join through a reader (forwarded to the
// writer), a third member rebalances the group, a member's death moves its
// partitions within the session timeout, offsets commit and fetch, a
// zombie's commit is refused, and a writer failover keeps the generation.
func TestGroupsOverHTTP(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	clk := newFakeClock()
	cfg := Config{Role: RoleAuto, DSN: dsn, Now: clk.Now, LivenessCheckInterval: time.Hour, GroupCheckInterval: time.Hour}
	first := startManager(t, cfg)
	waitWriter(t, first)
	second := startManager(t, cfg)
	a := newAPI(t)
	a.ok("POST", first.url+"/brokers", map[string]any{"address": "127.0.0.1:1"})
	a.ok("POST", first.url+"/topics", map[string]any{"topic_name": "orders", "partitions": 4})
	r := second.url

	m1 := joinAll(t, a, r, "")[0]
	if m1.gen != 1 {
		t.Fatalf("first generation %d", m1.gen)
	}
	syncAll(t, a, r, m1)

	// A second member: the join waits until m1 rejoins, told by its heartbeat.
	ch := make(chan groupCall, 1)
	go func() { ch <- groupPost(a.hc, r+"/groups/g/join", logqJoinBody("")) }()
	waitGroup(t, a, r, "the second member to wait", func(d answer) bool {
		return d.str("state") == api.GroupPreparingRebalance && len(d.body["members"].([]any)) == 2
	})
	wantGroupError(t, a.do("POST", r+"/groups/g/heartbeat", map[string]any{"member_id": m1.id, "generation": 1}), 409, logq.ERebalanceInProgress)
	m1 = joinAll(t, a, r, m1.id)[0]
	c := <-ch
	if c.status != 200 {
		t.Fatalf("second join: %d %v", c.status, c.body)
	}
	gen, _ := c.body["generation"].(json.Number).Int64()
	m2 := groupMember{id: c.body["member_id"].(string), gen: gen}
	if m1.gen != 2 || m2.gen != 2 {
		t.Fatalf("generation 2: %+v %+v", m1, m2)
	}
	syncAll(t, a, r, m1, m2)

	// A third member: once it waits, every member rejoins, generation 3.
	go func() { ch <- groupPost(a.hc, r+"/groups/g/join", logqJoinBody("")) }()
	waitGroup(t, a, r, "the third member to wait", func(d answer) bool {
		return d.str("state") == api.GroupPreparingRebalance && len(d.body["members"].([]any)) == 3
	})
	ms := joinAll(t, a, r, m1.id, m2.id)
	m1, m2 = ms[0], ms[1]
	c = <-ch
	if c.status != 200 {
		t.Fatalf("third join: %d %v", c.status, c.body)
	}
	gen, _ = c.body["generation"].(json.Number).Int64()
	m3 := groupMember{id: c.body["member_id"].(string), gen: gen}
	if m1.gen != 3 || m3.gen != 3 {
		t.Fatalf("generation 3: %+v %+v", ms, m3)
	}
	parts := syncAll(t, a, r, m1, m2, m3)
	if len(parts[2]) == 0 {
		t.Fatalf("m3 got nothing: %v", parts)
	}

	// m3 dies: m1 and m2 heartbeat, m3 is silent past its session timeout.
	clk.Advance(6 * time.Second)
	for _, m := range []groupMember{m1, m2} {
		a.ok("POST", r+"/groups/g/heartbeat", map[string]any{"member_id": m.id, "generation": 3})
	}
	clk.Advance(5 * time.Second)
	if n := first.CheckGroups(testCtx(t), clk.Now()); n != 1 {
		t.Fatalf("CheckGroups removed %d, want 1", n)
	}
	wantGroupError(t, a.do("POST", r+"/groups/g/heartbeat", map[string]any{"member_id": m1.id, "generation": 3}), 409, logq.ERebalanceInProgress)
	ms = joinAll(t, a, r, m1.id, m2.id)
	m1, m2 = ms[0], ms[1]
	if m1.gen != 4 {
		t.Fatalf("generation 4: %+v", ms)
	}
	syncAll(t, a, r, m1, m2) // m3's partitions moved to m1 and m2

	// Offsets.
	ans := a.ok("POST", r+"/groups/g/offsets", map[string]any{"member_id": m1.id, "generation": 4,
		"offsets": []map[string]any{{"topic": "orders", "partition": 1, "offset": 42, "metadata": "m"}, {"topic": "nope", "partition": 0, "offset": 1}}})
	if res := ans.body["offsets"].([]any); res[0].(map[string]any)["code"] != nil || res[1].(map[string]any)["code"] != logq.ETopicNotFound {
		t.Fatalf("commit results %v", res)
	}
	wantGroupError(t, a.do("POST", r+"/groups/g/offsets", map[string]any{"member_id": m3.id, "generation": 3,
		"offsets": []map[string]any{{"topic": "orders", "partition": 1, "offset": 7}}}), 409, logq.EUnknownMemberID)
	wantGroupError(t, a.do("POST", r+"/groups/g/offsets", map[string]any{"member_id": m1.id, "generation": 3,
		"offsets": []map[string]any{{"topic": "orders", "partition": 1, "offset": 7}}}), 409, logq.EIllegalGeneration)
	got := a.ok("GET", r+"/groups/g/offsets?topic=orders", nil).body["offsets"].([]any)
	if len(got) != 4 || fmt.Sprint(got[1].(map[string]any)["offset"]) != "42" || fmt.Sprint(got[0].(map[string]any)["offset"]) != "-1" {
		t.Fatalf("fetch = %v", got)
	}
	d := a.ok("GET", r+"/groups/g", nil)
	if d.str("state") != api.GroupStable || d.int("generation") != 4 || len(d.body["members"].([]any)) != 2 {
		t.Fatalf("describe = %s", d.raw)
	}
	if l := a.ok("GET", r+"/groups", nil); len(l.body["groups"].([]any)) != 1 {
		t.Fatalf("list = %s", l.raw)
	}
	wantGroupError(t, a.do("DELETE", r+"/groups/g", nil), 409, logq.EGroupNotEmpty)

	// The ledger has the generations, on the reader too.
	waitState(t, second, "generation 4 applied", func(s *projection.State) bool {
		g := s.Groups["g"]
		return g != nil && g.Generation == 4 && g.AssignedGeneration == 4
	})

	// Writer failover: the second manager takes over with generation 4.
	first.stop(t)
	waitWriter(t, second)
	// The new writer's coordinator starts once it has loaded the groups;
	// until then it answers 503 not_writer, which clients retry.
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for a.do("GET", r+"/groups/g", nil).status == http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the new writer's group coordinator")
		}
		<-tick.C
	}
	a.ok("POST", r+"/groups/g/heartbeat", map[string]any{"member_id": m1.id, "generation": 4})
	a.ok("POST", r+"/groups/g/heartbeat", map[string]any{"member_id": m2.id, "generation": 4})
	if d := a.ok("GET", r+"/groups/g", nil); d.str("state") != api.GroupStable || d.int("generation") != 4 {
		t.Fatalf("describe after failover = %s", d.raw)
	}
	syncAll(t, a, r, m1, m2)
	// Both leave: the group is Empty, then deleted with its offsets.
	a.ok("POST", r+"/groups/g/leave", map[string]any{"members": []map[string]any{{"member_id": m1.id}, {"member_id": m2.id}}})
	a.ok("POST", r+"/groups/g/offsets/reset", map[string]any{"topic": "orders", "to": "offset", "offset": 0})
	a.ok("DELETE", r+"/groups/g", nil)
	wantGroupError(t, a.do("GET", r+"/groups/g", nil), 404, logq.EGroupNotFound)
}

func TestGroupsBadInput(t *testing.T) {
	t.Parallel()
	w := startManager(t, Config{Role: RoleWrite, DSN: pgtest.NewDB(t)})
	waitWriter(t, w)
	a := newAPI(t)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"join without protocols", "POST", "/groups/g/join", `{"session_timeout_ms":10000,"protocol_type":"logq"}`, 400, logq.EInvalid},
		{"join without session timeout", "POST", "/groups/g/join", `{"protocol_type":"logq","protocols":[{"name":"range"}]}`, 400, logq.EInvalid},
		{"join with a short session", "POST", "/groups/g/join", `{"session_timeout_ms":10,"protocol_type":"logq","protocols":[{"name":"range"}]}`, 400, logq.EInvalidSessionTimeout},
		{"join bad metadata", "POST", "/groups/g/join", `{"session_timeout_ms":10000,"protocol_type":"logq","protocols":[{"name":"range","metadata":"!!"}]}`, 400, logq.EInvalid},
		{"sync unknown member", "POST", "/groups/g/sync", `{"member_id":"x","generation":1}`, 409, logq.EUnknownMemberID},
		{"heartbeat no generation", "POST", "/groups/g/heartbeat", `{"member_id":"x"}`, 400, logq.EInvalid},
		{"commit nothing", "POST", "/groups/g/offsets", `{"offsets":[]}`, 400, logq.EInvalid},
		{"commit bad partition", "POST", "/groups/g/offsets", `{"offsets":[{"topic":"t","partition":-1,"offset":1}]}`, 400, logq.EInvalid},
		{"reset bad target", "POST", "/groups/g/offsets/reset", `{"topic":"t","to":"nowhere"}`, 400, logq.EInvalid},
		{"reset unknown topic", "POST", "/groups/g/offsets/reset", `{"topic":"t","to":"offset","offset":1}`, 404, logq.ETopicNotFound},
		{"describe unknown", "GET", "/groups/nope", ``, 404, logq.EGroupNotFound},
		{"delete unknown", "DELETE", "/groups/nope", ``, 404, logq.EGroupNotFound},
		{"fetch bad topic", "GET", "/groups/g/offsets?topic=a%20b", ``, 400, logq.EInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			wantGroupError(t, a.do(tc.method, w.url+tc.path, body, "application/json"), tc.status, tc.code)
		})
	}
	// A standalone commit of a partition that does not exist stores nothing.
	ans := a.ok("POST", w.url+"/groups/g/offsets", `{"offsets":[{"topic":"t","partition":0,"offset":1}]}`)
	if res := ans.body["offsets"].([]any); res[0].(map[string]any)["code"] != logq.ETopicNotFound {
		t.Fatalf("commit = %s", ans.raw)
	}
	if l := a.ok("GET", w.url+"/groups", nil); len(l.body["groups"].([]any)) != 0 {
		t.Fatalf("a refused commit made a group: %s", l.raw)
	}
}

// TestGroupLongPollsForwardLonger: a reader relays a join or sync for as
// long as the writer may hold it, not just BrokerTimeout.
func TestGroupLongPollsForwardLonger(t *testing.T) {
	m := newManager(Config{DSN: "postgres://x.invalid/x", BrokerTimeout: time.Second}.withDefaults(), testLogger(t))
	for path, long := range map[string]bool{"/groups/g/join": true, "/groups/g/sync": true, "/groups/g/heartbeat": false, "/topics": false} {
		r, _ := http.NewRequest("POST", "http://m"+path, nil)
		got := m.forwardTimeout(r)
		if long && got <= m.groupWait() || !long && got != time.Second {
			t.Errorf("%s: forward timeout %v (group wait %v)", path, got, m.groupWait())
		}
	}
	if w := m.groupWait(); w >= m.cfg.WriteTimeout || w+max(m.cfg.BrokerTimeout, 5*time.Second) >= m.cfg.WriteTimeout {
		t.Errorf("group wait %v does not leave room under the write timeout %v", w, m.cfg.WriteTimeout)
	}
}

func TestGroupConfigValidate(t *testing.T) {
	for name, c := range map[string]Config{
		"min over max":        {DSN: "x", GroupMinSessionTimeout: time.Hour, GroupMaxSessionTimeout: time.Minute},
		"wait over write":     {DSN: "x", GroupMaxWait: time.Hour},
		"negative delay":      {DSN: "x", GroupInitialRebalanceDelay: -1},
		"negative max wait":   {DSN: "x", GroupMaxWait: -1},
		"min over default":    {DSN: "x", GroupMinSessionTimeout: 2 * DefaultGroupMaxSessionTimeout},
		"wait equal to write": {DSN: "x", GroupMaxWait: time.Minute, WriteTimeout: time.Minute},
	} {
		if err := c.Validate(); logq.ErrorCode(err) != logq.EInvalid {
			t.Errorf("%s: Validate() = %v, want an invalid error", name, err)
		}
	}
	if err := (Config{DSN: "x", GroupMaxWait: 10 * time.Second}).Validate(); err != nil {
		t.Fatal(err)
	}
}
