package broker

// Retention: the background loop that enforces each topic's retention on
// the partitions this broker owns (docs/retention.md). Every
// RetentionCheckInterval (or when kicked) one step visits the served
// partitions and asks storage (storage.Retainer) to drop the segments past
// the topic's retention, at most RetentionMaxSegments in the whole step;
// when more are due, the next step follows at once. Each drop is fenced by
// the partition's epoch in storage, so a broker that lost a partition drops
// nothing of it.

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logq/logq"
	"github.com/logq/logq/broker/storage"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/projection"
)

// Retention defaults (Config).
const (
	DefaultRetentionCheckInterval = 5 * time.Minute // Kafka's log.retention.check.interval.ms
	DefaultRetentionMaxSegments   = 16
)

// retention is the broker's retention state.
type retention struct {
	step  sync.Mutex       // one step at a time (loop and RetentionStep)
	now   func() time.Time // the clock; tests inject one
	kick  chan struct{}    // capacity 1: run a step now
	steps eventlog.Watermark
	// noLoop (tests) keeps the loop from running: steps run only when a
	// test calls RetentionStep.
	noLoop bool

	mu     sync.Mutex
	starts map[partKey]int64 // log start offsets, as of the last step

	dropped prometheus.Counter
}

func newRetention(m *metrics) *retention {
	return &retention{
		now:    time.Now,
		kick:   make(chan struct{}, 1),
		starts: map[partKey]int64{},
		dropped: m.reg.Counter("logq_broker_retention_dropped_segments_total",
			"Segments of partition logs dropped by retention."),
	}
}

// RetentionReport is what one retention step did.
type RetentionReport struct {
	Partitions int // partitions visited
	Dropped    int // segments dropped
	More       bool
}

// KickRetention makes the retention loop run a step now.
func (b *Broker) KickRetention() {
	select {
	case b.ret.kick <- struct{}{}:
	default:
	}
}

// RetentionSteps returns the number of retention steps completed so far
// (by the loop or RetentionStep); tests wait on it with WaitRetentionSteps.
func (b *Broker) RetentionSteps() int64 { return b.ret.steps.Load() }

// WaitRetentionSteps blocks until n retention steps have completed, or ctx
// is done.
func (b *Broker) WaitRetentionSteps(ctx context.Context, n int64) error {
	_, err := b.ret.steps.Wait(ctx, n)
	return err
}

// retentionLoop runs retention steps until ctx is done.
func (b *Broker) retentionLoop(ctx context.Context) {
	if _, ok := b.store.(storage.Retainer); !ok || b.ret.noLoop {
		return
	}
	t := time.NewTimer(b.cfg.RetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.ret.kick:
		}
		rep, err := b.RetentionStep(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			b.log.Warn().Err(err).Msg("retention step incomplete; the next one retries")
		}
		next := b.cfg.RetentionCheckInterval
		if rep.More {
			next = 0 // bounded work per step: more is due, go on at once
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}

// RetentionStep runs one retention step now: every partition this broker
// serves gets its topic's retention enforced, dropping at most
// RetentionMaxSegments segments over all of them. The first error is
// returned after the other partitions were visited.
func (b *Broker) RetentionStep(ctx context.Context) (RetentionReport, error) {
	var rep RetentionReport
	r, ok := b.store.(storage.Retainer)
	if !ok {
		return rep, logq.Errorf(logq.EUnavailable, "this broker's storage has no retention")
	}
	b.ret.step.Lock()
	defer b.ret.step.Unlock()
	defer b.ret.steps.Advance(b.ret.steps.Load() + 1)
	budget := b.cfg.RetentionMaxSegments
	now := b.ret.now()
	var firstErr error
	for _, p := range b.servedPartitions() {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		rep.Partitions++
		policy := b.retentionPolicy(p.topic)
		limit := budget
		if policy.Unlimited() {
			limit = 0 // only learn the log start
		}
		res, err := r.Retain(ctx, p.topic, p.partition, p.epoch, policy, now, limit)
		if err != nil {
			if errors.Is(err, logq.ErrFenced) {
				continue // moved to another broker; reconcile will notice
			}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		b.ret.mu.Lock()
		b.ret.starts[p.partKey] = res.LogStart
		b.ret.mu.Unlock()
		if res.Dropped > 0 {
			b.ret.dropped.Add(float64(res.Dropped))
			b.log.Info().Str("partition", p.String()).Int("segments", res.Dropped).Int64("log_start_offset", res.LogStart).
				Msg("retention dropped segments")
		}
		rep.Dropped += res.Dropped
		budget -= res.Dropped
		rep.More = rep.More || res.More
		if budget <= 0 && !policy.Unlimited() {
			rep.More = true
			break
		}
	}
	return rep, firstErr
}

// retentionPolicy resolves a topic's retention against the cluster
// defaults: 0 takes the default, -1 (or a default of -1) keeps forever.
func (b *Broker) retentionPolicy(topic string) storage.RetentionPolicy {
	var ms, bytes int64
	b.mu.RLock()
	if t, ok := b.state.Topics[topic]; ok {
		ms, bytes = t.RetentionMs, t.RetentionBytes
	}
	b.mu.RUnlock()
	if ms == projection.RetentionDefault {
		ms = b.cfg.RetentionMs
	}
	if bytes == projection.RetentionDefault {
		bytes = b.cfg.RetentionBytes
	}
	var p storage.RetentionPolicy
	if ms > 0 {
		p.MaxAge = time.Duration(ms) * time.Millisecond
	}
	if bytes > 0 {
		p.MaxBytes = bytes
	}
	return p
}

// logStartOf returns a served partition's log start offset as of the last
// retention step; false before the first.
func (b *Broker) logStartOf(k partKey) (int64, bool) {
	b.ret.mu.Lock()
	defer b.ret.mu.Unlock()
	v, ok := b.ret.starts[k]
	return v, ok
}
