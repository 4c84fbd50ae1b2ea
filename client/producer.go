package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/internal/sleep"
)

// directRoutesTTL is how long a direct producer trusts its map of the
// topic's partitions before asking again (partitions may be added or move).
const directRoutesTTL = 10 * time.Second

// Defaults for ProducerConfig.
const (
	DefaultLinger     = 5 * time.Millisecond
	DefaultBatchSize  = 1000
	DefaultBatchBytes = 1 << 20
)

// Record is a message to produce. Key and Value hold any bytes (see
// Header: Go strings are bytes).
type Record struct {
	// Key, when set and Partition is nil, picks the partition: the FNV-1a
	// hash of the key modulo the partition count. Records with one key
	// therefore stay in order in one partition. "" is no key.
	Key string
	// Value is the message.
	Value string
	// Partition, when non-nil, is the partition to write to.
	Partition *int
	// Headers travel with the record.
	Headers []Header
	// Timestamp is the record's time (zero: the broker's time of the
	// append), kept to the millisecond.
	Timestamp time.Time
}

// Partition returns a pointer to n, for Record.Partition and the
// partition arguments of the registration calls.
func Partition(n int) *int { return &n }

// Ack is where a produced record was stored.
type Ack struct {
	Topic     string
	Partition int
	Offset    int64
}

// Future is the result of Producer.Send, available once the record is
// acknowledged (committed in PostgreSQL) or has failed.
type Future struct {
	done chan struct{}
	ack  Ack
	err  error
}

func newFuture() *Future { return &Future{done: make(chan struct{})} }

func (f *Future) complete(ack Ack, err error) {
	f.ack, f.err = ack, err
	close(f.done)
}

// Done is closed once the result is known.
func (f *Future) Done() <-chan struct{} { return f.done }

// Wait waits for the result, or for ctx to be done (which does not cancel the
// send).
func (f *Future) Wait(ctx context.Context) (Ack, error) {
	select {
	case <-f.done:
		return f.ack, f.err
	case <-ctx.Done():
		return Ack{}, ctx.Err()
	}
}

// Result returns the result once Done is closed; before that it returns
// ok false.
func (f *Future) Result() (ack Ack, err error, ok bool) {
	select {
	case <-f.done:
		return f.ack, f.err, true
	default:
		return Ack{}, nil, false
	}
}

// ProducerConfig configures a Producer. The zero value is a new producer for
// the whole topic with the default batching.
type ProducerConfig struct {
	// ID reuses a registered producer; 0 registers a new one.
	ID int64
	// Partition, when non-nil, registers the producer for that partition
	// only (ignored with ID).
	Partition *int
	// Linger is how long a batch waits for more records before it is sent
	// (default 5 ms; negative: send as soon as the previous batch is done).
	Linger time.Duration
	// BatchSize and BatchBytes bound a batch (defaults 1000 records, 1 MiB).
	BatchSize  int
	BatchBytes int
	// Buffer is how many records may wait to be batched before Send blocks
	// (default 10 × BatchSize).
	Buffer int
	// Direct sends batches straight to the brokers that own the partitions
	// (from GET /topics/{topic}, looked up again every 10 s and after a
	// failure), falling back to the manager when a broker is fenced or
	// unreachable. The idempotent parts of a Client's direct producers
	// to one partition that are sent while two are in flight travel
	// together, as runs of one broker request (each answered on its own).
	Direct bool
	// HeartbeatInterval: when the producer has sent nothing through a
	// manager for this long (idle, or Direct), it sends a heartbeat so that
	// the managers keep showing it active (default 15 s; negative: never).
	// Close stops the heartbeats.
	HeartbeatInterval time.Duration
	// NotIdempotent turns idempotence off. By default a producer is
	// idempotent: each batch for a partition carries the producer's epoch
	// and the sequence of its first record there, so a batch resent after
	// a lost answer goes to the same partition with the same sequence and
	// is stored once (the server answers the original offsets). A
	// keyless record's partition is chosen once, when it is first sent.
	// A producer reusing an ID is idempotent only with Epoch set.
	NotIdempotent bool
	// Epoch is the producer epoch (0…32767) of a producer reusing an ID:
	// it must be higher than the epoch of any earlier producer with that
	// ID (which is then refused, producer_fenced). New producers start at
	// 0 and leave it unset.
	Epoch int64
}

// Producer sends records to one topic in batches. It is safe for concurrent
// use; Close it when done.
type Producer struct {
	c     *Client
	topic string
	id    int64
	cfg   ProducerConfig

	in    chan *pending
	flush chan chan struct{}
	quit  chan struct{}
	done  chan struct{}

	mu     sync.RWMutex // Send holds it shared, Close exclusive
	closed bool

	ctx    context.Context // for the batches' requests; cancelled after the loop ends
	cancel context.CancelFunc

	budget time.Duration // how long a record is retried (produceBudget)

	rr     atomic.Uint64 // round robin in direct mode
	fixed  *int          // the registered partition, when this producer registered for one
	routes atomic.Pointer[TopicInfo]
	routed atomic.Int64 // unix nanoseconds when routes was fetched

	hb *idleHeartbeat

	idem *idemState // nil: not idempotent (idempotent.go)

	// The idempotent producer's partition senders (idempotent.go), used by
	// the loop goroutine only; partsPending counts the parts queued and not
	// answered yet, partsRunning the senders.
	parts        map[int]chan partItem
	partsPending sync.WaitGroup
	partsRunning sync.WaitGroup
}

// bytes is what a record counts against ProducerConfig.BatchBytes.
func (m *pending) bytes() int {
	n := len(m.rec.Value) + len(m.rec.Key) + 32
	for _, h := range m.rec.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

type pending struct {
	ctx context.Context
	rec Record
	fut *Future
}

// NewProducer registers a producer for topic (which is created if unknown)
// unless cfg.ID is set, and starts its batching loop.
func (c *Client) NewProducer(ctx context.Context, topic string, cfg ProducerConfig) (*Producer, error) {
	if cfg.Linger == 0 {
		cfg.Linger = DefaultLinger
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = DefaultBatchBytes
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 10 * cfg.BatchSize
	}
	id := cfg.ID
	if id == 0 {
		var err error
		if id, err = c.RegisterProducer(ctx, topic, cfg.Partition); err != nil {
			return nil, err
		}
	}
	p := &Producer{
		c: c, topic: topic, id: id, cfg: cfg,
		fixed: fixedPartition(cfg),
		in:    make(chan *pending, cfg.Buffer),
		flush: make(chan chan struct{}),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	p.budget = c.produceBudget(ctx)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.hb = newIdleHeartbeat(c, "producer", id, cfg.HeartbeatInterval)
	if !cfg.NotIdempotent && (cfg.ID == 0 || cfg.Epoch > 0) {
		p.idem = &idemState{epoch: cfg.Epoch, next: map[int]int64{}}
	}
	go p.loop()
	return p, nil
}

// fixedPartition is the partition the producer registered for: cfg's, when
// it registered (a reused ID's is known to the servers only).
func fixedPartition(cfg ProducerConfig) *int {
	if cfg.ID != 0 || cfg.Partition == nil {
		return nil
	}
	v := *cfg.Partition
	return &v
}

// ID is the producer's id.
func (p *Producer) ID() int64 { return p.id }

// Topic is the producer's topic.
func (p *Producer) Topic() string { return p.topic }

// Send queues rec and returns at once (unless the buffer is full) with a
// Future for its result. If ctx is done before the record is sent, the
// record is dropped and its Future fails with ctx's error.
func (p *Producer) Send(ctx context.Context, rec Record) *Future {
	f := newFuture()
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		f.complete(Ack{}, ErrClosed)
		return f
	}
	select {
	case p.in <- &pending{ctx: ctx, rec: rec, fut: f}:
	case <-ctx.Done():
		f.complete(Ack{}, ctx.Err())
	}
	return f
}

// Produce sends rec and waits for its acknowledgement.
func (p *Producer) Produce(ctx context.Context, rec Record) (Ack, error) {
	return p.Send(ctx, rec).Wait(ctx)
}

// Flush sends everything queued so far and waits until it is acknowledged
// or failed (see the Futures for each record's result).
func (p *Producer) Flush(ctx context.Context) error {
	ch := make(chan struct{})
	select {
	case p.flush <- ch:
	case <-p.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close sends what is queued, waits for it (bounded by the client's retry
// timeout per batch) and stops the producer. Send fails with ErrClosed
// afterwards.
func (p *Producer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.done
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	close(p.quit)
	<-p.done
	p.hb.stop()
	p.cancel()
	return nil
}

// loop gathers records into batches and sends them, one batch at a time so
// that records keep their order within a partition (the idempotent
// producer hands each batch's parts to its partitions' senders, each of
// which sends one part at a time: idempotent.go).
func (p *Producer) loop() {
	defer close(p.done)
	var (
		batch  []*pending
		bytes  int
		timer  = time.NewTimer(time.Hour)
		timerC <-chan time.Time
	)
	timer.Stop()
	defer timer.Stop()
	send := func() {
		if len(batch) > 0 {
			p.send(batch)
		}
		batch, bytes = nil, 0
		timer.Stop()
		timerC = nil
	}
	add := func(m *pending) {
		if err := m.ctx.Err(); err != nil {
			m.fut.complete(Ack{}, err)
			return
		}
		batch = append(batch, m)
		bytes += m.bytes()
		if len(batch) >= p.cfg.BatchSize || bytes >= p.cfg.BatchBytes {
			send()
		} else if len(batch) == 1 && p.cfg.Linger > 0 {
			timer.Reset(p.cfg.Linger)
			timerC = timer.C
		}
	}
	drain := func() {
		for {
			select {
			case m := <-p.in:
				add(m)
			default:
				return
			}
		}
	}
	for {
		select {
		case m := <-p.in:
			add(m)
			if p.cfg.Linger < 0 {
				drain()
				send()
			}
		case <-timerC:
			send()
		case ch := <-p.flush:
			drain()
			send()
			p.partsPending.Wait() // every part queued so far answered
			close(ch)
		case <-p.quit:
			drain()
			send()
			p.partsPending.Wait() // every part queued so far answered
			p.stopParts()
			return
		}
	}
}

// send delivers one batch and completes its futures.
func (p *Producer) send(batch []*pending) {
	if p.idem != nil {
		p.sendIdempotent(batch)
		return
	}
	if p.cfg.Direct {
		p.sendDirect(batch)
		return
	}
	p.sendManager(batch)
}

// optKey is a record's key on the wire: none when empty.
func optKey(key string) *string {
	if key == "" {
		return nil
	}
	return &key
}

// retryableItem reports whether one record's failure may pass on a resend:
// the partition's broker is gone or being replaced.
func retryableItem(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return retryableCode(e.Code) || e.Code == logq.EFenced
}

// produceBudget is how long a producer retries a record refused for a
// passing reason (the partition's broker unreachable, fenced, moving):
// Config.RetryTimeout when it was set; otherwise at least the cluster's
// heartbeat timeout plus FailoverMargin, the longest a partition waits on
// a broker that hangs before it moves. The timeout is asked of a manager
// (GET /healthz, one attempt) once per Client, not once per producer.
func (c *Client) produceBudget(ctx context.Context) time.Duration {
	budget := max(c.cfg.RetryTimeout, 0)
	if c.retrySet {
		return budget
	}
	hb := time.Duration(c.heartbeatTimeout.Load())
	if hb == 0 {
		var out api.HealthAnswer
		if err := c.attemptOnce(ctx, call{method: http.MethodGet, path: "/healthz", noMinSeq: true}, &out); err != nil {
			return budget
		}
		hb = time.Duration(out.HeartbeatTimeout) * time.Millisecond
		c.heartbeatTimeout.Store(int64(hb)) // 0 (a manager that does not say) asks again next time
	}
	return max(budget, hb+FailoverMargin)
}

// gaveUp is the error of a record refused for a passing reason until the
// retry budget ran out: the server's last answer, naming the partition
// and what it waited on.
func (p *Producer) gaveUp(e *Error, partition *int) *Error {
	where := "topic " + p.topic
	if partition != nil {
		where += fmt.Sprintf(" partition %d", *partition)
	}
	out := *e
	out.Message = fmt.Sprintf("%s: %s (gave up after %v of retries; a partition whose broker hangs moves after the cluster's heartbeat timeout, one whose broker died within seconds)",
		where, e.Message, p.budget.Round(time.Second))
	return &out
}

// sendManager sends a batch through the managers' produce_batch, resending
// the records that failed for a passing reason until the retry timeout.
func (p *Producer) sendManager(batch []*pending) {
	deadline := time.Now().Add(p.budget)
	for attempt := 0; len(batch) > 0; attempt++ {
		items := make([]api.Record, len(batch))
		for i, m := range batch {
			items[i] = api.Record{Partition: m.rec.Partition}
			items[i].Message, items[i].Key, items[i].Headers, items[i].Encoding, items[i].Timestamp = wireRecord(m.rec)
		}
		body := api.ProduceBatchRequest{Topic: p.topic, ProducerID: p.id, Messages: items}
		var out api.ProduceBatchAnswer
		err := p.c.do(p.ctx, call{
			method: http.MethodPost, path: "/producer/produce_batch", body: body,
			retryIf: func(err error) bool { return errors.Is(err, ErrFenced) },
		}, &out)
		p.hb.touch()
		if err == nil && len(out.Results) != len(batch) {
			err = &Error{Code: logq.EInternal, Message: fmt.Sprintf("produce_batch answered %d results for %d messages", len(out.Results), len(batch))}
		}
		if err != nil {
			for _, m := range batch {
				m.fut.complete(Ack{}, err)
			}
			return
		}
		var again []*pending
		for i, r := range out.Results {
			m := batch[i]
			if r.Error != nil {
				e := itemError(r.Error.Code, r.Error.Message)
				if retryableItem(e) && time.Now().Before(deadline) && m.ctx.Err() == nil {
					again = append(again, m)
					continue
				}
				if retryableItem(e) {
					part := r.Partition
					if part == nil {
						part = m.rec.Partition
					}
					e = p.gaveUp(e, part)
				}
				m.fut.complete(Ack{}, e)
				continue
			}
			if r.Partition == nil || r.Offset == nil {
				m.fut.complete(Ack{}, &Error{Code: logq.EInternal, Message: "produce_batch answered a result without partition and offset"})
				continue
			}
			m.fut.complete(Ack{Topic: p.topic, Partition: *r.Partition, Offset: *r.Offset}, nil)
		}
		batch = again
		if len(batch) > 0 {
			if !sleep.For(p.ctx, p.c.backoff(attempt)) {
				err := p.ctx.Err()
				for _, m := range batch {
					m.fut.complete(Ack{}, err)
				}
				return
			}
		}
	}
}

// sendDirect sends each partition's records of a batch to the broker that
// owns the partition; what a broker refuses goes through the managers.
func (p *Producer) sendDirect(batch []*pending) {
	rt := p.routes.Load()
	if rt != nil && time.Since(time.Unix(0, p.routed.Load())) > directRoutesTTL {
		rt = nil // partitions may have been added or moved: look again
	}
	if rt == nil {
		info, err := p.c.DescribeTopic(p.ctx, p.topic)
		if err != nil || len(info.Partitions) == 0 {
			p.sendManager(batch)
			return
		}
		p.routes.Store(info)
		p.routed.Store(time.Now().UnixNano())
		rt = info
	}
	n := len(rt.Partitions)
	var writable []int
	for _, part := range rt.Partitions {
		if part.Writable && part.Address != "" {
			writable = append(writable, part.Partition)
		}
	}
	groups := map[int][]*pending{}
	var order []int
	var fallback []*pending
	// The servers' partitioner, in their order: the registered partition,
	// the explicit one, the key's hash, round robin.
	pt := api.Partitioner{Topic: p.topic, ProducerID: p.id, N: n, Fixed: p.fixed, Writable: writable, RR: &p.rr}
	for _, m := range batch {
		part, err := pt.Pick(m.rec.Partition, optKey(m.rec.Key))
		if err != nil || part >= n || !rt.Partitions[part].Writable || rt.Partitions[part].Address == "" {
			// Through the managers, which answer the same choice (or
			// the same error).
			fallback = append(fallback, m)
			continue
		}
		if _, ok := groups[part]; !ok {
			order = append(order, part)
		}
		groups[part] = append(groups[part], m)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed = map[int]bool{}
	)
	for _, part := range order {
		wg.Add(1)
		go func(part int, ms []*pending) {
			defer wg.Done()
			if err := p.appendTo(rt.Partitions[part], ms); err != nil {
				mu.Lock()
				failed[part] = true
				mu.Unlock()
			}
		}(part, groups[part])
	}
	wg.Wait()
	if len(failed) > 0 {
		p.routes.Store(nil) // refresh the map for the next batch
		for _, part := range order {
			if failed[part] {
				fallback = append(fallback, groups[part]...)
			}
		}
	}
	if len(fallback) > 0 {
		p.sendManager(fallback)
	}
}

// appendTo sends records to a partition's broker. It completes the futures on
// success or on a definitive error, and returns an error (futures left
// pending) when the records should go through a manager instead.
func (p *Producer) appendTo(part PartitionInfo, ms []*pending) error {
	base, err := normalizeURL(part.Address)
	if err != nil {
		return err
	}
	items := make([]api.AppendMessage, len(ms))
	for i, m := range ms {
		items[i] = api.AppendMessage{ProducerID: p.id}
		items[i].Message, items[i].Key, items[i].Headers, items[i].Encoding, items[i].Timestamp = wireRecord(m.rec)
	}
	body := api.AppendRequest{Topic: p.topic, Partition: part.Partition, Messages: items}
	var out api.AppendAnswer
	err = p.c.attemptOnce(p.ctx, call{method: http.MethodPost, path: "/v1/append", body: body, base: base, header: p.c.minSeqHeader(), noMinSeq: true}, &out)
	if err != nil {
		// A refusal of the partition (the broker checks the producer's
		// registration: one reused by ID may be pinned to a partition
		// this client does not know) goes through the managers, which
		// choose the registered partition or explain the mistake.
		if retryable(err) || errors.Is(err, ErrFenced) || errors.Is(err, ErrBrokerRemoved) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
			return err
		}
		for _, m := range ms {
			m.fut.complete(Ack{}, err)
		}
		return nil
	}
	if out.Count != len(ms) {
		return fmt.Errorf("broker appended %d of %d messages", out.Count, len(ms))
	}
	for i, m := range ms {
		m.fut.complete(Ack{Topic: p.topic, Partition: part.Partition, Offset: out.BaseOffset + int64(i)}, nil)
	}
	return nil
}
