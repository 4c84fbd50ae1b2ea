package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// flagInfo describes one flag of a command as its run function defines it:
// what docs/configuration.md lists and what the deployment files are
// checked against.
type flagInfo struct {
	Name    string   // without dashes: "heartbeat-interval"
	Type    string   // value placeholder from the usage text ("URL", "duration"), "" for booleans
	Default string   // flag.Flag.DefValue
	Usage   string   // usage text, backquotes removed
	Env     []string // environment variables it falls back to, first wins
	flag    *flag.Flag
}

// commandFlags returns the complete flag set of the command named name
// ("manager", "topics create"), built by the command's own run function,
// which stops when it would parse: nothing runs, nothing connects. The
// flags are sorted by name.
func commandFlags(name string) (*flags, []flagInfo, error) {
	var c *command
	for i := range commands {
		if commands[i].name == name {
			c = &commands[i]
		}
	}
	if c == nil {
		return nil, nil, fmt.Errorf("no command %q", name)
	}
	var got *flags
	e := &env{
		getenv: func(string) string { return "" },
		stdin:  strings.NewReader(""),
		stdout: io.Discard,
		stderr: io.Discard,
		inspect: func(f *flags) {
			if got == nil {
				got = f
			}
		},
	}
	err := c.run(context.Background(), e, nil)
	if got == nil {
		return nil, nil, fmt.Errorf("command %q did not build its flags (run returned %v)", name, err)
	}
	var infos []flagInfo
	got.VisitAll(func(fl *flag.Flag) { // VisitAll is in name order
		typ, usage := flag.UnquoteUsage(fl)
		if isBoolFlag(fl) {
			typ = ""
		}
		infos = append(infos, flagInfo{
			Name: fl.Name, Type: typ, Default: fl.DefValue, Usage: usage,
			Env: append([]string(nil), got.env[fl.Name]...), flag: fl,
		})
	})
	return got, infos, nil
}

func isBoolFlag(fl *flag.Flag) bool {
	b, ok := fl.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
