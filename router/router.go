package router

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

// State is the cluster state a router routes by: the manager's replica of
// the event log (an *eventlog.Replica).
type State interface {
	// View calls fn with the current state under the read lock; fn must
	// neither change nor keep it.
	View(fn func(s *projection.State))
	// WaitApplied waits until seq is applied, or ctx is done.
	WaitApplied(ctx context.Context, seq int64) error
}

// Config is what a Router needs of the manager that runs it. State, Decode
// and Peers are required.
type Config struct {
	State State
	// Decode reads a request's parameters into dst, a pointer to an api
	// XxxParams, and waits for its min_seq when it has one.
	Decode func(r *http.Request, dst any) error
	// Touch records that a producer or consumer (decide.KindProducer,
	// decide.KindConsumer) was heard from; inactive is its status in the
	// state. It is called under the state's read lock. Optional.
	Touch func(kind string, id int64, inactive bool)
	// Caller names the principal a request acts as, and whether the ids
	// it uses must be its own: a producer or consumer registered by
	// another principal (Producer.Principal, Consumer.Principal; "": none)
	// is then refused with forbidden before anything reaches a broker.
	// check is false in open mode and for principals that act for anyone.
	// It is called outside the state's lock. Optional (nil: no check).
	Caller func(r *http.Request) (name string, check bool)
	// Observe counts one request to a broker, by operation and outcome
	// ("ok" or a logq error code). Optional.
	Observe func(op, code string)
	// Peers is the HTTP client to brokers (NewPeerClient).
	Peers *http.Client

	// BrokerTimeout bounds one request to a broker, on top of any long-poll
	// wait it asks for; MinSeqWait bounds the wait for a newer event after
	// a fenced answer.
	BrokerTimeout time.Duration
	MinSeqWait    time.Duration
	// MaxMessageBytes caps one produced message (key included),
	// MaxBatchMessages the messages of one produce_batch.
	MaxMessageBytes  int
	MaxBatchMessages int
	// PartitionTimeout bounds each partition's part of a whole-topic
	// consume or fetch (they are asked concurrently): a partition whose
	// broker is slow or stopped is skipped this time, and its position not
	// moved. Default: min(BrokerTimeout, 2s).
	PartitionTimeout time.Duration
}

// Router routes data-plane requests to the owning brokers.
type Router struct {
	cfg Config

	rr    sync.Map // round-robin counters: "p/"+topic and "c/"+consumer id → *atomic.Uint64
	lanes sync.Map // appends waiting per partition (coalesce.go): laneKey → *appendLane

	paths struct{ passedThrough, decoded atomic.Int64 } // consume_batch answers of brokers (consume.go)
}

// New returns a router configured by cfg.
func New(cfg Config) *Router {
	if cfg.Touch == nil {
		cfg.Touch = func(string, int64, bool) {}
	}
	if cfg.Observe == nil {
		cfg.Observe = func(string, string) {}
	}
	if cfg.PartitionTimeout <= 0 {
		cfg.PartitionTimeout = 2 * time.Second
		if cfg.BrokerTimeout > 0 {
			cfg.PartitionTimeout = min(cfg.BrokerTimeout, cfg.PartitionTimeout)
		}
	}
	return &Router{cfg: cfg}
}

// caller is who r acts as for the ownership check (Config.Caller).
type caller struct {
	name  string
	check bool
}

func (rt *Router) callerOf(r *http.Request) caller {
	if rt.cfg.Caller == nil {
		return caller{}
	}
	name, check := rt.cfg.Caller(r)
	return caller{name, check}
}

// mayUse refuses c the producer or consumer id owned by owner, if another
// principal's.
func (c caller) mayUse(kind string, id int64, owner string) error {
	if !c.check || owner == "" || owner == c.name {
		return nil
	}
	return logq.Errorf(logq.EForbidden, "%s %d was registered by another principal; %q may not use it", kind, id, c.name)
}

// counter returns the named round-robin counter.
func (rt *Router) counter(name string) *atomic.Uint64 {
	if c, ok := rt.rr.Load(name); ok {
		return c.(*atomic.Uint64)
	}
	c, _ := rt.rr.LoadOrStore(name, new(atomic.Uint64))
	return c.(*atomic.Uint64)
}
