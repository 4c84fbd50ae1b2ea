package api

import (
	"bytes"
	"encoding/json"

	"github.com/logq/logq"
	"github.com/logq/logq/auth"
)

// The security API of the managers (docs/security.md): principals, tokens
// and ACLs. Bodies are JSON objects, decoded strictly (an unknown field is
// a 400).

// CreatePrincipalRequest is the body of POST /principals. Password (if
// any) is turned into SCRAM credentials by the writer and kept nowhere;
// Token asks for a first bearer token, returned once.
type CreatePrincipalRequest struct {
	Name     string    `json:"name"`
	Kind     auth.Kind `json:"kind"`
	Password string    `json:"password,omitempty"`
	Token    bool      `json:"token,omitempty"`
}

// PrincipalAnswer answers POST /principals and POST
// /principals/{name}/tokens: Token is the new bearer token, shown only
// here.
type PrincipalAnswer struct {
	Status  string    `json:"status"`
	Name    string    `json:"name"`
	Kind    auth.Kind `json:"kind,omitempty"`
	Token   string    `json:"token,omitempty"`
	TokenID string    `json:"token_id,omitempty"`
	Seq     int64     `json:"seq"`
}

// PrincipalInfo describes a principal without its hashes.
type PrincipalInfo struct {
	Name       string    `json:"name"`
	Kind       auth.Kind `json:"kind"`
	Password   bool      `json:"password"`
	Mechanisms []string  `json:"mechanisms,omitempty"`
	Tokens     []string  `json:"tokens,omitempty"` // token ids
}

// PrincipalsAnswer answers GET /principals.
type PrincipalsAnswer struct {
	Status     string          `json:"status"`
	Principals []PrincipalInfo `json:"principals"`
}

// ACLRequest is the body of POST /acls and DELETE /acls: one rule.
// Pattern defaults to literal, Effect to allow; Operation takes the
// aliases write and read.
type ACLRequest struct {
	Principal string `json:"principal"`
	Resource  string `json:"resource"`
	Pattern   string `json:"pattern,omitempty"`
	Name      string `json:"name"`
	Operation string `json:"operation"`
	Effect    string `json:"effect,omitempty"`
}

// ACL returns the rule r names, validated.
func (r ACLRequest) ACL() (auth.ACL, error) {
	op, err := auth.ParseOperation(r.Operation)
	if err != nil {
		return auth.ACL{}, logq.Errorf(logq.EInvalid, "%v", err)
	}
	a := auth.ACL{Principal: r.Principal, Resource: auth.ResourceType(r.Resource), Pattern: auth.PatternType(r.Pattern),
		Name: r.Name, Operation: op, Effect: auth.Effect(r.Effect)}
	if a.Pattern == "" {
		a.Pattern = auth.Literal
	}
	if a.Effect == "" {
		a.Effect = auth.Allow
	}
	if a.Resource == auth.Cluster && a.Name == "" {
		a.Name = auth.ClusterName
	}
	if err := a.Validate(); err != nil {
		return auth.ACL{}, logq.Errorf(logq.EInvalid, "%v", err)
	}
	return a, nil
}

// ACLAnswer answers POST /acls and DELETE /acls.
type ACLAnswer struct {
	Status string   `json:"status"`
	ACL    auth.ACL `json:"acl"`
	Seq    int64    `json:"seq"`
}

// ACLsAnswer answers GET /acls.
type ACLsAnswer struct {
	Status string     `json:"status"`
	ACLs   []auth.ACL `json:"acls"`
}

// WhoAmIAnswer answers GET /whoami: who the credentials name (open mode:
// no one, Auth false).
type WhoAmIAnswer struct {
	Status string    `json:"status"`
	Auth   bool      `json:"auth"`
	Name   string    `json:"name,omitempty"`
	Kind   auth.Kind `json:"kind,omitempty"`
}

// DecodeStrict reads a JSON object body into dst, refusing unknown
// fields and trailing data (400).
func DecodeStrict(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return logq.Errorf(logq.EInvalid, "a JSON body is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return logq.Errorf(logq.EInvalid, "invalid JSON body: %v", err)
	}
	if dec.More() {
		return logq.Errorf(logq.EInvalid, "invalid JSON body: data after the object")
	}
	return nil
}
