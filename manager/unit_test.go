package manager

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := Config{DSN: "postgres://localhost/logq"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	for name, c := range map[string]Config{
		"no dsn":             {},
		"bad role":           {DSN: "x", Role: "boss"},
		"bad tail mode":      {DSN: "x", TailMode: "carrier-pigeon"},
		"relative advertise": {DSN: "x", AdvertiseURL: "localhost:8080"},
		"timeout <= beat":    {DSN: "x", HeartbeatInterval: 10e9, HeartbeatTimeout: 10e9},
		"negative wait":      {DSN: "x", MinSeqWait: -1},
		"tiny body":          {DSN: "x", MaxBodyBytes: 10},
	} {
		if err := c.Validate(); logq.ErrorCode(err) != logq.EInvalid {
			t.Errorf("%s: Validate() = %v, want an invalid error", name, err)
		}
	}
	if r, err := ParseRole(" Auto "); err != nil || r != RoleAuto {
		t.Fatalf("ParseRole: %v %v", r, err)
	}
}

func TestKeyPartitionIsFNV1a(t *testing.T) {
	t.Parallel()
	// FNV-1a 32 of "" is 0x811c9dc5, of "a" 0xe40c292c.
	if got := KeyPartition("", 1000); got != 0x811c9dc5%1000 {
		t.Fatalf("KeyPartition(\"\") = %d", got)
	}
	if got := KeyPartition("a", 7); got != 0xe40c292c%7 {
		t.Fatalf("KeyPartition(a) = %d", got)
	}
}

// TestPlan: assignments go to the least-loaded live broker (round robin on
// ties); orphans move with the next epoch; nothing moves without a live
// broker.
func TestPlan(t *testing.T) {
	t.Parallel()
	s := projection.New()
	apply := func(events ...logq.Event) {
		t.Helper()
		for _, e := range events {
			e.Seq = s.Seq + 1
			if err := projection.Apply(s, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := int64(1); i <= 3; i++ {
		apply(projection.NewEvent(projection.BrokerRegistered{BrokerID: i, Address: "h:1"}))
	}
	evs, err := newPlan(s).createTopic("a", 0)
	if err != nil || len(evs) != 4 {
		t.Fatalf("default partition count: %v %v", evs, err)
	}
	apply(evs...)
	evs, _ = newPlan(s).createTopic("b", 5)
	apply(evs...)
	owners := func(topic string) []int64 {
		var out []int64
		for _, p := range s.Topics[topic].Partitions {
			out = append(out, p.Broker)
		}
		return out
	}
	if got := owners("a"); !equal(got, []int64{1, 2, 3}) {
		t.Fatalf("a: %v", got)
	}
	if got := owners("b"); !equal(got, []int64{1, 2, 3, 1, 2}) {
		t.Fatalf("b: %v", got)
	}
	// Broker 1 dies: its 3 partitions go to the least loaded of 2 and 3
	// (loads 3 and 2), the lower id on ties.
	p := newPlan(s)
	p.alive[1] = false
	moves := p.reassignOrphans()
	apply(append([]logq.Event{projection.NewEvent(projection.BrokerStatusChanged{BrokerID: 1})}, moves...)...)
	if got := owners("a"); !equal(got, []int64{3, 2, 3}) {
		t.Fatalf("a after: %v", got)
	}
	if got := owners("b"); !equal(got, []int64{2, 2, 3, 3, 2}) {
		t.Fatalf("b after: %v", got)
	}
	if s.Topics["a"].Partitions[0].Epoch != 2 || s.Topics["a"].Partitions[1].Epoch != 1 {
		t.Fatalf("epochs: %+v", s.Topics["a"].Partitions)
	}
	p = newPlan(s)
	p.alive[2], p.alive[3] = false, false
	if moves := p.reassignOrphans(); len(moves) != 0 {
		t.Fatalf("moves with no live broker: %v", moves)
	}
	if _, err := p.createTopic("c", 1); logq.ErrorCode(err) != logq.EUnavailable {
		t.Fatalf("create with no live broker: %v", err)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPanicsAndInternalErrors: a panic is a JSON 500 and an internal
// error's text never reaches the client.
func TestPanicsAndInternalErrors(t *testing.T) {
	t.Parallel()
	m := &Manager{cfg: Config{MaxBodyBytes: 1 << 10}, log: zerolog.Nop()}
	h := m.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"status":"failure"`) || strings.Contains(rec.Body.String(), "boom") {
		t.Fatalf("panic answer: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	m.writeError(rec, httptest.NewRequest("GET", "/", nil), logq.Internal(errAssert("password=hunter2"), "query failed"))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "hunter2") || strings.Contains(rec.Body.String(), "query failed") {
		t.Fatalf("internal answer: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	m.writeError(rec, httptest.NewRequest("GET", "/", nil), logq.Errorf(logq.ENotWriter, "no writer"))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), `"code":"not_writer"`) {
		t.Fatalf("not_writer answer: %d %s", rec.Code, rec.Body)
	}
}

type errAssert string

func (e errAssert) Error() string { return string(e) }
