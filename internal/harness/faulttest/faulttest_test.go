package faulttest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logq/logq/client"
)

// knobs size a run: the short form by default (each scenario a few seconds
// of load), the long form with LOGQ_FAULT_LONG=1 (longer load phases, and
// every fault repeated).
type knobs struct {
	long    bool
	warmup  int // acknowledged messages before the first fault
	phase   int // acknowledged messages after each recovery
	rounds  int // faults per scenario
	timeout time.Duration
}

func loadKnobs() knobs {
	if os.Getenv("LOGQ_FAULT_LONG") != "" && os.Getenv("LOGQ_FAULT_LONG") != "0" {
		return knobs{long: true, warmup: 5000, phase: 20000, rounds: 3, timeout: 15 * time.Minute}
	}
	return knobs{warmup: 1000, phase: 2500, rounds: 1, timeout: 2 * time.Minute}
}

// scenario is one kind of fault. inject causes it, waits for the
// scenario's own sign of recovery (partitions moved, a new writer…),
// repairs what it broke (restarts the process) and returns when the fault
// started, with notes for the log.
type scenario struct {
	name   string
	inject func(ctx context.Context, t *testing.T, c *cluster, w *workload) (time.Time, []string)
	// strict: no duplicate and no delivery lost in flight is acceptable
	// (no fault, or a graceful shutdown, loses no answer).
	strict bool
}

var scenarios = []scenario{
	{name: "baseline", strict: true, inject: func(ctx context.Context, t *testing.T, c *cluster, w *workload) (time.Time, []string) {
		return time.Now(), nil
	}},
	{name: "broker-kill", inject: injectBrokerKill},
	{name: "broker-stop", inject: injectBrokerStop},
	{name: "broker-sigterm", strict: true, inject: injectBrokerTerm},
	{name: "writer-kill", inject: injectWriterKill},
	{name: "writer-sigterm", strict: true, inject: injectWriterTerm},
	{name: "writer-stop", inject: injectWriterStop},
	{name: "pg-restart", inject: injectPGRestart},
	{name: "group-member-stop", strict: true, inject: injectGroupMemberStop}, // groupload_test.go
}

// TestFaults runs every scenario against a fresh cluster under continuous
// produce and consume load, checks the guarantees after each fault and at
// the end, and logs a summary table.
func TestFaults(t *testing.T) {
	k := loadKnobs()
	var reports []report
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			r := runScenario(t, k, sc)
			r.Scenario = sc.name
			reports = append(reports, r)
		})
	}
	if len(reports) == 0 {
		return
	}
	mode := "short form: go test ./internal/faulttest -count=1 -v"
	if k.long {
		mode = "long form: LOGQ_FAULT_LONG=1 go test ./internal/faulttest -count=1 -v -timeout 60m"
	}
	table := summary(reports)
	t.Logf("fault-injection summary (%s):\n%s", mode, table)
	for _, r := range reports {
		for _, n := range r.Notes {
			t.Logf("%s: %s", r.Scenario, n)
		}
	}
	if path := os.Getenv("LOGQ_FAULT_REPORT"); path != "" {
		var b strings.Builder
		fmt.Fprintf(&b, "%s\n\n%s", mode, table)
		for _, r := range reports {
			for _, n := range r.Notes {
				fmt.Fprintf(&b, "%s: %s\n", r.Scenario, n)
			}
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func runScenario(t *testing.T, k knobs, sc scenario) report {
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	c := startCluster(t, clusterOpts{})
	w := startWorkload(t, c)
	w.runFor(ctx, k.warmup)

	var recover time.Duration
	var notes []string
	for round := 1; round <= k.rounds; round++ {
		at, n := sc.inject(ctx, t, c, w)
		rec := w.recovered(ctx, at)
		recover = max(recover, rec)
		for _, s := range n {
			notes = append(notes, fmt.Sprintf("round %d: %s", round, s))
		}
		notes = append(notes, fmt.Sprintf("round %d: every partition acknowledged again %v after the fault", round, rec.Round(time.Millisecond)))
		w.runFor(ctx, k.phase)
		check(ctx, t, c, w, fmt.Sprintf("%s round %d", sc.name, round), false)
	}

	w.stopProducers()
	waitDrained(ctx, t, c, w)
	groupsDrained := waitGroupsDrained(ctx, t, c, w)
	notes = append(notes, fmt.Sprintf("the %d groups had every record %v after the consumers had drained the topic",
		numGroups, groupsDrained.Round(time.Millisecond)))
	w.stopConsumers()
	r := check(ctx, t, c, w, sc.name+" final", true)
	r.Recover, r.Notes = recover, notes
	if r.Failed > 0 {
		t.Errorf("%s: %d sends failed after the client's retries", sc.name, r.Failed)
	}
	if r.GroupMissing > 0 {
		t.Errorf("%s: %d acknowledged records never reached a group; want none (at least once)", sc.name, r.GroupMissing)
	}
	if sc.strict && (r.Duplicated > 0 || r.LostInFlight > 0) {
		t.Errorf("%s: %d duplicates and %d deliveries lost in flight; want none", sc.name, r.Duplicated, r.LostInFlight)
	}
	for _, n := range notes {
		t.Log(n)
	}
	return r
}

// injectBrokerKill: kill -9 a broker that owns partitions; they must move
// to the live brokers, as soon as its database session ends (or, had the
// writer not seen its session lock yet, after the heartbeat timeout; see
// TestBrokerKillTakeover for the figure at default timings). Then the broker restarts
// at the same address (it gets its id back; its old partitions stay where
// they moved).
func injectBrokerKill(ctx context.Context, t *testing.T, c *cluster, w *workload) (time.Time, []string) {
	victim, info := c.busiestBroker(ctx)
	at := time.Now()
	victim.kill()
	moved := c.rejoinAfterMove(ctx, victim, info, at)
	return at, []string{fmt.Sprintf("kill -9 %s (%d partitions): they moved after %v (heartbeat timeout %v); it restarted and rejoined",
		victim.name, len(info.Partitions), moved.Round(time.Millisecond), heartbeatTimeout)}
}

// injectWriterKill: kill -9 the writer manager; the other manager (role
// auto) takes the writer lock. Clients list both managers. Then the killed
// one restarts, as a reader.
func injectWriterKill(ctx context.Context, t *testing.T, c *cluster, w *workload) (time.Time, []string) {
	wr, epoch := c.writer(ctx)
	if wr == nil {
		t.Fatal("no writer")
	}
	at := time.Now()
	wr.kill()
	next := c.waitNewWriter(ctx, wr, epoch)
	elected := time.Since(at)
	wr.start()
	c.waitHealthy(ctx, wr)
	return at, []string{fmt.Sprintf("kill -9 the writer %s: %s was the writer %v later", wr.name, next.name, elected.Round(time.Millisecond))}
}

// injectWriterTerm: SIGTERM the writer manager under load. It must drain
// (strict: every request in flight is answered) and exit 0; it releases the
// writer lock on the way out, so the other manager takes over at once.
func injectWriterTerm(ctx context.Context, t *testing.T, c *cluster, w *workload) (time.Time, []string) {
	wr, epoch := c.writer(ctx)
	if wr == nil {
		t.Fatal("no writer")
	}
	at := time.Now()
	wr.signal(syscall.SIGTERM)
	if err := wr.wait(30 * time.Second); err != nil {
		t.Errorf("%s after SIGTERM: %v; want exit status 0", wr.name, err)
	}
	exited := time.Since(at)
	next := c.waitNewWriter(ctx, wr, epoch)
	elected := time.Since(at)
	wr.start()
	c.waitHealthy(ctx, wr)
	return at, []string{fmt.Sprintf("SIGTERM the writer %s: it exited 0 after %v; %s was the writer %v after the signal",
		wr.name, exited.Round(time.Millisecond), next.name, elected.Round(time.Millisecond))}
}

// injectWriterStop: SIGSTOP the writer manager, twice. First a short
// stall, past the brokers' heartbeat timeout but within the writer's
// session lease: after SIGCONT it stays the writer and must not declare the
// brokers dead on the heartbeat times it had before it stopped (their
// heartbeats are queued, unread). Then a long one: the server ends the idle
// lock session after the lease, another manager takes over, and the old
// writer, resumed, steps down.
func injectWriterStop(ctx context.Context, t *testing.T, c *cluster, w *workload) (time.Time, []string) {
	wr, epoch := c.writer(ctx)
	if wr == nil {
		t.Fatal("no writer")
	}
	seq := c.lastSeq(ctx)
	// The fault's length is the parameter here: wait for it to have lasted
	// past the heartbeat timeout (well within the 5 s session lease).
	stall := heartbeatTimeout + 500*time.Millisecond
	start := time.Now()
	wr.signal(syscall.SIGSTOP)
	waitFor(t, ctx, "the short stall", func() (bool, error) { return time.Since(start) >= stall, nil })
	wr.signal(syscall.SIGCONT)
	w.runFor(ctx, 500) // it has run liveness checks again meanwhile
	short := "still the writer after SIGCONT"
	if m, e := c.writer(ctx); m != wr || e != epoch {
		// Only a machine too loaded to run the resumed writer's pings
		// for seconds gets here: the lease ended its session.
		short = "replaced all the same (its lease ran out)"
		t.Logf("after a %v stall the writer is %v at epoch %d (was %s at %d)", stall, m, e, wr.name, epoch)
		if wr, epoch = c.writer(ctx); wr == nil {
			t.Fatal("no writer")
		}
	}
	if n := c.brokerDeaths(ctx, seq); n > 0 {
		t.Errorf("after a %v stall of the writer, %d brokers were declared dead", stall, n)
	}

	seq = c.lastSeq(ctx)
	at := time.Now()
	wr.signal(syscall.SIGSTOP)
	next := c.waitNewWriter(ctx, wr, epoch)
	took := time.Since(at)
	wr.signal(syscall.SIGCONT)
	waitFor(t, ctx, wr.name+" to step down", func() (bool, error) {
		h, err := c.health(ctx, wr)
		return err == nil && h.Role != "writer", err
	})
	w.runFor(ctx, 500)
	if n := c.brokerDeaths(ctx, seq); n > 0 {
		t.Errorf("after the writer was replaced, %d brokers were declared dead", n)
	}
	return at, []string{
		fmt.Sprintf("SIGSTOP the writer for %v (heartbeat timeout %v): %s, no broker declared dead", stall, heartbeatTimeout, short),
		fmt.Sprintf("SIGSTOP it again until %s was the writer: %v later (its idle lock session was ended); %s stepped down after SIGCONT",
			next.name, took.Round(time.Millisecond), wr.name),
	}
}

// injectBrokerStop: SIGSTOP a broker past the heartbeat timeout. Its
// partitions move to live brokers with higher epochs, and the new owners
// claim them in storage (bumping the epoch there). Then SIGCONT makes it a
// zombie that still believes it owns them: an append sent to it at once
// must be fenced (409) and stored nowhere, and it must let go of the
// partitions. A takeover may have to wait for the stopped broker: a large
// append (COPY) holds its partition's row in an open transaction, and the
// new owner's claim waits for that transaction until the broker runs again.
func injectBrokerStop(ctx context.Context, t *testing.T, c *cluster, w *workload) (time.Time, []string) {
	victim, info := c.busiestBroker(ctx)
	at := time.Now()
	victim.signal(syscall.SIGSTOP)
	c.waitReassigned(ctx, victim, info)
	moved := time.Since(at)
	claimed := func() (bool, error) {
		epochs, err := c.partitionEpochs(ctx)
		if err != nil {
			return false, err
		}
		for _, p := range info.Partitions {
			if e := epochs[p.Partition]; e[0] <= p.Epoch || e[1] == info.ID {
				return false, nil
			}
		}
		return true, nil
	}
	var notes []string
	if !tryWaitFor(ctx, 5*time.Second, claimed) {
		// Blocked by the stopped broker's open transaction: it must run
		// (and commit or fail that transaction) before the takeover ends.
		victim.signal(syscall.SIGCONT)
		waitFor(t, ctx, "the new owners to claim the partitions in storage", claimed)
		notes = append(notes, fmt.Sprintf("a takeover waited for %s to resume (its open transaction held a partition's row)", victim.name))
	} else {
		// Appends the managers sent it before it stopped are processed
		// now: storage refuses them (the epoch moved), the managers
		// re-route them.
		victim.signal(syscall.SIGCONT)
	}

	old := info.Partitions[0]
	// A registered producer's id: the broker refuses ids it does not know.
	body := fmt.Sprintf(`{"topic":%q,"partition":%d,"messages":[{"producer_id":%d,"message":"zombie-%d"}]}`,
		topicName, old.Partition, w.producers[0].prod.ID(), time.Now().UnixNano())
	status, ans, err := c.postRaw(ctx, victim.url+"/v1/append", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("append to the zombie %s: %v", victim.name, err)
	}
	if status != 409 || ans["code"] != "fenced" {
		t.Errorf("append to the zombie %s for partition %d (moved from epoch %d): %d %v; want 409 fenced",
			victim.name, old.Partition, old.Epoch, status, ans)
	}
	released := waitFor(t, ctx, "the zombie to release its old partitions", func() (bool, error) {
		var ans struct {
			Partitions []struct {
				Topic     string `json:"topic"`
				Partition int    `json:"partition"`
			} `json:"partitions"`
		}
		if err := c.getJSON(ctx, victim.url+"/v1/partitions", &ans); err != nil {
			return false, err
		}
		for _, p := range ans.Partitions {
			if p.Topic == topicName && slices.ContainsFunc(info.Partitions, func(o client.TopicPartition) bool { return o.Partition == p.Partition }) {
				return false, nil
			}
		}
		return true, nil
	})
	c.waitBrokersAlive(ctx)
	fenced, err := c.metric(ctx, victim, "logq_broker_append_requests_total", `result="fenced"`)
	if err != nil {
		t.Fatal(err)
	}
	return at, append([]string{fmt.Sprintf("SIGSTOP %s (%d partitions): they moved after %v; after SIGCONT it answered an append %d %v, "+
		"released the partitions %v later, and storage had fenced %v of its appends",
		victim.name, len(info.Partitions), moved.Round(time.Millisecond), status, ans["code"], released.Round(time.Millisecond), fenced)}, notes...)
}

// injectPGRestart: restart PostgreSQL itself (fast shutdown, start) under
// load. Every server loses its sessions; the managers elect a writer again
// and the brokers reconnect.
func injectPGRestart(ctx context.Context, t *testing.T, c *cluster, w *workload) (time.Time, []string) {
	_, epoch := c.writer(ctx)
	at := time.Now()
	if err := c.pg.Restart(ctx); err != nil {
		t.Fatalf("restart PostgreSQL: %v", err)
	}
	down := time.Since(at)
	// The writer's lock session died with the server: a writer must be
	// elected again, with a new epoch.
	c.waitNewWriter(ctx, nil, epoch)
	elected := time.Since(at)
	c.waitBrokersAlive(ctx)
	return at, []string{fmt.Sprintf("PostgreSQL restart took %v; a writer was elected %v after it began",
		down.Round(time.Millisecond), elected.Round(time.Millisecond))}
}

// injectBrokerTerm: SIGTERM a broker under load. It must drain: appends in
// flight are committed and answered, then it exits 0 (strict: no answer is
// lost, so no duplicate and no lost delivery). Its partitions move once it
// has released its session lock, at exit; then it restarts.
func injectBrokerTerm(ctx context.Context, t *testing.T, c *cluster, w *workload) (time.Time, []string) {
	victim, info := c.busiestBroker(ctx)
	at := time.Now()
	victim.signal(syscall.SIGTERM)
	if err := victim.wait(30 * time.Second); err != nil {
		t.Errorf("%s after SIGTERM: %v; want exit status 0", victim.name, err)
	}
	exited := time.Since(at)
	moved := c.rejoinAfterMove(ctx, victim, info, at)
	return at, []string{fmt.Sprintf("SIGTERM %s (%d partitions): it exited 0 after %v; its partitions moved after %v",
		victim.name, len(info.Partitions), exited.Round(time.Millisecond), moved.Round(time.Millisecond))}
}

// rejoinAfterMove waits until the partitions of the stopped broker victim
// have moved, restarts it and waits until it serves and every broker is
// alive. It returns when, after at, the partitions had moved.
func (c *cluster) rejoinAfterMove(ctx context.Context, victim *server, info client.BrokerInfo, at time.Time) time.Duration {
	c.waitReassigned(ctx, victim, info)
	moved := time.Since(at)
	victim.start()
	c.waitHealthy(ctx, victim)
	c.waitBrokersAlive(ctx)
	return moved
}
