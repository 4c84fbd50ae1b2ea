package manager

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/auth/httpauth"
	"github.com/logq/logq/broker"
	"github.com/logq/logq/internal/pgtest"
)

// TestClientIdsAreOwned: the case — with auth on, a principal with
// every right on a topic cannot produce, consume, size or heartbeat with
// another principal's producer or consumer id (403, nothing moved: the
// owner's position, the partition's offsets and the event log are as they
// were); the owner and an admin can; an id without an owner (open mode)
// is anyone's with the topic right; a registration forwarded by a reader
// is owned by the client, not by the reader.
func TestClientIdsAreOwned(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	f := startAuthWriter(t, dsn, Config{})
	startMemberBroker(t, broker.Config{DSN: dsn, Managers: []string{f.w.url}, Auth: true,
		Credentials: httpauth.Credentials{Token: f.broker}})
	waitFor(t, 20e9, "the broker registered", func() bool { return len(f.w.State().Brokers) == 2 }, f.w)
	pool := newPool(t, dsn)
	base := f.w.url
	admin := "Bearer " + f.admin
	mustDo := func(method, path, body, authz string) string {
		t.Helper()
		st, b := authDo(t, base, method, path, body, authz)
		if st != 200 {
			t.Fatalf("%s %s: %d %s", method, path, st, b)
		}
		return b
	}
	mustDo("POST", "/topics", `{"topic_name":"owned","partitions":1}`, admin) // on the real broker: the fake one has "orders"
	users := map[string]string{}
	for _, name := range []string{"alice", "bob"} {
		mustDo("POST", "/principals", `{"name":"`+name+`","password":"pw-`+name+`-123"}`, admin)
		for _, op := range []string{"produce", "consume", "describe"} {
			mustDo("POST", "/acls", `{"principal":"`+name+`","resource":"topic","name":"owned","operation":"`+op+`"}`, admin)
		}
		users[name] = "Basic " + b64(name+":pw-"+name+"-123")
	}
	alice, bob := users["alice"], users["bob"]
	var prod api.RegisterProducerAnswer
	json.Unmarshal([]byte(mustDo("POST", "/producer/register", `{"topic":"owned"}`, alice)), &prod)
	var cons api.RegisterConsumerAnswer
	json.Unmarshal([]byte(mustDo("POST", "/consumer/register", `{"topic":"owned"}`, alice)), &cons)
	waitSeq(t, f.w, cons.Seq)
	if p, c := f.w.State().Producers[prod.ProducerID], f.w.State().Consumers[cons.ConsumerID]; p.Principal != "alice" || c.Principal != "alice" {
		t.Fatalf("owners: producer %+v consumer %+v", p, c)
	}
	pid, cid := itoa(prod.ProducerID), itoa(cons.ConsumerID)
	if b := mustDo("GET", "/consumers?topic=owned", "", admin); !strings.Contains(b, `"principal":"alice"`) {
		t.Fatalf("GET /consumers does not name the owner: %s", b)
	}
	for _, m := range []string{"one", "two", "three"} {
		mustDo("POST", "/producer/produce", `{"producer_id":`+pid+`,"message":"`+m+`"}`, alice)
	}
	size := func() string { return mustDo("GET", "/size?consumer_id="+cid, "", alice) }
	offsets := func() string { return mustDo("GET", "/offsets?topic=owned", "", admin) }
	sizeBefore, offsetsBefore, seqBefore := size(), offsets(), lastSeq(t, pool)
	if !strings.Contains(sizeBefore, `"size":3`) {
		t.Fatalf("size: %s", sizeBefore)
	}

	// Bob, with every right on the topic, uses alice's ids: refused.
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/producer/produce", `{"producer_id":` + pid + `,"message":"forged"}`},
		{"POST", "/producer/produce", `{"topic":"owned","producer_id":` + pid + `,"message":"forged"}`},
		{"POST", "/producer/produce_batch", `{"producer_id":` + pid + `,"messages":["forged","again"]}`},
		{"GET", "/consumer/consume?consumer_id=" + cid, ""},
		{"GET", "/consumer/consume?topic=owned&consumer_id=" + cid + "&partition=0", ""},
		{"POST", "/consumer/consume", `{"consumer_id":` + cid + `}`},
		{"GET", "/consumer/consume_batch?consumer_id=" + cid + "&max=10", ""},
		{"POST", "/consumer/consume_batch", `{"consumer_id":` + cid + `,"max":10}`},
		{"GET", "/size?consumer_id=" + cid, ""},
		{"POST", "/producers/" + pid + "/heartbeat", ""},
		{"POST", "/consumers/" + cid + "/heartbeat", ""},
	} {
		if st, b := authDo(t, base, c.method, c.path, c.body, bob); st != 403 || !strings.Contains(b, logq.EForbidden) || !strings.Contains(b, "another principal") {
			t.Errorf("bob: %s %s: %d %s, want 403", c.method, c.path, st, b)
		}
	}
	if s, o, seq := size(), offsets(), lastSeq(t, pool); s != sizeBefore || o != offsetsBefore || seq != seqBefore {
		t.Fatalf("refused requests moved something: size %s→%s, offsets %s→%s, seq %d→%d", sizeBefore, s, offsetsBefore, o, seqBefore, seq)
	}

	// Bob's own ids are his.
	var bobCons api.RegisterConsumerAnswer
	json.Unmarshal([]byte(mustDo("POST", "/consumer/register", `{"topic":"owned"}`, bob)), &bobCons)
	if b := mustDo("GET", "/consumer/consume?consumer_id="+itoa(bobCons.ConsumerID), "", bob); !strings.Contains(b, `"one"`) {
		t.Fatalf("bob's own consumer: %s", b)
	}
	if st, b := authDo(t, base, "GET", "/size?consumer_id="+itoa(bobCons.ConsumerID), "", alice); st != 403 {
		t.Fatalf("alice with bob's consumer: %d %s", st, b)
	}

	// Alice, the owner, and an admin (who acts for anyone) may.
	if b := mustDo("GET", "/consumer/consume?consumer_id="+cid, "", alice); !strings.Contains(b, `"one"`) {
		t.Fatalf("alice consumes: %s", b)
	}
	if b := mustDo("GET", "/consumer/consume_batch?consumer_id="+cid+"&max=1", "", admin); !strings.Contains(b, `"two"`) {
		t.Fatalf("admin consumes for alice: %s", b)
	}
	mustDo("POST", "/producer/produce_batch", `{"producer_id":`+pid+`,"messages":["four"]}`, admin)
	mustDo("POST", "/producers/"+pid+"/heartbeat", "", alice)
	if s := size(); !strings.Contains(s, `"size":2`) {
		t.Fatalf("size after alice's and the admin's: %s", s)
	}

	// Ids without an owner (registered in open mode) are anyone's with the
	// topic right.
	openP, _, err := f.w.registerProducer(testCtx(t), "owned", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	openC, seq, err := f.w.registerConsumer(testCtx(t), "owned", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	waitSeq(t, f.w, seq)
	mustDo("POST", "/producer/produce", `{"producer_id":`+itoa(openP)+`,"message":"open"}`, bob)
	mustDo("GET", "/size?consumer_id="+itoa(openC), "", alice)
	if b := mustDo("GET", "/consumer/consume?consumer_id="+itoa(openC), "", bob); !strings.Contains(b, `"one"`) {
		t.Fatalf("bob with an open-mode consumer: %s", b)
	}

	// A registration through a reader is the client's, not the reader's;
	// the reader refuses the other principal too.
	reader := startManager(t, Config{Role: RoleRead, DSN: dsn, Auth: true, Credentials: httpauth.Credentials{Token: f.manager}})
	waitSeq(t, reader, f.w.AppliedSeq())
	var fwd api.RegisterConsumerAnswer
	if st, b := authDo(t, reader.url, "POST", "/consumer/register", `{"topic":"owned"}`, bob); st != 200 {
		t.Fatalf("register through the reader: %d %s", st, b)
	} else {
		json.Unmarshal([]byte(b), &fwd)
	}
	waitSeq(t, reader, fwd.Seq)
	if c := reader.State().Consumers[fwd.ConsumerID]; c == nil || c.Principal != "bob" {
		t.Fatalf("forwarded registration's owner: %+v", c)
	}
	if st, b := authDo(t, reader.url, "GET", "/size?consumer_id="+cid, "", bob); st != 403 {
		t.Fatalf("bob at the reader with alice's consumer: %d %s", st, b)
	}
	if st, b := authDo(t, reader.url, "POST", "/consumers/"+cid+"/heartbeat", "", bob); st != 403 {
		t.Fatalf("bob's heartbeat of alice's consumer through the reader: %d %s", st, b)
	}
	// A client cannot claim to be another principal by sending the
	// forwarding headers itself.
	spoof := func(method, path string) (int, string) {
		req, _ := http.NewRequestWithContext(testCtx(t), method, base+path, nil)
		req.Header.Set("Authorization", bob)
		req.Header.Set(api.HeaderPrincipal, "alice")
		req.Header.Set(api.HeaderForwarded, "a-reader")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, b := spoof("GET", "/size?consumer_id="+cid); st != 403 {
		t.Fatalf("bob claiming to be alice: %d %s", st, b)
	}
	if st, b := spoof("POST", "/consumers/"+cid+"/heartbeat"); st != 403 {
		t.Fatalf("bob's heartbeat claiming to be alice: %d %s", st, b)
	}
}
