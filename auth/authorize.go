package auth

// Authorize decides whether p may do op on res under the ACLs of d: a
// pure function.
//
//   - admin and manager principals may do everything;
//   - a broker principal may describe the cluster and do anything to topics
//     and groups (it serves their data) — and it is the only kind that
//     registers or heartbeats a broker (a route decision, see KindOnly);
//   - any other principal needs an allow ACL that matches (for it or for
//     "*"), and no deny ACL that matches. Every operation but create implies
//     describe, as in Kafka.
func Authorize(d *Directory, p Principal, res Resource, op Operation) bool {
	switch p.Kind {
	case KindAdmin, KindManager:
		return true
	case KindBroker:
		if res.Type == Topic || res.Type == Group || res.Type == Cluster && op == OpDescribe {
			return true
		}
	}
	if d == nil {
		return false
	}
	allowed := false
	for _, a := range d.acls {
		if !a.Matches(p.Name, res, op) {
			continue
		}
		if a.Effect == Deny {
			return false
		}
		allowed = true
	}
	return allowed
}

// Authenticator is what a listener (HTTP, the Kafka protocol) calls to
// authenticate and authorize, over the current Directory (dir is called
// at every use, so a principal created or a token revoked counts from the
// next request or SASL handshake).
type Authenticator struct {
	dir   func() *Directory
	cache Cache
}

// NewAuthenticator returns an Authenticator over dir.
func NewAuthenticator(dir func() *Directory) *Authenticator { return &Authenticator{dir: dir} }

// Directory returns the current Directory.
func (a *Authenticator) Directory() *Directory { return a.dir() }

// HTTP checks an Authorization header (bearer token or basic auth).
func (a *Authenticator) HTTP(header string) (Principal, error) {
	return AuthenticateHTTP(a.dir(), header, &a.cache)
}

// Plain checks a SASL PLAIN message (authzid NUL authcid NUL passwd).
func (a *Authenticator) Plain(msg []byte) (Principal, error) { return Plain(a.dir(), msg, &a.cache) }

// SCRAM starts a SASL SCRAM exchange for mech (SCRAM-SHA-256 or
// SCRAM-SHA-512).
func (a *Authenticator) SCRAM(mech Mechanism) (*SCRAM, error) { return NewSCRAM(a.dir(), mech) }

// Authorize is Authorize over the current Directory.
func (a *Authenticator) Authorize(p Principal, res Resource, op Operation) bool {
	return Authorize(a.dir(), p, res, op)
}

// AuthorizeAll reports whether p may do op on every resource of type rt,
// whatever its name: its kind allows it, or an allow ACL for every name
// (literal "*" or prefix "") matches and no deny ACL on rt exists. A
// listener uses it to skip learning a request's resource name (reading
// its body) when the name cannot change the decision.
func AuthorizeAll(d *Directory, p Principal, rt ResourceType, op Operation) bool {
	switch p.Kind {
	case KindAdmin, KindManager:
		return true
	case KindBroker:
		if rt == Topic || rt == Group {
			return true
		}
	}
	if d == nil {
		return false
	}
	allowed := false
	for _, a := range d.acls {
		if a.Resource != rt {
			continue
		}
		if a.Effect == Deny {
			return false
		}
		every := a.Pattern == Literal && a.Name == "*" || a.Pattern == Prefix && a.Name == ""
		if every && (a.Principal == "*" || a.Principal == p.Name) &&
			(a.Operation == OpAll || a.Operation == op || op == OpDescribe && a.Operation != OpCreate) {
			allowed = true
		}
	}
	return allowed
}
