package auth

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/xdg-go/scram"
)

func dirWith(t *testing.T, acls ...ACL) *Directory {
	t.Helper()
	var d *Directory
	for _, p := range []Principal{{Name: "root", Kind: KindAdmin}, {Name: "b1", Kind: KindBroker},
		{Name: "m1", Kind: KindManager}, {Name: "alice", Kind: KindClient}, {Name: "bob", Kind: KindClient}} {
		d = d.WithPrincipal(p)
	}
	for _, a := range acls {
		if err := a.Validate(); err != nil {
			t.Fatalf("acl %v: %v", a, err)
		}
		d = d.WithACL(a)
	}
	return d
}

func allow(principal string, rt ResourceType, pat PatternType, name string, op Operation) ACL {
	return ACL{Principal: principal, Resource: rt, Pattern: pat, Name: name, Operation: op, Effect: Allow}
}

func TestAuthorize(t *testing.T) {
	d := dirWith(t,
		allow("alice", Topic, Literal, "orders", OpProduce),
		allow("alice", Topic, Prefix, "logs.", OpConsume),
		allow("alice", Group, Literal, "g1", OpConsume),
		allow("*", Topic, Literal, "public", OpConsume),
		allow("bob", Topic, Literal, "*", OpAll),
		ACL{Principal: "bob", Resource: Topic, Pattern: Prefix, Name: "secret.", Operation: OpAll, Effect: Deny},
		allow("bob", Cluster, Literal, ClusterName, OpDescribe),
	)
	tp := func(n string) Resource { return Resource{Topic, n} }
	cl := Resource{Cluster, ClusterName}
	p := func(name string) Principal { x, _ := d.Principal(name); return x }
	for _, c := range []struct {
		who  string
		res  Resource
		op   Operation
		want bool
	}{
		{"root", cl, OpAlter, true},
		{"m1", tp("x"), OpDelete, true},
		{"b1", tp("x"), OpProduce, true},
		{"b1", cl, OpDescribe, true},
		{"b1", cl, OpAlter, false},
		{"alice", tp("orders"), OpProduce, true},
		{"alice", tp("orders"), OpDescribe, true}, // produce implies describe
		{"alice", tp("orders"), OpConsume, false},
		{"alice", tp("orders2"), OpProduce, false}, // literal is exact
		{"alice", tp("logs.app"), OpConsume, true},
		{"alice", tp("logs"), OpConsume, false}, // prefix "logs." does not match "logs"
		{"alice", Resource{Group, "g1"}, OpConsume, true},
		{"alice", Resource{Group, "g2"}, OpConsume, false},
		{"alice", tp("public"), OpConsume, true}, // "*" principal
		{"bob", tp("public"), OpConsume, true},
		{"alice", cl, OpDescribe, false},
		{"alice", tp("orders"), OpCreate, false},
		{"bob", tp("anything"), OpCreate, true},
		{"bob", tp("secret.x"), OpConsume, false}, // deny wins
		{"bob", tp("secret.x"), OpDescribe, false},
		{"bob", cl, OpDescribe, true},
		{"bob", cl, OpAlter, false},
		{"nobody", tp("public"), OpConsume, true}, // an unknown principal is a client with the "*" rules (AuthenticateHTTP never returns one)
	} {
		pr := p(c.who)
		if pr.Name == "" {
			pr = Principal{Name: c.who, Kind: KindClient}
		}
		if got := Authorize(d, pr, c.res, c.op); got != c.want {
			t.Errorf("%s %s %s = %t, want %t", c.who, c.op, c.res, got, c.want)
		}
	}
	if Authorize(nil, Principal{Name: "x", Kind: KindClient}, tp("t"), OpDescribe) {
		t.Error("a client is allowed on an empty directory")
	}
	// Create does not imply describe's converse: describe does not imply create.
	d2 := dirWith(t, allow("alice", Topic, Literal, "t", OpDescribe))
	if Authorize(d2, p("alice"), tp("t"), OpCreate) {
		t.Error("describe implied create")
	}
	d3 := dirWith(t, allow("alice", Topic, Literal, "t", OpCreate))
	if Authorize(d3, p("alice"), tp("t"), OpDescribe) {
		t.Error("create implied describe")
	}
}

func TestACLValidate(t *testing.T) {
	good := allow("alice", Topic, Literal, "t", OpProduce)
	bad := []ACL{
		{Principal: "", Resource: Topic, Pattern: Literal, Name: "t", Operation: OpProduce, Effect: Allow},
		{Principal: "a", Resource: "queue", Pattern: Literal, Name: "t", Operation: OpProduce, Effect: Allow},
		{Principal: "a", Resource: Topic, Pattern: "glob", Name: "t", Operation: OpProduce, Effect: Allow},
		{Principal: "a", Resource: Topic, Pattern: Literal, Name: "", Operation: OpProduce, Effect: Allow},
		{Principal: "a", Resource: Topic, Pattern: Literal, Name: "t", Operation: "fly", Effect: Allow},
		{Principal: "a", Resource: Topic, Pattern: Literal, Name: "t", Operation: "write", Effect: Allow},
		{Principal: "a", Resource: Topic, Pattern: Literal, Name: "t", Operation: OpProduce, Effect: "maybe"},
	}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, a := range bad {
		if a.Validate() == nil {
			t.Errorf("%+v validated", a)
		}
	}
	if op, err := ParseOperation("WRITE"); err != nil || op != OpProduce {
		t.Errorf("ParseOperation(WRITE) = %q, %v", op, err)
	}
}

func TestDirectoryImmutable(t *testing.T) {
	d0 := dirWith(t)
	tok, th := NewToken()
	d1 := d0.WithToken("alice", th)
	if _, err := Token(d0, tok); err == nil {
		t.Fatal("the old directory learnt the token")
	}
	if p, err := Token(d1, tok); err != nil || p.Name != "alice" {
		t.Fatalf("Token = %v, %v", p.Name, err)
	}
	d2 := d1.WithoutToken("alice", th.ID)
	if _, err := Token(d2, tok); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("revoked token: %v", err)
	}
	a := allow("alice", Topic, Literal, "t", OpProduce)
	d3 := d1.WithACL(a)
	if d1.HasACL(a) || !d3.HasACL(a) {
		t.Fatal("WithACL changed its receiver or did not add")
	}
	d4 := d3.WithoutPrincipal("alice")
	if d4.HasACL(a) || !d3.HasACL(a) {
		t.Fatal("WithoutPrincipal kept the principal's ACL or changed its receiver")
	}
	if _, err := Token(d4, tok); err == nil {
		t.Fatal("a deleted principal's token still works")
	}
	if len(d3.WithoutACL(a).ACLs()) != 0 {
		t.Fatal("WithoutACL left the ACL")
	}
}

func TestPasswordAndHTTP(t *testing.T) {
	creds, err := NewCredentials("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range creds {
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	tok, th := NewToken()
	d := (*Directory)(nil).WithPrincipal(Principal{Name: "alice", Kind: KindClient, SCRAM: creds, Tokens: []TokenHash{th}})
	var cache Cache
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	for _, c := range []struct {
		header string
		err    error
	}{
		{"", ErrNoCredentials},
		{"Bearer " + tok, nil},
		{"bearer " + tok, nil},
		{"Bearer " + tok + "x", ErrBadCredentials},
		{"Bearer nope", ErrBadCredentials},
		{basic("alice", "s3cret"), nil},
		{basic("alice", "s3cret"), nil}, // from the cache
		{basic("alice", "wrong"), ErrBadCredentials},
		{basic("bob", "s3cret"), ErrBadCredentials},
		{"Basic !!!", ErrBadCredentials},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("alice")), ErrBadCredentials},
		{"Digest x", ErrBadCredentials},
	} {
		p, err := AuthenticateHTTP(d, c.header, &cache)
		if !errors.Is(err, c.err) && !(c.err == nil && err == nil) {
			t.Errorf("%q: err %v, want %v", c.header, err, c.err)
		}
		if c.err == nil && p.Name != "alice" {
			t.Errorf("%q: principal %q", c.header, p.Name)
		}
	}
	if _, err := Plain(d, []byte("\x00alice\x00s3cret"), &cache); err != nil {
		t.Errorf("PLAIN: %v", err)
	}
	if _, err := Plain(d, []byte("bob\x00alice\x00s3cret"), &cache); err == nil {
		t.Error("PLAIN with a foreign authzid passed")
	}
	if _, err := Plain(d, []byte("\x00alice\x00nope"), &cache); err == nil {
		t.Error("PLAIN with a wrong password passed")
	}
	// The same inputs derive the same credential; another salt another one.
	c1, _ := Derive(SCRAMSHA256, "pw", []byte("saltsalt"), 4096)
	c2, _ := Derive(SCRAMSHA256, "pw", []byte("saltsalt"), 4096)
	c3, _ := Derive(SCRAMSHA256, "pw", []byte("saltsal2"), 4096)
	if string(c1.StoredKey) != string(c2.StoredKey) || string(c1.StoredKey) == string(c3.StoredKey) {
		t.Error("Derive is not a function of its inputs")
	}
}

// TestSCRAM runs whole SCRAM exchanges against xdg-go/scram's client, as
// a Kafka client would.
func TestSCRAM(t *testing.T) {
	creds, err := NewCredentials("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	d := (*Directory)(nil).WithPrincipal(Principal{Name: "alice", Kind: KindClient, SCRAM: creds})
	a := NewAuthenticator(func() *Directory { return d })
	for _, mech := range Mechanisms {
		fcn := scram.SHA256
		if mech == SCRAMSHA512 {
			fcn = scram.SHA512
		}
		for _, c := range []struct {
			user, password string
			ok             bool
		}{{"alice", "s3cret", true}, {"alice", "wrong", false}, {"bob", "s3cret", false}} {
			cl, err := fcn.NewClient(c.user, c.password, "")
			if err != nil {
				t.Fatal(err)
			}
			conv := cl.NewConversation()
			srv, err := a.SCRAM(mech)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := conv.Step("")
			var serr error
			for i := 0; i < 4 && !srv.Done(); i++ {
				out, err := srv.Step([]byte(msg))
				if err != nil {
					serr = err
					break
				}
				if msg, err = conv.Step(string(out)); err != nil {
					serr = err
					break
				}
			}
			p, perr := srv.Principal()
			if c.ok && (serr != nil || perr != nil || p.Name != "alice" || !conv.Valid()) {
				t.Errorf("%s %s/%s: step %v, principal %v %v", mech, c.user, c.password, serr, p.Name, perr)
			}
			if !c.ok && perr == nil {
				t.Errorf("%s %s/%s: authenticated", mech, c.user, c.password)
			}
		}
	}
	if _, err := a.SCRAM("SCRAM-SHA-1"); err == nil {
		t.Error("SCRAM-SHA-1 accepted")
	}
}

func TestValidate(t *testing.T) {
	for _, n := range []string{"alice", "a.b-c_d@e", "A1"} {
		if err := ValidateName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	for _, n := range []string{"", "a:b", "a,b", "a=b", "a b", string(make([]byte, 129))} {
		if ValidateName(n) == nil {
			t.Errorf("%q validated", n)
		}
	}
	_, th := NewToken()
	if err := th.Validate(); err != nil {
		t.Fatal(err)
	}
	if (TokenHash{ID: "x", Hash: th.Hash}).Validate() == nil {
		t.Error("bad token id validated")
	}
	if (Credential{Mechanism: SCRAMSHA256, Salt: []byte("12345678"), Iterations: 1, StoredKey: make([]byte, 32), ServerKey: make([]byte, 32)}).Validate() == nil {
		t.Error("1 iteration validated")
	}
}

func TestAuthorizeAll(t *testing.T) {
	every := allow("alice", Topic, Literal, "*", OpProduce)
	prefixAll := allow("bob", Topic, Prefix, "", OpAll)
	d := dirWith(t, every, prefixAll, allow("alice", Topic, Literal, "orders", OpConsume))
	p := func(n string) Principal { x, _ := d.Principal(n); return x }
	for _, c := range []struct {
		who  string
		op   Operation
		want bool
	}{
		{"alice", OpProduce, true}, {"alice", OpDescribe, true}, {"alice", OpConsume, false}, // consume: only "orders"
		{"bob", OpDelete, true}, {"root", OpAlter, true}, {"b1", OpProduce, true}, {"m1", OpDelete, true},
	} {
		if got := AuthorizeAll(d, p(c.who), Topic, c.op); got != c.want {
			t.Errorf("%s %s = %t", c.who, c.op, got)
		}
		// Whenever it says yes, Authorize agrees for any name.
		if c.want {
			for _, n := range []string{"x", "orders", "secret.y"} {
				if !Authorize(d, p(c.who), Resource{Topic, n}, c.op) {
					t.Errorf("AuthorizeAll(%s, %s) but not for %q", c.who, c.op, n)
				}
			}
		}
	}
	// A deny on the resource type: the name matters.
	dd := d.WithACL(ACL{Principal: "alice", Resource: Topic, Pattern: Prefix, Name: "secret.", Operation: OpProduce, Effect: Deny})
	if AuthorizeAll(dd, p("alice"), Topic, OpProduce) {
		t.Error("AuthorizeAll ignored a deny")
	}
	if AuthorizeAll(d, p("alice"), Group, OpProduce) {
		t.Error("a topic rule allowed every group")
	}
}
