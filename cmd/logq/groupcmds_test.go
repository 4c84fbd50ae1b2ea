package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/logq/logq/api"
	"github.com/logq/logq/client"
)

func TestGroupsCommands(t *testing.T) {
	t.Parallel()
	envv := startCluster(t)
	mustLogq(t, envv, "", "topics", "create", "orders", "--partitions", "2")
	mustLogq(t, envv, strings.Repeat("m\n", 10), "produce", "--topic", "orders", "--partition", "0")
	if r := mustLogq(t, envv, "", "groups", "list"); r.stdout != "GROUP  STATE  PROTOCOL TYPE\n" {
		t.Fatalf("empty list printed %q", r.stdout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(client.Config{Managers: strings.Split(envv["LOGQ_MANAGER"], ",")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := c.JoinGroupMember(ctx, "g", client.GroupMemberConfig{Topics: []string{"orders"}, ClientID: "cli-test", SessionTimeout: 6 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Commit(ctx, []api.CommittedOffset{{Topic: "orders", Partition: 0, Offset: 4}}); err != nil {
		t.Fatal(err)
	}
	r := mustLogq(t, envv, "", "groups", "describe", "g")
	for _, want := range []string{"group g: Stable, generation 1, protocol logq/range", "cli-test", "orders[0 1]",
		"orders  0          4          10              6    " + m.Assignment().MemberID, "orders  1          -          0               -"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("describe lacks %q:\n%s", want, r.stdout)
		}
	}
	var d groupDescription
	if err := json.Unmarshal([]byte(mustLogq(t, envv, "", "groups", "describe", "g", "--json").stdout), &d); err != nil ||
		len(d.Partitions) != 2 || d.Partitions[0].Lag != 6 {
		t.Fatalf("describe --json = %+v, %v", d, err)
	}
	if r := runLogq(t, envv, "", "groups", "reset-offsets", "g", "--topic", "orders", "--to-offset", "1"); r.err == nil ||
		!strings.Contains(r.err.Error(), "members") {
		t.Fatalf("reset with a member: %v", r.err)
	}
	if r := runLogq(t, envv, "", "groups", "delete", "g"); r.err == nil {
		t.Fatal("deleted a group with members")
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if r := mustLogq(t, envv, "", "groups", "list"); !strings.Contains(r.stdout, "g      Empty  logq") {
		t.Fatalf("list printed %q", r.stdout)
	}
	r = mustLogq(t, envv, "", "groups", "reset-offsets", "g", "--topic", "orders", "--to-offset", "1", "--partitions", "0")
	if r.stdout != "TOPIC   PARTITION  NEW OFFSET\norders  0          1\n" {
		t.Fatalf("reset printed %q", r.stdout)
	}
	r = mustLogq(t, envv, "", "groups", "reset-offsets", "g", "--topic", "orders", "--to-latest")
	if r.stdout != "TOPIC   PARTITION  NEW OFFSET\norders  0          10\norders  1          0\n" {
		t.Fatalf("reset to latest printed %q", r.stdout)
	}
	// Earliest and datetime come from the brokers' offsets.
	r = mustLogq(t, envv, "", "groups", "reset-offsets", "g", "--topic", "orders", "--to-earliest")
	if r.stdout != "TOPIC   PARTITION  NEW OFFSET\norders  0          0\norders  1          0\n" {
		t.Fatalf("reset to earliest printed %q", r.stdout)
	}
	r = mustLogq(t, envv, "", "groups", "reset-offsets", "g", "--topic", "orders", "--to-datetime", time.Now().Add(time.Hour).Format(time.RFC3339))
	if r.stdout != "TOPIC   PARTITION  NEW OFFSET\norders  0          10\norders  1          0\n" {
		t.Fatalf("reset to an hour from now printed %q", r.stdout)
	}
	r = mustLogq(t, envv, "", "groups", "reset-offsets", "g", "--topic", "orders", "--to-datetime", "2000-01-01T00:00:00Z")
	if r.stdout != "TOPIC   PARTITION  NEW OFFSET\norders  0          0\norders  1          0\n" {
		t.Fatalf("reset to 2000 printed %q", r.stdout)
	}
	mustLogq(t, envv, "", "groups", "reset-offsets", "g", "--topic", "orders", "--to-offset", "1", "--partitions", "0")
	if r := runLogq(t, envv, "", "groups", "reset-offsets", "g", "--topic", "orders"); r.err == nil {
		t.Fatal("reset without a target accepted")
	}
	if r := mustLogq(t, envv, "", "groups", "describe", "g"); !strings.Contains(r.stdout, "orders  0          1          10              9") {
		t.Fatalf("describe after reset:\n%s", r.stdout)
	}
	// The generations are events: in logq events and in the replayed state.
	if r := mustLogq(t, envv, "", "events", "list"); !strings.Contains(r.stdout, "GroupRebalanced") || !strings.Contains(r.stdout, "GroupAssigned") {
		t.Fatalf("events list:\n%s", r.stdout)
	}
	if r := mustLogq(t, envv, "", "state"); !strings.Contains(r.stdout, `group "g" generation 2 type "logq"`) {
		t.Fatalf("state:\n%s", r.stdout)
	}
	mustLogq(t, envv, "", "groups", "delete", "g")
	if r := mustLogq(t, envv, "", "events", "list"); !strings.Contains(r.stdout, "GroupDeleted") {
		t.Fatalf("events list:\n%s", r.stdout)
	}
	if r := runLogq(t, envv, "", "groups", "describe", "g"); r.err == nil || !strings.Contains(r.err.Error(), "not found") {
		t.Fatalf("describe deleted group: %v", r.err)
	}
}

// TestConsumeGroup: logq consume --group consumes from the group's
// committed offsets and commits what it printed; --from says where a
// group without offsets starts.
func TestConsumeGroup(t *testing.T) {
	t.Parallel()
	envv := startCluster(t)
	mustLogq(t, envv, "", "topics", "create", "orders", "--partitions", "2")
	mustLogq(t, envv, "a\nb\nc\nd\ne\nf\n", "produce", "--topic", "orders", "--partition", "0")
	r := mustLogq(t, envv, "", "consume", "--topic", "orders", "--group", "cg", "--max", "4")
	if r.stdout != "a\nb\nc\nd\n" || !strings.Contains(r.stderr, "group cg: member ") {
		t.Fatalf("consume --group --max 4: %q %q", r.stdout, r.stderr)
	}
	if r := mustLogq(t, envv, "", "consume", "--topic", "orders", "--group", "cg"); r.stdout != "e\nf\n" {
		t.Fatalf("consume --group the rest: %q %q", r.stdout, r.stderr)
	}
	if r := mustLogq(t, envv, "", "consume", "--topic", "orders", "--group", "cg"); r.stdout != "" {
		t.Fatalf("consume --group after the end: %q", r.stdout)
	}
	if r := mustLogq(t, envv, "", "groups", "describe", "cg"); !strings.Contains(r.stdout, "orders  0          6          6               0") {
		t.Fatalf("describe cg:\n%s", r.stdout)
	}
	if r := mustLogq(t, envv, "", "consume", "--topic", "orders", "--group", "late", "--from", "latest"); r.stdout != "" {
		t.Fatalf("consume --from latest: %q", r.stdout)
	}
	if r := mustLogq(t, envv, "", "consume", "--topic", "orders", "--group", "early", "--from", "earliest", "--format", "kv"); r.stdout != "\ta\n\tb\n\tc\n\td\n\te\n\tf\n" {
		t.Fatalf("consume --from earliest: %q", r.stdout)
	}
	for _, bad := range [][]string{
		{"consume", "--topic", "orders", "--from", "latest"},
		{"consume", "--topic", "orders", "--group", "g", "--from", "sideways"},
		{"consume", "--topic", "orders", "--group", "g", "--consumer-id", "3"},
	} {
		if r := runLogq(t, envv, "", bad...); r.err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
