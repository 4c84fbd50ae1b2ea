package client_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/client"
	"github.com/logq/logq/internal/harness/devcluster"
)

func TestGroupMembersSharePartitions(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Config{Brokers: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := newClient(t, client.Config{Managers: cl.ManagerURLs()})
	if _, err := c.CreateTopic(ctx, "orders", 3); err != nil {
		t.Fatal(err)
	}
	cfg := client.GroupMemberConfig{Topics: []string{"orders"}, ClientID: "test",
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 100 * time.Millisecond}
	a, err := c.JoinGroupMember(ctx, "g", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := (<-a.Changes()).Partitions["orders"]; !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("a alone got %v", got)
	}
	b, err := c.JoinGroupMember(ctx, "g", cfg) // a rejoins after its next heartbeat
	if err != nil {
		t.Fatal(err)
	}
	ga, gb := <-a.Changes(), <-b.Changes()
	for ga.Generation != gb.Generation { // a may report an assignment in between
		ga = <-a.Changes()
	}
	all := append(slices.Clone(ga.Partitions["orders"]), gb.Partitions["orders"]...)
	slices.Sort(all)
	if !slices.Equal(all, []int{0, 1, 2}) || len(gb.Partitions["orders"]) == 0 {
		t.Fatalf("a %v b %v", ga, gb)
	}
	// Offsets: b commits as itself; a zombie's commit (old generation) is refused.
	res, err := b.Commit(ctx, []api.CommittedOffset{{Topic: "orders", Partition: gb.Partitions["orders"][0], Offset: 5}})
	if err != nil || res[0].Code != "" {
		t.Fatalf("commit = %v, %v", res, err)
	}
	_, err = c.CommitOffsets(ctx, "g", api.CommitOffsetsRequest{MemberID: ga.MemberID, Generation: ga.Generation - 1,
		Offsets: []api.CommittedOffset{{Topic: "orders", Partition: 0, Offset: 1}}})
	if !errors.Is(err, logq.ErrIllegalGeneration) {
		t.Fatalf("zombie commit: %v", err)
	}
	offs, err := c.FetchOffsets(ctx, "g", "orders")
	if err != nil || len(offs) != 3 || offs[gb.Partitions["orders"][0]].Offset != 5 {
		t.Fatalf("fetch = %v, %v", offs, err)
	}
	d, err := c.DescribeGroup(ctx, "g")
	if err != nil || d.State != api.GroupStable || len(d.Members) != 2 {
		t.Fatalf("describe = %+v, %v", d, err)
	}
	// b leaves: a gets every partition again.
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		ga = <-a.Changes()
		if slices.Equal(ga.Partitions["orders"], []int{0, 1, 2}) {
			break
		}
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.HeartbeatGroup(ctx, "g", ga.MemberID, ga.Generation); !errors.Is(err, logq.ErrUnknownMemberID) {
		t.Fatalf("heartbeat after leaving: %v", err)
	}
	if _, err := c.ResetOffsets(ctx, "g", api.ResetOffsetsRequest{Topic: "orders", To: api.ResetToOffset, Offset: 0}); err != nil {
		t.Fatal(err)
	}
	gs, err := c.ListGroups(ctx)
	if err != nil || len(gs) != 1 || gs[0].State != api.GroupEmpty {
		t.Fatalf("list = %v, %v", gs, err)
	}
	if err := c.DeleteGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeGroup(ctx, "g"); !errors.Is(err, logq.ErrGroupNotFound) {
		t.Fatalf("describe deleted: %v", err)
	}
}

// TestGroupMemberDeathMovesPartitions: a member that stops heartbeating
// without leaving (a static member's Close, like a crash) loses its
// partitions to the others within its session timeout, by the writer's
// real clock.
func TestGroupMemberDeathMovesPartitions(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Config{Brokers: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := newClient(t, client.Config{Managers: cl.ManagerURLs()})
	if _, err := c.CreateTopic(ctx, "orders", 4); err != nil {
		t.Fatal(err)
	}
	const session = 6 * time.Second
	cfg := client.GroupMemberConfig{Topics: []string{"orders"}, SessionTimeout: session, HeartbeatInterval: 200 * time.Millisecond}
	a, err := c.JoinGroupMember(ctx, "g", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	<-a.Changes()
	bcfg := cfg
	bcfg.InstanceID = "host-b"
	b, err := c.JoinGroupMember(ctx, "g", bcfg)
	if err != nil {
		t.Fatal(err)
	}
	gb := <-b.Changes()
	for ga := <-a.Changes(); ga.Generation != gb.Generation; ga = <-a.Changes() {
	}
	if len(gb.Partitions["orders"]) != 2 {
		t.Fatalf("b got %v", gb.Partitions)
	}
	b.Close(ctx) // stops heartbeating, does not leave
	died := time.Now()
	for {
		ga := <-a.Changes()
		if len(ga.Partitions["orders"]) == 4 {
			break
		}
	}
	if took := time.Since(died); took > session+3*time.Second {
		t.Fatalf("b's partitions moved after %v, want within the session timeout %v (+ a heartbeat and a rebalance)", took, session)
	} else {
		t.Logf("b's partitions moved to a %v after b died (session timeout %v)", took.Round(time.Millisecond), session)
	}
}

// TestGroupMemberJoinOutlastsManagerWait: a second member's join waits for
// the first to rejoin, which it does only at its next heartbeat (2 s here),
// past the coordinator's long poll (500 ms): the join answers
// rebalance_in_progress naming the member it made, and the member rejoins
// under that id, so the group settles with exactly two members (rejoining
// as a new member each time would add one per attempt).
func TestGroupMemberJoinOutlastsManagerWait(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Config{Brokers: 1, GroupMaxWait: 500 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := newClient(t, client.Config{Managers: cl.ManagerURLs()})
	if _, err := c.CreateTopic(ctx, "slow", 2); err != nil {
		t.Fatal(err)
	}
	cfg := client.GroupMemberConfig{Topics: []string{"slow"}, ClientID: "test",
		SessionTimeout: 10 * time.Second, HeartbeatInterval: 2 * time.Second}
	a, err := c.JoinGroupMember(ctx, "outlast", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	<-a.Changes()
	b, err := c.JoinGroupMember(ctx, "outlast", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	d, err := c.DescribeGroup(ctx, "outlast")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Members) != 2 {
		t.Fatalf("%d members after the second joined, want 2: %+v", len(d.Members), d.Members)
	}
}
