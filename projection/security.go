package projection

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/logq/logq"
	"github.com/logq/logq/auth"
)

// Security events: principals, their tokens and the ACLs. No event carries
// a secret: a password is logged as its SCRAM credentials (salt,
// iterations, StoredKey, ServerKey), a token as its SHA-256, so the ledger
// can be read (`logq events`) without handing out access.
const (
	TypePrincipalCreated = "PrincipalCreated"
	TypePrincipalDeleted = "PrincipalDeleted"
	TypeTokenIssued      = "TokenIssued"
	TypeTokenRevoked     = "TokenRevoked"
	TypeAclAdded         = "AclAdded"
	TypeAclRemoved       = "AclRemoved"
)

// SecurityTypes lists the security event types, in documentation order.
var SecurityTypes = []string{TypePrincipalCreated, TypePrincipalDeleted, TypeTokenIssued,
	TypeTokenRevoked, TypeAclAdded, TypeAclRemoved}

// PrincipalCreated: a principal of a kind, with its password as SCRAM
// credentials (none: it logs in by token only) and its first tokens, as
// hashes.
type PrincipalCreated struct {
	Name   string            `json:"name"`
	Kind   auth.Kind         `json:"kind"`
	SCRAM  []auth.Credential `json:"scram,omitempty"`
	Tokens []auth.TokenHash  `json:"tokens,omitempty"`
}

// PrincipalDeleted: a principal is gone, with its tokens and its ACLs.
type PrincipalDeleted struct {
	Name string `json:"name"`
}

// TokenIssued: a bearer token for a principal, as its SHA-256 (and id).
type TokenIssued struct {
	Principal string         `json:"principal"`
	Token     auth.TokenHash `json:"token"`
}

// TokenRevoked: a token no longer authenticates.
type TokenRevoked struct {
	Principal string `json:"principal"`
	TokenID   string `json:"token_id"`
}

// AclAdded: an ACL rule (auth.ACL).
type AclAdded struct {
	ACL auth.ACL `json:"acl"`
}

// AclRemoved: an ACL rule is gone.
type AclRemoved struct {
	ACL auth.ACL `json:"acl"`
}

func (PrincipalCreated) EventType() string { return TypePrincipalCreated }
func (PrincipalDeleted) EventType() string { return TypePrincipalDeleted }
func (TokenIssued) EventType() string      { return TypeTokenIssued }
func (TokenRevoked) EventType() string     { return TypeTokenRevoked }
func (AclAdded) EventType() string         { return TypeAclAdded }
func (AclRemoved) EventType() string       { return TypeAclRemoved }

// newSecurityPayload returns a pointer to the payload of a security event
// type, or nil (the Decode switch's default case asks it).
func newSecurityPayload(typ string) Payload {
	switch typ {
	case TypePrincipalCreated:
		return new(PrincipalCreated)
	case TypePrincipalDeleted:
		return new(PrincipalDeleted)
	case TypeTokenIssued:
		return new(TokenIssued)
	case TypeTokenRevoked:
		return new(TokenRevoked)
	case TypeAclAdded:
		return new(AclAdded)
	case TypeAclRemoved:
		return new(AclRemoved)
	}
	return nil
}

// derefSecurity turns a decoded *payload into its value.
func derefSecurity(p Payload) (Payload, bool) {
	switch v := p.(type) {
	case *PrincipalCreated:
		return *v, true
	case *PrincipalDeleted:
		return *v, true
	case *TokenIssued:
		return *v, true
	case *TokenRevoked:
		return *v, true
	case *AclAdded:
		return *v, true
	case *AclRemoved:
		return *v, true
	}
	return p, false
}

// checkSecurity validates a security event against s (handled reports
// whether p is one).
func (s *State) checkSecurity(e logq.Event, p Payload) (handled bool, err error) {
	d := s.Security
	switch p := p.(type) {
	case PrincipalCreated:
		if err := auth.ValidateName(p.Name); err != nil {
			return true, invariant(e, "%v", err)
		}
		if !p.Kind.Valid() {
			return true, invariant(e, "unknown principal kind %q", p.Kind)
		}
		if _, ok := d.Principal(p.Name); ok {
			return true, invariant(e, "principal %q already exists", p.Name)
		}
		seen := map[auth.Mechanism]bool{}
		for _, c := range p.SCRAM {
			if err := c.Validate(); err != nil {
				return true, invariant(e, "%v", err)
			}
			if seen[c.Mechanism] {
				return true, invariant(e, "two %s credentials", c.Mechanism)
			}
			seen[c.Mechanism] = true
		}
		ids := map[string]bool{}
		for _, t := range p.Tokens {
			if err := s.checkToken(e, t); err != nil {
				return true, err
			}
			if ids[t.ID] {
				return true, invariant(e, "token %s twice", t.ID)
			}
			ids[t.ID] = true
		}
	case PrincipalDeleted:
		if _, ok := d.Principal(p.Name); !ok {
			return true, invariant(e, "unknown principal %q", p.Name)
		}
	case TokenIssued:
		if _, ok := d.Principal(p.Principal); !ok {
			return true, invariant(e, "unknown principal %q", p.Principal)
		}
		return true, s.checkToken(e, p.Token)
	case TokenRevoked:
		pr, ok := d.Principal(p.Principal)
		if !ok {
			return true, invariant(e, "unknown principal %q", p.Principal)
		}
		for _, t := range pr.Tokens {
			if t.ID == p.TokenID {
				return true, nil
			}
		}
		return true, invariant(e, "principal %q has no token %s", p.Principal, p.TokenID)
	case AclAdded:
		if err := p.ACL.Validate(); err != nil {
			return true, invariant(e, "%v", err)
		}
		if d.HasACL(p.ACL) {
			return true, invariant(e, "acl %v already exists", p.ACL)
		}
		if _, ok := d.Principal(p.ACL.Principal); !ok && p.ACL.Principal != "*" {
			return true, invariant(e, "unknown principal %q", p.ACL.Principal)
		}
	case AclRemoved:
		if !d.HasACL(p.ACL) {
			return true, invariant(e, "no acl %v", p.ACL)
		}
	default:
		return false, nil
	}
	return true, nil
}

func (s *State) checkToken(e logq.Event, t auth.TokenHash) error {
	if err := t.Validate(); err != nil {
		return invariant(e, "%v", err)
	}
	if _, taken := s.Security.TokenOwner(t.Hash); taken {
		return invariant(e, "token %s already issued", t.ID)
	}
	for _, pr := range s.Security.Principals() {
		for _, x := range pr.Tokens {
			if x.ID == t.ID {
				return invariant(e, "token id %s already issued", t.ID)
			}
		}
	}
	return nil
}

// mutateSecurity applies a checked security event (handled reports whether
// p is one).
func (s *State) mutateSecurity(p Payload) bool {
	switch p := p.(type) {
	case PrincipalCreated:
		s.Security = s.Security.WithPrincipal(auth.Principal{Name: p.Name, Kind: p.Kind, SCRAM: p.SCRAM, Tokens: p.Tokens})
	case PrincipalDeleted:
		s.Security = s.Security.WithoutPrincipal(p.Name)
	case TokenIssued:
		s.Security = s.Security.WithToken(p.Principal, p.Token)
	case TokenRevoked:
		s.Security = s.Security.WithoutToken(p.Principal, p.TokenID)
	case AclAdded:
		s.Security = s.Security.WithACL(p.ACL)
	case AclRemoved:
		s.Security = s.Security.WithoutACL(p.ACL)
	default:
		return false
	}
	return true
}

// renderSecurity adds the principals (names, kinds, token ids and
// password mechanisms: no hash) and the ACLs to Render's output.
func renderSecurity(b *strings.Builder, s *State) {
	for _, p := range s.Security.Principals() {
		fmt.Fprintf(b, "principal %s %s", p.Name, p.Kind)
		for _, c := range p.SCRAM {
			fmt.Fprintf(b, " %s", c.Mechanism)
		}
		for _, t := range p.Tokens {
			fmt.Fprintf(b, " token:%s", t.ID)
		}
		b.WriteByte('\n')
	}
	for _, a := range s.Security.ACLs() {
		fmt.Fprintf(b, "acl %s\n", a)
	}
}

// The security section of the binary snapshot, after everything else,
// present only when there is a principal or an ACL:
//
//	tag:        the byte securityTag
//	principals: count, then name, kind, credential count, then per
//	            credential mechanism, salt, iterations, stored key,
//	            server key; token count, then per token id, hash
//	acls:       count, then principal, resource, pattern, name,
//	            operation, effect
//
// A snapshot without it (empty, or written before security existed) has an
// empty directory. The tag tells the section from one another kind of
// state may add after it.
func appendSecurity(b []byte, s *State) []byte {
	ps := s.Security.Principals()
	acls := s.Security.ACLs()
	if len(ps) == 0 && len(acls) == 0 {
		return b
	}
	b = append(b, securityTag)
	b = binary.AppendUvarint(b, uint64(len(ps)))
	for _, p := range ps {
		b = appendString(b, p.Name)
		b = appendString(b, string(p.Kind))
		b = binary.AppendUvarint(b, uint64(len(p.SCRAM)))
		for _, c := range p.SCRAM {
			b = appendString(b, string(c.Mechanism))
			b = appendString(b, string(c.Salt))
			b = binary.AppendVarint(b, int64(c.Iterations))
			b = appendString(b, string(c.StoredKey))
			b = appendString(b, string(c.ServerKey))
		}
		b = binary.AppendUvarint(b, uint64(len(p.Tokens)))
		for _, t := range p.Tokens {
			b = appendString(b, t.ID)
			b = appendString(b, t.Hash)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(acls)))
	for _, a := range acls {
		for _, f := range []string{a.Principal, string(a.Resource), string(a.Pattern), a.Name, string(a.Operation), string(a.Effect)} {
			b = appendString(b, f)
		}
	}
	return b
}

// securityTag starts the security section of a snapshot.
const securityTag = 0xA5

// readSecurity reads the security section, if the snapshot has one.
func readSecurity(r *reader, s *State) {
	if r.err != nil || len(r.b) == 0 || r.b[0] != securityTag {
		return
	}
	r.b = r.b[1:]
	var d *auth.Directory
	n := r.count(3)
	for i := 0; i < n && r.err == nil; i++ {
		p := auth.Principal{Name: r.string(), Kind: auth.Kind(r.string())}
		nc := r.count(5)
		for j := 0; j < nc && r.err == nil; j++ {
			p.SCRAM = append(p.SCRAM, auth.Credential{Mechanism: auth.Mechanism(r.string()), Salt: []byte(r.string()),
				Iterations: int(r.varint()), StoredKey: []byte(r.string()), ServerKey: []byte(r.string())})
		}
		nt := r.count(2)
		for j := 0; j < nt && r.err == nil; j++ {
			p.Tokens = append(p.Tokens, auth.TokenHash{ID: r.string(), Hash: r.string()})
		}
		d = d.WithPrincipal(p)
	}
	na := r.count(6)
	for i := 0; i < na && r.err == nil; i++ {
		a := auth.ACL{Principal: r.string(), Resource: auth.ResourceType(r.string()), Pattern: auth.PatternType(r.string()),
			Name: r.string(), Operation: auth.Operation(r.string()), Effect: auth.Effect(r.string())}
		d = d.WithACL(a)
	}
	s.Security = d
}
