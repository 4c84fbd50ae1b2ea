package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

type flagT = flag.Flag

// env is what a command sees of its environment.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// inspect, when set, receives each command's complete flag set in
	// place of parsing: the command stops there (commandFlags, flagsets.go).
	inspect func(*flags)
}

// command is one subcommand (or a group of them).
type command struct {
	name    string // as typed, e.g. "topics create"
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands lists every subcommand, in the order of `logq --help`.
var commands = []command{
	{"dev", "run a local cluster: PostgreSQL, a writer, readers and brokers", runDev},
	{"manager", "run a manager (control plane and routing)", runManager},
	{"broker", "run a broker (owns partitions, stores messages)", runBroker},
	{"health", "check that a server answers (container health checks)", runHealth},
	{"topics create", "create a topic", runTopicsCreate},
	{"topics list", "list the topics", runTopicsList},
	{"topics describe", "show a topic's partitions, owners and high watermarks", runTopicsDescribe},
	{"topics add-partitions", "add partitions to a topic", runTopicsAddPartitions},
	{"produce", "produce lines from stdin or a file", runProduce},
	{"consume", "consume messages and print them", runConsume},
	{"size", "print how many messages are left for a consumer", runSize},
	{"brokers", "list the brokers", runBrokers},
	{"brokers remove", "decommission a broker: move its partitions away and retire it", runBrokersRemove},
	{"rebalance", "even out partitions over the live brokers", runRebalance},
	{"producers", "list the producers with their status and last contact", runProducers},
	{"consumers", "list the consumers with their status, last contact and lag", runConsumers},
	{"events list", "list control-plane events", runEventsList},
	{"events tail", "follow control-plane events as they are appended", runEventsTail},
	{"events show", "show one event", runEventsShow},
	{"events verify", "replay the log and compare with a live manager's state", runEventsVerify},
	{"state", "replay the event log and print the cluster state as of a seq", runState},
	{"bench", "benchmark logq against PostgreSQL itself (starts its own cluster)", runBench},
}

// run is the whole program: main only adds signals and the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		printUsage(stderr)
		return usageErrorf("no command given")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			return run(ctx, append(args[1:], "--help"), getenv, stdin, stdout, stderr)
		}
		printUsage(stdout)
		return nil
	case "version", "--version":
		fmt.Fprintln(stdout, "logq", version)
		return nil
	}
	// Longest match first: "events list" before "events".
	best := -1
	for i, c := range commands {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			if best < 0 || len(words) > len(strings.Fields(commands[best].name)) {
				best = i
			}
		}
	}
	if best < 0 {
		// A group name alone ("topics", "events"): list its subcommands.
		var sub []command
		for _, c := range commands {
			if strings.HasPrefix(c.name, args[0]+" ") {
				sub = append(sub, c)
			}
		}
		if len(sub) > 0 {
			w := stderr
			isHelp := len(args) > 1 && isHelpArg(args[1])
			if isHelp {
				w = stdout
			}
			fmt.Fprintf(w, "Usage: logq %s COMMAND [flags]\n\nCommands:\n", args[0])
			for _, c := range sub {
				fmt.Fprintf(w, "  %-16s %s\n", strings.TrimPrefix(c.name, args[0]+" "), c.summary)
			}
			if isHelp {
				return nil
			}
			if len(args) > 1 {
				return usageErrorf("unknown command %q (see logq %s --help)", args[0]+" "+args[1], args[0])
			}
			return usageErrorf("%s: missing command (see logq %s --help)", args[0], args[0])
		}
		return usageErrorf("unknown command %q (see logq --help)", args[0])
	}
	c := commands[best]
	return c.run(ctx, e, args[len(strings.Fields(c.name)):])
}

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func isHelpArg(s string) bool { return s == "-h" || s == "-help" || s == "--help" }

func printUsage(w io.Writer) {
	fmt.Fprint(w, `logq is a partitioned, persistent log queue on PostgreSQL.

Usage: logq COMMAND [flags]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-22s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Client commands talk to --manager URL[,URL] (env LOGQ_MANAGER, default
http://127.0.0.1:8080); event commands read --manager or, with --db URL
(env LOGQ_DATABASE_URL), the database itself.
Run "logq COMMAND --help" for a command's flags; docs/cli.md has examples.
`)
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

// flags is a command's flag set, with environment fallbacks and usage text.
type flags struct {
	*flag.FlagSet
	name  string // "topics create"
	args  string // positional arguments in the usage line, e.g. "NAME"
	about string
	env   map[string][]string // flag name → environment variables, first wins
}

func newFlags(name, args, about string) *flags {
	fs := flag.NewFlagSet("logq "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &flags{FlagSet: fs, name: name, args: args, about: about, env: map[string][]string{}}
}

// fromEnv makes a flag fall back to environment variables (in order) when it
// is not given on the command line.
func (f *flags) fromEnv(flagName string, vars ...string) {
	f.env[flagName] = append(f.env[flagName], vars...)
}

// envName is the default environment variable of a flag: LOGQ_HEARTBEAT_INTERVAL.
func envName(flagName string) string {
	return "LOGQ_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse parses args (flags and positional arguments may be interleaved),
// applies environment fallbacks and checks the number of positional
// arguments (min..max; max < 0: any). It returns errHelp after printing the
// usage for --help.
func (f *flags) parse(e *env, args []string, minArgs, maxArgs int) ([]string, error) {
	if e.inspect != nil {
		e.inspect(f)
		return nil, errHelp
	}
	var pos []string
	for {
		if err := f.FlagSet.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.usage(e.stdout)
				return nil, errHelp
			}
			return nil, usageErrorf("%s: %v (see logq %s --help)", f.name, err, f.name)
		}
		args = f.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	var envErr error
	f.VisitAll(func(fl *flag.Flag) {
		if set[fl.Name] || envErr != nil {
			return
		}
		for _, v := range f.env[fl.Name] {
			if val := e.getenv(v); val != "" {
				if err := f.Set(fl.Name, val); err != nil {
					envErr = usageErrorf("%s: invalid %s=%q: %v", f.name, v, val, err)
				}
				return
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if len(pos) < minArgs {
		return nil, usageErrorf("%s: missing %s (see logq %s --help)", f.name, f.args, f.name)
	}
	if maxArgs >= 0 && len(pos) > maxArgs {
		return nil, usageErrorf("%s: unexpected argument %q (see logq %s --help)", f.name, pos[maxArgs], f.name)
	}
	return pos, nil
}

// errHelp ends a command after --help: not an error.
var errHelp = errors.New("help shown")

// usage prints the command's usage text.
func (f *flags) usage(w io.Writer) {
	line := "Usage: logq " + f.name
	if f.args != "" {
		line += " " + f.args
	}
	fmt.Fprintf(w, "%s [flags]\n\n%s\n", line, strings.TrimSpace(f.about))
	var names []string
	f.VisitAll(func(fl *flag.Flag) { names = append(names, fl.Name) })
	if len(names) == 0 {
		return
	}
	sort.Strings(names)
	fmt.Fprint(w, "\nFlags:\n")
	for _, n := range names {
		fl := f.Lookup(n)
		typ, usage := flag.UnquoteUsage(fl)
		head := "  --" + n
		if typ != "" {
			head += " " + typ
		}
		fmt.Fprintf(w, "%s\n      %s", head, usage)
		if fl.DefValue != "" && fl.DefValue != "false" && fl.DefValue != "0" && fl.DefValue != "0s" {
			fmt.Fprintf(w, " (default %s)", fl.DefValue)
		}
		if vars := f.env[n]; len(vars) > 0 {
			fmt.Fprintf(w, " [env %s]", strings.Join(vars, ", "))
		}
		fmt.Fprintln(w)
	}
}

// helpOK turns errHelp into success.
func helpOK(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
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
