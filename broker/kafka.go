package broker

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/logq/logq"
	"github.com/logq/logq/client"
	"github.com/logq/logq/kafka"
	"github.com/logq/logq/projection"
)

// kafkaAdapter implements kafka.Cluster and kafka.Log on the broker: the
// control plane from the broker's projection, admin writes through the
// managers, the data plane through the partitions this broker serves.
//
// Today's messages are text: a record's value is stored as
// string(value) (so it must be valid UTF-8 without NUL bytes), a nil
// value as "", its key likewise; headers are refused and timestamps are the
// broker's append time (LogAppendTime). Idempotent producers get ids, but
// batches are not deduplicated yet (the records work adds that to the
// store).
type kafkaAdapter struct {
	b     *Broker
	admin *client.Client // nil without managers

	idMu   sync.Mutex
	lastID int64
}

var (
	_ kafka.Cluster = (*kafkaAdapter)(nil)
	_ kafka.Log     = (*kafkaAdapter)(nil)
)

// startKafka makes the broker's Kafka server on its listener (New listened).
func (b *Broker) newKafkaServer() (*kafka.Server, error) {
	a := &kafkaAdapter{b: b}
	var groups kafka.Groups
	if len(b.cfg.Managers) > 0 {
		c, err := client.New(client.Config{Managers: b.cfg.Managers})
		if err != nil {
			return nil, err
		}
		a.admin = c
		var urls []string
		for _, m := range b.cfg.Managers {
			u, _ := managerURL(m)
			urls = append(urls, u)
		}
		groups = &kafka.HTTPGroups{Managers: urls}
	}
	b.kafkaAdmin = a.admin
	return kafka.New(kafka.Config{
		Cluster: a, Log: a, Groups: groups,
		MaxRequestBytes:  int(b.cfg.MaxRequestBytes),
		MaxFetchWait:     b.cfg.LongPollMax,
		MaxFetchBytes:    b.cfg.MaxReadBytes,
		AutoCreateTopics: a.admin != nil,
		ShutdownTimeout:  b.cfg.ShutdownTimeout,
		Logger:           b.log,
	})
}

// KafkaAddr returns the address the broker's Kafka listener is bound to
// ("" without one).
func (b *Broker) KafkaAddr() string {
	if b.kafkaLn == nil {
		return ""
	}
	return b.kafkaLn.Addr().String()
}

// View is the cluster as of the broker's projection.
func (a *kafkaAdapter) View() kafka.ClusterView {
	b := a.b
	b.mu.RLock()
	defer b.mu.RUnlock()
	s := b.state
	v := kafka.ClusterView{ClusterID: "logq", Self: int32(b.ID())}
	for _, id := range s.LiveBrokers() {
		br := s.Brokers[id]
		if br.KafkaAddress == "" {
			continue
		}
		host, port, err := kafka.SplitHostPort(br.KafkaAddress)
		if err != nil {
			continue
		}
		v.Brokers = append(v.Brokers, kafka.BrokerInfo{ID: int32(id), Host: host, Port: port})
	}
	for _, name := range s.TopicNames() {
		t := kafka.TopicInfo{Name: name}
		for _, p := range s.Topics[name].Partitions {
			leader := int32(-1)
			if p.Broker > 0 {
				leader = int32(p.Broker)
			}
			t.Partitions = append(t.Partitions, kafka.PartitionInfo{Partition: int32(p.Index), Leader: leader, Epoch: int32(p.Epoch)})
		}
		v.Topics = append(v.Topics, t)
	}
	return v
}

// Partitions is a topic's partition count (0: none).
func (a *kafkaAdapter) Partitions(topic string) int {
	a.b.mu.RLock()
	defer a.b.mu.RUnlock()
	if t, ok := a.b.state.Topics[topic]; ok {
		return len(t.Partitions)
	}
	return 0
}

func (a *kafkaAdapter) needAdmin() error {
	if a.admin == nil {
		return logq.Errorf(logq.EUnavailable, "this broker has no manager to send admin requests to")
	}
	return nil
}

// applied waits until the broker has applied seq (bounded by ctx).
func (a *kafkaAdapter) applied(ctx context.Context, seq int64) error {
	ctx, cancel := context.WithTimeout(ctx, a.b.cfg.MinSeqWait)
	defer cancel()
	return a.b.WaitApplied(ctx, seq)
}

func (a *kafkaAdapter) CreateTopic(ctx context.Context, name string, partitions int) error {
	if err := a.needAdmin(); err != nil {
		return err
	}
	if err := projection.ValidateTopicName(name); err != nil {
		return logq.Errorf(logq.EInvalid, "%v", err)
	}
	seq, err := a.admin.CreateTopic(ctx, name, partitions)
	if err != nil {
		return err
	}
	return a.applied(ctx, seq)
}

func (a *kafkaAdapter) CreatePartitions(ctx context.Context, topic string, total int) error {
	if err := a.needAdmin(); err != nil {
		return err
	}
	cur, ok := a.View().Topic(topic)
	if !ok {
		return logq.Errorf(logq.ETopicNotFound, "topic %q not found", topic)
	}
	_, seq, err := a.admin.AddPartitions(ctx, topic, total-len(cur.Partitions))
	if err != nil {
		return err
	}
	return a.applied(ctx, seq)
}

func (a *kafkaAdapter) DeleteTopic(ctx context.Context, name string) error {
	if err := a.needAdmin(); err != nil {
		return err
	}
	seq, err := a.admin.DeleteTopic(ctx, name)
	if err != nil {
		return err
	}
	return a.applied(ctx, seq)
}

// producerEpoch2020 is where producer ids' time part starts.
var producerEpoch2020 = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// InitProducerID allocates an id unique in the cluster without a round
// trip: the broker's id in the top bits, then milliseconds since 2020,
// bumped past the last id this broker gave (a restart within the same
// millisecond as an id given before it is the one collision it allows).
func (a *kafkaAdapter) InitProducerID(context.Context) (int64, error) {
	id := a.b.ID()
	if id <= 0 || id >= 1<<18 {
		return 0, logq.Errorf(logq.EUnavailable, "broker is not registered yet")
	}
	a.idMu.Lock()
	defer a.idMu.Unlock()
	n := id<<44 | time.Since(producerEpoch2020).Milliseconds()&(1<<44-1)
	n = max(n, a.lastID+1)
	a.lastID = n
	return n, nil
}

// text converts a record's bytes to today's text messages.
func text(field string, b []byte) (string, error) {
	if !utf8.Valid(b) || strings.IndexByte(string(b), 0) >= 0 {
		return "", logq.Errorf(logq.EInvalid, "record %s is not UTF-8 text without NUL bytes: this logq stores text messages for now", field)
	}
	return string(b), nil
}

func (a *kafkaAdapter) Produce(ctx context.Context, topic string, partition int32, records []kafka.Record, _ kafka.Producer) (int64, time.Time, error) {
	msgs := make([]message, len(records))
	for i, r := range records {
		if len(r.Headers) > 0 {
			return 0, time.Time{}, logq.Errorf(logq.EInvalid, "record headers are not stored by this logq yet")
		}
		if len(r.Value) > a.b.cfg.MaxMessageBytes {
			return 0, time.Time{}, logq.Errorf(logq.ETooLarge, "record of %d bytes over the limit of %d", len(r.Value), a.b.cfg.MaxMessageBytes)
		}
		v, err := text("value", r.Value)
		if err != nil {
			return 0, time.Time{}, err
		}
		msgs[i].Payload = v
		if r.Key != nil {
			k, err := text("key", r.Key)
			if err != nil {
				return 0, time.Time{}, err
			}
			msgs[i].Key = &k
		}
	}
	base, err := a.b.append(ctx, topic, int(partition), msgs)
	if err != nil {
		return 0, time.Time{}, err
	}
	return base, time.Now(), nil
}

func (a *kafkaAdapter) Fetch(ctx context.Context, topic string, partition int32, offset int64, maxBytes int, wait time.Duration) (kafka.FetchResult, error) {
	b := a.b
	p, err := b.servedPartition(topic, int(partition))
	if err != nil {
		return kafka.FetchResult{}, err
	}
	var deadline <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		deadline = t.C
	}
	for {
		appended := p.appendedChan() // before reading: no wake-up is lost
		hw := p.hw.Load()
		res := kafka.FetchResult{HighWatermark: hw}
		if offset < 0 || offset > hw {
			return res, logq.Errorf(logq.EInvalid, "offset %d outside 0..%d", offset, hw)
		}
		if offset < hw {
			msgs, err := b.store.Read(ctx, topic, int(partition), offset, b.cfg.MaxReadMessages, min(maxBytes, b.cfg.MaxReadBytes))
			if err != nil {
				return kafka.FetchResult{}, err
			}
			for _, m := range msgs {
				r := kafka.StoredRecord{Offset: m.Offset, Value: []byte(m.Payload), Timestamp: m.ProducedAt}
				if m.Key != nil {
					r.Key = []byte(*m.Key)
				}
				res.Records = append(res.Records, r)
			}
			if n := len(msgs); n > 0 {
				res.HighWatermark = max(hw, msgs[n-1].Offset+1)
				return res, nil
			}
		}
		if deadline == nil {
			return res, nil
		}
		select {
		case <-appended:
			if err := p.stopped(); err != nil {
				return res, err
			}
		case <-deadline:
			deadline = nil
		case <-b.closing:
			deadline = nil
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
}

// ListOffset finds a timestamp's offset by binary search over the
// partition's append times (which grow with the offsets: one commit order).
func (a *kafkaAdapter) ListOffset(ctx context.Context, topic string, partition int32, ts int64) (int64, int64, error) {
	b := a.b
	p, err := b.servedPartition(topic, int(partition))
	if err != nil {
		return 0, 0, err
	}
	hw := p.hw.Load()
	switch {
	case ts == kafka.ListEarliest:
		return 0, -1, nil
	case ts == kafka.ListLatest:
		return hw, -1, nil
	case ts < 0:
		return 0, 0, logq.Errorf(logq.EInvalid, "timestamp %d", ts)
	}
	lo, hi := int64(0), hw // the answer is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		msgs, err := b.store.Read(ctx, topic, int(partition), mid, 1, 1)
		if err != nil {
			return 0, 0, err
		}
		if len(msgs) == 0 {
			hi = mid
			continue
		}
		if msgs[0].ProducedAt.UnixMilli() >= ts {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo >= hw {
		return hw, -1, nil
	}
	msgs, err := b.store.Read(ctx, topic, int(partition), lo, 1, 1)
	if err != nil || len(msgs) == 0 {
		return hw, -1, err
	}
	return lo, msgs[0].ProducedAt.UnixMilli(), nil
}

// listenKafka opens the Kafka listener of cfg (none without KafkaAddr).
func listenKafka(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, errors.Join(logq.Errorf(logq.EInvalid, "kafka listener %s", addr), err)
	}
	return ln, nil
}
