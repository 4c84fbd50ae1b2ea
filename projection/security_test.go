package projection_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/logq/logq/auth"
	"github.com/logq/logq/projection"
)

func mustCreds(t *testing.T, pw string) []auth.Credential {
	t.Helper()
	c, err := auth.NewCredentials(pw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestApplySecurity(t *testing.T) {
	creds := mustCreds(t, "pw")
	_, tok1 := auth.NewToken()
	_, tok2 := auth.NewToken()
	acl := auth.ACL{Principal: "alice", Resource: auth.Topic, Pattern: auth.Literal, Name: "orders", Operation: auth.OpProduce, Effect: auth.Allow}
	pre := []projection.Payload{
		projection.PrincipalCreated{Name: "alice", Kind: auth.KindClient, SCRAM: creds, Tokens: []auth.TokenHash{tok1}},
		projection.AclAdded{ACL: acl},
	}
	badCred := creds[0]
	badCred.Iterations = 1
	tests := []struct {
		name    string
		event   projection.Payload
		wantErr string
		check   func(t *testing.T, d *auth.Directory)
	}{
		{"principal created", projection.PrincipalCreated{Name: "bob", Kind: auth.KindBroker, Tokens: []auth.TokenHash{tok2}}, "", func(t *testing.T, d *auth.Directory) {
			if p, ok := d.TokenOwner(tok2.Hash); !ok || p.Name != "bob" || p.Kind != auth.KindBroker || p.HasPassword() {
				t.Errorf("bob = %+v %t", p, ok)
			}
		}},
		{"duplicate principal", projection.PrincipalCreated{Name: "alice", Kind: auth.KindClient}, "already exists", nil},
		{"bad principal name", projection.PrincipalCreated{Name: "a:b", Kind: auth.KindClient}, "character", nil},
		{"unknown kind", projection.PrincipalCreated{Name: "bob", Kind: "god"}, "unknown principal kind", nil},
		{"bad credential", projection.PrincipalCreated{Name: "bob", Kind: auth.KindClient, SCRAM: []auth.Credential{badCred}}, "iterations", nil},
		{"two credentials of a mechanism", projection.PrincipalCreated{Name: "bob", Kind: auth.KindClient, SCRAM: []auth.Credential{creds[0], creds[0]}}, "two SCRAM-SHA-256", nil},
		{"token reused by another principal", projection.PrincipalCreated{Name: "bob", Kind: auth.KindClient, Tokens: []auth.TokenHash{tok1}}, "already issued", nil},
		{"bad token hash", projection.TokenIssued{Principal: "alice", Token: auth.TokenHash{ID: "x", Hash: "y"}}, "hex digits", nil},
		{"token issued", projection.TokenIssued{Principal: "alice", Token: tok2}, "", func(t *testing.T, d *auth.Directory) {
			if p, ok := d.TokenOwner(tok2.Hash); !ok || p.Name != "alice" || len(p.Tokens) != 2 {
				t.Errorf("alice = %+v", p)
			}
		}},
		{"token for unknown principal", projection.TokenIssued{Principal: "bob", Token: tok2}, "unknown principal", nil},
		{"token issued twice", projection.TokenIssued{Principal: "alice", Token: tok1}, "already issued", nil},
		{"token revoked", projection.TokenRevoked{Principal: "alice", TokenID: tok1.ID}, "", func(t *testing.T, d *auth.Directory) {
			if _, ok := d.TokenOwner(tok1.Hash); ok {
				t.Error("revoked token still indexed")
			}
		}},
		{"unknown token revoked", projection.TokenRevoked{Principal: "alice", TokenID: tok2.ID}, "no token", nil},
		{"acl added", projection.AclAdded{ACL: auth.ACL{Principal: "*", Resource: auth.Group, Pattern: auth.Prefix, Name: "g", Operation: auth.OpConsume, Effect: auth.Deny}}, "", func(t *testing.T, d *auth.Directory) {
			if len(d.ACLs()) != 2 {
				t.Errorf("acls = %v", d.ACLs())
			}
		}},
		{"duplicate acl", projection.AclAdded{ACL: acl}, "already exists", nil},
		{"acl of unknown principal", projection.AclAdded{ACL: auth.ACL{Principal: "bob", Resource: auth.Topic, Pattern: auth.Literal, Name: "t", Operation: auth.OpAll, Effect: auth.Allow}}, "unknown principal", nil},
		{"invalid acl", projection.AclAdded{ACL: auth.ACL{Principal: "alice", Resource: "queue", Pattern: auth.Literal, Name: "t", Operation: auth.OpAll, Effect: auth.Allow}}, "resource type", nil},
		{"acl removed", projection.AclRemoved{ACL: acl}, "", func(t *testing.T, d *auth.Directory) {
			if d.HasACL(acl) {
				t.Error("acl still there")
			}
		}},
		{"unknown acl removed", projection.AclRemoved{ACL: auth.ACL{Principal: "x"}}, "no acl", nil},
		{"principal deleted", projection.PrincipalDeleted{Name: "alice"}, "", func(t *testing.T, d *auth.Directory) {
			if _, ok := d.Principal("alice"); ok || d.HasACL(acl) {
				t.Error("alice or her acl survived")
			}
			if _, ok := d.TokenOwner(tok1.Hash); ok {
				t.Error("alice's token survived")
			}
		}},
		{"unknown principal deleted", projection.PrincipalDeleted{Name: "bob"}, "unknown principal", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := projection.New()
			if err := projection.ApplyAll(s, events(append(append([]projection.Payload(nil), base...), pre...)...)); err != nil {
				t.Fatal(err)
			}
			before := projection.Render(s)
			old := s.Security
			e := projection.NewEvent(tt.event)
			e.Seq = s.Seq + 1
			err := projection.Apply(s, e)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, projection.ErrInvariant) {
					t.Fatalf("Apply = %v; want an invariant error containing %q", err, tt.wantErr)
				}
				if after := projection.Render(s); after != before || s.Security != old {
					t.Fatalf("failed Apply changed the state:\n%s\nwant\n%s", after, before)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			tt.check(t, s.Security)
		})
	}
}

// TestSecurityLedgerHasNoSecret: the events carry hashes, never the
// password or the token.
func TestSecurityLedgerHasNoSecret(t *testing.T) {
	tok, th := auth.NewToken()
	pw := "correct-horse-battery"
	for _, p := range []projection.Payload{
		projection.PrincipalCreated{Name: "alice", Kind: auth.KindClient, SCRAM: mustCreds(t, pw), Tokens: []auth.TokenHash{th}},
		projection.TokenIssued{Principal: "alice", Token: th},
	} {
		e := projection.NewEvent(p)
		if bytes.Contains(e.Data, []byte(pw)) || bytes.Contains(e.Data, []byte(tok)) || bytes.Contains(e.Data, []byte(tok[len(auth.TokenPrefix):])) {
			t.Fatalf("%s carries a secret: %s", e.Type, e.Data)
		}
		again, err := projection.Decode(e)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(again)
		b, _ := json.Marshal(p)
		if !bytes.Equal(a, b) {
			t.Fatalf("round trip: %s became %s", b, a)
		}
	}
}

// TestSecuritySnapshot: the security state survives a snapshot (at the end
// of the binary encoding), every truncation of it fails, and a state
// without security encodes as before.
func TestSecuritySnapshot(t *testing.T) {
	_, th := auth.NewToken()
	s := projection.New()
	plain, _ := projection.Encode(s)
	if err := projection.ApplyAll(s, events(append(append([]projection.Payload(nil), base...),
		projection.PrincipalCreated{Name: "alice", Kind: auth.KindClient, SCRAM: mustCreds(t, "pw"), Tokens: []auth.TokenHash{th}},
		projection.PrincipalCreated{Name: "b1", Kind: auth.KindBroker},
		projection.AclAdded{ACL: auth.ACL{Principal: "alice", Resource: auth.Topic, Pattern: auth.Prefix, Name: "o", Operation: auth.OpConsume, Effect: auth.Allow}},
	)...)); err != nil {
		t.Fatal(err)
	}
	b, err := projection.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := projection.DecodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	if projection.Render(got) != projection.Render(s) {
		t.Fatalf("round trip:\n%s\nwant\n%s", projection.Render(got), projection.Render(s))
	}
	a1, _ := json.Marshal(got.Security)
	a2, _ := json.Marshal(s.Security)
	if !bytes.Equal(a1, a2) {
		t.Fatalf("directory differs after the snapshot:\n%s\n%s", a1, a2)
	}
	var back auth.Directory
	if err := json.Unmarshal(a2, &back); err != nil {
		t.Fatal(err)
	}
	if a3, _ := json.Marshal(&back); !bytes.Equal(a3, a2) {
		t.Fatalf("directory JSON does not round-trip:\n%s\n%s", a3, a2)
	}
	noSec := projection.New()
	noSec.Seq = 0
	if again, _ := projection.Encode(noSec); !bytes.Equal(again, plain) {
		t.Fatal("an empty security state changed the encoding")
	}
	bare := s.Clone()
	bare.Security = nil
	prefix, _ := projection.Encode(bare)
	if !bytes.HasPrefix(b, prefix) {
		t.Fatal("the security section is not at the end")
	}
	for i := len(prefix) + 1; i < len(b); i++ {
		if _, err := projection.DecodeState(b[:i]); err == nil {
			t.Fatalf("decoded a snapshot truncated to %d of %d bytes", i, len(b))
		}
	}
}

// fuzzTokens are fixed token hashes for the fuzzer's security events.
var fuzzTokens = []auth.TokenHash{auth.HashToken("logq_a"), auth.HashToken("logq_b"), auth.HashToken("logq_c"), auth.HashToken("logq_d")}

// securityPayload makes a security event from fuzz bytes (op >= 220).
func securityPayload(op byte, x int64, y int, z int64) projection.Payload {
	name := "p" + string(rune('0'+x))
	acl := auth.ACL{Principal: name, Resource: []auth.ResourceType{auth.Topic, auth.Group, auth.Cluster, "bad"}[y], Pattern: auth.Literal,
		Name: "n" + string(rune('0'+z)), Operation: auth.Operations[int(z)%len(auth.Operations)], Effect: auth.Allow}
	if z == 3 {
		acl.Principal, acl.Effect, acl.Pattern = "*", auth.Deny, auth.Prefix
	}
	switch op % 6 {
	case 0:
		return projection.PrincipalCreated{Name: name, Kind: auth.Kinds[y], Tokens: []auth.TokenHash{fuzzTokens[z]}}
	case 1:
		return projection.PrincipalDeleted{Name: name}
	case 2:
		return projection.TokenIssued{Principal: name, Token: fuzzTokens[z]}
	case 3:
		return projection.TokenRevoked{Principal: name, TokenID: fuzzTokens[z].ID}
	case 4:
		return projection.AclAdded{ACL: acl}
	default:
		return projection.AclRemoved{ACL: acl}
	}
}
