// Command logq runs logq's servers (manager, broker, a one-command local
// cluster) and is its command-line client: topics, produce, consume, size,
// brokers, and inspection of the control-plane event log (list, tail, show,
// replay the state as of any seq, verify a replay against a live manager).
//
// Run `logq --help` for the command list and `logq COMMAND --help` for each
// command's flags; docs/cli.md has them all with examples.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "logq: %s\n", oneLine(err.Error()))
		var ue *usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
