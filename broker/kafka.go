package broker

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/auth"
	"github.com/logq/logq/auth/httpauth"
	"github.com/logq/logq/broker/storage"
	"github.com/logq/logq/client"
	"github.com/logq/logq/kafka"
	"github.com/logq/logq/projection"
)

// kafkaAdapter implements kafka.Cluster and kafka.Log on the broker: the
// control plane from the broker's projection, admin writes through the
// managers, the data plane through the partitions this broker serves.
//
// Records are stored as sent (key and value bytes, headers, the
// producer's timestamp; a nil value as empty); idempotent batches are
// deduplicated by the store in the same transaction as the records. Topic
// configs (retention) go through the managers like the other admin writes.
type kafkaAdapter struct {
	b     *Broker
	admin *client.Client // nil without managers

	idMu   sync.Mutex
	lastID int64
}

var (
	_ kafka.Cluster = (*kafkaAdapter)(nil)
	_ kafka.Log     = (*kafkaAdapter)(nil)
	_ kafka.Groups  = kafkaGroups{}
)

// startKafka makes the broker's Kafka server on its listener (New listened).
func (b *Broker) newKafkaServer() (*kafka.Server, error) {
	a := &kafkaAdapter{b: b}
	var groups kafka.Groups
	if len(b.cfg.Managers) > 0 {
		// The broker calls the managers as itself (its own principal):
		// the Kafka request was authorized here first (kafka/authz.go).
		// With a certificate of its own it presents it (mutual TLS), as
		// its registration does.
		creds := b.cfg.Credentials
		var hc *http.Client
		if tc, err := b.cfg.TLS.ClientConfig(); err == nil && b.cfg.TLS.Cert != "" {
			hc = &http.Client{}
			httpauth.SetClientTLS(hc, tc)
		}
		c, err := client.New(client.Config{Managers: b.cfg.Managers, HTTPClient: hc,
			Token: creds.Token, User: creds.User, Password: creds.Password, TLSCA: b.cfg.TLS.CA,
			NoEnv: !creds.IsZero()})
		if err != nil {
			return nil, err
		}
		a.admin = c
		groups = kafkaGroups{c}
	}
	b.kafkaAdmin = a.admin
	var az *auth.Authenticator
	var quotas *httpauth.Quotas
	if b.cfg.Auth {
		az = auth.NewAuthenticator(b.directory)
		if b.cfg.QuotaProduceBytesPerSec > 0 || b.cfg.QuotaFetchBytesPerSec > 0 {
			quotas = &httpauth.Quotas{ProduceBytesPerSec: b.cfg.QuotaProduceBytesPerSec, FetchBytesPerSec: b.cfg.QuotaFetchBytesPerSec}
		}
	}
	return kafka.New(kafka.Config{
		Auth: az, Quotas: quotas,
		Cluster: a, Log: a, Groups: groups,
		MaxRequestBytes:  int(b.cfg.MaxRequestBytes),
		MaxFetchWait:     b.cfg.LongPollMax,
		MaxFetchBytes:    b.cfg.MaxReadBytes,
		AutoCreateTopics: a.admin != nil,
		ShutdownTimeout:  b.cfg.ShutdownTimeout,
		Logger:           b.log,
	})
}

// kafkaGroups is kafka.Groups on the Go client. A join that outlasted the
// coordinator's long poll names its member in the error (client.Error's
// MemberID); the listener finds it in the answer.
type kafkaGroups struct{ *client.Client }

func (g kafkaGroups) JoinGroup(ctx context.Context, group string, req api.JoinGroupRequest) (api.JoinGroupAnswer, error) {
	ans, err := g.Client.JoinGroup(ctx, group, req)
	if ce := (*client.Error)(nil); errors.As(err, &ce) && ce.MemberID != "" {
		ans.MemberID = ce.MemberID
	}
	return ans, err
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
		st := s.Topics[name]
		t := kafka.TopicInfo{Name: name, RetentionMs: st.RetentionMs, RetentionBytes: st.RetentionBytes}
		for _, p := range s.Topics[name].Partitions {
			leader := int32(-1)
			if p.Broker > 0 {
				leader = int32(p.Broker)
			}
			t.Partitions = append(t.Partitions, kafka.PartitionInfo{Partition: int32(p.Index), Leader: leader, Epoch: int32(p.Epoch)})
		}
		v.Topics = append(v.Topics, t)
	}
	v.RetentionMs, v.RetentionBytes = b.cfg.RetentionMs, b.cfg.RetentionBytes
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

func (a *kafkaAdapter) CreateTopicConfigured(ctx context.Context, name string, partitions int, cfg kafka.TopicConfig) error {
	if err := a.needAdmin(); err != nil {
		return err
	}
	if err := projection.ValidateTopicName(name); err != nil {
		return logq.Errorf(logq.EInvalid, "%v", err)
	}
	seq, err := a.admin.CreateTopicConfigured(ctx, name, partitions, client.TopicConfigChange{RetentionMs: cfg.RetentionMs, RetentionBytes: cfg.RetentionBytes})
	if err != nil {
		return err
	}
	return a.applied(ctx, seq)
}

// SetTopicConfig is POST /topics/{topic}/config through the managers.
func (a *kafkaAdapter) SetTopicConfig(ctx context.Context, name string, cfg kafka.TopicConfig) error {
	if err := a.needAdmin(); err != nil {
		return err
	}
	_, seq, err := a.admin.SetTopicConfig(ctx, name, client.TopicConfigChange{RetentionMs: cfg.RetentionMs, RetentionBytes: cfg.RetentionBytes})
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

// Produce converts records to the store's messages: one slice of
// messages and one of all their headers, the keys and values not copied
// (they are the request's bytes).
func (a *kafkaAdapter) Produce(ctx context.Context, topic string, partition int32, records []kafka.Record, prod kafka.Producer) (int64, time.Time, error) {
	msgs := make([]message, len(records))
	nh := 0
	for i := range records {
		nh += len(records[i].Headers)
	}
	var hdrs []storage.Header
	if nh > 0 {
		hdrs = make([]storage.Header, 0, nh)
	}
	pid := max(prod.ID, 0)
	for i := range records {
		r := &records[i]
		if len(r.Value) > a.b.cfg.MaxMessageBytes {
			return 0, time.Time{}, logq.Errorf(logq.ETooLarge, "record of %d bytes over the limit of %d", len(r.Value), a.b.cfg.MaxMessageBytes)
		}
		m := &msgs[i]
		m.ProducerID, m.Key, m.Value, m.Timestamp = pid, r.Key, r.Value, r.Timestamp
		if m.Value == nil {
			m.Value = []byte{} // a null value is stored empty: logq has no tombstones (no compaction)
		}
		if len(r.Headers) > 0 {
			start := len(hdrs)
			for _, h := range r.Headers {
				hdrs = append(hdrs, storage.Header{Key: h.Key, Value: h.Value})
			}
			m.Headers = hdrs[start:len(hdrs):len(hdrs)]
		}
	}
	var idem *storage.Idempotence
	if prod.ID >= 0 {
		idem = &storage.Idempotence{ProducerID: prod.ID, Epoch: int64(prod.Epoch), BaseSequence: int64(prod.BaseSequence)}
	}
	base, _, err := a.b.appendIdem(ctx, topic, int(partition), msgs, idem)
	if err != nil {
		return 0, time.Time{}, err
	}
	return base, time.Now(), nil
}

// Fetch converts the store's messages to records: one slice of records
// and one of all their headers, the keys and values not copied.
func (a *kafkaAdapter) Fetch(ctx context.Context, topic string, partition int32, offset int64, maxBytes int, wait time.Duration) (kafka.FetchResult, error) {
	b := a.b
	f, err := b.fetch(ctx, topic, int(partition), offset, b.cfg.MaxReadMessages, min(maxBytes, b.cfg.MaxReadBytes), wait)
	res := kafka.FetchResult{HighWatermark: f.HighWatermark, LogStartOffset: f.LogStartOffset}
	if err != nil {
		return res, err
	}
	nh := 0
	for i := range f.Messages {
		nh += len(f.Messages[i].Headers)
	}
	var hdrs []kafka.Header
	if nh > 0 {
		hdrs = make([]kafka.Header, 0, nh)
	}
	res.Records = make([]kafka.StoredRecord, len(f.Messages))
	for i := range f.Messages {
		m := &f.Messages[i]
		r := &res.Records[i]
		r.Offset, r.Key, r.Value, r.Timestamp = m.Offset, m.Key, m.Value, m.Timestamp
		if len(m.Headers) > 0 {
			start := len(hdrs)
			for _, h := range m.Headers {
				hdrs = append(hdrs, kafka.Header{Key: h.Key, Value: h.Value})
			}
			r.Headers = hdrs[start:len(hdrs):len(hdrs)]
		}
	}
	return res, nil
}

// ListOffset answers from the store's ListOffsets (earliest is the log
// start offset, latest the high watermark, a timestamp the first record at
// or after it by record timestamp).
func (a *kafkaAdapter) ListOffset(ctx context.Context, topic string, partition int32, ts int64) (int64, int64, error) {
	at := ts
	switch {
	case ts == kafka.ListEarliest:
		at = storage.OffsetEarliest
	case ts == kafka.ListLatest:
		at = storage.OffsetLatest
	case ts < 0:
		return 0, 0, logq.Errorf(logq.EInvalid, "timestamp %d", ts)
	}
	lo, err := a.b.listOffsets(ctx, topic, int(partition), at)
	if err != nil {
		return 0, 0, err
	}
	if ts < 0 {
		return lo.Offset, -1, nil
	}
	if lo.Offset < 0 { // no record at or after ts: the high watermark, as Kafka answers
		return lo.HighWatermark, -1, nil
	}
	return lo.Offset, lo.Timestamp.UnixMilli(), nil
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
