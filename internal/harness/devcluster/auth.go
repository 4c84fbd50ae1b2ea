package devcluster

import (
	"github.com/logq/logq/auth"
	"github.com/logq/logq/auth/httpauth"
)

// security is a dev cluster's principals with auth on: an admin (token
// and password), and the tokens of the managers' and brokers' shared
// principals. Nil: open mode (every method answers the zero value).
type security struct {
	adminToken, adminPassword string
	managerToken, brokerToken string
	principals                []auth.Principal
}

// setupAuth makes the secrets and principals when Config.Auth is set.
func (c *Cluster) setupAuth() error {
	if !c.cfg.Auth {
		return nil
	}
	s := &security{adminPassword: auth.NewPassword()}
	creds, err := auth.NewCredentials(s.adminPassword)
	if err != nil {
		return err
	}
	var adminHash, managerHash, brokerHash auth.TokenHash
	s.adminToken, adminHash = auth.NewToken()
	s.managerToken, managerHash = auth.NewToken()
	s.brokerToken, brokerHash = auth.NewToken()
	s.principals = []auth.Principal{
		{Name: "admin", Kind: auth.KindAdmin, SCRAM: creds, Tokens: []auth.TokenHash{adminHash}},
		{Name: "managers", Kind: auth.KindManager, Tokens: []auth.TokenHash{managerHash}},
		{Name: "brokers", Kind: auth.KindBroker, Tokens: []auth.TokenHash{brokerHash}},
	}
	c.sec = s
	c.AdminToken, c.AdminPassword = s.adminToken, s.adminPassword
	return nil
}

func (s *security) bootstrap() []auth.Principal {
	if s == nil {
		return nil
	}
	return s.principals
}

func (s *security) managerCreds() httpauth.Credentials {
	if s == nil {
		return httpauth.Credentials{}
	}
	return httpauth.Credentials{Token: s.managerToken}
}

func (s *security) brokerCreds() httpauth.Credentials {
	if s == nil {
		return httpauth.Credentials{}
	}
	return httpauth.Credentials{Token: s.brokerToken}
}

func (s *security) adminHeader() string {
	if s == nil {
		return ""
	}
	return "Bearer " + s.adminToken
}
