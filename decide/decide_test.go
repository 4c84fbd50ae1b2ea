package decide

import (
	"reflect"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

var (
	producer1 = Client{KindProducer, 1}
	consumer1 = Client{KindConsumer, 1}
)

func TestRegisterProducer(t *testing.T) {
	t.Parallel()
	register := func(topic string, partition *int) func(*projection.State) (Decision, error) {
		return func(s *projection.State) (Decision, error) { return RegisterProducer(s, topic, partition, t0) }
	}
	heard := Effects{ClientsHeard: map[Client]time.Time{producer1: t0}}
	runCases(t, []decisionCase{{
		name:   "existing topic, one partition",
		before: cat(brokers(1), topic("t", 1, 1)),
		run:    register("t", intp(1)),
		want:   Decision{ID: 1, Events: ev(projection.ProducerRegistered{ProducerID: 1, Topic: "t", Partition: intp(1)}), Effects: heard},
	}, {
		name:   "unknown topic: created with one partition per live broker",
		before: brokers(1, 2),
		run:    register("new", nil),
		want: Decision{ID: 1, Events: ev(projection.TopicCreated{Topic: "new", Partitions: 2}, pa("new", 0, 2, 1), pa("new", 1, 1, 1),
			projection.ProducerRegistered{ProducerID: 1, Topic: "new"}), Effects: heard},
	}, {
		name:   "next id",
		before: cat(brokers(1), topic("t", 1), ev(projection.ProducerRegistered{ProducerID: 1, Topic: "t"})),
		run:    register("t", nil),
		want: Decision{ID: 2, Events: ev(projection.ProducerRegistered{ProducerID: 2, Topic: "t"}),
			Effects: Effects{ClientsHeard: map[Client]time.Time{{KindProducer, 2}: t0}}},
	}, {
		name:   "partition outside the topic",
		before: cat(brokers(1), topic("t", 1)),
		run:    register("t", intp(1)),
		code:   logq.EInvalid,
	}, {
		name:   "unknown topic, partition outside the default count: nothing created",
		before: brokers(1, 2),
		run:    register("new", intp(2)),
		code:   logq.EInvalid,
	}, {
		name:   "unknown topic, invalid name",
		before: brokers(1),
		run:    register("a/b", nil),
		code:   logq.EInvalid,
	}, {
		name:   "unknown topic, no live broker",
		before: cat(brokers(1), dead(1)),
		run:    register("new", nil),
		code:   logq.EUnavailable,
	}})
}

func TestRegisterConsumer(t *testing.T) {
	t.Parallel()
	register := func(topic string, partition *int) func(*projection.State) (Decision, error) {
		return func(s *projection.State) (Decision, error) { return RegisterConsumer(s, topic, partition, t0) }
	}
	runCases(t, []decisionCase{{
		name:   "whole topic",
		before: cat(brokers(1), topic("t", 1, 1)),
		run:    register("t", nil),
		want: Decision{ID: 1, Events: ev(projection.ConsumerRegistered{ConsumerID: 1, Topic: "t"}),
			Effects: Effects{ClientsHeard: map[Client]time.Time{consumer1: t0}}},
	}, {
		name:   "one partition",
		before: cat(brokers(1), topic("t", 1, 1)),
		run:    register("t", intp(0)),
		want: Decision{ID: 1, Events: ev(projection.ConsumerRegistered{ConsumerID: 1, Topic: "t", Partition: intp(0)}),
			Effects: Effects{ClientsHeard: map[Client]time.Time{consumer1: t0}}},
	}, {
		name:   "unknown topic",
		before: brokers(1),
		run:    register("t", nil),
		code:   logq.ETopicNotFound,
	}, {
		name:   "negative partition",
		before: cat(brokers(1), topic("t", 1)),
		run:    register("t", intp(-1)),
		code:   logq.EInvalid,
	}})
}

func TestRegisterBroker(t *testing.T) {
	t.Parallel()
	register := func(address string, id int64, rejoin bool) func(*projection.State) (Decision, error) {
		return func(s *projection.State) (Decision, error) { return RegisterBroker(s, address, id, rejoin, t0) }
	}
	heard := func(id int64) Effects { return Effects{BrokersHeard: map[int64]time.Time{id: t0}} }
	removed1 := cat(brokers(1, 2), ev(projection.BrokerRemoved{BrokerID: 1}))
	runCases(t, []decisionCase{{
		name: "new broker",
		run:  register(addr(1), 0, false),
		want: Decision{ID: 1, Events: ev(projection.BrokerRegistered{BrokerID: 1, Address: addr(1)}), Effects: heard(1)},
	}, {
		name:   "new address: the next id",
		before: brokers(1, 2),
		run:    register(addr(9), 0, false),
		want:   Decision{ID: 3, Events: ev(projection.BrokerRegistered{BrokerID: 3, Address: addr(9)}), Effects: heard(3)},
	}, {
		name:   "known and alive at the same address: no event, heard from",
		before: brokers(1, 2),
		run:    register(addr(2), 0, false),
		want:   Decision{ID: 2, Effects: heard(2)},
	}, {
		name:   "dead: alive again, takes the partitions left on dead brokers",
		before: cat(brokers(1, 2), topic("t", 1, 2), dead(1), dead(2)),
		run:    register(addr(1), 0, false),
		want:   Decision{ID: 1, Events: ev(projection.BrokerRegistered{BrokerID: 1, Address: addr(1)}, pa("t", 1, 1, 2)), Effects: heard(1)},
	}, {
		name:   "moved: its id at a new address",
		before: brokers(1),
		run:    register("elsewhere:1", 1, false),
		want:   Decision{ID: 1, Events: ev(projection.BrokerRegistered{BrokerID: 1, Address: "elsewhere:1"}), Effects: heard(1)},
	}, {
		name:   "removed id",
		before: removed1,
		run:    register("elsewhere:1", 1, false),
		code:   logq.EBrokerRemoved,
	}, {
		name:   "removed broker's address without rejoin",
		before: removed1,
		run:    register(addr(1), 0, false),
		code:   logq.EBrokerRemoved,
	}, {
		name:   "removed broker's address with rejoin: a new broker",
		before: removed1,
		run:    register(addr(1), 0, true),
		want:   Decision{ID: 3, Events: ev(projection.BrokerRegistered{BrokerID: 3, Address: addr(1)}), Effects: heard(3)},
	}})
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	beat := func(id int64, address string) func(*projection.State) (Decision, error) {
		return func(s *projection.State) (Decision, error) { return Heartbeat(s, id, address, t0) }
	}
	heard := func(id int64) Effects { return Effects{BrokersHeard: map[int64]time.Time{id: t0}} }
	runCases(t, []decisionCase{{
		name:   "alive: no event, heard from",
		before: brokers(1),
		run:    beat(1, ""),
		want:   Decision{ID: 1, Effects: heard(1)},
	}, {
		name:   "alive, same address given",
		before: brokers(1),
		run:    beat(1, addr(1)),
		want:   Decision{ID: 1, Effects: heard(1)},
	}, {
		name:   "believed dead: alive again, its old partitions stay where they are",
		before: cat(brokers(1, 2), topic("t", 1, 2), dead(2), ev(pa("t", 1, 1, 2))),
		run:    beat(2, ""),
		want:   Decision{ID: 2, Events: ev(projection.BrokerStatusChanged{BrokerID: 2, Alive: true}), Effects: heard(2)},
	}, {
		name:   "the first back after all died takes every partition",
		before: cat(brokers(1, 2), topic("t", 1, 2), dead(1), dead(2)),
		run:    beat(2, ""),
		want: Decision{ID: 2, Events: ev(projection.BrokerStatusChanged{BrokerID: 2, Alive: true}, pa("t", 0, 2, 2)),
			Effects: heard(2)},
	}, {
		name:   "new address: registered there",
		before: brokers(1),
		run:    beat(1, "elsewhere:1"),
		want:   Decision{ID: 1, Events: ev(projection.BrokerRegistered{BrokerID: 1, Address: "elsewhere:1"}), Effects: heard(1)},
	}, {
		name:   "unknown",
		before: brokers(1),
		run:    beat(2, ""),
		code:   logq.EBrokerNotFound,
	}, {
		name:   "removed",
		before: cat(brokers(1, 2), ev(projection.BrokerRemoved{BrokerID: 2})),
		run:    beat(2, ""),
		code:   logq.EBrokerRemoved,
	}})
}

// clients: producers 1 (active), 2 and 3 (inactive); consumers 1
// (active), 2 (inactive).
var clients = cat(brokers(1), topic("t", 1),
	ev(projection.ProducerRegistered{ProducerID: 1, Topic: "t"}, projection.ProducerRegistered{ProducerID: 2, Topic: "t"},
		projection.ProducerRegistered{ProducerID: 3, Topic: "t"},
		projection.ClientStatusChanged{Client: KindProducer, ID: 2}, projection.ClientStatusChanged{Client: KindProducer, ID: 3},
		projection.ConsumerRegistered{ConsumerID: 1, Topic: "t"}, projection.ConsumerRegistered{ConsumerID: 2, Topic: "t"},
		projection.ClientStatusChanged{Client: KindConsumer, ID: 2}))

func TestClientHeartbeat(t *testing.T) {
	t.Parallel()
	beat := func(c Client) func(*projection.State) (Decision, error) {
		return func(s *projection.State) (Decision, error) { return ClientHeartbeat(s, c, t0) }
	}
	heard := func(c Client) Effects { return Effects{ClientsHeard: map[Client]time.Time{c: t0}} }
	consumer2 := Client{KindConsumer, 2}
	runCases(t, []decisionCase{{
		name:   "active: no event, heard from",
		before: clients,
		run:    beat(producer1),
		want:   Decision{ID: 1, Effects: heard(producer1)},
	}, {
		name:   "inactive: active again",
		before: clients,
		run:    beat(consumer2),
		want:   Decision{ID: 2, Events: ev(projection.ClientStatusChanged{Client: KindConsumer, ID: 2, Active: true}), Effects: heard(consumer2)},
	}, {
		name:   "unknown producer",
		before: clients,
		run:    beat(Client{KindProducer, 9}),
		code:   logq.EProducerNotFound,
	}, {
		name:   "unknown consumer",
		before: clients,
		run:    beat(Client{KindConsumer, 9}),
		code:   logq.EConsumerNotFound,
	}})
}

func TestCheckLiveness(t *testing.T) {
	t.Parallel()
	timeouts := Timeouts{Heartbeat: 60 * time.Second, Client: 30 * time.Second, CheckInterval: time.Second}
	ago := func(d time.Duration) time.Time { return t0.Add(-d) }
	cases := []struct {
		name   string
		before []projection.Payload
		live   Liveness
		want   Decision
	}{{
		name:   "everyone heard from in time: nothing",
		before: cat(brokers(1, 2), topic("t", 1, 2)),
		live:   Liveness{Brokers: map[int64]time.Time{1: ago(59 * time.Second), 2: t0}},
	}, {
		name:   "a live broker without a time: its timer starts",
		before: brokers(1, 2),
		live:   Liveness{Brokers: map[int64]time.Time{1: t0}},
		want:   Decision{Effects: Effects{BrokersHeard: map[int64]time.Time{2: t0}}},
	}, {
		name:   "a broker silent for the timeout: dead, its partitions spread over the others",
		before: cat(brokers(1, 2, 3), topic("t", 1, 2, 3, 1, 2, 3)),
		live:   Liveness{Brokers: map[int64]time.Time{1: ago(60 * time.Second), 2: t0, 3: t0}},
		want:   Decision{Events: ev(projection.BrokerStatusChanged{BrokerID: 1}, pa("t", 0, 3, 2), pa("t", 3, 2, 2))},
	}, {
		name:   "a broker watched by its session lock but silent (hung): dead by the heartbeat rule, no longer watched",
		before: cat(brokers(1, 2), topic("t", 1, 2)),
		live: Liveness{Brokers: map[int64]time.Time{1: ago(60 * time.Second), 2: t0},
			Sessions: map[int64]time.Time{1: t0, 2: t0}},
		want: Decision{
			Events:  ev(projection.BrokerStatusChanged{BrokerID: 1}, pa("t", 0, 2, 2)),
			Effects: Effects{SessionsForgotten: []int64{1}},
		},
	}, {
		name:   "all silent: all dead, nothing to move to",
		before: cat(brokers(1, 2), topic("t", 1, 2)),
		live:   Liveness{Brokers: map[int64]time.Time{1: ago(time.Hour), 2: ago(time.Hour)}},
		want:   Decision{Events: ev(projection.BrokerStatusChanged{BrokerID: 1}, projection.BrokerStatusChanged{BrokerID: 2})},
	}, {
		name:   "dead brokers are not checked",
		before: cat(brokers(1, 2), dead(2)),
		live:   Liveness{Brokers: map[int64]time.Time{1: t0, 2: ago(time.Hour)}},
	}, {
		name:   "clients: silent ones inactive, heard ones active again, quiet ones stay, untimed ones start",
		before: clients,
		live: Liveness{
			Brokers: map[int64]time.Time{1: t0},
			Clients: map[Client]time.Time{
				producer1:         ago(30 * time.Second), // silent: inactive
				{KindProducer, 2}: ago(time.Second),      // heard from since: active
				{KindProducer, 3}: ago(time.Second),      // quiet: stays inactive
				{KindConsumer, 2}: ago(time.Minute),      // inactive, silent
			},
			Quiet: map[Client]bool{{KindProducer, 3}: true},
		},
		want: Decision{
			Events: ev(projection.ClientStatusChanged{Client: KindProducer, ID: 1, Active: false},
				projection.ClientStatusChanged{Client: KindProducer, ID: 2, Active: true}),
			Effects: Effects{
				ClientsTimed: map[Client]time.Time{consumer1: t0},
				ClientsQuiet: map[Client]time.Time{producer1: ago(30 * time.Second)},
			},
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := fold(t, c.before...)
			got := CheckLiveness(s, c.live, timeouts, t0)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("decided\n%s\nwant\n%s", show(got), show(c.want))
			}
			apply(t, s, got.Events)
		})
	}
}

func TestCheckSessions(t *testing.T) {
	t.Parallel()
	timeouts := Timeouts{Heartbeat: 60 * time.Second, Session: 500 * time.Millisecond, CheckInterval: time.Second}
	ago := func(d time.Duration) time.Time { return t0.Add(-d) }
	cases := []struct {
		name   string
		before []projection.Payload
		live   Liveness
		held   map[int64]bool
		want   Decision
	}{{
		name:   "locks held: seen held now, heartbeats play no part",
		before: cat(brokers(1, 2), topic("t", 1, 2)),
		live:   Liveness{Brokers: map[int64]time.Time{1: ago(time.Hour)}, Sessions: map[int64]time.Time{1: ago(time.Second)}},
		held:   map[int64]bool{1: true, 2: true},
		want:   Decision{Effects: Effects{SessionsHeld: map[int64]time.Time{1: t0, 2: t0}}},
	}, {
		name:   "never seen holding a lock (an older broker): left to the heartbeat rule",
		before: cat(brokers(1, 2), topic("t", 1, 2)),
		live:   Liveness{Brokers: map[int64]time.Time{1: t0, 2: t0}},
		held:   map[int64]bool{1: true},
		want:   Decision{Effects: Effects{SessionsHeld: map[int64]time.Time{1: t0}}},
	}, {
		name:   "lock gone within the grace (reconnecting): nothing yet",
		before: cat(brokers(1, 2), topic("t", 1, 2)),
		live:   Liveness{Sessions: map[int64]time.Time{1: ago(499 * time.Millisecond), 2: ago(time.Millisecond)}},
		held:   map[int64]bool{2: true},
		want:   Decision{Effects: Effects{SessionsHeld: map[int64]time.Time{2: t0}}},
	}, {
		name:   "lock gone past the grace (process died): dead at once, partitions spread, no longer watched",
		before: cat(brokers(1, 2, 3), topic("t", 1, 2, 3, 1, 2, 3)),
		live: Liveness{Brokers: map[int64]time.Time{1: t0, 2: t0, 3: t0},
			Sessions: map[int64]time.Time{1: ago(500 * time.Millisecond), 2: ago(time.Second), 3: ago(time.Second)}},
		held: map[int64]bool{2: true, 3: true},
		want: Decision{
			Events:  ev(projection.BrokerStatusChanged{BrokerID: 1}, pa("t", 0, 3, 2), pa("t", 3, 2, 2)),
			Effects: Effects{SessionsHeld: map[int64]time.Time{2: t0, 3: t0}, SessionsForgotten: []int64{1}},
		},
	}, {
		name:   "every lock gone (the database restarted): all dead, nothing to move to",
		before: cat(brokers(1, 2), topic("t", 1, 2)),
		live:   Liveness{Sessions: map[int64]time.Time{1: ago(time.Second), 2: ago(time.Second)}},
		want: Decision{
			Events:  ev(projection.BrokerStatusChanged{BrokerID: 1}, projection.BrokerStatusChanged{BrokerID: 2}),
			Effects: Effects{SessionsForgotten: []int64{1, 2}},
		},
	}, {
		name:   "dead and removed brokers: not checked, no longer watched",
		before: cat(brokers(1, 2, 3), dead(2), ev(projection.BrokerRemoved{BrokerID: 3})),
		live:   Liveness{Sessions: map[int64]time.Time{2: ago(time.Hour), 3: ago(time.Hour)}},
		held:   map[int64]bool{1: true, 2: true},
		want:   Decision{Effects: Effects{SessionsHeld: map[int64]time.Time{1: t0}, SessionsForgotten: []int64{2, 3}}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := fold(t, c.before...)
			got := CheckSessions(s, c.live, c.held, timeouts, t0)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("decided\n%s\nwant\n%s", show(got), show(c.want))
			}
			apply(t, s, got.Events)
		})
	}
}

func TestElect(t *testing.T) {
	t.Parallel()
	s := fold(t, cat(brokers(1, 2, 3), topic("t", 1, 2), dead(2), ev(projection.BrokerRemoved{BrokerID: 3},
		projection.WriterElected{Manager: "http://m0", Epoch: 1},
		projection.ProducerRegistered{ProducerID: 1, Topic: "t"}, projection.ProducerRegistered{ProducerID: 2, Topic: "t"},
		projection.ClientStatusChanged{Client: KindProducer, ID: 2}, projection.ConsumerRegistered{ConsumerID: 1, Topic: "t"}))...)
	if _, err := Elect(s, "http://m1", 1, t0); logq.ErrorCode(err) != logq.EConflict {
		t.Fatalf("stale epoch: %v", err)
	}
	got, err := Elect(s, "http://m1", 2, t0)
	if err != nil {
		t.Fatal(err)
	}
	// Timers start afresh for every broker not removed (dead ones
	// included) and every active client; partitions on dead brokers move.
	want := Decision{
		Events: ev(projection.WriterElected{Manager: "http://m1", Epoch: 2}, pa("t", 1, 1, 2)),
		Effects: Effects{Reset: &Liveness{
			Brokers: map[int64]time.Time{1: t0, 2: t0},
			Clients: map[Client]time.Time{producer1: t0, consumer1: t0},
			Quiet:   map[Client]bool{},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decided\n%s\nwant\n%s", show(got), show(want))
	}
	apply(t, s, got.Events)
}

func TestSeen(t *testing.T) {
	t.Parallel()
	s := fold(t, clients...)
	e, wake := Seen(s, []Client{producer1, {KindProducer, 9}}, t0)
	if wake || !reflect.DeepEqual(e, Effects{ClientsHeard: map[Client]time.Time{producer1: t0}}) {
		t.Fatalf("active and unknown: %+v %v", e, wake)
	}
	e, wake = Seen(s, []Client{{KindConsumer, 2}}, t0)
	if !wake || !reflect.DeepEqual(e, Effects{ClientsHeard: map[Client]time.Time{{KindConsumer, 2}: t0}}) {
		t.Fatalf("inactive: %+v %v", e, wake)
	}
	if e, wake := Seen(s, nil, t0); wake || !e.IsZero() {
		t.Fatalf("none: %+v %v", e, wake)
	}
}

// TestAfterStall: a liveness tick late by more than half the heartbeat
// timeout (the writer did not run) restarts every timer; a tick on time,
// or late by less, changes nothing.
func TestAfterStall(t *testing.T) {
	t.Parallel()
	timeouts := Timeouts{Heartbeat: 2 * time.Second, CheckInterval: time.Second}
	for _, gap := range []time.Duration{time.Second, 1500 * time.Millisecond, 2 * time.Second} {
		if e, stalled := AfterStall(gap, timeouts, t0); stalled || !e.IsZero() {
			t.Fatalf("a tick %v apart is a stall: %+v", gap, e)
		}
	}
	e, stalled := AfterStall(2*time.Second+time.Millisecond, timeouts, t0)
	if !stalled || !reflect.DeepEqual(e, Effects{Restart: t0}) {
		t.Fatalf("stall: %+v %v", e, stalled)
	}
}

func TestLivenessApply(t *testing.T) {
	t.Parallel()
	old := t0.Add(-time.Hour)
	producer2 := Client{KindProducer, 2}
	base := func() Liveness {
		return Liveness{
			Brokers:  map[int64]time.Time{1: old, 2: old},
			Clients:  map[Client]time.Time{producer1: old, producer2: t0},
			Quiet:    map[Client]bool{producer2: true},
			Sessions: map[int64]time.Time{1: old, 2: old},
		}
	}
	cases := []struct {
		name    string
		start   Liveness
		effects Effects
		want    Liveness
	}{{
		name:    "nothing, on empty maps",
		effects: Effects{},
		want:    Liveness{Brokers: map[int64]time.Time{}, Clients: map[Client]time.Time{}, Quiet: map[Client]bool{}, Sessions: map[int64]time.Time{}},
	}, {
		name:    "brokers heard and forgotten",
		start:   base(),
		effects: Effects{BrokersHeard: map[int64]time.Time{1: t0, 3: t0}, BrokersForgotten: []int64{2}},
		want: Liveness{Brokers: map[int64]time.Time{1: t0, 3: t0}, Clients: base().Clients, Quiet: base().Quiet,
			Sessions: map[int64]time.Time{1: old}},
	}, {
		name:    "sessions seen held and forgotten",
		start:   base(),
		effects: Effects{SessionsHeld: map[int64]time.Time{1: t0, 3: t0}, SessionsForgotten: []int64{2}},
		want:    Liveness{Brokers: base().Brokers, Clients: base().Clients, Quiet: base().Quiet, Sessions: map[int64]time.Time{1: t0, 3: t0}},
	}, {
		name:    "a client heard from is no longer quiet",
		start:   base(),
		effects: Effects{ClientsHeard: map[Client]time.Time{producer2: t0.Add(time.Second)}},
		want: Liveness{Brokers: base().Brokers, Clients: map[Client]time.Time{producer1: old, producer2: t0.Add(time.Second)},
			Quiet: map[Client]bool{}, Sessions: base().Sessions},
	}, {
		name:    "timers start only for clients without one",
		start:   base(),
		effects: Effects{ClientsTimed: map[Client]time.Time{producer1: t0, consumer1: t0}},
		want: Liveness{Brokers: base().Brokers, Clients: map[Client]time.Time{producer1: old, producer2: t0, consumer1: t0},
			Quiet: base().Quiet, Sessions: base().Sessions},
	}, {
		name:  "quiet unless heard from since",
		start: base(),
		effects: Effects{
			ClientsQuiet: map[Client]time.Time{producer1: old, consumer1: old},
		},
		want: Liveness{Brokers: base().Brokers, Clients: base().Clients, Quiet: map[Client]bool{producer1: true, producer2: true},
			Sessions: base().Sessions},
	}, {
		name:    "heard from after the decision: not quiet",
		start:   base(),
		effects: Effects{ClientsQuiet: map[Client]time.Time{producer1: old.Add(-time.Minute)}},
		want:    base(),
	}, {
		name:    "restart every timer",
		start:   base(),
		effects: Effects{Restart: t0},
		want: Liveness{Brokers: map[int64]time.Time{1: t0, 2: t0}, Clients: map[Client]time.Time{producer1: t0, producer2: t0},
			Quiet: base().Quiet, Sessions: map[int64]time.Time{1: t0, 2: t0}},
	}, {
		name:    "reset, then the rest",
		start:   base(),
		effects: Effects{Reset: &Liveness{Brokers: map[int64]time.Time{5: t0}}, BrokersHeard: map[int64]time.Time{6: t0}},
		want: Liveness{Brokers: map[int64]time.Time{5: t0, 6: t0}, Clients: map[Client]time.Time{}, Quiet: map[Client]bool{},
			Sessions: map[int64]time.Time{}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := c.start
			l.Apply(c.effects)
			if !reflect.DeepEqual(l, c.want) {
				t.Fatalf("got %+v\nwant %+v", l, c.want)
			}
		})
	}
}
