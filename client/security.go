package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/logq/logq/api"
	"github.com/logq/logq/auth"
)

// The security API (docs/security.md): principals, tokens, ACLs. Each
// needs an admin, or the cluster's alter right (describe for the lists).

// CreatePrincipal creates a principal of kind with a password (may be
// empty) and, if withToken, a first bearer token, which the answer carries
// (shown once: the cluster keeps only its hash).
func (c *Client) CreatePrincipal(ctx context.Context, name string, kind auth.Kind, password string, withToken bool) (api.PrincipalAnswer, error) {
	var out api.PrincipalAnswer
	req := api.CreatePrincipalRequest{Name: name, Kind: kind, Password: password, Token: withToken}
	err := c.do(ctx, call{method: http.MethodPost, path: "/principals", body: req, noMinSeq: true}, &out)
	c.observeSeq(out.Seq)
	return out, err
}

// Principals lists the principals (no hashes).
func (c *Client) Principals(ctx context.Context) ([]api.PrincipalInfo, error) {
	var out api.PrincipalsAnswer
	err := c.do(ctx, call{method: http.MethodGet, path: "/principals"}, &out)
	return out.Principals, err
}

// DeletePrincipal deletes a principal, its tokens and its ACLs.
func (c *Client) DeletePrincipal(ctx context.Context, name string) error {
	var out api.PrincipalAnswer
	err := c.do(ctx, call{method: http.MethodDelete, path: "/principals/" + url.PathEscape(name), noMinSeq: true}, &out)
	c.observeSeq(out.Seq)
	return err
}

// IssueToken issues a new bearer token for a principal; the answer
// carries it (once) and its id.
func (c *Client) IssueToken(ctx context.Context, name string) (api.PrincipalAnswer, error) {
	var out api.PrincipalAnswer
	err := c.do(ctx, call{method: http.MethodPost, path: "/principals/" + url.PathEscape(name) + "/tokens", noMinSeq: true}, &out)
	c.observeSeq(out.Seq)
	return out, err
}

// RevokeToken revokes the token id of a principal.
func (c *Client) RevokeToken(ctx context.Context, name, id string) error {
	var out api.PrincipalAnswer
	err := c.do(ctx, call{method: http.MethodDelete, path: "/principals/" + url.PathEscape(name) + "/tokens/" + url.PathEscape(id), noMinSeq: true}, &out)
	c.observeSeq(out.Seq)
	return err
}

// ACLs lists the ACL rules.
func (c *Client) ACLs(ctx context.Context) ([]auth.ACL, error) {
	var out api.ACLsAnswer
	err := c.do(ctx, call{method: http.MethodGet, path: "/acls"}, &out)
	return out.ACLs, err
}

// AddACL adds a rule (no change if it exists).
func (c *Client) AddACL(ctx context.Context, a api.ACLRequest) (auth.ACL, error) {
	var out api.ACLAnswer
	err := c.do(ctx, call{method: http.MethodPost, path: "/acls", body: a, noMinSeq: true}, &out)
	c.observeSeq(out.Seq)
	return out.ACL, err
}

// RemoveACL removes a rule.
func (c *Client) RemoveACL(ctx context.Context, a api.ACLRequest) error {
	var out api.ACLAnswer
	err := c.do(ctx, call{method: http.MethodDelete, path: "/acls", body: a, noMinSeq: true}, &out)
	c.observeSeq(out.Seq)
	return err
}

// WhoAmI returns who the client's credentials name.
func (c *Client) WhoAmI(ctx context.Context) (api.WhoAmIAnswer, error) {
	var out api.WhoAmIAnswer
	err := c.do(ctx, call{method: http.MethodGet, path: "/whoami", noMinSeq: true}, &out)
	return out, err
}
