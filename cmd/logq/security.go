package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/logq/logq/api"
	"github.com/logq/logq/auth"
	"github.com/logq/logq/auth/httpauth"
	"github.com/logq/logq/client"
)

// Security: the servers' flags (auth, credentials, TLS, bootstrap
// principals, quotas) and the commands that manage principals, tokens and
// ACLs (docs/security.md, docs/deploy.md).

// serverSecurity is what securityFlags parsed.
type serverSecurity struct {
	auth, insecure bool
	creds          httpauth.Credentials
	tls            httpauth.TLSFiles
	bootstrap      []auth.Principal // manager only
}

// secretFlag adds --NAME and --NAME-file (a file holding the secret, for
// container secrets); both read LOGQ_ variables.
func secretFlag(f *flags, name, usage string) func() (string, error) {
	v := f.String(name, "", usage)
	file := f.String(name+"-file", "", "read --"+name+" from `FILE`")
	return func() (string, error) {
		if *file == "" {
			return *v, nil
		}
		b, err := os.ReadFile(*file)
		if err != nil {
			return "", usageErrorf("%s: --%s-file: %v", f.name(), name, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
}

// securityFlags adds the security flags of a server (manager: with the
// bootstrap principals).
func securityFlags(f *flags, isManager bool) func() (serverSecurity, error) {
	var s serverSecurity
	f.BoolVar(&s.auth, "auth", false, "require authentication and authorization (docs/security.md)")
	f.BoolVar(&s.insecure, "insecure", false, "allow serving without --auth on a non-loopback address")
	token := secretFlag(f, "token", "this server's own bearer `token` for its calls to managers and brokers")
	f.StringVar(&s.creds.User, "user", "", "this server's own principal `name` (with --password; instead of --token)")
	password := secretFlag(f, "password", "this server's own `password`")
	f.StringVar(&s.tls.Cert, "tls-cert", "", "serve TLS with this certificate chain (PEM `FILE`)")
	f.StringVar(&s.tls.Key, "tls-key", "", "the private key of --tls-cert (PEM `FILE`)")
	f.StringVar(&s.tls.ClientCA, "tls-client-ca", "", "require client certificates signed by these CAs (mutual TLS; PEM `FILE`)")
	f.StringVar(&s.tls.CA, "tls-ca", "", "trust these CAs (PEM `FILE`) for https:// managers and brokers, besides the system's")
	var admin, broker, manager func() (string, error)
	if isManager {
		admin = secretFlag(f, "admin-token", "bootstrap: the writer creates principal \"admin\" (kind admin) with this `token` if no \"admin\" exists")
		manager = secretFlag(f, "manager-token", "bootstrap: principal \"managers\" (kind manager) with this `token` (default: --token)")
		broker = secretFlag(f, "broker-token", "bootstrap: principal \"brokers\" (kind broker) with this `token`")
	}
	return func() (serverSecurity, error) {
		var err error
		if s.creds.Token, err = token(); err != nil {
			return s, err
		}
		if s.creds.Password, err = password(); err != nil {
			return s, err
		}
		if !isManager {
			return s, nil
		}
		for _, b := range []struct {
			name string
			kind auth.Kind
			get  func() (string, error)
			def  string
		}{{"admin", auth.KindAdmin, admin, ""}, {"managers", auth.KindManager, manager, s.creds.Token}, {"brokers", auth.KindBroker, broker, ""}} {
			tok, err := b.get()
			if err != nil {
				return s, err
			}
			if tok == "" {
				tok = b.def
			}
			if tok == "" {
				continue
			}
			if !strings.HasPrefix(tok, auth.TokenPrefix) {
				return s, usageErrorf("%s: the %s token must start with %q (make one with: logq tokens new)", f.name(), b.name, auth.TokenPrefix)
			}
			s.bootstrap = append(s.bootstrap, auth.Principal{Name: b.name, Kind: b.kind, Tokens: []auth.TokenHash{auth.HashToken(tok)}})
		}
		return s, nil
	}
}

func usersCmd(e *env) *cobra.Command {
	create, f := newCommand("create NAME", "create a principal (user or server)", `Create a principal. --kind is client (default), admin, manager or broker.
--new-password sets its password (HTTP basic auth, Kafka SASL PLAIN and SCRAM);
--with-token issues a first bearer token, printed once (the cluster keeps only
its SHA-256). Without --new-password, --with-token is implied.`, 1, 1)
	cl := addClientFlags(e, f)
	kind := f.String("kind", "client", "principal `kind`: client, admin, manager or broker")
	password := secretFlag(f, "new-password", "the new principal's `password`")
	withToken := f.Bool("with-token", false, "issue a bearer token too")
	create.RunE = func(cmd *cobra.Command, pos []string) error {
		pw, err := password()
		if err != nil {
			return err
		}
		return cl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			ans, err := c.CreatePrincipal(ctx, pos[0], auth.Kind(*kind), pw, *withToken || pw == "")
			if err != nil {
				return err
			}
			fmt.Fprintf(cl.stdout, "created %s %q (seq %d)\n", ans.Kind, ans.Name, ans.Seq)
			if ans.Token != "" {
				fmt.Fprintf(cl.stdout, "token %s (id %s; shown only now)\n", ans.Token, ans.TokenID)
			}
			return nil
		})
	}

	list, lf := newCommand("list", "list principals (names, kinds, token ids; no secrets)", "List the principals.", 0, 0)
	lcl := addClientFlags(e, lf)
	lcl.jsonFlag("print as JSON")
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return lcl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			ps, err := c.Principals(ctx)
			if err != nil {
				return err
			}
			return show(lcl, ps, func(w io.Writer, ps []api.PrincipalInfo) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tKIND\tPASSWORD\tTOKENS")
				for _, p := range ps {
					fmt.Fprintf(tw, "%s\t%s\t%t\t%s\n", p.Name, p.Kind, p.Password, strings.Join(p.Tokens, ","))
				}
				return tw.Flush()
			})
		})
	}

	del, df := newCommand("delete NAME", "delete a principal with its tokens and ACLs", "Delete a principal, its tokens and every ACL naming it.", 1, 1)
	dcl := addClientFlags(e, df)
	del.RunE = func(cmd *cobra.Command, pos []string) error {
		return dcl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			if err := c.DeletePrincipal(ctx, pos[0]); err != nil {
				return err
			}
			fmt.Fprintf(dcl.stdout, "deleted %q\n", pos[0])
			return nil
		})
	}
	return group("users", "create, list and delete principals", create, list, del)
}

func tokensCmd(e *env) *cobra.Command {
	issue, f := newCommand("issue NAME", "issue a bearer token for a principal", "Issue a new bearer token for principal NAME; it is printed once.", 1, 1)
	cl := addClientFlags(e, f)
	issue.RunE = func(cmd *cobra.Command, pos []string) error {
		return cl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			ans, err := c.IssueToken(ctx, pos[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cl.stdout, "token %s (id %s; shown only now)\n", ans.Token, ans.TokenID)
			return nil
		})
	}
	revoke, rf := newCommand("revoke NAME ID", "revoke a principal's token", "Revoke the token ID (as `logq users list` shows it) of principal NAME.", 2, 2)
	rcl := addClientFlags(e, rf)
	revoke.RunE = func(cmd *cobra.Command, pos []string) error {
		return rcl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			if err := c.RevokeToken(ctx, pos[0], pos[1]); err != nil {
				return err
			}
			fmt.Fprintf(rcl.stdout, "revoked token %s of %q\n", pos[1], pos[0])
			return nil
		})
	}
	newTok, _ := newCommand("new", "print a fresh random token and its SHA-256 (offline)", `Print a new random token (for --token, --admin-token, --broker-token of
the servers) and the SHA-256 the cluster will keep. Contacts nothing.`, 0, 0)
	newTok.RunE = func(cmd *cobra.Command, _ []string) error {
		tok, h := auth.NewToken()
		fmt.Fprintf(e.stdout, "%s\nsha256 %s (id %s)\n", tok, h.Hash, h.ID)
		return nil
	}
	return group("tokens", "issue, revoke and make bearer tokens", issue, revoke, newTok)
}

// aclFlags adds the flags of one ACL rule.
func aclFlags(f *flags) func() api.ACLRequest {
	var r api.ACLRequest
	f.StringVar(&r.Principal, "principal", "", "principal `name` (* for everyone authenticated)")
	f.StringVar(&r.Resource, "resource", "topic", "resource `type`: topic, group or cluster")
	f.StringVar(&r.Name, "name", "", "resource `name` (* for all; cluster: cluster)")
	f.StringVar(&r.Pattern, "pattern", "literal", "name `pattern`: literal or prefix")
	f.StringVar(&r.Operation, "operation", "", "`operation`: produce|write, consume|read, describe, create, delete, alter, all")
	f.StringVar(&r.Effect, "effect", "allow", "`effect`: allow or deny")
	return func() api.ACLRequest { return r }
}

func aclsCmd(e *env) *cobra.Command {
	add, f := newCommand("add", "add an ACL rule", `Add an ACL rule, e.g.
  logq acls add --principal app --resource topic --name orders --operation write
  logq acls add --principal app --resource group --pattern prefix --name app- --operation read
  logq acls add --principal ops --resource cluster --operation describe   # the status page, /metrics`, 0, 0)
	cl := addClientFlags(e, f)
	rule := aclFlags(f)
	add.RunE = func(cmd *cobra.Command, _ []string) error {
		return cl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			a, err := c.AddACL(ctx, rule())
			if err != nil {
				return err
			}
			fmt.Fprintf(cl.stdout, "added %s\n", a)
			return nil
		})
	}
	list, lf := newCommand("list", "list the ACL rules", "List the ACL rules.", 0, 0)
	lcl := addClientFlags(e, lf)
	lcl.jsonFlag("print as JSON")
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return lcl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			acls, err := c.ACLs(ctx)
			if err != nil {
				return err
			}
			return show(lcl, acls, func(w io.Writer, acls []auth.ACL) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PRINCIPAL\tEFFECT\tOPERATION\tRESOURCE\tPATTERN\tNAME")
				for _, a := range acls {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Principal, a.Effect, a.Operation, a.Resource, a.Pattern, a.Name)
				}
				return tw.Flush()
			})
		})
	}
	rm, rf := newCommand("remove", "remove an ACL rule", "Remove an ACL rule (the same flags as acls add).", 0, 0)
	rcl := addClientFlags(e, rf)
	rrule := aclFlags(rf)
	rm.RunE = func(cmd *cobra.Command, _ []string) error {
		return rcl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			if err := c.RemoveACL(ctx, rrule()); err != nil {
				return err
			}
			fmt.Fprintln(rcl.stdout, "removed")
			return nil
		})
	}
	return group("acls", "add, list and remove ACL rules", add, list, rm)
}

func whoamiCmd(e *env) *cobra.Command {
	cmd, f := newCommand("whoami", "show who LOGQ_TOKEN (or LOGQ_USER and LOGQ_PASSWORD) names", "Show the principal the client's credentials name.", 0, 0)
	cl := addClientFlags(e, f)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return cl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			w, err := c.WhoAmI(ctx)
			if err != nil {
				return err
			}
			if !w.Auth {
				fmt.Fprintln(cl.stdout, "no authentication (open mode)")
				return nil
			}
			fmt.Fprintf(cl.stdout, "%s (%s)\n", w.Name, w.Kind)
			return nil
		})
	}
	return cmd
}

// clientCreds are a client command's credentials and CA: --token, --user,
// --password, --tls-ca (env LOGQ_TOKEN, LOGQ_USER, LOGQ_PASSWORD,
// LOGQ_TLS_CA), read through the command's environment.
type clientCreds struct {
	token, user, password, ca *string
}

func addClientCreds(f *flags) *clientCreds {
	c := &clientCreds{
		token:    f.String("token", "", "bearer `token`"),
		user:     f.String("user", "", "principal `name` for basic auth"),
		password: f.String("password", "", "`password` of --user"),
		ca:       f.String("tls-ca", "", "trust these CAs for https:// managers (PEM `FILE`)"),
	}
	f.fromEnv("token", "LOGQ_TOKEN")
	f.fromEnv("user", "LOGQ_USER")
	f.fromEnv("password", "LOGQ_PASSWORD")
	f.fromEnv("tls-ca", "LOGQ_TLS_CA")
	return c
}

func (c *clientCreds) apply(cfg client.Config) client.Config {
	cfg.Token, cfg.User, cfg.Password, cfg.TLSCA, cfg.NoEnv = *c.token, *c.user, *c.password, *c.ca, true
	return cfg
}
