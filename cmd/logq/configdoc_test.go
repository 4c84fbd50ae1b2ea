package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const configDocPath = "../../docs/configuration.md"

// TestConfigurationDoc: docs/configuration.md is exactly what the commands'
// own flag sets render to, so it cannot drift from the code. After changing
// a flag: go test ./cmd/logq -run TestConfigurationDoc -update
func TestConfigurationDoc(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := renderConfigDoc(&buf); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(configDocPath, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(configDocPath)
	if err != nil {
		t.Fatalf("%v (generate it: go test ./cmd/logq -run TestConfigurationDoc -update)", err)
	}
	if !bytes.Equal(have, buf.Bytes()) {
		t.Fatalf("docs/configuration.md differs from the commands' flags; regenerate it:\n"+
			"  go test ./cmd/logq -run TestConfigurationDoc -update\nfirst difference:\n%s",
			firstDiff(string(have), buf.String()))
	}
}

// TestServerFlagsReadTheEnvironment: the server flags read their LOGQ_
// variables (the container deployment sets nothing else).
func TestServerFlagsReadTheEnvironment(t *testing.T) {
	t.Parallel()
	for _, c := range logqCommands() {
		if name := commandName(c); name == "manager" || name == "broker" {
			for _, fi := range flagInfos(c) {
				if len(fi.Env) == 0 {
					t.Errorf("%s --%s reads no environment variable", name, fi.Name)
				}
			}
		}
	}
	infos := flagInfos(findCommand(t, "manager"))
	want := map[string]string{"addr": "LOGQ_ADDR", "db": "LOGQ_DATABASE_URL", "heartbeat-timeout": "LOGQ_HEARTBEAT_TIMEOUT"}
	for _, fi := range infos {
		if v, ok := want[fi.Name]; ok {
			if len(fi.Env) == 0 || fi.Env[0] != v {
				t.Errorf("manager --%s: env %v, want %s first", fi.Name, fi.Env, v)
			}
			delete(want, fi.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("manager lacks flags %v", want)
	}
}

// testEnv is an environment with nothing set and nowhere to write.
func testEnv() *env {
	return &env{getenv: func(string) string { return "" }, stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
}

// isGroup reports whether c only holds subcommands (topics, events).
func isGroup(c *cobra.Command) bool { return c.Annotations[groupAnnotation] == "true" }

// logqCommands returns every command of the tree that runs something, in
// the order of the help's groups (and, in a group, cobra's name order),
// each followed by its subcommands.
func logqCommands() []*cobra.Command {
	root := newRoot(testEnv())
	var out []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if !isGroup(c) {
			out = append(out, c)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	for _, g := range append(root.Groups(), &cobra.Group{}) {
		for _, c := range root.Commands() {
			if c.GroupID == g.ID {
				walk(c)
			}
		}
	}
	return out
}

// findCommand returns the command named name ("topics create").
func findCommand(t *testing.T, name string) *cobra.Command {
	t.Helper()
	for _, c := range logqCommands() {
		if commandName(c) == name {
			return c
		}
	}
	t.Fatalf("no command %q", name)
	return nil
}

// flagInfo describes one flag of a command: what docs/configuration.md
// lists and what the deployment files are checked against.
type flagInfo struct {
	Name    string   // without dashes: "heartbeat-interval"
	Type    string   // value placeholder from the usage text ("URL", "duration"), "" for booleans
	Default string   // pflag.Flag.DefValue
	Usage   string   // usage text, backquotes and environment variables removed
	Env     []string // environment variables it falls back to, first wins
}

// flagInfos returns the flags of c, sorted by name.
func flagInfos(c *cobra.Command) []flagInfo {
	var infos []flagInfo
	c.LocalFlags().VisitAll(func(fl *pflag.Flag) { // VisitAll is in name order
		if fl.Name == "help" {
			return
		}
		bare := *fl
		bare.Usage = baseUsage(fl)
		typ, usage := pflag.UnquoteUsage(&bare)
		infos = append(infos, flagInfo{
			Name: fl.Name, Type: typ, Default: fl.DefValue, Usage: usage,
			Env: append([]string(nil), fl.Annotations[envAnnotation]...),
		})
	})
	return infos
}

// renderConfigDoc writes docs/configuration.md from the commands' flag sets.
func renderConfigDoc(w *bytes.Buffer) error {
	w.WriteString(`# Configuration reference

<!-- Generated from the flag sets in cmd/logq by
     go test ./cmd/logq -run TestConfigurationDoc -update
     Do not edit: the test fails when this file and the code differ. -->

Everything that configures logq is a flag of the ` + "`logq`" + ` command; most flags can also be set
through environment variables (the container deployment, [deploy.md](deploy.md), uses only those).

- **Precedence:** a flag on the command line wins over its environment variables, which win over the
  default. When a flag lists several variables, the first one that is set (non-empty) is used.
- **Server commands** (` + "`manager`, `broker`" + `) read every flag from ` + "`LOGQ_<FLAG>`" + ` (upper case, dashes
  as underscores: ` + "`--heartbeat-interval`" + ` ← ` + "`LOGQ_HEARTBEAT_INTERVAL`" + `), plus the aliases listed.
- **Values:** durations are Go durations (` + "`500ms`, `15s`, `1m30s`" + `); ` + "`*-bytes`" + ` flags count bytes; booleans take
  ` + "`--flag`, `--flag=true`" + ` or ` + "`--flag=false`" + ` (and ` + "`true`/`false`/`1`/`0`" + ` in the environment).
- Flags may come before or after positional arguments; ` + "`--flag value`" + ` and ` + "`--flag=value`" + ` both work.
  ` + "`logq COMMAND --help`" + ` prints the same list. An invalid value exits with code 2 and names the flag
  or variable.

Commands:
`)
	cmds := logqCommands()
	for _, c := range cmds {
		fmt.Fprintf(w, "[`%s`](#%s) · ", commandName(c), anchor("logq "+commandName(c)))
	}
	w.Truncate(w.Len() - len(" · "))
	w.WriteString("\n")
	for _, c := range cmds {
		infos := flagInfos(c)
		usage := "logq " + commandName(c)
		if _, args, ok := strings.Cut(c.Use, " "); ok {
			usage += " " + args
		}
		fmt.Fprintf(w, "\n## logq %s\n\n%s.\n\n```\n%s [flags]\n```\n\n", commandName(c), upperFirst(c.Short), usage)
		if len(infos) == 0 {
			w.WriteString("No flags.\n")
			continue
		}
		w.WriteString("| flag | environment | default | description |\n|---|---|---|---|\n")
		for _, fi := range infos {
			flagCell := "`--" + fi.Name
			if fi.Type != "" {
				flagCell += " " + fi.Type
			}
			flagCell += "`"
			var env []string
			for _, v := range fi.Env {
				env = append(env, "`"+v+"`")
			}
			def := fi.Default
			switch {
			case def == "" || (fi.Type == "" && def == "false"):
				def = ""
			default:
				def = "`" + def + "`"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", flagCell, strings.Join(env, ", "), def, cell(fi.Usage))
		}
	}
	return nil
}

// anchor is GitHub's heading anchor for a heading.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// firstDiff shows the first differing line of two texts.
func firstDiff(have, want string) string {
	h, w := strings.Split(have, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(h), len(w)); i++ {
		var a, b string
		if i < len(h) {
			a = h[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n  file: %s\n  code: %s", i+1, a, b)
		}
	}
	return "(none)"
}
