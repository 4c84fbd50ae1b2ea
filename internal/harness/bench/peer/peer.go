// Package peer is the benchmark's peer: a NATS JetStream server embedded in
// the benchmark's process (github.com/nats-io/nats-server/v2, file storage
// in a temporary directory, on 127.0.0.1 at a random port) and the
// workloads logq is measured with, run against it with the NATS client
// (github.com/nats-io/nats.go): batched (asynchronous) publish, unbatched
// synchronous publishers, pull consume in batches, and publish and
// end-to-end latency at a fixed rate.
//
// A logq topic of P partitions is P JetStream streams here, one subject
// each (stream "T_p", subject "T.p"): P independent ordered logs, as logq's
// partitions are.
//
// JetStream's file store does not fsync each message: it syncs every
// SyncInterval (2 minutes by default, the setting used here), so a message
// is acknowledged once it is written to the operating system, not to disk.
package peer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/logq/logq/internal/harness/bench/openloop"
)

// Server is a running embedded JetStream server.
type Server struct {
	srv *server.Server
	dir string
}

// Start starts a JetStream server with file storage in a new temporary
// directory, listening on 127.0.0.1 at a random port. Close stops it and
// removes the directory.
func Start() (*Server, error) {
	dir, err := os.MkdirTemp("", "logq-bench-jetstream-")
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	opts := &server.Options{
		ServerName: "logq-bench",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		NoLog:      true,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   dir,
		MaxPayload: 8 << 20,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		os.RemoveAll(dir)
		return nil, errors.New("jetstream: the server did not start within 30 s")
	}
	return &Server{srv: srv, dir: dir}, nil
}

// defaultSyncInterval is the file store's default interval between fsyncs
// (nats-server's filestore.go), used when the server sets none.
const defaultSyncInterval = 2 * time.Minute

// Description says what the peer is and how it stores, for the report.
func (s *Server) Description() string {
	cfg := s.srv.JetStreamConfig()
	every := defaultSyncInterval
	if cfg != nil && cfg.SyncInterval > 0 {
		every = cfg.SyncInterval
	}
	how := "its default"
	if every != defaultSyncInterval {
		how = "set"
	}
	if cfg != nil && cfg.SyncAlways {
		return fmt.Sprintf("NATS JetStream (nats-server %s embedded, nats.go client), file storage, fsync after every write", server.VERSION)
	}
	return fmt.Sprintf("NATS JetStream (nats-server %s embedded, nats.go client), file storage; it does NOT fsync each message "+
		"(it syncs every %s, %s), while logq and PostgreSQL run with fsync on", server.VERSION, every, how)
}

// URL is the server's client URL.
func (s *Server) URL() string { return s.srv.ClientURL() }

// Close stops the server and removes its storage.
func (s *Server) Close() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	os.RemoveAll(s.dir)
}

// conn is one client connection with its JetStream context.
type conn struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// connect opens a client connection; maxPending bounds its asynchronous
// publishes in flight (0: the client's default).
func (s *Server) connect(maxPending int) (*conn, error) {
	nc, err := nats.Connect(s.URL(), nats.NoReconnect(), nats.Name("logq-bench"))
	if err != nil {
		return nil, fmt.Errorf("jetstream connect: %w", err)
	}
	var opts []jetstream.JetStreamOpt
	if maxPending > 0 {
		opts = append(opts, jetstream.WithPublishAsyncMaxPending(maxPending))
	}
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &conn{nc: nc, js: js}, nil
}

func (c *conn) close() { c.nc.Close() }

// connectN opens n connections (see connect), all or none.
func (s *Server) connectN(n, maxPending int) ([]*conn, func(), error) {
	conns := make([]*conn, 0, n)
	closeAll := func() {
		for _, c := range conns {
			c.close()
		}
	}
	for range n {
		c, err := s.connect(maxPending)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		conns = append(conns, c)
	}
	return conns, closeAll, nil
}

// Topic is a logq-shaped topic on JetStream: one stream per partition.
type Topic struct {
	Name       string
	Partitions int
}

func (t Topic) stream(p int) string  { return t.Name + "_" + strconv.Itoa(p) }
func (t Topic) subject(p int) string { return t.Name + "." + strconv.Itoa(p) }

// CreateTopic creates the streams of a topic of the given partitions (file
// storage, one replica, no limits, the default sync interval).
func (s *Server) CreateTopic(ctx context.Context, name string, partitions int) (Topic, error) {
	t := Topic{Name: name, Partitions: partitions}
	c, err := s.connect(0)
	if err != nil {
		return t, err
	}
	defer c.close()
	for p := range partitions {
		if _, err := c.js.CreateStream(ctx, jetstream.StreamConfig{
			Name: t.stream(p), Subjects: []string{t.subject(p)},
			Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy, Replicas: 1,
		}); err != nil {
			return t, fmt.Errorf("jetstream: create stream %s: %w", t.stream(p), err)
		}
	}
	return t, nil
}

// Payload returns the body of the message with sequence number seq.
type Payload func(seq int) []byte

// PublishAsync publishes n messages to t from publishers connections
// concurrently, asynchronously with up to maxPending unacknowledged per
// connection, the messages spread round robin over the partitions, and
// returns the time until the last was acknowledged. It adds the messages
// acknowledged per partition to acked.
func (s *Server) PublishAsync(ctx context.Context, t Topic, publishers, n, maxPending int, body Payload, acked []int) (time.Duration, error) {
	conns, closeAll, err := s.connectN(publishers, maxPending)
	if err != nil {
		return 0, err
	}
	defer closeAll()
	counts := make([][]int, publishers)
	errs := make([]error, publishers)
	done := make(chan struct{})
	start := time.Now()
	for i, c := range conns {
		count := n / publishers
		if i < n%publishers {
			count++
		}
		counts[i] = make([]int, t.Partitions)
		go func() {
			defer func() { done <- struct{}{} }()
			futures := make(chan jetstream.PubAckFuture, maxPending)
			checked := make(chan error, 1)
			go func() { // every acknowledgement, in publish order
				var first error
				j := 0
				for f := range futures {
					if err := wait(ctx, f); err != nil && first == nil {
						first = err
					} else if err == nil {
						counts[i][(i+j*publishers)%t.Partitions]++
					}
					j++
				}
				checked <- first
			}()
			for j := range count {
				seq := i + j*publishers
				f, err := c.js.PublishAsync(t.subject(seq%t.Partitions), body(seq), stallWait)
				if err != nil {
					errs[i] = fmt.Errorf("jetstream publish: %w", err)
					break
				}
				futures <- f
			}
			close(futures)
			if err := <-checked; err != nil && errs[i] == nil {
				errs[i] = err
			}
		}()
	}
	for range conns {
		<-done
	}
	d := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	for _, c := range counts {
		for p, k := range c {
			acked[p] += k
		}
	}
	return d, nil
}

// stallWait is how long an asynchronous publish may wait for room among
// the unacknowledged ones (the client's default, 200 ms, fails a publish
// on a busy machine).
var stallWait = jetstream.WithStallWait(time.Minute)

// wait waits for an asynchronous publish's acknowledgement.
func wait(ctx context.Context, f jetstream.PubAckFuture) error {
	select {
	case <-f.Ok():
		return nil
	case err := <-f.Err():
		return fmt.Errorf("jetstream publish: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SyncLoad is a closed-loop load of synchronous publishers: each publishes
// one message and waits for its acknowledgement before the next.
type SyncLoad struct {
	Topic      Topic
	Publishers int
	// Messages in all; or, when For is set, publish until For has passed.
	Messages int
	For      time.Duration
	Body     Payload
}

// SyncResult is what a SyncLoad measured.
type SyncResult struct {
	Messages  int
	Duration  time.Duration
	Latencies []time.Duration // of each publish, publish → ack
}

// PublishSync runs l, each publisher on its own connection.
func (s *Server) PublishSync(ctx context.Context, l SyncLoad) (SyncResult, error) {
	conns, closeAll, err := s.connectN(l.Publishers, 0)
	if err != nil {
		return SyncResult{}, err
	}
	defer closeAll()
	var next = make(chan int, l.Publishers)
	stop := make(chan struct{})
	go func() { // hands out sequence numbers until done
		defer close(next)
		for seq := 0; l.For > 0 || seq < l.Messages; seq++ {
			select {
			case next <- seq:
			case <-stop:
				return
			}
		}
	}()
	lat := make([][]time.Duration, len(conns))
	errs := make([]error, len(conns))
	done := make(chan struct{})
	start := time.Now()
	deadline := start.Add(l.For)
	for i, c := range conns {
		go func() {
			defer func() { done <- struct{}{} }()
			for seq := range next {
				t0 := time.Now()
				if l.For > 0 && t0.After(deadline) {
					return
				}
				if _, err := c.js.Publish(ctx, l.Topic.subject(seq%l.Topic.Partitions), l.Body(seq)); err != nil {
					errs[i] = fmt.Errorf("jetstream publish: %w", err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}()
	}
	for range conns {
		<-done
	}
	d := time.Since(start)
	close(stop)
	for range next { // let the feeder end
	}
	if err := errors.Join(errs...); err != nil {
		return SyncResult{}, err
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	return SyncResult{Messages: len(all), Duration: d, Latencies: all}, nil
}

// Consumers are durable pull consumers, one per partition of a topic, on
// one connection each.
type Consumers struct {
	conns []*conn
	cons  []jetstream.Consumer
}

// NewConsumers creates a pull consumer (acknowledgements off, from the
// first message) for each partition of t.
func (s *Server) NewConsumers(ctx context.Context, t Topic, name string) (*Consumers, error) {
	conns, closeAll, err := s.connectN(t.Partitions, 0)
	if err != nil {
		return nil, err
	}
	cs := &Consumers{conns: conns}
	for p, c := range conns {
		cons, err := c.js.CreateConsumer(ctx, t.stream(p), jetstream.ConsumerConfig{
			Durable: name, AckPolicy: jetstream.AckNonePolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("jetstream: consumer on %s: %w", t.stream(p), err)
		}
		cs.cons = append(cs.cons, cons)
	}
	return cs, nil
}

// Close closes the consumers' connections.
func (cs *Consumers) Close() {
	for _, c := range cs.conns {
		c.close()
	}
}

// Fetch reads want[p] messages from partition p's consumer, in fetches of
// up to batch, the partitions in parallel, and returns the time it took.
func (cs *Consumers) Fetch(ctx context.Context, want []int, batch int) (time.Duration, error) {
	errs := make([]error, len(cs.cons))
	done := make(chan struct{})
	start := time.Now()
	for p, cons := range cs.cons {
		go func() {
			defer func() { done <- struct{}{} }()
			for got := 0; got < want[p]; {
				b, err := cons.Fetch(min(batch, want[p]-got), jetstream.FetchMaxWait(10*time.Second))
				if err != nil {
					errs[p] = fmt.Errorf("jetstream fetch: %w", err)
					return
				}
				n := 0
				for range b.Messages() {
					n++
				}
				if err := b.Error(); err != nil {
					errs[p] = fmt.Errorf("jetstream fetch: %w", err)
					return
				}
				if n == 0 {
					errs[p] = fmt.Errorf("jetstream fetch: partition %d: %d of %d messages, then none", p, got, want[p])
					return
				}
				got += n
				if ctx.Err() != nil {
					errs[p] = ctx.Err()
					return
				}
			}
		}()
	}
	for range cs.cons {
		<-done
	}
	d := time.Since(start)
	return d, errors.Join(errs...)
}

// LatencyResult holds the per-message latencies of Latency.
type LatencyResult struct {
	Publish, EndToEnd []time.Duration
	Rate              float64 // achieved, messages/s
}

// Latency publishes n messages to t at rate messages/s from one
// connection, asynchronously (a publish does not wait for the previous
// acknowledgement), and measures each message's publish latency (publish →
// acknowledged) and end-to-end latency (publish → received by a pull
// consumer of its partition, Consume on another connection).
func (s *Server) Latency(ctx context.Context, t Topic, rate, n int, body Payload, index func([]byte) (int, bool)) (LatencyResult, error) {
	pub, err := s.connect(n)
	if err != nil {
		return LatencyResult{}, err
	}
	defer pub.close()
	sub, err := s.connect(0)
	if err != nil {
		return LatencyResult{}, err
	}
	defer sub.close()

	sent := make([]time.Time, n)
	e2e := make([]time.Duration, n)
	var sentCount atomic.Int64 // how many of sent are set (published in order)
	received := make(chan int, n)
	bad := make(chan error, 1)
	for p := range t.Partitions {
		cons, err := sub.js.CreateConsumer(ctx, t.stream(p), jetstream.ConsumerConfig{
			AckPolicy: jetstream.AckNonePolicy, DeliverPolicy: jetstream.DeliverNewPolicy,
		})
		if err != nil {
			return LatencyResult{}, fmt.Errorf("jetstream: consumer on %s: %w", t.stream(p), err)
		}
		cc, err := cons.Consume(func(m jetstream.Msg) {
			now := time.Now()
			i, ok := index(m.Data())
			if !ok || i < 0 || i >= n {
				select {
				case bad <- fmt.Errorf("jetstream: unexpected message %q", m.Data()):
				default:
				}
				return
			}
			if int64(i) >= sentCount.Load() {
				select {
				case bad <- fmt.Errorf("jetstream: message %d received before it was sent", i):
				default:
				}
				return
			}
			e2e[i] = now.Sub(sent[i])
			received <- i
		}, jetstream.PullMaxMessages(1000))
		if err != nil {
			return LatencyResult{}, fmt.Errorf("jetstream consume: %w", err)
		}
		defer func() { cc.Stop(); <-cc.Closed() }()
	}

	// Acknowledgements, in publish order.
	acks := openloop.NewAcks(n, sent, func(f jetstream.PubAckFuture) error { return wait(ctx, f) })
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	var pubErr error
	for i := range n {
		openloop.Pace(start, i, interval)
		sent[i] = time.Now()
		sentCount.Store(int64(i + 1))
		f, err := pub.js.PublishAsync(t.subject(i%t.Partitions), body(i), stallWait)
		if err != nil {
			pubErr = fmt.Errorf("jetstream publish: %w", err)
			break
		}
		acks.Add(f)
	}
	acked, err := acks.Close()
	if err := errors.Join(pubErr, err); err != nil {
		return LatencyResult{}, err
	}
	res := LatencyResult{Publish: acked, EndToEnd: e2e}
	timeout := time.NewTimer(time.Minute)
	defer timeout.Stop()
	for got := 0; got < n; got++ {
		select {
		case <-received:
		case err := <-bad:
			return LatencyResult{}, err
		case <-timeout.C:
			return LatencyResult{}, fmt.Errorf("jetstream: %d of %d messages received within a minute", got, n)
		case <-ctx.Done():
			return LatencyResult{}, ctx.Err()
		}
	}
	res.Rate = float64(n) / time.Since(start).Seconds()
	return res, nil
}
