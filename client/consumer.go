package client

import (
	"context"
	"iter"
	"net/http"
	"sync"
	"time"

	"github.com/logq/logq/api"
)

// Defaults for ConsumerConfig.
const (
	DefaultMaxWait   = time.Second
	DefaultPollBatch = 100
	// MaxPoll is the most messages one poll may ask for.
	MaxPoll = 10000
	// maxWaitLimit is the server's bound on a long poll.
	maxWaitLimit = 30 * time.Second
)

// Message is a consumed (or fetched) message. Key and Value hold its
// bytes, whatever their encoding on the wire (records.go). The text
// values and keys of one poll share one allocation (decode.go): a Message
// kept keeps its poll's answer alive.
type Message struct {
	Topic     string    `json:"topic"`
	Partition int       `json:"partition"`
	Offset    int64     `json:"offset"`
	Key       string    `json:"key,omitempty"`
	Value     string    `json:"message"`
	Headers   []Header  `json:"headers,omitempty"`
	Timestamp time.Time `json:"timestamp"` // the producer's, or the append's
}

// ConsumerConfig configures a Consumer. The zero value registers a new
// consumer for the whole topic.
type ConsumerConfig struct {
	// ID reuses a registered consumer (and its positions); 0 registers a new
	// one, which starts at the beginning of every partition.
	ID int64
	// Partition, when non-nil, registers the consumer for that partition
	// only (ignored with ID).
	Partition *int
	// MaxWait is how long a poll waits for a first message when none is
	// ready (default 1 s, at most 30 s; negative: do not wait).
	MaxWait time.Duration
	// BatchSize is how many messages Messages asks for per poll (default
	// 100).
	BatchSize int
	// HeartbeatInterval: when the consumer has not polled for this long,
	// it sends a heartbeat so that the managers keep showing it active
	// (default 15 s; negative: never). Close stops the heartbeats.
	HeartbeatInterval time.Duration
	// Direct polls the brokers that own the partitions (the map of GET
	// /topics/{topic}) instead of the managers; a poll that waits, or
	// whose broker is fenced or unreachable, still goes through a manager.
	Direct bool
}

// Consumer reads a topic with its own positions. It is safe for concurrent
// use: two polls never return the same message.
type Consumer struct {
	c     *Client
	topic string
	id    int64
	cfg   ConsumerConfig

	mu  sync.Mutex
	buf []Message // consumed by the server, not yet handed out (Messages left early)

	hb     *idleHeartbeat
	direct *directState // nil unless Direct (direct.go)
}

// NewConsumer registers a consumer for topic unless cfg.ID is set.
// errors.Is(err, ErrTopicNotFound) when the topic does not exist.
func (c *Client) NewConsumer(ctx context.Context, topic string, cfg ConsumerConfig) (*Consumer, error) {
	switch {
	case cfg.MaxWait == 0:
		cfg.MaxWait = DefaultMaxWait
	case cfg.MaxWait < 0:
		cfg.MaxWait = 0
	case cfg.MaxWait > maxWaitLimit:
		cfg.MaxWait = maxWaitLimit
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultPollBatch
	}
	cfg.BatchSize = min(cfg.BatchSize, MaxPoll)
	id := cfg.ID
	if id == 0 {
		var err error
		if id, err = c.RegisterConsumer(ctx, topic, cfg.Partition); err != nil {
			return nil, err
		}
	}
	cons := &Consumer{c: c, topic: topic, id: id, cfg: cfg}
	if cfg.Direct {
		cons.direct = c.newDirect(ctx, topic, id, cfg.ID == 0, cfg.Partition)
	}
	cons.hb = newIdleHeartbeat(c, "consumer", id, cfg.HeartbeatInterval)
	return cons, nil
}

// Close stops the consumer's heartbeats. The consumer's positions stay on
// the server: a new Consumer with the same ID resumes them. Polling after
// Close still works, but the consumer is then shown inactive when idle.
func (c *Consumer) Close() error {
	c.hb.stop()
	return nil
}

// ID is the consumer's id: pass it as ConsumerConfig.ID to resume later.
func (c *Consumer) ID() int64 { return c.id }

// Topic is the consumer's topic.
func (c *Consumer) Topic() string { return c.topic }

// Poll returns up to max messages (1…10000; 0 means the configured batch
// size), waiting up to MaxWait for the first one. No message is not an
// error: Poll then returns an empty slice. Returned messages are consumed:
// the consumer's positions have moved past them.
func (c *Consumer) Poll(ctx context.Context, max int) ([]Message, error) {
	return c.poll(ctx, max, c.cfg.MaxWait)
}

func (c *Consumer) poll(ctx context.Context, max int, wait time.Duration) ([]Message, error) {
	if max <= 0 {
		max = c.cfg.BatchSize
	}
	max = min(max, MaxPoll)
	c.mu.Lock()
	if len(c.buf) > 0 {
		n := min(max, len(c.buf))
		out := append([]Message(nil), c.buf[:n]...)
		c.buf = c.buf[n:]
		c.mu.Unlock()
		return out, nil
	}
	c.mu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		// Do not long-poll past the caller's deadline.
		wait = min(wait, time.Until(dl)-50*time.Millisecond)
	}
	wait = max0(wait)
	if c.direct != nil {
		if msgs, ok := c.pollDirect(ctx, max, wait > 0); ok {
			return msgs, nil
		}
	}
	q := api.ConsumeRequest{Topic: c.topic, ConsumerID: c.id, Max: max, WaitMS: wait.Milliseconds()}.Query()
	out := messagesAnswer{topic: c.topic}
	c.hb.touch()
	err := c.c.do(ctx, call{method: http.MethodGet, path: "/consumer/consume_batch", query: q, wait: wait}, &out)
	c.hb.touch()
	if err != nil {
		return nil, err
	}
	return out.msgs, nil
}

func max0(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}

// Messages returns an iterator over the consumer's messages: it polls
// (long-polling when nothing is ready) until ctx is done or a poll fails,
// and then yields the error (ctx.Err() on cancellation) and stops. Leaving
// the loop early loses nothing: the rest of the last poll's messages come
// first from the next Poll or Messages.
//
//	for m, err := range cons.Messages(ctx) {
//		if err != nil {
//			return err
//		}
//		...
//	}
func (c *Consumer) Messages(ctx context.Context) iter.Seq2[Message, error] {
	return func(yield func(Message, error) bool) {
		for {
			msgs, err := c.Poll(ctx, c.cfg.BatchSize)
			if err == nil && len(msgs) == 0 {
				err = ctx.Err()
			}
			if err != nil {
				yield(Message{}, err)
				return
			}
			for i, m := range msgs {
				if !yield(m, nil) {
					// Keep the rest (already consumed on the server) for
					// the next Poll or Messages.
					c.mu.Lock()
					c.buf = append(append([]Message(nil), msgs[i+1:]...), c.buf...)
					c.mu.Unlock()
					return
				}
			}
		}
	}
}

// Size returns the number of messages left for this consumer: its lag.
func (c *Consumer) Size(ctx context.Context) (int64, error) {
	n, err := c.c.Size(ctx, c.topic, c.id)
	c.hb.touch()
	return n, err
}
