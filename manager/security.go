package manager

import (
	"context"
	"net/http"
	"sort"

	"github.com/julienschmidt/httprouter"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/auth"
	"github.com/logq/logq/auth/httpauth"
	"github.com/logq/logq/decide"
	"github.com/logq/logq/projection"
)

// Security on the manager (docs/security.md): the middleware that decides
// every request by the route table (authroutes.go) before any handler
// runs, the manager's own credentials and TLS on its calls, the writer's
// bootstrap principals, and the principals/tokens/ACLs API.

// directory is the security state as of the applied seq (immutable).
func (m *Manager) directory() *auth.Directory {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.state == nil {
		return nil
	}
	return m.state.Security
}

// authenticate wraps the router in the auth middleware (open mode: a
// pass-through).
func (m *Manager) authenticate(next http.Handler) http.Handler {
	cfg := &httpauth.Config{
		Enabled:    m.cfg.Auth,
		Auth:       auth.NewAuthenticator(m.directory),
		Table:      m.authTable(),
		WriteError: m.writeError,
	}
	if m.cfg.QuotaProduceBytesPerSec > 0 || m.cfg.QuotaFetchBytesPerSec > 0 {
		cfg.Quotas = &httpauth.Quotas{ProduceBytesPerSec: m.cfg.QuotaProduceBytesPerSec, FetchBytesPerSec: m.cfg.QuotaFetchBytesPerSec}
	}
	return cfg.Handler(next)
}

// securePeers gives the manager's client (to the writer and to brokers)
// its own credentials and its TLS settings. Validate has loaded the files
// once already.
func (m *Manager) securePeers() {
	if cc, err := m.cfg.TLS.ClientConfig(); err == nil {
		httpauth.SetClientTLS(m.peers, cc)
	}
	httpauth.Wrap(m.peers, m.cfg.Credentials)
}

// validateSecurity checks the security settings (from Validate).
func (c Config) validateSecurity() error {
	if _, err := c.TLS.ServerConfig(); err != nil {
		return logq.Errorf(logq.EInvalid, "manager: %v", err)
	}
	if _, err := c.TLS.ClientConfig(); err != nil {
		return logq.Errorf(logq.EInvalid, "manager: %v", err)
	}
	for _, p := range c.Bootstrap {
		if err := auth.ValidateName(p.Name); err != nil || !p.Kind.Valid() {
			return logq.Errorf(logq.EInvalid, "manager: bootstrap principal %q of kind %q is invalid", p.Name, p.Kind)
		}
	}
	return nil
}

// bootstrapPrincipals creates, as the new writer, the configured bootstrap
// principals that do not exist yet.
func (m *Manager) bootstrapPrincipals(ctx context.Context) error {
	if len(m.cfg.Bootstrap) == 0 {
		return nil
	}
	_, err := m.writeOp(ctx, func(s *projection.State) (decide.Decision, error) {
		var d decide.Decision
		for _, p := range m.cfg.Bootstrap {
			if _, ok := s.Security.Principal(p.Name); ok {
				continue
			}
			d.Events = append(d.Events, projection.PrincipalCreated{Name: p.Name, Kind: p.Kind, SCRAM: p.SCRAM, Tokens: p.Tokens})
		}
		return d, nil
	})
	if err != nil {
		return err
	}
	return nil
}

// secWrite appends the events decide returns (decided under the writer's
// lock from the current state).
func (m *Manager) secWrite(ctx context.Context, decideFn func(s *projection.State) ([]projection.Payload, error)) (int64, error) {
	w, err := m.writeOp(ctx, func(s *projection.State) (decide.Decision, error) {
		events, err := decideFn(s)
		return decide.Decision{Events: events}, err
	})
	return w.seq, err
}

func (m *Manager) readStrict(r *http.Request, dst any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	return api.DecodeStrict(body, dst)
}

func (m *Manager) handleCreatePrincipal(r *http.Request, _ httprouter.Params) (any, error) {
	var req api.CreatePrincipalRequest
	if err := m.readStrict(r, &req); err != nil {
		return nil, err
	}
	if err := auth.ValidateName(req.Name); err != nil {
		return nil, logq.Errorf(logq.EInvalid, "%v", err)
	}
	if req.Kind == "" {
		req.Kind = auth.KindClient
	}
	if !req.Kind.Valid() {
		return nil, logq.Errorf(logq.EInvalid, "unknown kind %q (admin, broker, manager, client)", req.Kind)
	}
	if req.Password == "" && !req.Token {
		return nil, logq.Errorf(logq.EInvalid, "give a password, or token: true, or both (a principal needs a way to log in)")
	}
	ev := projection.PrincipalCreated{Name: req.Name, Kind: req.Kind}
	if req.Password != "" {
		creds, err := auth.NewCredentials(req.Password)
		if err != nil {
			return nil, logq.Errorf(logq.EInvalid, "%v", err)
		}
		ev.SCRAM = creds
	}
	var token string
	var th auth.TokenHash
	if req.Token {
		token, th = auth.NewToken()
		ev.Tokens = []auth.TokenHash{th}
	}
	seq, err := m.secWrite(r.Context(), func(s *projection.State) ([]projection.Payload, error) {
		if _, ok := s.Security.Principal(req.Name); ok {
			return nil, logq.Errorf(logq.EConflict, "principal %q already exists", req.Name)
		}
		return []projection.Payload{ev}, nil
	})
	if err != nil {
		return nil, err
	}
	return api.PrincipalAnswer{Status: success, Name: req.Name, Kind: req.Kind, Token: token, TokenID: th.ID, Seq: seq}, nil
}

func (m *Manager) handlePrincipals(r *http.Request, _ httprouter.Params) (any, error) {
	if err := m.readOnly(r); err != nil {
		return nil, err
	}
	out := api.PrincipalsAnswer{Status: success, Principals: []api.PrincipalInfo{}}
	for _, p := range m.directory().Principals() {
		info := api.PrincipalInfo{Name: p.Name, Kind: p.Kind, Password: p.HasPassword()}
		for _, c := range p.SCRAM {
			info.Mechanisms = append(info.Mechanisms, string(c.Mechanism))
		}
		for _, t := range p.Tokens {
			info.Tokens = append(info.Tokens, t.ID)
		}
		out.Principals = append(out.Principals, info)
	}
	return out, nil
}

func (m *Manager) handleDeletePrincipal(r *http.Request, ps httprouter.Params) (any, error) {
	name := ps.ByName("name")
	seq, err := m.secWrite(r.Context(), func(s *projection.State) ([]projection.Payload, error) {
		if _, ok := s.Security.Principal(name); !ok {
			return nil, logq.Errorf(logq.ENotFound, "no principal %q", name)
		}
		return []projection.Payload{projection.PrincipalDeleted{Name: name}}, nil
	})
	if err != nil {
		return nil, err
	}
	return api.PrincipalAnswer{Status: success, Name: name, Seq: seq}, nil
}

func (m *Manager) handleIssueToken(r *http.Request, ps httprouter.Params) (any, error) {
	name := ps.ByName("name")
	token, th := auth.NewToken()
	seq, err := m.secWrite(r.Context(), func(s *projection.State) ([]projection.Payload, error) {
		if _, ok := s.Security.Principal(name); !ok {
			return nil, logq.Errorf(logq.ENotFound, "no principal %q", name)
		}
		return []projection.Payload{projection.TokenIssued{Principal: name, Token: th}}, nil
	})
	if err != nil {
		return nil, err
	}
	return api.PrincipalAnswer{Status: success, Name: name, Token: token, TokenID: th.ID, Seq: seq}, nil
}

func (m *Manager) handleRevokeToken(r *http.Request, ps httprouter.Params) (any, error) {
	name, id := ps.ByName("name"), ps.ByName("id")
	seq, err := m.secWrite(r.Context(), func(s *projection.State) ([]projection.Payload, error) {
		p, ok := s.Security.Principal(name)
		if !ok {
			return nil, logq.Errorf(logq.ENotFound, "no principal %q", name)
		}
		for _, t := range p.Tokens {
			if t.ID == id {
				return []projection.Payload{projection.TokenRevoked{Principal: name, TokenID: id}}, nil
			}
		}
		return nil, logq.Errorf(logq.ENotFound, "principal %q has no token %q", name, id)
	})
	if err != nil {
		return nil, err
	}
	return api.PrincipalAnswer{Status: success, Name: name, TokenID: id, Seq: seq}, nil
}

func (m *Manager) handleACLs(r *http.Request, _ httprouter.Params) (any, error) {
	if err := m.readOnly(r); err != nil {
		return nil, err
	}
	acls := m.directory().ACLs()
	sort.SliceStable(acls, func(i, j int) bool { return acls[i].Principal < acls[j].Principal })
	if acls == nil {
		acls = []auth.ACL{}
	}
	return api.ACLsAnswer{Status: success, ACLs: acls}, nil
}

func (m *Manager) aclRequest(r *http.Request) (auth.ACL, error) {
	var req api.ACLRequest
	if err := m.readStrict(r, &req); err != nil {
		return auth.ACL{}, err
	}
	return req.ACL()
}

func (m *Manager) handleAddACL(r *http.Request, _ httprouter.Params) (any, error) {
	a, err := m.aclRequest(r)
	if err != nil {
		return nil, err
	}
	seq, err := m.secWrite(r.Context(), func(s *projection.State) ([]projection.Payload, error) {
		if _, ok := s.Security.Principal(a.Principal); !ok && a.Principal != "*" {
			return nil, logq.Errorf(logq.ENotFound, "no principal %q", a.Principal)
		}
		if s.Security.HasACL(a) {
			return nil, nil // already there: nothing to log
		}
		return []projection.Payload{projection.AclAdded{ACL: a}}, nil
	})
	if err != nil {
		return nil, err
	}
	return api.ACLAnswer{Status: success, ACL: a, Seq: seq}, nil
}

func (m *Manager) handleRemoveACL(r *http.Request, _ httprouter.Params) (any, error) {
	a, err := m.aclRequest(r)
	if err != nil {
		return nil, err
	}
	seq, err := m.secWrite(r.Context(), func(s *projection.State) ([]projection.Payload, error) {
		if !s.Security.HasACL(a) {
			return nil, logq.Errorf(logq.ENotFound, "no acl %v", a)
		}
		return []projection.Payload{projection.AclRemoved{ACL: a}}, nil
	})
	if err != nil {
		return nil, err
	}
	return api.ACLAnswer{Status: success, ACL: a, Seq: seq}, nil
}

func (m *Manager) handleWhoAmI(r *http.Request, _ httprouter.Params) (any, error) {
	p, ok := httpauth.PrincipalFrom(r.Context())
	return api.WhoAmIAnswer{Status: success, Auth: ok, Name: p.Name, Kind: p.Kind}, nil
}

// securityRoutes registers the security API (on a reader, writes are
// forwarded to the writer).
func (m *Manager) securityRoutes(r *httprouter.Router) {
	m.handle(r, "GET", "/principals", m.handlePrincipals)
	m.handle(r, "POST", "/principals", m.write(m.handleCreatePrincipal))
	m.handle(r, "DELETE", "/principals/:name", m.write(m.handleDeletePrincipal))
	m.handle(r, "POST", "/principals/:name/tokens", m.write(m.handleIssueToken))
	m.handle(r, "DELETE", "/principals/:name/tokens/:id", m.write(m.handleRevokeToken))
	m.handle(r, "GET", "/acls", m.handleACLs)
	m.handle(r, "POST", "/acls", m.write(m.handleAddACL))
	m.handle(r, "DELETE", "/acls", m.write(m.handleRemoveACL))
	m.handle(r, "GET", "/whoami", m.handleWhoAmI)
}
