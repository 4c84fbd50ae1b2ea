package manager

import (
	"net/http"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/auth"
	"github.com/logq/logq/auth/httpauth"
	"github.com/logq/logq/decide"
	"github.com/logq/logq/projection"
)

// Producer and consumer ids are owned (with auth on) by the principal that
// registered them: ProducerRegistered and ConsumerRegistered name it, and
// the router (router.Config.Caller) and the client heartbeats refuse
// another principal's request with 403. Admins and managers act for
// anyone; ids registered in open mode have no owner and stay usable by
// anyone with the topic right (docs/security.md).

// actingPrincipal is the principal r acts as: the one the auth middleware
// authenticated or, when that is a manager forwarding a write from a
// reader (api.HeaderPrincipal), the principal the reader authenticated,
// as the directory d knows it. false: open mode (or a public route). d is
// read outside the state's lock (callers must not hold it).
func actingPrincipal(r *http.Request, d *auth.Directory) (auth.Principal, bool) {
	p, ok := httpauth.PrincipalFrom(r.Context())
	if !ok {
		return p, false
	}
	name := r.Header.Get(api.HeaderPrincipal)
	if name == "" || p.Kind != auth.KindManager || r.Header.Get(headerForwarded) == "" {
		return p, true
	}
	if q, ok := d.Principal(name); ok {
		return q, true
	}
	return auth.Principal{Name: name, Kind: auth.KindClient}, true // deleted meanwhile: a client, owning what it registers
}

// owner is the principal a registration by r is owned by ("" in open mode).
func owner(r *http.Request, d *auth.Directory) string {
	p, _ := actingPrincipal(r, d)
	return p.Name
}

// actsForAnyone reports whether p may use any principal's ids.
func actsForAnyone(p auth.Principal) bool {
	return p.Kind == auth.KindAdmin || p.Kind == auth.KindManager
}

// caller is the router's Caller: the name ownership is checked against,
// and whether it is checked at all (not in open mode, not for admins and
// managers).
func (m *Manager) caller(r *http.Request) (string, bool) {
	p, ok := actingPrincipal(r, m.directory())
	if !ok || actsForAnyone(p) {
		return "", false
	}
	return p.Name, true
}

// ownedBy sets the owner of the clients a registration decides.
func ownedBy(d decide.Decision, principal string) decide.Decision {
	if principal == "" {
		return d
	}
	for i, e := range d.Events {
		switch p := e.(type) {
		case projection.ProducerRegistered:
			p.Principal = principal
			d.Events[i] = p
		case projection.ConsumerRegistered:
			p.Principal = principal
			d.Events[i] = p
		}
	}
	return d
}

// checkClientOwner refuses r on producer or consumer id when another
// principal owns it (an unknown id passes: the handler answers not found).
func (m *Manager) checkClientOwner(r *http.Request, kind string, id int64) error {
	name, check := m.caller(r)
	if !check {
		return nil
	}
	m.mu.RLock()
	var own string
	if kind == kindProducer {
		if p, ok := m.state.Producers[id]; ok {
			own = p.Principal
		}
	} else if c, ok := m.state.Consumers[id]; ok {
		own = c.Principal
	}
	m.mu.RUnlock()
	if own == "" || own == name {
		return nil
	}
	return logq.Errorf(logq.EForbidden, "%s %d was registered by another principal; %q may not use it", kind, id, name)
}
