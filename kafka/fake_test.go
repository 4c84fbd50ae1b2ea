package kafka

import (
	"context"
	"sync"
	"time"

	"github.com/logq/logq"
)

// fakeCluster and fakeLog are in-memory Cluster and Log for the protocol
// tests: one broker owning every partition.
type fakeCluster struct {
	mu     sync.Mutex
	self   BrokerInfo
	topics map[string]int
	nextID int64
	log    *fakeLog
	// retention: topic → its own retention.ms, retention.bytes
	retention map[string][2]int64
}

func (c *fakeCluster) View() ClusterView {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := ClusterView{ClusterID: "fake", Self: c.self.ID, Brokers: []BrokerInfo{c.self}}
	for _, name := range sortedNames(c.topics) {
		t := TopicInfo{Name: name, RetentionMs: c.retention[name][0], RetentionBytes: c.retention[name][1]}
		for i := 0; i < c.topics[name]; i++ {
			t.Partitions = append(t.Partitions, PartitionInfo{Partition: int32(i), Leader: c.self.ID, Epoch: 1})
		}
		v.Topics = append(v.Topics, t)
	}
	return v
}

func (c *fakeCluster) Partitions(topic string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.topics[topic]
}

func sortedNames(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (c *fakeCluster) CreateTopic(_ context.Context, name string, n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.topics[name]; ok {
		return logq.Errorf(logq.ETopicExists, "topic %q exists", name)
	}
	c.topics[name] = n
	return nil
}

func (c *fakeCluster) CreateTopicConfigured(ctx context.Context, name string, n int, cfg TopicConfig) error {
	if err := c.CreateTopic(ctx, name, n); err != nil {
		return err
	}
	return c.SetTopicConfig(ctx, name, cfg)
}

func (c *fakeCluster) SetTopicConfig(_ context.Context, name string, cfg TopicConfig) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.topics[name]; !ok {
		return logq.Errorf(logq.ETopicNotFound, "no topic %q", name)
	}
	if c.retention == nil {
		c.retention = map[string][2]int64{}
	}
	r := c.retention[name]
	if cfg.RetentionMs != nil {
		r[0] = *cfg.RetentionMs
	}
	if cfg.RetentionBytes != nil {
		r[1] = *cfg.RetentionBytes
	}
	c.retention[name] = r
	return nil
}

func (c *fakeCluster) CreatePartitions(_ context.Context, name string, n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.topics[name]; !ok {
		return logq.Errorf(logq.ETopicNotFound, "no topic %q", name)
	}
	c.topics[name] = n
	return nil
}

func (c *fakeCluster) DeleteTopic(_ context.Context, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.topics[name]; !ok {
		return logq.Errorf(logq.ETopicNotFound, "no topic %q", name)
	}
	delete(c.topics, name)
	c.log.drop(name)
	return nil
}

func (c *fakeCluster) InitProducerID(context.Context) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	return c.nextID, nil
}

type fakeLog struct {
	c         *fakeCluster
	mu        sync.Mutex
	parts     map[[2]any][]StoredRecord
	appended  chan struct{}
	producers []Producer
	// waiting, when set, gets a value each time a Fetch starts waiting.
	waiting chan struct{}
}

func newFake() (*fakeCluster, *fakeLog) {
	c := &fakeCluster{topics: map[string]int{}}
	l := &fakeLog{c: c, parts: map[[2]any][]StoredRecord{}, appended: make(chan struct{})}
	c.log = l
	return c, l
}

func (l *fakeLog) drop(topic string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.parts {
		if k[0] == topic {
			delete(l.parts, k)
		}
	}
}

func (l *fakeLog) owned(topic string, p int32) error {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	n, ok := l.c.topics[topic]
	if !ok || p < 0 || int(p) >= n {
		return logq.Errorf(logq.ETopicNotFound, "no partition %s/%d", topic, p)
	}
	return nil
}

func (l *fakeLog) Produce(_ context.Context, topic string, p int32, recs []Record, pr Producer) (int64, time.Time, error) {
	if err := l.owned(topic, p); err != nil {
		return 0, time.Time{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := [2]any{topic, p}
	base := int64(len(l.parts[k]))
	now := time.Now().Truncate(time.Millisecond)
	for i, r := range recs {
		l.parts[k] = append(l.parts[k], StoredRecord{Offset: base + int64(i), Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: now})
	}
	l.producers = append(l.producers, pr)
	close(l.appended)
	l.appended = make(chan struct{})
	return base, now, nil
}

func (l *fakeLog) Fetch(ctx context.Context, topic string, p int32, offset int64, maxBytes int, wait time.Duration) (FetchResult, error) {
	if err := l.owned(topic, p); err != nil {
		return FetchResult{}, err
	}
	var deadline <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		deadline = t.C
	}
	for {
		l.mu.Lock()
		recs := l.parts[[2]any{topic, p}]
		ch := l.appended
		l.mu.Unlock()
		hw := int64(len(recs))
		if offset > hw || offset < 0 {
			return FetchResult{HighWatermark: hw}, logq.Errorf(logq.EInvalid, "offset %d out of range", offset)
		}
		var out []StoredRecord
		n := 0
		for _, r := range recs[offset:] {
			if len(out) > 0 && n+len(r.Value) > maxBytes {
				break
			}
			n += len(r.Value)
			out = append(out, r)
		}
		if len(out) > 0 || deadline == nil {
			return FetchResult{Records: out, HighWatermark: hw}, nil
		}
		if l.waiting != nil {
			select {
			case l.waiting <- struct{}{}:
			default:
			}
		}
		select {
		case <-ch:
		case <-deadline:
			deadline = nil
		case <-ctx.Done():
			return FetchResult{HighWatermark: hw}, ctx.Err()
		}
	}
}

func (l *fakeLog) ListOffset(_ context.Context, topic string, p int32, ts int64) (int64, int64, error) {
	if err := l.owned(topic, p); err != nil {
		return 0, 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	recs := l.parts[[2]any{topic, p}]
	switch ts {
	case ListEarliest:
		return 0, -1, nil
	case ListLatest:
		return int64(len(recs)), -1, nil
	}
	for _, r := range recs {
		if r.Timestamp.UnixMilli() >= ts {
			return r.Offset, r.Timestamp.UnixMilli(), nil
		}
	}
	return int64(len(recs)), -1, nil
}
