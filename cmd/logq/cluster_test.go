package main

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/logq/logq"
)

// TestClusterCommandsEndToEnd: producers, consumers (with lag), topics
// add-partitions, rebalance and brokers remove against a dev cluster.
func TestClusterCommandsEndToEnd(t *testing.T) {
	t.Parallel()
	envv := startCluster(t)

	mustLogq(t, envv, "", "topics", "create", "t", "--partitions", "3")
	mustLogq(t, envv, strings.Repeat("x\n", 9), "produce", "--topic", "t")
	r := mustLogq(t, envv, "", "consume", "--topic", "t", "--max", "2")
	id := regexp.MustCompile(`consumer id: (\d+)`).FindStringSubmatch(r.stderr)[1]

	r = mustLogq(t, envv, "", "producers")
	if !regexp.MustCompile(`(?m)^ID\s+TOPIC\s+PARTITION\s+STATUS\s+LAST SEEN\n1\s+t\s+all\s+active\s+\S+ ago\n$`).MatchString(r.stdout) {
		t.Fatalf("producers:\n%s", r.stdout)
	}
	r = mustLogq(t, envv, "", "consumers", "--topic", "t")
	if !regexp.MustCompile(`(?m)^ID\s+TOPIC\s+PARTITION\s+STATUS\s+LAST SEEN\s+LAG\n` + id + `\s+t\s+all\s+active\s+\S+ ago\s+7\n$`).MatchString(r.stdout) {
		t.Fatalf("consumers:\n%s", r.stdout)
	}
	if r := mustLogq(t, envv, "", "consumers", "--json"); !strings.Contains(r.stdout, `"lag": 7`) {
		t.Fatalf("consumers --json:\n%s", r.stdout)
	}

	r = mustLogq(t, envv, "", "topics", "add-partitions", "t", "--count", "2")
	if !regexp.MustCompile(`^added 2 partitions to topic t: 5 in all \(seq \d+\)\n$`).MatchString(r.stdout) {
		t.Fatalf("topics add-partitions printed %q", r.stdout)
	}
	// 5 partitions over 3 brokers (2, 2, 1) are balanced already.
	if r := mustLogq(t, envv, "", "rebalance"); !strings.HasPrefix(r.stdout, "already balanced: nothing moved") {
		t.Fatalf("rebalance printed %q", r.stdout)
	}

	r = mustLogq(t, envv, "", "brokers", "remove", "3")
	if !regexp.MustCompile(`^removed broker 3 \(seq \d+\); 1 partitions reassigned\nTOPIC\s+PARTITION\s+FROM\s+TO\s+EPOCH\nt\s+\d\s+3\s+[12]\s+2\n$`).MatchString(r.stdout) {
		t.Fatalf("brokers remove printed:\n%s", r.stdout)
	}
	r = mustLogq(t, envv, "", "brokers")
	if strings.Count(r.stdout, "\n") != 3 || strings.Contains(r.stdout, "\n3 ") {
		t.Fatalf("brokers after the removal:\n%s", r.stdout)
	}
	// Nothing is left on broker 3; the consumer reads everything.
	if r := mustLogq(t, envv, "", "size", "--topic", "t", "--consumer-id", id); r.stdout != "7\n" {
		t.Fatalf("size after the removal = %q", r.stdout)
	}

	// Errors: the server's, with their sentinel; the command line's, exit 2.
	r = runLogq(t, envv, "", "brokers", "remove", "3")
	if !errors.Is(r.err, logq.ErrBrokerRemoved) {
		t.Fatalf("removing twice: %v", r.err)
	}
	r = runLogq(t, envv, "", "topics", "add-partitions", "nope", "--count", "1")
	if !errors.Is(r.err, logq.ErrTopicNotFound) {
		t.Fatalf("add-partitions to an unknown topic: %v", r.err)
	}
	r = runLogq(t, envv, "", "topics", "add-partitions", "t", "--count", "2000")
	if !errors.Is(r.err, logq.ErrInvalid) {
		t.Fatalf("add-partitions past the max: %v", r.err)
	}
	for _, args := range [][]string{
		{"brokers", "remove"},
		{"brokers", "remove", "abc"},
		{"topics", "add-partitions", "t"},
		{"topics", "add-partitions", "t", "--count", "0"},
		{"rebalance", "extra"},
	} {
		r := runLogq(t, envv, "", args...)
		var ue *usageError
		if !errors.As(r.err, &ue) {
			t.Errorf("logq %s: %v; want a usage error", strings.Join(args, " "), r.err)
		}
	}
}
