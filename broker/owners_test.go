package broker

import (
	"net/http"
	"strings"
	"testing"

	"github.com/logq/logq/auth"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

// TestBrokerClientIdsAreOwned: a client calling a broker directly cannot
// use another principal's producer or consumer id either (403, nothing
// stored, no position moved); the owner, a manager and anyone with the
// topic right on an id without an owner can.
func TestBrokerClientIdsAreOwned(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	cp, _ := withTopic(t, dsn, "orders", 1) // ids 1..testClients: no owner
	toks := map[string]string{}
	var ps []projection.Payload
	for _, p := range []struct {
		name string
		kind auth.Kind
	}{{"managers", auth.KindManager}, {"alice", auth.KindClient}, {"bob", auth.KindClient}} {
		tok, th := auth.NewToken()
		toks[p.name] = tok
		ps = append(ps, projection.PrincipalCreated{Name: p.name, Kind: p.kind, Tokens: []auth.TokenHash{th}})
		for _, op := range []auth.Operation{auth.OpProduce, auth.OpConsume, auth.OpDescribe} {
			ps = append(ps, projection.AclAdded{ACL: auth.ACL{Principal: p.name, Resource: auth.Topic, Pattern: auth.Literal,
				Name: "orders", Operation: op, Effect: auth.Allow}})
		}
	}
	const owned = 1000
	ps = append(ps, projection.ProducerRegistered{ProducerID: owned, Topic: "orders", Principal: "alice"},
		projection.ConsumerRegistered{ConsumerID: owned, Topic: "orders", Principal: "alice"})
	seq := cp.append(ps...)
	b := startBroker(t, Config{DSN: dsn, ID: 1, Auth: true})
	b.waitApplied(seq)
	as := func(who string) []string { return []string{"Authorization", "Bearer " + toks[who]} }
	appendBody := func(id string) string {
		return `{"topic":"orders","partition":0,"messages":[{"producer_id":` + id + `,"message":"m"}]}`
	}
	consumeBody := func(id string) string { return `{"topic":"orders","partition":0,"consumer_id":` + id + `,"max":10}` }
	stored := func() int {
		st, out := b.do("GET", "/v1/read?topic=orders&partition=0&offset=0&max=100", nil, as("managers")...)
		if st != http.StatusOK {
			t.Fatalf("read: %d %v", st, out)
		}
		msgs, _ := out["messages"].([]any)
		return len(msgs)
	}
	size := func(id string) any {
		st, out := b.do("GET", "/v1/size?topic=orders&partition=0&consumer_id="+id, nil, as("managers")...)
		if st != http.StatusOK {
			t.Fatalf("size: %d %v", st, out)
		}
		return out["size"]
	}
	ok := func(who, method, path, body string) {
		t.Helper()
		if st, out := b.do(method, path, body, as(who)...); st != http.StatusOK {
			t.Fatalf("%s: %s %s: %d %v", who, method, path, st, out)
		}
	}
	ok("alice", "POST", "/v1/append", appendBody("1000"))
	ok("alice", "POST", "/v1/append", appendBody("1000"))
	storedBefore, sizeBefore := stored(), size("1000")
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/append", appendBody("1000")},
		{"POST", "/v1/consume", consumeBody("1000")},
		{"GET", "/v1/consume?topic=orders&partition=0&consumer_id=1000", ""},
		{"GET", "/v1/size?topic=orders&partition=0&consumer_id=1000", ""},
	} {
		st, out := b.do(c.method, c.path, c.body, as("bob")...)
		if msg, _ := out["message"].(string); st != http.StatusForbidden || !strings.Contains(msg, "another principal") {
			t.Errorf("bob: %s %s: %d %v, want 403", c.method, c.path, st, out)
		}
	}
	if s, z := stored(), size("1000"); s != storedBefore || z != sizeBefore {
		t.Fatalf("refused requests moved something: stored %d→%d, size %v→%v", storedBefore, s, sizeBefore, z)
	}
	ok("alice", "POST", "/v1/consume", consumeBody("1000"))
	ok("managers", "POST", "/v1/append", appendBody("1000"))
	ok("bob", "POST", "/v1/append", appendBody("1")) // no owner
	ok("bob", "POST", "/v1/consume", consumeBody("1"))
}
