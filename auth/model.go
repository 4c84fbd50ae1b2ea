package auth

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Kind is what a principal is: it decides its implicit rights.
type Kind string

// The kinds of principal. Admins and managers may do everything (managers
// are the control plane itself: readers forward writes they have already
// authorized, and they call brokers on the router's behalf). Brokers may
// register and heartbeat as brokers, describe the cluster and serve every
// topic's data. Clients have exactly the rights their ACLs give.
const (
	KindAdmin   Kind = "admin"
	KindBroker  Kind = "broker"
	KindManager Kind = "manager"
	KindClient  Kind = "client"
)

// Kinds lists the kinds, in documentation order.
var Kinds = []Kind{KindAdmin, KindBroker, KindManager, KindClient}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// ResourceType is what an ACL protects.
type ResourceType string

// Resource types. The cluster has one resource, named "cluster" (brokers,
// rebalance, partitions, principals, ACLs, the event log, metrics and the
// status page).
const (
	Topic   ResourceType = "topic"
	Group   ResourceType = "group"
	Cluster ResourceType = "cluster"
)

// ClusterName is the name of the one cluster resource.
const ClusterName = "cluster"

// Valid reports whether t is a known resource type.
func (t ResourceType) Valid() bool { return t == Topic || t == Group || t == Cluster }

// Resource is one protected object.
type Resource struct {
	Type ResourceType
	Name string
}

func (r Resource) String() string { return string(r.Type) + ":" + r.Name }

// Operation is what is done to a resource.
type Operation string

// Operations. Produce and consume are also spelled write and read (Kafka's
// names); ParseOperation accepts both. Every operation but create implies
// describe, as in Kafka.
const (
	OpProduce  Operation = "produce"
	OpConsume  Operation = "consume"
	OpDescribe Operation = "describe"
	OpCreate   Operation = "create"
	OpDelete   Operation = "delete"
	OpAlter    Operation = "alter"
	OpAll      Operation = "all" // in ACLs only: every operation
)

// Operations lists the operations a request can need, in documentation order.
var Operations = []Operation{OpProduce, OpConsume, OpDescribe, OpCreate, OpDelete, OpAlter}

// ParseOperation reads an operation by its name or alias (write, read).
func ParseOperation(s string) (Operation, error) {
	switch strings.ToLower(s) {
	case "produce", "write":
		return OpProduce, nil
	case "consume", "read":
		return OpConsume, nil
	case "describe":
		return OpDescribe, nil
	case "create":
		return OpCreate, nil
	case "delete":
		return OpDelete, nil
	case "alter":
		return OpAlter, nil
	case "all":
		return OpAll, nil
	}
	return "", fmt.Errorf("unknown operation %q (produce|write, consume|read, describe, create, delete, alter, all)", s)
}

// PatternType says how an ACL's name matches resource names.
type PatternType string

// Pattern types: literal matches the name exactly ("*" matches every name),
// prefix every name that starts with it.
const (
	Literal PatternType = "literal"
	Prefix  PatternType = "prefix"
)

// Effect is an ACL's verdict.
type Effect string

// Effects. A matching deny wins over any allow.
const (
	Allow Effect = "allow"
	Deny  Effect = "deny"
)

// ACL is one rule: Principal ("*": everyone authenticated) may (allow) or
// may not (deny) do Operation on the resources of type Resource whose name
// matches Name by Pattern.
type ACL struct {
	Principal string       `json:"principal"`
	Resource  ResourceType `json:"resource"`
	Pattern   PatternType  `json:"pattern"`
	Name      string       `json:"name"`
	Operation Operation    `json:"operation"`
	Effect    Effect       `json:"effect"`
}

func (a ACL) String() string {
	return fmt.Sprintf("%s %s %s %s:%s(%s)", a.Effect, a.Principal, a.Operation, a.Resource, a.Name, a.Pattern)
}

// Validate checks a's fields.
func (a ACL) Validate() error {
	if err := ValidateName(a.Principal); err != nil && a.Principal != "*" {
		return fmt.Errorf("acl principal: %w", err)
	}
	if !a.Resource.Valid() {
		return fmt.Errorf("unknown resource type %q (topic, group, cluster)", a.Resource)
	}
	if a.Pattern != Literal && a.Pattern != Prefix {
		return fmt.Errorf("unknown pattern type %q (literal, prefix)", a.Pattern)
	}
	if a.Name == "" && a.Pattern == Literal {
		return fmt.Errorf("acl name is empty (use \"*\" for every name)")
	}
	if len(a.Name) > 255 {
		return fmt.Errorf("acl name longer than 255 characters")
	}
	if _, err := ParseOperation(string(a.Operation)); err != nil || string(a.Operation) != strings.ToLower(string(a.Operation)) {
		return fmt.Errorf("unknown operation %q", a.Operation)
	}
	if a.Operation == "write" || a.Operation == "read" {
		return fmt.Errorf("operation %q must be stored as produce or consume", a.Operation)
	}
	if a.Effect != Allow && a.Effect != Deny {
		return fmt.Errorf("unknown effect %q (allow, deny)", a.Effect)
	}
	return nil
}

// Matches reports whether a applies to principal doing op on res.
func (a ACL) Matches(principal string, res Resource, op Operation) bool {
	if a.Principal != "*" && a.Principal != principal {
		return false
	}
	if a.Resource != res.Type {
		return false
	}
	switch a.Pattern {
	case Literal:
		if a.Name != "*" && a.Name != res.Name {
			return false
		}
	case Prefix:
		if !strings.HasPrefix(res.Name, a.Name) {
			return false
		}
	default:
		return false
	}
	return a.Operation == OpAll || a.Operation == op ||
		(op == OpDescribe && a.Operation != OpCreate && a.Effect == Allow)
}

func aclLess(x, y ACL) bool {
	if x.Principal != y.Principal {
		return x.Principal < y.Principal
	}
	if x.Resource != y.Resource {
		return x.Resource < y.Resource
	}
	if x.Name != y.Name {
		return x.Name < y.Name
	}
	if x.Pattern != y.Pattern {
		return x.Pattern < y.Pattern
	}
	if x.Operation != y.Operation {
		return x.Operation < y.Operation
	}
	return x.Effect < y.Effect
}

// MaxNameLen bounds principal names.
const MaxNameLen = 128

// ValidateName checks a principal name: 1 to 128 characters from
// [A-Za-z0-9._@-] (no ':' so that it fits HTTP basic auth, no ',' or '='
// so that it fits SCRAM without escaping).
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("principal name is empty")
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("principal name longer than %d characters", MaxNameLen)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' || r == '@') {
			return fmt.Errorf("principal name %q has a character outside [A-Za-z0-9._@-]", name)
		}
	}
	return nil
}

// Principal is a user or a server, with its secrets as salted hashes only.
type Principal struct {
	Name   string       `json:"name"`
	Kind   Kind         `json:"kind"`
	Tokens []TokenHash  `json:"tokens,omitempty"` // sorted by ID
	SCRAM  []Credential `json:"scram,omitempty"`  // one per mechanism, sorted; none: no password
}

// HasPassword reports whether p can log in with a password.
func (p Principal) HasPassword() bool { return len(p.SCRAM) > 0 }

// Credential returns p's SCRAM credential for mech.
func (p Principal) Credential(mech Mechanism) (Credential, bool) {
	for _, c := range p.SCRAM {
		if c.Mechanism == mech {
			return c, true
		}
	}
	return Credential{}, false
}

func (p Principal) clone() Principal {
	p.Tokens = append([]TokenHash(nil), p.Tokens...)
	p.SCRAM = append([]Credential(nil), p.SCRAM...)
	return p
}

// Directory is the security state: principals, the token index and the
// ACLs. It is immutable: the With… methods return a new Directory and
// leave the receiver as it was, so a server may hand the current one to
// any number of goroutines without a lock. The nil *Directory is the empty
// one.
type Directory struct {
	principals map[string]Principal
	tokens     map[string]string // token hash (hex) → principal name
	acls       []ACL             // sorted, no duplicates
}

// Principal returns the principal called name.
func (d *Directory) Principal(name string) (Principal, bool) {
	if d == nil {
		return Principal{}, false
	}
	p, ok := d.principals[name]
	return p, ok
}

// Principals returns every principal, sorted by name.
func (d *Directory) Principals() []Principal {
	if d == nil {
		return nil
	}
	out := make([]Principal, 0, len(d.principals))
	for _, p := range d.principals {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// TokenOwner returns the principal whose token hashes to hash (hex SHA-256).
func (d *Directory) TokenOwner(hash string) (Principal, bool) {
	if d == nil {
		return Principal{}, false
	}
	name, ok := d.tokens[hash]
	if !ok {
		return Principal{}, false
	}
	return d.Principal(name)
}

// ACLs returns every ACL, sorted.
func (d *Directory) ACLs() []ACL {
	if d == nil {
		return nil
	}
	return append([]ACL(nil), d.acls...)
}

// HasACL reports whether a is in d.
func (d *Directory) HasACL(a ACL) bool {
	if d == nil {
		return false
	}
	i := sort.Search(len(d.acls), func(i int) bool { return !aclLess(d.acls[i], a) })
	return i < len(d.acls) && d.acls[i] == a
}

// Empty reports whether d has no principal and no ACL.
func (d *Directory) Empty() bool { return d == nil || len(d.principals) == 0 && len(d.acls) == 0 }

func (d *Directory) copy() *Directory {
	c := &Directory{principals: map[string]Principal{}, tokens: map[string]string{}}
	if d != nil {
		for k, v := range d.principals {
			c.principals[k] = v
		}
		for k, v := range d.tokens {
			c.tokens[k] = v
		}
		c.acls = append([]ACL(nil), d.acls...)
	}
	return c
}

// WithPrincipal returns d with p added, or replacing the principal of its
// name (its tokens are indexed from p.Tokens).
func (d *Directory) WithPrincipal(p Principal) *Directory {
	c := d.copy()
	if old, ok := c.principals[p.Name]; ok {
		for _, t := range old.Tokens {
			delete(c.tokens, t.Hash)
		}
	}
	p = p.clone()
	sort.Slice(p.Tokens, func(i, j int) bool { return p.Tokens[i].ID < p.Tokens[j].ID })
	sort.Slice(p.SCRAM, func(i, j int) bool { return p.SCRAM[i].Mechanism < p.SCRAM[j].Mechanism })
	c.principals[p.Name] = p
	for _, t := range p.Tokens {
		c.tokens[t.Hash] = p.Name
	}
	return c
}

// WithoutPrincipal returns d without the principal called name, its tokens
// and its ACLs.
func (d *Directory) WithoutPrincipal(name string) *Directory {
	c := d.copy()
	if old, ok := c.principals[name]; ok {
		for _, t := range old.Tokens {
			delete(c.tokens, t.Hash)
		}
	}
	delete(c.principals, name)
	kept := c.acls[:0]
	for _, a := range c.acls {
		if a.Principal != name {
			kept = append(kept, a)
		}
	}
	c.acls = kept
	return c
}

// WithToken returns d with t added to principal name's tokens. The
// principal must exist.
func (d *Directory) WithToken(name string, t TokenHash) *Directory {
	p, ok := d.Principal(name)
	if !ok {
		return d
	}
	p = p.clone()
	p.Tokens = append(p.Tokens, t)
	return d.WithPrincipal(p)
}

// WithoutToken returns d without the token id of principal name.
func (d *Directory) WithoutToken(name, id string) *Directory {
	p, ok := d.Principal(name)
	if !ok {
		return d
	}
	p = p.clone()
	kept := p.Tokens[:0]
	for _, t := range p.Tokens {
		if t.ID != id {
			kept = append(kept, t)
		}
	}
	p.Tokens = kept
	return d.WithPrincipal(p)
}

// WithACL returns d with a added (no change if present).
func (d *Directory) WithACL(a ACL) *Directory {
	if d.HasACL(a) {
		return d
	}
	c := d.copy()
	c.acls = append(c.acls, a)
	sort.Slice(c.acls, func(i, j int) bool { return aclLess(c.acls[i], c.acls[j]) })
	return c
}

// WithoutACL returns d without a.
func (d *Directory) WithoutACL(a ACL) *Directory {
	c := d.copy()
	kept := c.acls[:0]
	for _, x := range c.acls {
		if x != a {
			kept = append(kept, x)
		}
	}
	c.acls = kept
	return c
}

// directoryJSON is the JSON form of a Directory: the principals (with
// their hashes, as the events carry them) and the ACLs.
type directoryJSON struct {
	Principals []Principal `json:"principals"`
	ACLs       []ACL       `json:"acls"`
}

// MarshalJSON writes d as its principals and ACLs.
func (d *Directory) MarshalJSON() ([]byte, error) {
	v := directoryJSON{Principals: d.Principals(), ACLs: d.ACLs()}
	if v.Principals == nil {
		v.Principals = []Principal{}
	}
	if v.ACLs == nil {
		v.ACLs = []ACL{}
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (d *Directory) UnmarshalJSON(b []byte) error {
	var v directoryJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	var c *Directory
	for _, p := range v.Principals {
		c = c.WithPrincipal(p)
	}
	for _, a := range v.ACLs {
		c = c.WithACL(a)
	}
	if c == nil {
		c = &Directory{}
	}
	*d = *c
	return nil
}
