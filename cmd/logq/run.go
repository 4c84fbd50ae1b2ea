package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// env is what a command sees of its environment.
type env struct {
	args   []string // the command line, without the program name
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	ran    bool // the command line was accepted and a command started
}

// run is the whole program: main only adds signals and the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{args: args, getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(e)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil && !e.ran {
		// Cobra refused the command line before any command ran (an
		// unknown command): a usage error too.
		var ue *usageError
		if !errors.As(err, &ue) {
			err = usageErrorf("%v (see %s --help)", oneLine(err.Error()), cmd.CommandPath())
		}
	}
	return err
}

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// groupAnnotation marks the commands that only hold subcommands: logq
// itself, topics, events.
const groupAnnotation = "logq_group"

// Command groups of `logq --help`.
const (
	groupServers = "servers"
	groupClient  = "client"
	groupEvents  = "events"
)

// newRoot builds the command tree. Commands write to e's streams and read
// their flags' environment fallbacks through e.getenv.
func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "logq",
		Short: "a partitioned, persistent log queue on PostgreSQL",
		Long: `logq is a partitioned, persistent log queue on PostgreSQL.

Client commands talk to --manager URL[,URL] (env LOGQ_MANAGER, default
http://127.0.0.1:8080); event commands read --manager or, with --db URL
(env LOGQ_DATABASE_URL), the database itself. docs/cli.md has examples.`,
		Version:       version,
		SilenceErrors: true, // main prints the error, once
		SilenceUsage:  true, // an error names the problem and points at --help
		Annotations:   map[string]string{groupAnnotation: "true"},
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(e.stderr)
			cmd.Help()
			return usageErrorf("no command given")
		},
	}
	root.SetVersionTemplate("logq {{.Version}}\n")
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(flagError)
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		e.ran = true
		return applyEnv(cmd, e.getenv)
	}
	root.AddGroup(
		&cobra.Group{ID: groupServers, Title: "Servers:"},
		&cobra.Group{ID: groupClient, Title: "Client commands:"},
		&cobra.Group{ID: groupEvents, Title: "Event log:"},
	)
	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add(groupServers, devCmd(e), managerCmd(e), brokerCmd(e), healthCmd(e), benchCmd(e))
	brokers := brokersCmd(e)
	brokers.AddCommand(brokersRemoveCmd(e))
	add(groupClient,
		group("topics", "create, list and describe topics; add partitions",
			topicsCreateCmd(e), topicsListCmd(e), topicsDescribeCmd(e), topicsAddPartitionsCmd(e),
			topicsConfigCmd(e)), // topicconfig.go
		produceCmd(e), consumeCmd(e), sizeCmd(e), brokers, rebalanceCmd(e),
		clientsCmd(e, "producers"), clientsCmd(e, "consumers"),
		usersCmd(e), tokensCmd(e), aclsCmd(e), whoamiCmd(e), // security.go
		groupsCmd(e)) // consumer groups (groupcmds.go)
	add(groupEvents,
		group("events", "list, follow, show and verify control-plane events",
			eventsListCmd(e), eventsTailCmd(e), eventsShowCmd(e), eventsVerifyCmd(e)),
		stateCmd(e))
	root.AddCommand(&cobra.Command{
		Use: "version", Short: "print logq's version", Args: posArgs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(e.stdout, "logq", version)
			return err
		},
	})
	// A group's usage shows "logq topics [command]" only, not also the
	// command line its RunE (an error) would accept.
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "{{if .Runnable}}",
		`{{if and .Runnable (ne (index .Annotations "`+groupAnnotation+`") "true")}}`, 1))
	return root
}

// group is a command that only holds subcommands: alone or with an unknown
// subcommand it is a usage error.
func group(name, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use: name, Short: short, Args: cobra.ArbitraryArgs,
		Annotations: map[string]string{groupAnnotation: "true"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("%s: missing command (see logq %s --help)", name, name)
			}
			hint := ""
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				hint = fmt.Sprintf("; did you mean %q?", s[0])
			}
			return usageErrorf("unknown command %q (see logq %s --help)%s", name+" "+args[0], name, hint)
		},
	}
	c.AddCommand(subs...)
	return c
}

// newCommand makes a command: use is its name and positional arguments
// ("create NAME"), which number minArgs to maxArgs (maxArgs < 0: any).
// The flags it returns are the command's own.
func newCommand(use, short, long string, minArgs, maxArgs int) (*cobra.Command, *flags) {
	cmd := &cobra.Command{Use: use, Short: short, Long: long, Args: posArgs(minArgs, maxArgs)}
	return cmd, &flags{FlagSet: cmd.Flags(), cmd: cmd}
}

// posArgs checks the number of positional arguments; the error names the
// command and what is missing or extra.
func posArgs(minArgs, maxArgs int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		name := commandName(cmd)
		if len(args) < minArgs {
			_, want, _ := strings.Cut(cmd.Use, " ")
			return usageErrorf("%s: missing %s (see logq %s --help)", name, want, name)
		}
		if maxArgs >= 0 && len(args) > maxArgs {
			return usageErrorf("%s: unexpected argument %q (see logq %s --help)", name, args[maxArgs], name)
		}
		return nil
	}
}

// commandName is a command's path without "logq ": "topics create".
func commandName(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// shorthandRE matches pflag's error for a single-dash long flag (-topic).
var shorthandRE = regexp.MustCompile(`^unknown shorthand flag: '.' in -([a-z][a-z0-9-]+)`)

// flagError makes a flag parsing error a usage error naming the command.
func flagError(cmd *cobra.Command, err error) error {
	name := commandName(cmd)
	hint := ""
	if m := shorthandRE.FindStringSubmatch(err.Error()); m != nil && cmd.Flags().Lookup(m[1]) != nil {
		hint = fmt.Sprintf("; long flags take two dashes: --%s", m[1])
	}
	return usageErrorf("%s: %v%s (see logq %s --help)", name, err, hint, name)
}

// flags is a command's flag set (pflag: GNU-style --flag value, --flag=value).
type flags struct {
	*pflag.FlagSet
	cmd *cobra.Command
}

// name is the command's name as typed after logq: "topics create".
func (f *flags) name() string { return commandName(f.cmd) }

// envAnnotation is the flag annotation listing the environment variables a
// flag falls back to, first wins.
const envAnnotation = "logq_env"

// fromEnv makes a flag fall back to environment variables (in order) when it
// is not given on the command line; its usage text names them.
func (f *flags) fromEnv(flagName string, vars ...string) {
	fl := f.Lookup(flagName)
	if fl.Annotations == nil {
		fl.Annotations = map[string][]string{}
	}
	fl.Annotations[envAnnotation] = append(fl.Annotations[envAnnotation], vars...)
	fl.Usage = baseUsage(fl) + envSuffix(fl.Annotations[envAnnotation])
}

// envSuffix is what fromEnv appends to a flag's usage text.
func envSuffix(vars []string) string { return " [env " + strings.Join(vars, ", ") + "]" }

// baseUsage is a flag's usage text without the environment variables.
func baseUsage(fl *pflag.Flag) string {
	if vars := fl.Annotations[envAnnotation]; len(vars) > 0 {
		return strings.TrimSuffix(fl.Usage, envSuffix(vars))
	}
	return fl.Usage
}

// envAll makes every flag of f without an explicit environment variable
// fall back to LOGQ_<FLAG> (upper case, dashes as underscores).
func (f *flags) envAll() {
	f.VisitAll(func(fl *pflag.Flag) {
		if len(fl.Annotations[envAnnotation]) == 0 {
			f.fromEnv(fl.Name, "LOGQ_"+strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_")))
		}
	})
}

// applyEnv sets every flag of cmd not given on the command line from the
// first of its environment variables that is set (non-empty).
func applyEnv(cmd *cobra.Command, getenv func(string) string) error {
	var err error
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || err != nil {
			return
		}
		for _, v := range fl.Annotations[envAnnotation] {
			if val := getenv(v); val != "" {
				if serr := fl.Value.Set(val); serr != nil {
					err = usageErrorf("%s: invalid %s=%q: %v", commandName(cmd), v, val, serr)
				}
				return
			}
		}
	})
	return err
}

// usageError is a bad command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// oneLine keeps the first line of a message, so an error prints as one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// parseTime accepts RFC 3339 (with or without fraction), a date, or a
// duration meaning that long ago ("10m").
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q (want RFC 3339 like 2006-01-02T15:04:05Z, a date, or a duration ago like 10m)", s)
}
