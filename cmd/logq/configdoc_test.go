package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
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

// TestCommandFlagsCoverEveryCommand: every command builds its flags before
// doing anything, so commandFlags (and the generated reference) sees them
// all; the server flags read their LOGQ_ variables.
func TestCommandFlagsCoverEveryCommand(t *testing.T) {
	t.Parallel()
	for _, c := range commands {
		_, infos, err := commandFlags(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if c.name == "manager" || c.name == "broker" {
			for _, fi := range infos {
				if len(fi.Env) == 0 {
					t.Errorf("%s --%s reads no environment variable", c.name, fi.Name)
				}
			}
		}
	}
	_, infos, err := commandFlags("manager")
	if err != nil {
		t.Fatal(err)
	}
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
	if _, _, err := commandFlags("no such command"); err == nil {
		t.Error("commandFlags of an unknown command succeeded")
	}
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
	for _, c := range commands {
		fmt.Fprintf(w, "[`%s`](#%s) · ", c.name, anchor("logq "+c.name))
	}
	w.Truncate(w.Len() - len(" · "))
	w.WriteString("\n")
	for _, c := range commands {
		f, infos, err := commandFlags(c.name)
		if err != nil {
			return err
		}
		usage := "logq " + c.name
		if f.args != "" {
			usage += " " + f.args
		}
		fmt.Fprintf(w, "\n## logq %s\n\n%s.\n\n```\n%s [flags]\n```\n\n", c.name, upperFirst(c.summary), usage)
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
