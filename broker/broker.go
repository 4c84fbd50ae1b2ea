package broker

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/logq/logq"
	"github.com/logq/logq/auth/httpauth"
	"github.com/logq/logq/broker/storage"
	"github.com/logq/logq/broker/storage/pgstore"
	"github.com/logq/logq/client"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/advertise"
	"github.com/logq/logq/internal/pg"
	"github.com/logq/logq/kafka"
	"github.com/logq/logq/projection"
)

// Broker serves the partitions the control plane assigns to it. Make one
// with New, run it with Serve, release it with Close.
type Broker struct {
	cfg     Config
	log     zerolog.Logger
	db      *pgxpool.Pool // data plane
	store   storage.Store
	metrics *metrics

	id      atomic.Int64
	serving atomic.Bool // Serve was called

	// replica follows the control plane's event log into state, which it
	// changes in place under mu (shared with it, so that state and the
	// partition table below are read under one lock).
	replica *eventlog.Replica
	mu      sync.RWMutex
	state   *projection.State      // replica.State(): the control plane as of state.Seq
	parts   map[partKey]*partition // partitions served now
	refused map[partKey]int64      // per partition, the last epoch storage refused us
	// applied is the seq whose assignments are in effect (reconcile).
	applied eventlog.Watermark

	reconcileCh chan struct{} // capacity 1: the state changed
	closing     chan struct{} // closed when Serve starts shutting down
	lanes       []*committer  // group-commit lanes; partitions are spread over them
	stopLanes   sync.Once

	// registered (capacity 1) is kicked by each registration: the session
	// lock follows the broker's id (sessionLockLoop).
	registered  chan struct{}
	sessionLock atomic.Pointer[eventlog.BrokerLock] // held for the current id; nil before registration

	// heartbeatDone is closed when the registration/heartbeat loop ends
	// (shutdown, or the broker was removed): tests wait on it.
	heartbeatDone chan struct{}
	// longPollWaiting, when set, is called each time a consume starts
	// waiting for an append (tests).
	longPollWaiting func()

	ret *retention // retention.go
	// The Kafka listener (broker/kafka.go): opened by New when KafkaAddr
	// is set, served by Serve.
	kafkaLn        net.Listener
	kafkaAdvertise string
	kafkaAdmin     *client.Client
}

type partKey struct {
	topic     string
	partition int
}

func (k partKey) String() string { return fmt.Sprintf("%s/%d", k.topic, k.partition) }

// partition is a partition this broker serves at one epoch.
type partition struct {
	partKey
	epoch int64
	lane  *committer   // the group-commit lane its appends go through
	hw    atomic.Int64 // next offset, as of the last commit

	mu       sync.Mutex
	appended chan struct{} // closed and replaced after each commit
	err      error         // why it is no longer served; nil while it is
}

func newPartition(k partKey, epoch, next int64, lane *committer) *partition {
	p := &partition{partKey: k, epoch: epoch, lane: lane, appended: make(chan struct{})}
	p.hw.Store(next)
	return p
}

// appendedChan returns a channel closed by the next commit.
func (p *partition) appendedChan() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.appended
}

// stop marks the partition as no longer served (the first error wins):
// appends still queued for it fail with err, long polls on it return.
func (p *partition) stop(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
		close(p.appended)
		p.appended = make(chan struct{})
	}
}

// stopped returns why the partition is no longer served, nil while it is.
func (p *partition) stopped() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// New connects to the data-plane database, migrates its schema and returns
// a broker ready to Serve. It does not register or tail yet.
func New(ctx context.Context, cfg Config) (*Broker, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	db, err := pg.Connect(ctx, cfg.DataDSN, cfg.MaxConns)
	if err != nil {
		return nil, fmt.Errorf("broker: data database: %w", err)
	}
	if err := pg.Migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	ctl := db
	if cfg.DataDSN != cfg.DSN {
		// The control-plane tables live in the other database.
		if ctl, err = pg.Connect(ctx, cfg.DSN, 2); err != nil {
			db.Close()
			return nil, fmt.Errorf("broker: control-plane database: %w", err)
		}
		defer ctl.Close()
		if err := pg.Migrate(ctx, ctl); err != nil {
			db.Close()
			return nil, fmt.Errorf("broker: %w", err)
		}
	}
	log := cfg.Logger.With().Str("component", "broker").Logger()
	b := newBroker(cfg, log)
	store := pgstore.New(db)
	store.SetSegmentOffsets(cfg.SegmentOffsets) // retention
	b.db, b.store = db, store
	// The control-plane pool serves only this start (the newest snapshot
	// and the events after it); the tail has connections of its own.
	b.newReplica(eventlog.NewDB(ctl, eventlog.TailConfig{
		DSN:             cfg.DSN,
		Mode:            cfg.TailMode,
		Logger:          log,
		ApplicationName: "logq-broker-tail",
	}))
	if err := b.replica.Start(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	b.id.Store(cfg.ID)
	b.metrics.reg.MustRegister(newLagCollector(b))
	for range cfg.CommitLanes {
		b.lanes = append(b.lanes, b.newLane())
	}
	if b.kafkaLn, err = listenKafka(cfg.KafkaAddr); err != nil {
		b.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	if b.kafkaLn != nil {
		b.kafkaAdvertise = cfg.KafkaAdvertiseAddr
		if b.kafkaAdvertise == "" {
			b.kafkaAdvertise = advertise.Addr(b.kafkaLn.Addr())
		}
	}
	return b, nil
}

// newReplica makes the broker's follower of the control plane's log,
// sharing mu: every change of the state kicks the reconciler.
func (b *Broker) newReplica(log eventlog.Log) {
	b.replica = eventlog.NewReplica(eventlog.ReplicaConfig{
		Log: log, Lock: &b.mu, Logger: b.log, Name: "this broker",
		OnApply: func(*projection.State, []logq.Event, bool) { b.kickReconcile() },
	})
	b.state = b.replica.State()
}

// newBroker is a Broker with its in-memory parts made and nothing started:
// no storage, no replica, no goroutines.
func newBroker(cfg Config, log zerolog.Logger) *Broker {
	b := &Broker{
		cfg:           cfg,
		log:           log,
		metrics:       newMetrics(),
		parts:         map[partKey]*partition{},
		refused:       map[partKey]int64{},
		reconcileCh:   make(chan struct{}, 1),
		closing:       make(chan struct{}),
		heartbeatDone: make(chan struct{}),
		registered:    make(chan struct{}, 1),
	}
	b.ret = newRetention(b.metrics)
	return b
}

// newLane starts a group-commit lane; closeLanes stops it.
func (b *Broker) newLane() *committer {
	c := newCommitter(b.store, b.cfg.MaxBatchMessages, b.cfg.MaxBatchBytes)
	c.committed = func(p *partition, hw int64, messages int) {
		p.hw.Store(hw)
		p.mu.Lock()
		close(p.appended)
		p.appended = make(chan struct{})
		p.mu.Unlock()
		b.metrics.setHighWatermark(p.topic, p.partition, hw)
	}
	c.batched = func(messages, requests int) {
		b.metrics.appendedMessages.Add(float64(messages))
		b.metrics.batchMessages.Observe(float64(messages))
		b.metrics.batchRequests.Observe(float64(requests))
	}
	c.fenced = func(p *partition, err error) {
		b.mu.Lock()
		if b.parts[p.partKey] == p {
			delete(b.parts, p.partKey)
			b.metrics.dropPartition(p.topic, p.partition)
		}
		b.refused[p.partKey] = max(b.refused[p.partKey], p.epoch)
		b.mu.Unlock()
		b.log.Warn().Str("partition", p.String()).Int64("epoch", p.epoch).Msg("fenced by storage: partition moved to a newer owner")
	}
	go c.run()
	return c
}

// ID returns the broker's id; 0 until it has registered.
func (b *Broker) ID() int64 { return b.id.Load() }

// HeartbeatsStopped is closed when the broker stops registering and
// heartbeating: at shutdown, or when a manager answered broker_removed
// (410: the broker was decommissioned, or its address belongs to a removed
// broker).
func (b *Broker) HeartbeatsStopped() <-chan struct{} { return b.heartbeatDone }

// AppliedSeq returns the seq of the last control-plane event whose
// assignments are in effect: every partition the log assigns to this
// broker as of that seq is served (its storage epoch claimed), every other
// one is not.
func (b *Broker) AppliedSeq() int64 { return b.applied.Load() }

// WaitApplied blocks until AppliedSeq() >= seq or ctx is done (ETimeout
// when its deadline passed).
func (b *Broker) WaitApplied(ctx context.Context, seq int64) error {
	applied, err := b.applied.Wait(ctx, seq)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return logq.Errorf(logq.ETimeout, "broker %d has applied the event log up to seq %d, not yet %d", b.ID(), applied, seq)
	default:
		return logq.Errorf(logq.EUnavailable, "wait for seq %d: canceled", seq)
	}
}

// Serve runs the broker on ln: the HTTP API, the event-log tail that tells
// it what it owns, and (with managers configured) registration and
// heartbeats. When ctx is done it stops accepting requests, lets the
// requests in flight finish (appends are committed and answered), and
// returns nil. It returns early only if the HTTP server fails.
func (b *Broker) Serve(ctx context.Context, ln net.Listener) error {
	if !b.serving.CompareAndSwap(false, true) {
		return errors.New("broker: Serve called twice")
	}
	if err := httpauth.CheckExposure(ln.Addr().String(), b.cfg.Auth, b.cfg.Insecure); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if b.kafkaLn != nil {
		if err := httpauth.CheckExposure(b.kafkaLn.Addr().String(), b.cfg.Auth, b.cfg.Insecure); err != nil {
			return fmt.Errorf("broker: kafka listener: %w", err)
		}
	}
	tlsCfg, err := b.cfg.TLS.ServerConfig()
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	ln = httpauth.Listen(ln, tlsCfg) // auth.go: TLS on the API
	srv := &http.Server{
		Handler:           newServer(b).handler(),
		ReadHeaderTimeout: b.cfg.ReadHeaderTimeout,
		ReadTimeout:       b.cfg.ReadTimeout,
		WriteTimeout:      b.cfg.WriteTimeout,
		IdleTimeout:       b.cfg.IdleTimeout,
		ErrorLog:          stdlog.New(b.log.With().Str("source", "http").Logger(), "", 0),
	}
	loopCtx, stopLoops := context.WithCancel(ctx)
	defer stopLoops()
	var loops sync.WaitGroup
	loops.Go(func() { b.replica.Run(loopCtx) })
	loops.Go(func() { b.reconcileLoop(loopCtx) })
	loops.Go(func() { b.retentionLoop(loopCtx) })
	if len(b.cfg.Managers) > 0 {
		adv := b.cfg.AdvertiseAddr
		if adv == "" {
			adv = advertise.Addr(ln.Addr())
		}
		if tlsCfg != nil {
			adv = "https://" + adv // managers and clients call it over TLS
		}
		loops.Go(func() { b.heartbeatLoop(loopCtx, adv) })
		loops.Go(func() { b.sessionLockLoop(loopCtx) })
	} else {
		close(b.heartbeatDone)
	}
	b.kickReconcile()
	b.log.Info().Str("addr", ln.Addr().String()).Int64("broker_id", b.ID()).Msg("broker serving")

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var kafkaSrv *kafka.Server
	kafkaDone := make(chan error, 1)
	if b.kafkaLn != nil {
		var err error
		if kafkaSrv, err = b.newKafkaServer(); err != nil {
			b.kafkaLn.Close()
			kafkaDone <- kafka.ErrServerClosed
			b.log.Error().Err(err).Msg("kafka listener not started")
		} else {
			kafkaTLS := tlsCfg
			if b.cfg.KafkaTLS.Cert != "" {
				kafkaTLS, _ = b.cfg.KafkaTLS.ServerConfig() // checked by Validate
			}
			kln := httpauth.Listen(b.kafkaLn, kafkaTLS) // SSL / SASL_SSL with --tls-cert (kafka/sasl.go)
			go func() { kafkaDone <- kafkaSrv.Serve(kln) }()
		}
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	close(b.closing) // long polls return now
	shutdownCtx, cancel := context.WithTimeout(context.Background(), b.cfg.ShutdownTimeout)
	defer cancel()
	if kafkaSrv != nil {
		kafkaSrv.Close() // lets requests in flight finish
		if err := <-kafkaDone; err != nil && !errors.Is(err, kafka.ErrServerClosed) {
			b.log.Warn().Err(err).Msg("kafka listener failed")
		}
	}
	if serveErr == nil {
		if err := srv.Shutdown(shutdownCtx); err != nil {
			b.log.Warn().Err(err).Msg("graceful shutdown incomplete; closing connections")
			srv.Close()
		}
		<-served
	}
	stopLoops()
	loops.Wait()
	b.closeLanes(shutdownCtx)
	b.log.Info().Msg("broker stopped")
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("broker: serve: %w", serveErr)
	}
	return nil
}

// Close releases the database pool. Call it after Serve has returned (or
// instead of Serve).
func (b *Broker) Close() {
	b.closeLanes(context.Background())
	if b.kafkaLn != nil {
		b.kafkaLn.Close() // when Serve never ran
	}
	if b.kafkaAdmin != nil {
		b.kafkaAdmin.Close()
	}
	b.db.Close()
}

// closeLanes stops serving every partition and closes the group-commit
// lanes, waiting (until ctx is done) for them to commit what was queued.
func (b *Broker) closeLanes(ctx context.Context) {
	b.stopLanes.Do(func() {
		b.mu.Lock()
		parts := b.parts
		b.parts = map[partKey]*partition{}
		b.mu.Unlock()
		for _, p := range parts {
			b.metrics.dropPartition(p.topic, p.partition)
		}
		b.metrics.ownedPartitions.Set(0)
		for _, c := range b.lanes {
			c.close(logq.Errorf(logq.EUnavailable, "broker %d is shutting down", b.ID()))
		}
	})
	for _, c := range b.lanes {
		if err := c.wait(ctx); err != nil {
			b.log.Warn().Msg("group commit still running at the shutdown deadline")
			return
		}
	}
}

func (b *Broker) kickReconcile() {
	select {
	case b.reconcileCh <- struct{}{}:
	default:
	}
}

// reconcileLoop makes what the broker serves match what the log assigns
// it, after every change of the state (coalesced), retrying with backoff
// while storage fails.
func (b *Broker) reconcileLoop(ctx context.Context) {
	const minBackoff, maxBackoff = 50 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.reconcileCh:
		case <-retry.C:
		}
		if err := b.reconcile(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			b.log.Warn().Err(err).Dur("retry_in", backoff).Msg("cannot take over partitions yet")
			retry.Reset(backoff)
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
	}
}

// reconcile stops serving partitions the state no longer gives this broker
// (or gives at a newer epoch) and takes over those it gives: claim the
// epoch in storage, read the committed next offset, then serve. On success
// the state's seq becomes AppliedSeq.
func (b *Broker) reconcile(ctx context.Context) error {
	id := b.ID()
	if id == 0 {
		return nil // not registered yet; registration kicks us again
	}
	type claim struct {
		key   partKey
		epoch int64
	}
	b.mu.Lock()
	seq := b.state.Seq
	desired := map[partKey]int64{}
	for _, r := range b.state.PartitionsOf(id) {
		desired[partKey{r.Topic, r.Partition}] = r.Epoch
	}
	var released []*partition
	for k, p := range b.parts {
		if desired[k] != p.epoch {
			delete(b.parts, k)
			released = append(released, p)
		}
	}
	var claims []claim
	for k, e := range desired {
		if p, ok := b.parts[k]; ok && p.epoch == e {
			continue
		}
		if b.refused[k] >= e {
			continue // storage already holds a newer epoch; a later event will say whose
		}
		claims = append(claims, claim{k, e})
	}
	b.mu.Unlock()

	for _, p := range released {
		p.stop(notOwnerError(id, p.partKey))
		b.metrics.dropPartition(p.topic, p.partition)
		b.log.Info().Str("partition", p.String()).Int64("epoch", p.epoch).Msg("partition released")
	}
	slices.SortFunc(claims, func(a, c claim) int {
		if a.key.topic != c.key.topic {
			if a.key.topic < c.key.topic {
				return -1
			}
			return 1
		}
		return a.key.partition - c.key.partition
	})
	var firstErr error
	for _, c := range claims {
		next, err := b.store.Claim(ctx, c.key.topic, c.key.partition, id, c.epoch)
		if errors.Is(err, logq.ErrFenced) {
			b.mu.Lock()
			b.refused[c.key] = max(b.refused[c.key], c.epoch)
			b.mu.Unlock()
			b.log.Info().Str("partition", c.key.String()).Int64("epoch", c.epoch).Err(err).Msg("partition not taken over: storage epoch is newer")
			continue
		}
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("take over %s at epoch %d: %w", c.key, c.epoch, err)
			}
			continue
		}
		b.startPartition(c.key, c.epoch, next)
		b.KickRetention() // learn its log start, enforce its retention
		b.log.Info().Str("partition", c.key.String()).Int64("epoch", c.epoch).Int64("next_offset", next).Msg("partition taken over")
	}
	b.mu.Lock()
	n := len(b.parts)
	if firstErr == nil {
		b.applied.Advance(seq)
	}
	b.mu.Unlock()
	b.metrics.ownedPartitions.Set(float64(n))
	if firstErr == nil {
		b.metrics.appliedSeq.Set(float64(seq))
	}
	return firstErr
}

// startPartition serves a partition whose storage epoch we hold, from
// offset next on.
func (b *Broker) startPartition(k partKey, epoch, next int64) {
	b.mu.Lock()
	// The lane serving the fewest partitions.
	load := make(map[*committer]int, len(b.lanes))
	for _, p := range b.parts {
		load[p.lane]++
	}
	lane := b.lanes[0]
	for _, c := range b.lanes[1:] {
		if load[c] < load[lane] {
			lane = c
		}
	}
	p := newPartition(k, epoch, next, lane)
	old := b.parts[k]
	b.parts[k] = p
	b.mu.Unlock()
	if old != nil {
		old.stop(notOwnerError(b.ID(), k))
	}
	b.metrics.setHighWatermark(k.topic, k.partition, next)
}

func notOwnerError(id int64, k partKey) error {
	return logq.Errorf(logq.EFenced, "broker %d does not own partition %s", id, k)
}

// servedPartition returns the partition if this broker serves it now, or
// says why not: EFenced when the log gives it to another broker (or to
// nobody, or storage holds a newer epoch), EUnavailable while a takeover
// is in progress.
func (b *Broker) servedPartition(topic string, partition int) (*partition, error) {
	k := partKey{topic, partition}
	id := b.ID()
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := b.parts[k]; ok {
		return p, nil
	}
	if id == 0 {
		return nil, logq.Errorf(logq.EUnavailable, "broker is not registered yet")
	}
	if t, ok := b.state.Topics[topic]; ok && partition < len(t.Partitions) {
		if p := t.Partitions[partition]; p.Broker == id && b.refused[k] < p.Epoch {
			return nil, logq.Errorf(logq.EUnavailable, "broker %d is taking over partition %s; retry", id, k)
		}
	}
	if me, ok := b.state.Brokers[id]; ok && me.Removed {
		// Still fenced (the re-route signal), saying why.
		return nil, logq.Errorf(logq.EFenced, "broker %d was removed from the cluster (decommissioned) and owns no partition; %s is served by another broker", id, k)
	}
	return nil, notOwnerError(id, k)
}

// servedPartitions returns the partitions served now, sorted.
func (b *Broker) servedPartitions() []*partition {
	b.mu.Lock()
	out := make([]*partition, 0, len(b.parts))
	for _, p := range b.parts {
		out = append(out, p)
	}
	b.mu.Unlock()
	slices.SortFunc(out, func(a, c *partition) int {
		if a.topic != c.topic {
			if a.topic < c.topic {
				return -1
			}
			return 1
		}
		return a.partition - c.partition
	})
	return out
}

// append commits msgs to a partition this broker serves (group commit)
// and returns the offset of the first.
func (b *Broker) append(ctx context.Context, topic string, partition int, msgs []message) (int64, error) {
	base, _, err := b.appendIdem(ctx, topic, partition, msgs, nil)
	return base, err
}

// appendIdem is append with idempotence (nil: none): a duplicate answers
// the original offset, dup set.
func (b *Broker) appendIdem(ctx context.Context, topic string, partition int, msgs []message, idem *storage.Idempotence) (base int64, dup bool, err error) {
	p, err := b.servedPartition(topic, partition)
	if err != nil {
		return 0, false, err
	}
	start := time.Now()
	r, err := p.lane.submitIdem(ctx, p, msgs, idem)
	b.metrics.appendLatency.Observe(time.Since(start).Seconds())
	result := "ok"
	if err != nil {
		result = logq.ErrorCode(err)
	}
	b.metrics.appendRequests.WithLabelValues(result).Inc()
	return r.base, r.dup, err
}

// appendRuns is appendIdem for several runs at once (the runs form of an
// append), each answered on its own.
func (b *Broker) appendRuns(ctx context.Context, topic string, partition int, runs []commitRun) ([]appendResult, error) {
	p, err := b.servedPartition(topic, partition)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res := p.lane.submitRuns(ctx, p, runs)
	b.metrics.appendLatency.Observe(time.Since(start).Seconds())
	for _, r := range res {
		result := "ok"
		if r.err != nil {
			result = logq.ErrorCode(r.err)
		}
		b.metrics.appendRequests.WithLabelValues(result).Inc()
	}
	return res, nil
}

// consume returns a consumer's next messages of a partition this broker
// serves and advances its position past them. With wait > 0 and nothing to
// return, it waits up to wait for this broker's next commit to the
// partition (long poll).
func (b *Broker) consume(ctx context.Context, consumer int64, topic string, partition int, limit int, wait time.Duration, deadline time.Time) ([]storedMessage, error) {
	p, err := b.servedPartition(topic, partition)
	if err != nil {
		return nil, err
	}
	var waitEnd <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		waitEnd = t.C
	}
	for {
		appended := p.appendedChan() // before reading: no wake-up is lost
		start := time.Now()
		if !deadline.IsZero() && !start.Before(deadline) {
			// The caller has given up by now (or is about to): moving the
			// position would lose what it returns.
			b.metrics.consumeRequests.WithLabelValues(logq.ETimeout).Inc()
			return nil, logq.Errorf(logq.ETimeout, "consume of %s/%d: past the caller's deadline; nothing consumed", topic, partition)
		}
		msgs, err := b.store.Consume(ctx, consumer, topic, partition, limit, b.cfg.MaxReadBytes)
		b.metrics.consumeLatency.Observe(time.Since(start).Seconds())
		if err != nil {
			b.metrics.consumeRequests.WithLabelValues(logq.ErrorCode(err)).Inc()
			return nil, err
		}
		if len(msgs) > 0 || waitEnd == nil {
			result := "ok"
			if len(msgs) == 0 {
				result = "empty"
			}
			b.metrics.consumeRequests.WithLabelValues(result).Inc()
			b.metrics.consumedMessages.Add(float64(len(msgs)))
			return msgs, nil
		}
		if b.longPollWaiting != nil {
			b.longPollWaiting()
		}
		select {
		case <-appended:
			if err := p.stopped(); err != nil {
				return nil, err // moved elsewhere while we waited
			}
		case <-waitEnd:
			waitEnd = nil // one last look
		case <-b.closing:
			waitEnd = nil
		case <-ctx.Done():
			return nil, ctxError(ctx.Err(), "consume")
		}
	}
}

// fetch reads up to limit messages (maxBytes of values) of a partition
// this broker serves from offset from on, with its marks, moving nothing.
// With wait > 0 and nothing there yet (from is the high watermark), it
// waits up to wait for this broker's next commit to the partition (long
// poll).
func (b *Broker) fetch(ctx context.Context, topic string, partition int, from int64, limit, maxBytes int, wait time.Duration) (storage.Fetched, error) {
	p, err := b.servedPartition(topic, partition)
	if err != nil {
		return storage.Fetched{}, err
	}
	var deadline <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		deadline = t.C
	}
	for {
		appended := p.appendedChan() // before reading: no wake-up is lost
		f, err := b.store.Fetch(ctx, topic, partition, from, limit, maxBytes)
		if err != nil || len(f.Messages) > 0 || deadline == nil {
			return f, err
		}
		select {
		case <-appended:
			if err := p.stopped(); err != nil {
				return storage.Fetched{}, err // moved elsewhere while we waited
			}
		case <-deadline:
			deadline = nil // one last look
		case <-b.closing:
			deadline = nil
		case <-ctx.Done():
			return storage.Fetched{}, ctxError(ctx.Err(), "fetch")
		}
	}
}

// listOffsets answers ListOffsets of a partition this broker serves.
func (b *Broker) listOffsets(ctx context.Context, topic string, partition int, at int64) (storage.ListedOffset, error) {
	if _, err := b.servedPartition(topic, partition); err != nil {
		return storage.ListedOffset{}, err
	}
	return b.store.ListOffsets(ctx, topic, partition, at)
}

// size returns the high watermark of a partition this broker serves and a
// consumer's position in it.
func (b *Broker) size(ctx context.Context, consumer int64, topic string, partition int) (hw, position int64, err error) {
	if _, err := b.servedPartition(topic, partition); err != nil {
		return 0, 0, err
	}
	return b.store.Size(ctx, consumer, topic, partition)
}
