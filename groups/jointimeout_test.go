package groups_test

import (
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/groups"
	"github.com/logq/logq/groups/pgoffsets"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

// TestJoinOutlastingMaxWaitNamesMember: a first join (member_id "") that
// outlasts MaxWait answers rebalance_in_progress with the member id it
// made, and the member, rejoining with that id, is the same member (not a
// second one) in the next generation.
func TestJoinOutlastingMaxWaitNamesMember(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t, time.Minute)
	store := pgoffsets.New(pgtest.Pool(t, pgtest.NewDB(t), 4))
	cl := &cluster{state: projection.New(), topics: map[string]int{"orders": 4}}
	c := groups.New(groups.Config{MinSessionTimeout: time.Second, MaxWait: 100 * time.Millisecond}, cl, store, nil)
	now := time.Unix(1700000000, 0)
	c.Restore(nil, now)
	t.Cleanup(c.Stop)
	e := &env{t: t, ctx: ctx, c: c, cl: cl, store: store, now: now}

	a := e.join("g", logqJoin("", "orders"))
	e.sync("g", a)
	// b's join waits for a to rejoin, which a does not do within MaxWait.
	late, err := c.Join(ctx, "g", logqJoin("", "orders"), now)
	wantCode(t, err, logq.ERebalanceInProgress)
	if late.MemberID == "" || late.MemberID == a.MemberID {
		t.Fatalf("the outlasted join names member %q", late.MemberID)
	}
	bCh := e.joinAsync("g", logqJoin(late.MemberID, "orders"))
	a = e.join("g", logqJoin(a.MemberID, "orders"))
	b := recv(t, bCh)
	if b.MemberID != late.MemberID || a.Generation != 2 || len(a.Members) != 2 {
		t.Fatalf("after the rejoin: a %+v, b %+v; want generation 2 of a and %s", a, b, late.MemberID)
	}
}
