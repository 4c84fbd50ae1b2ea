package decide

import (
	"maps"
	"slices"
	"time"

	"github.com/logq/logq/projection"
)

// Client kinds, as in projection.ClientStatusChanged.
const (
	KindProducer = "producer"
	KindConsumer = "consumer"
)

// Client names a producer or a consumer.
type Client struct {
	Kind string // KindProducer or KindConsumer
	ID   int64
}

// Liveness is what the writer knows in memory and the log does not: when
// it last heard from each broker and client, on its own clock. Decisions
// only read it; their Effects say how it changes.
type Liveness struct {
	// Brokers holds each timed broker's last heartbeat. A live broker
	// without one gets one at the next liveness check.
	Brokers map[int64]time.Time
	// Clients holds when each client was last heard from; a client not in
	// it was not heard from in this writer's term.
	Clients map[Client]time.Time
	// Quiet holds the clients this writer showed inactive and has not heard
	// from since: only hearing from one revives it.
	Quiet map[Client]bool
	// Sessions holds, for each live broker this writer has seen holding
	// its session lock (the PostgreSQL advisory lock a broker holds while
	// its process runs), when it last saw it held. A broker not in it
	// never showed a lock in this term (an older binary, or one still
	// taking it) and keeps the heartbeat rule alone.
	Sessions map[int64]time.Time
}

// Effects are the changes to Liveness that a decision implies, applied by
// the writer after the decision's events were appended (at once when it
// decided none).
type Effects struct {
	// BrokersHeard sets these brokers' last heartbeat.
	BrokersHeard map[int64]time.Time
	// BrokersForgotten stops timing these brokers (removed).
	BrokersForgotten []int64
	// ClientsHeard: these clients were heard from at the time given.
	ClientsHeard map[Client]time.Time
	// ClientsTimed starts these clients' timers at the time given, unless
	// they were heard from meanwhile.
	ClientsTimed map[Client]time.Time
	// ClientsQuiet: these clients were shown inactive; each one is quiet
	// unless it was heard from after the last-seen time given.
	ClientsQuiet map[Client]time.Time
	// SessionsHeld: these brokers were seen holding their session lock at
	// the time given.
	SessionsHeld map[int64]time.Time
	// SessionsForgotten stops watching these brokers' session locks
	// (declared dead, or no longer live).
	SessionsForgotten []int64
	// Reset, when set, replaces the liveness before the rest applies (a
	// new writer term).
	Reset *Liveness
	// Restart, when not zero, restarts every timer at that time (after the
	// writer stalled).
	Restart time.Time
}

// IsZero reports whether e changes nothing.
func (e Effects) IsZero() bool {
	return len(e.BrokersHeard) == 0 && len(e.BrokersForgotten) == 0 && len(e.ClientsHeard) == 0 &&
		len(e.ClientsTimed) == 0 && len(e.ClientsQuiet) == 0 && len(e.SessionsHeld) == 0 &&
		len(e.SessionsForgotten) == 0 && e.Reset == nil && e.Restart.IsZero()
}

// Apply applies e to l, creating the maps it needs.
func (l *Liveness) Apply(e Effects) {
	if e.Reset != nil {
		*l = e.Reset.clone()
	}
	if l.Brokers == nil {
		l.Brokers = map[int64]time.Time{}
	}
	if l.Clients == nil {
		l.Clients = map[Client]time.Time{}
	}
	if l.Quiet == nil {
		l.Quiet = map[Client]bool{}
	}
	if l.Sessions == nil {
		l.Sessions = map[int64]time.Time{}
	}
	if !e.Restart.IsZero() {
		for id := range l.Brokers {
			l.Brokers[id] = e.Restart
		}
		for id := range l.Sessions {
			l.Sessions[id] = e.Restart
		}
		for c := range l.Clients {
			l.Clients[c] = e.Restart
		}
	}
	for id, t := range e.BrokersHeard {
		l.Brokers[id] = t
	}
	for _, id := range e.BrokersForgotten {
		delete(l.Brokers, id)
		delete(l.Sessions, id)
	}
	for id, t := range e.SessionsHeld {
		l.Sessions[id] = t
	}
	for _, id := range e.SessionsForgotten {
		delete(l.Sessions, id)
	}
	for c, t := range e.ClientsTimed {
		if _, ok := l.Clients[c]; !ok {
			l.Clients[c] = t
		}
	}
	for c, t := range e.ClientsHeard {
		l.Clients[c] = t
		delete(l.Quiet, c)
	}
	for c, last := range e.ClientsQuiet {
		if t, ok := l.Clients[c]; ok && t.Equal(last) {
			l.Quiet[c] = true
		}
	}
}

func (l Liveness) clone() Liveness {
	return Liveness{
		Brokers:  cloneMap(l.Brokers),
		Clients:  cloneMap(l.Clients),
		Quiet:    cloneMap(l.Quiet),
		Sessions: cloneMap(l.Sessions),
	}
}

// cloneMap copies m, never returning nil.
func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m))
	maps.Copy(c, m)
	return c
}

// Timeouts are the writer's liveness settings.
type Timeouts struct {
	Heartbeat time.Duration // a broker silent this long is dead
	// Session is how long a broker seen holding its session lock may be
	// seen without it before it is dead (a reconnecting broker takes it
	// back within it; a dead process never does).
	Session       time.Duration
	Client        time.Duration // a client silent this long is shown inactive
	CheckInterval time.Duration // how often the writer checks liveness
}

// ClientStatus reports whether a client is shown inactive in s, and
// whether it exists.
func ClientStatus(s *projection.State, c Client) (inactive, ok bool) {
	switch c.Kind {
	case KindProducer:
		if p, found := s.Producers[c.ID]; found {
			return p.Inactive, true
		}
	case KindConsumer:
		if p, found := s.Consumers[c.ID]; found {
			return p.Inactive, true
		}
	}
	return false, false
}

// CheckLiveness declares dead every live broker whose last heartbeat is
// Heartbeat or more before now (BrokerStatusChanged{alive: false}) and
// reassigns its partitions (placement) with the next epoch; it shows
// inactive every active producer or consumer last heard from Client or
// more before now, and active again every inactive one heard from since
// (ClientStatusChanged), producers then consumers, by id. A live broker or
// active client without a time gets one: its timer starts now. Only
// changes are events.
func CheckLiveness(s *projection.State, l Liveness, t Timeouts, now time.Time) Decision {
	var d Decision
	dead := map[int64]bool{}
	for _, id := range s.LiveBrokers() {
		last, ok := l.Brokers[id]
		switch {
		case !ok:
			d.heardBroker(id, now)
		case now.Sub(last) >= t.Heartbeat:
			d.Events = append(d.Events, projection.BrokerStatusChanged{BrokerID: id, Alive: false})
			dead[id] = false
			if _, watched := l.Sessions[id]; watched {
				d.Effects.SessionsForgotten = append(d.Effects.SessionsForgotten, id)
			}
		}
	}
	if len(dead) > 0 {
		d.Events = append(d.Events, newCluster(s, dead).reassignOrphans()...)
	}
	check := func(kind string, id int64, inactive bool) {
		c := Client{kind, id}
		last, ok := l.Clients[c]
		switch {
		case !inactive && !ok:
			if d.Effects.ClientsTimed == nil {
				d.Effects.ClientsTimed = map[Client]time.Time{}
			}
			d.Effects.ClientsTimed[c] = now
		case !inactive && now.Sub(last) >= t.Client:
			d.Events = append(d.Events, projection.ClientStatusChanged{Client: kind, ID: id, Active: false})
			if d.Effects.ClientsQuiet == nil {
				d.Effects.ClientsQuiet = map[Client]time.Time{}
			}
			d.Effects.ClientsQuiet[c] = last
		case inactive && ok && !l.Quiet[c] && now.Sub(last) < t.Client:
			// Heard from since it was shown inactive (or since this
			// writer was elected).
			d.Events = append(d.Events, projection.ClientStatusChanged{Client: kind, ID: id, Active: true})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.Producers)) {
		check(KindProducer, id, s.Producers[id].Inactive)
	}
	for _, id := range slices.Sorted(maps.Keys(s.Consumers)) {
		check(KindConsumer, id, s.Consumers[id].Inactive)
	}
	return d
}

// CheckSessions declares dead every live broker that this writer saw
// holding its session lock (l.Sessions) Session or more before now and
// that does not hold it now (held: the brokers holding theirs, as one read
// of the lock table showed): its process is gone, since PostgreSQL ends
// the session of a process that dies, so it need not wait for the
// heartbeat timeout. Like CheckLiveness it appends
// BrokerStatusChanged{alive: false} and reassigns the broker's partitions
// with the next epoch. A live broker holding its lock is seen holding it
// at now; a broker never seen holding one (an older binary, a broker
// still taking it) and a broker whose process hangs (its session stays)
// are left to the heartbeat rule. Dead and removed brokers stop being
// watched.
func CheckSessions(s *projection.State, l Liveness, held map[int64]bool, t Timeouts, now time.Time) Decision {
	var d Decision
	dead := map[int64]bool{} // broker → alive (false), for the placement
	live := map[int64]bool{}
	for _, id := range s.LiveBrokers() {
		live[id] = true
		last, watched := l.Sessions[id]
		switch {
		case held[id]:
			if d.Effects.SessionsHeld == nil {
				d.Effects.SessionsHeld = map[int64]time.Time{}
			}
			d.Effects.SessionsHeld[id] = now
		case watched && now.Sub(last) >= t.Session:
			d.Events = append(d.Events, projection.BrokerStatusChanged{BrokerID: id, Alive: false})
			dead[id] = false
		}
	}
	if len(dead) > 0 {
		d.Events = append(d.Events, newCluster(s, dead).reassignOrphans()...)
	}
	for _, id := range slices.Sorted(maps.Keys(l.Sessions)) {
		if _, died := dead[id]; died || !live[id] {
			d.Effects.SessionsForgotten = append(d.Effects.SessionsForgotten, id)
		}
	}
	return d
}

// Seen decides what hearing from clients at now changes: each known one
// is heard from (unknown ids are ignored); wake reports whether one of
// them is shown inactive, so that liveness should be checked at once.
func Seen(s *projection.State, clients []Client, now time.Time) (e Effects, wake bool) {
	for _, c := range clients {
		inactive, ok := ClientStatus(s, c)
		if !ok {
			continue
		}
		if e.ClientsHeard == nil {
			e.ClientsHeard = map[Client]time.Time{}
		}
		e.ClientsHeard[c] = now
		wake = wake || inactive
	}
	return e, wake
}

// AfterStall decides whether the writer's liveness ticker firing gap after
// its previous tick means the writer itself did not run (a stopped or
// starved process, a paused VM): gap exceeds the check interval by over
// half the heartbeat timeout. The heartbeats sent meanwhile are then still
// queued, unread, and declaring brokers dead on the stale times would move
// every partition at once (seen in the fault-injection suite: SIGSTOP the
// writer past the heartbeat timeout, then SIGCONT); so every broker and
// client gets a fresh timeout, as from a new writer.
func AfterStall(gap time.Duration, t Timeouts, now time.Time) (Effects, bool) {
	if gap-t.CheckInterval <= t.Heartbeat/2 {
		return Effects{}, false
	}
	return Effects{Restart: now}, true
}
