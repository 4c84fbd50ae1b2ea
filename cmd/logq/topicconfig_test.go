package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/logq/logq"
)

// TestTopicConfigCommands: topics create with a retention, topics config
// showing and changing it, and the errors.
func TestTopicConfigCommands(t *testing.T) {
	t.Parallel()
	envv := startCluster(t)

	mustLogq(t, envv, "", "topics", "create", "logs", "--partitions", "1", "--retention-ms", "60000")
	want := "retention.ms\t60000\nretention.bytes\t0 (cluster default)\n"
	if r := mustLogq(t, envv, "", "topics", "config", "logs"); r.stdout != want {
		t.Fatalf("topics config printed %q; want %q", r.stdout, want)
	}
	r := mustLogq(t, envv, "", "topics", "config", "logs", "--retention-bytes=-1", "--json")
	if !strings.Contains(r.stdout, `"retention_ms": 60000`) || !strings.Contains(r.stdout, `"retention_bytes": -1`) {
		t.Fatalf("topics config --json printed:\n%s", r.stdout)
	}
	if r := mustLogq(t, envv, "", "topics", "describe", "logs", "--json"); !strings.Contains(r.stdout, `"retention_bytes": -1`) ||
		!strings.Contains(r.stdout, `"log_start_offset"`) {
		t.Fatalf("topics describe --json printed:\n%s", r.stdout)
	}

	if r := runLogq(t, envv, "", "topics", "config", "nope", "--retention-ms", "5"); !errors.Is(r.err, logq.ErrTopicNotFound) {
		t.Fatalf("config of an unknown topic: %v", r.err)
	}
	for _, args := range [][]string{
		{"topics", "config", "logs", "--retention-ms", "-2"},
		{"topics", "config", "logs", "--retention-bytes", "lots"},
		{"topics", "create", "x", "--retention-ms", "-5"},
		{"topics", "config"},
	} {
		r := runLogq(t, envv, "", args...)
		var ue *usageError
		if !errors.As(r.err, &ue) {
			t.Errorf("logq %s: %v; want a usage error", strings.Join(args, " "), r.err)
		}
	}
}
