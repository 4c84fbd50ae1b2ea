package manager

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/logq/logq"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/projection"
)

const (
	success = "success"

	defaultEventsLimit = 100
	maxEventsLimit     = 10000
)

// Answers of the control-plane endpoints.
type (
	createTopicAnswer struct {
		Status     string `json:"status"`
		Message    string `json:"message"`
		Seq        int64  `json:"seq"`
		Topic      string `json:"topic"`
		Partitions int    `json:"partitions"`
	}
	producerAnswer struct {
		Status     string `json:"status"`
		ProducerID int64  `json:"producer_id"`
		Seq        int64  `json:"seq"`
		Topic      string `json:"topic"`
		Partition  *int   `json:"partition"`
	}
	consumerAnswer struct {
		Status     string `json:"status"`
		ConsumerID int64  `json:"consumer_id"`
		Seq        int64  `json:"seq"`
		Topic      string `json:"topic"`
		Partition  *int   `json:"partition"`
	}
	brokerAnswer struct {
		Status   string `json:"status"`
		BrokerID int64  `json:"broker_id"`
		Seq      int64  `json:"seq"`
	}
)

// readParams parses a read's parameters and waits for its min_seq.
func (m *Manager) readParams(r *http.Request) (*params, error) {
	p, err := parseParams(r)
	if err != nil {
		return nil, err
	}
	minSeq, ok, err := p.integer(pMinSeq, 0, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	if ok && minSeq > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), m.cfg.MinSeqWait)
		defer cancel()
		if err := m.WaitApplied(ctx, minSeq); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// topicParam returns a valid topic name parameter.
func topicParam(p *params) (string, error) {
	topic, err := p.requiredStr(pTopic)
	if err != nil {
		return "", err
	}
	if err := projection.ValidateTopicName(topic); err != nil {
		return "", logq.Errorf(logq.EInvalid, "%v", err)
	}
	return topic, nil
}

func (m *Manager) handleCreateTopic(r *http.Request, _ httprouter.Params) (any, error) {
	p, err := parseParams(r)
	if err != nil {
		return nil, err
	}
	topic, err := topicParam(p)
	if err != nil {
		return nil, err
	}
	n, _, err := p.integer(pPartitions, 1, projection.MaxPartitions)
	if err != nil {
		return nil, err
	}
	seq, err := m.createTopic(r.Context(), topic, int(n))
	if err != nil {
		return nil, err
	}
	count := m.partitionCount(topic)
	return createTopicAnswer{
		Status:     success,
		Message:    fmt.Sprintf("topic %q created with %d partitions", topic, count),
		Seq:        seq,
		Topic:      topic,
		Partitions: count,
	}, nil
}

func (m *Manager) partitionCount(topic string) int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if t, ok := m.state.Topics[topic]; ok {
		return len(t.Partitions)
	}
	return 0
}

// registrationParams reads what producer and consumer registration take:
// a topic and, optionally, one partition of it.
func registrationParams(r *http.Request) (topic string, partition *int, err error) {
	p, err := parseParams(r)
	if err != nil {
		return "", nil, err
	}
	if topic, err = topicParam(p); err != nil {
		return "", nil, err
	}
	partition, err = p.optPartition()
	return topic, partition, err
}

func (m *Manager) handleRegisterProducer(r *http.Request, _ httprouter.Params) (any, error) {
	topic, partition, err := registrationParams(r)
	if err != nil {
		return nil, err
	}
	id, seq, err := m.registerProducer(r.Context(), topic, partition)
	if err != nil {
		return nil, err
	}
	return producerAnswer{Status: success, ProducerID: id, Seq: seq, Topic: topic, Partition: partition}, nil
}

func (m *Manager) handleRegisterConsumer(r *http.Request, _ httprouter.Params) (any, error) {
	topic, partition, err := registrationParams(r)
	if err != nil {
		return nil, err
	}
	id, seq, err := m.registerConsumer(r.Context(), topic, partition)
	if err != nil {
		return nil, err
	}
	return consumerAnswer{Status: success, ConsumerID: id, Seq: seq, Topic: topic, Partition: partition}, nil
}

// checkAddress accepts a broker address: host:port or an absolute http(s)
// URL.
func checkAddress(addr string) error {
	if len(addr) > projection.MaxAddressLen {
		return logq.Errorf(logq.EInvalid, "address longer than %d characters", projection.MaxAddressLen)
	}
	if strings.Contains(addr, "://") {
		if err := checkBaseURL(addr); err != nil {
			return logq.Errorf(logq.EInvalid, "address: %v", err)
		}
		return nil
	}
	// An empty host means this machine, as in net.Listen.
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return logq.Errorf(logq.EInvalid, "address %q is neither host:port nor an http(s) URL", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return logq.Errorf(logq.EInvalid, "address %q has an invalid port", addr)
	}
	return nil
}

func (m *Manager) handleRegisterBroker(r *http.Request, _ httprouter.Params) (any, error) {
	p, err := parseParams(r)
	if err != nil {
		return nil, err
	}
	addr, err := p.requiredStr(pAddress)
	if err != nil {
		return nil, err
	}
	if err := checkAddress(addr); err != nil {
		return nil, err
	}
	id, _, err := p.integer(pBroker, 1, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	rejoin, err := p.boolean(pRejoin)
	if err != nil {
		return nil, err
	}
	id, seq, err := m.registerBroker(r.Context(), addr, id, rejoin)
	if err != nil {
		return nil, err
	}
	return brokerAnswer{Status: success, BrokerID: id, Seq: seq}, nil
}

// moveInfo is one reassignment in the answers of DELETE /brokers/{id} and
// POST /rebalance.
type moveInfo struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	From      int64  `json:"from_broker_id"`
	BrokerID  int64  `json:"broker_id"`
	Epoch     int64  `json:"epoch"`
}

// newMoveInfo describes a reassignment decided against s.
func newMoveInfo(s *projection.State, mv projection.PartitionAssigned) moveInfo {
	info := moveInfo{Topic: mv.Topic, Partition: mv.Partition, BrokerID: mv.BrokerID, Epoch: mv.Epoch}
	if t, ok := s.Topics[mv.Topic]; ok && mv.Partition < len(t.Partitions) {
		info.From = t.Partitions[mv.Partition].Broker
	}
	return info
}

func nonNil(moves []moveInfo) []moveInfo {
	if moves == nil {
		return []moveInfo{}
	}
	return moves
}

func (m *Manager) handleRemoveBroker(r *http.Request, ps httprouter.Params) (any, error) {
	id, err := pathID(ps, "id", "broker")
	if err != nil {
		return nil, err
	}
	if _, err := readBody(r); err != nil { // any body is accepted and ignored
		return nil, err
	}
	seq, moves, err := m.removeBroker(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return struct {
		Status   string     `json:"status"`
		Message  string     `json:"message"`
		BrokerID int64      `json:"broker_id"`
		Seq      int64      `json:"seq"`
		Moved    []moveInfo `json:"moved"`
	}{success, fmt.Sprintf("broker %d removed; %d partitions reassigned", id, len(moves)), id, seq, nonNil(moves)}, nil
}

func (m *Manager) handleAddPartitions(r *http.Request, ps httprouter.Params) (any, error) {
	topic := ps.ByName("topic")
	if err := projection.ValidateTopicName(topic); err != nil {
		return nil, logq.Errorf(logq.EInvalid, "%v", err)
	}
	p, err := parseParams(r)
	if err != nil {
		return nil, err
	}
	count, err := p.requiredInt(pCount, math.MinInt64, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	if count < 1 || count > projection.MaxPartitions {
		return nil, logq.Errorf(logq.EInvalid, "count must be between 1 and %d; got %d", projection.MaxPartitions, count)
	}
	expect, ok, err := p.integer(pExpect, 1, projection.MaxPartitions)
	if err != nil {
		return nil, err
	}
	if !ok {
		expect = -1
	}
	seq, err := m.addPartitions(r.Context(), topic, int(count), int(expect))
	if err != nil {
		return nil, err
	}
	total := m.partitionCount(topic)
	return struct {
		Status     string `json:"status"`
		Message    string `json:"message"`
		Topic      string `json:"topic"`
		Added      int    `json:"added"`
		Partitions int    `json:"partitions"`
		Seq        int64  `json:"seq"`
	}{success, fmt.Sprintf("added %d partitions to topic %q (%d in all)", count, topic, total), topic, int(count), total, seq}, nil
}

func (m *Manager) handleRebalance(r *http.Request, _ httprouter.Params) (any, error) {
	if _, err := readBody(r); err != nil { // any body is accepted and ignored
		return nil, err
	}
	seq, moves, err := m.rebalance(r.Context())
	if err != nil {
		return nil, err
	}
	return struct {
		Status  string     `json:"status"`
		Message string     `json:"message"`
		Seq     int64      `json:"seq"`
		Moved   []moveInfo `json:"moved"`
	}{success, fmt.Sprintf("%d partitions moved", len(moves)), seq, nonNil(moves)}, nil
}

// pathID parses a positive id from the path.
func pathID(ps httprouter.Params, name, what string) (int64, error) {
	id, err := strconv.ParseInt(ps.ByName(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, logq.Errorf(logq.EInvalid, "%s id %q is not a positive integer", what, ps.ByName(name))
	}
	return id, nil
}

func (m *Manager) handleHeartbeat(r *http.Request, ps httprouter.Params) (any, error) {
	id, err := pathID(ps, "id", "broker")
	if err != nil {
		return nil, err
	}
	p, err := parseParams(r)
	if err != nil {
		return nil, err
	}
	addr, _, err := p.str(pAddress)
	if err != nil {
		return nil, err
	}
	if addr != "" {
		if err := checkAddress(addr); err != nil {
			return nil, err
		}
	}
	seq, err := m.heartbeat(r.Context(), id, addr)
	if err != nil {
		return nil, err
	}
	return brokerAnswer{Status: success, BrokerID: id, Seq: seq}, nil
}

// Reads.

func (m *Manager) handleTopics(r *http.Request, _ httprouter.Params) (any, error) {
	if _, err := m.readParams(r); err != nil {
		return nil, err
	}
	m.mu.RLock()
	names := m.state.TopicNames()
	seq := m.state.Seq
	m.mu.RUnlock()
	return struct {
		Status string   `json:"status"`
		Topics []string `json:"topics"`
		Seq    int64    `json:"seq"`
	}{success, names, seq}, nil
}

// partitionInfo is one partition in GET /topics/{topic}.
type partitionInfo struct {
	Partition     int    `json:"partition"`
	BrokerID      int64  `json:"broker_id"`
	Address       string `json:"address"`
	Epoch         int64  `json:"epoch"`
	HighWatermark *int64 `json:"high_watermark"`
	Writable      bool   `json:"writable"`
}

func (m *Manager) handleTopic(r *http.Request, ps httprouter.Params) (any, error) {
	if _, err := m.readParams(r); err != nil {
		return nil, err
	}
	topic := ps.ByName("topic")
	m.mu.RLock()
	t, ok := m.state.Topics[topic]
	if !ok {
		m.mu.RUnlock()
		return nil, logq.Errorf(logq.ETopicNotFound, "topic %q not found", topic)
	}
	infos := make([]partitionInfo, len(t.Partitions))
	owners := map[int64]owner{}
	for i, part := range t.Partitions {
		infos[i] = partitionInfo{Partition: part.Index, BrokerID: part.Broker, Epoch: part.Epoch, Writable: m.state.Writable(topic, i)}
		if b, ok := m.state.Brokers[part.Broker]; ok {
			infos[i].Address = b.Address
			if infos[i].Writable {
				owners[b.ID] = owner{broker: b.ID, address: b.Address}
			}
		}
	}
	seq := m.state.Seq
	m.mu.RUnlock()

	hwm := m.highWatermarks(r.Context(), owners, seq)
	for i := range infos {
		if v, ok := hwm[partKey{topic, infos[i].Partition, infos[i].BrokerID}]; ok {
			infos[i].HighWatermark = &v
		}
	}
	return struct {
		Status     string          `json:"status"`
		Topic      string          `json:"topic"`
		Partitions []partitionInfo `json:"partitions"`
		Seq        int64           `json:"seq"`
	}{success, topic, infos, seq}, nil
}

type partKey struct {
	topic     string
	partition int
	broker    int64
}

// highWatermarks asks each broker (concurrently, briefly) for the
// partitions it owns; a broker that does not answer leaves its partitions'
// high watermarks unknown.
func (m *Manager) highWatermarks(ctx context.Context, owners map[int64]owner, seq int64) map[partKey]int64 {
	ctx, cancel := context.WithTimeout(ctx, min(m.cfg.BrokerTimeout, 2*time.Second))
	defer cancel()
	var mu sync.Mutex
	out := map[partKey]int64{}
	var wg sync.WaitGroup
	for _, o := range owners {
		wg.Go(func() {
			var ans brokerPartitionsAnswer
			if err := m.callBroker(ctx, o, seq, "partitions", "GET", "/v1/partitions", nil, nil, &ans, 0); err != nil {
				return
			}
			mu.Lock()
			for _, p := range ans.Partitions {
				out[partKey{p.Topic, p.Partition, o.broker}] = p.HighWatermark
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// brokerInfo is one broker in GET /brokers.
type brokerInfo struct {
	BrokerID   int64           `json:"broker_id"`
	Address    string          `json:"address"`
	Alive      bool            `json:"alive"`
	Partitions []brokerPartRef `json:"partitions"`
}

type brokerPartRef struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Epoch     int64  `json:"epoch"`
}

func (m *Manager) handleBrokers(r *http.Request, _ httprouter.Params) (any, error) {
	if _, err := m.readParams(r); err != nil {
		return nil, err
	}
	m.mu.RLock()
	ids := m.state.BrokerIDs()
	brokers := make([]brokerInfo, 0, len(ids))
	byBroker := map[int64][]brokerPartRef{}
	for _, name := range m.state.TopicNames() {
		for _, p := range m.state.Topics[name].Partitions {
			byBroker[p.Broker] = append(byBroker[p.Broker], brokerPartRef{Topic: name, Partition: p.Index, Epoch: p.Epoch})
		}
	}
	for _, id := range ids {
		b := m.state.Brokers[id]
		parts := byBroker[id]
		if parts == nil {
			parts = []brokerPartRef{}
		}
		brokers = append(brokers, brokerInfo{BrokerID: id, Address: b.Address, Alive: b.Alive, Partitions: parts})
	}
	seq := m.state.Seq
	m.mu.RUnlock()
	return struct {
		Status  string       `json:"status"`
		Brokers []brokerInfo `json:"brokers"`
		Seq     int64        `json:"seq"`
	}{success, brokers, seq}, nil
}

func (m *Manager) handleEvents(r *http.Request, _ httprouter.Params) (any, error) {
	p, err := m.readParams(r)
	if err != nil {
		return nil, err
	}
	from, _, err := p.integer(pFrom, 0, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	limit, ok, err := p.integer(pLimit, 1, maxEventsLimit)
	if err != nil {
		return nil, err
	}
	if !ok {
		limit = defaultEventsLimit
	}
	events, err := eventlog.Read(r.Context(), m.db, from, int(limit))
	if err != nil {
		return nil, err
	}
	if events == nil {
		events = []logq.Event{}
	}
	return struct {
		Status string       `json:"status"`
		Events []logq.Event `json:"events"`
	}{success, events}, nil
}

func (m *Manager) handleState(r *http.Request, _ httprouter.Params) (any, error) {
	if _, err := m.readParams(r); err != nil {
		return nil, err
	}
	s := m.State()
	return struct {
		Status string            `json:"status"`
		Seq    int64             `json:"seq"`
		State  *projection.State `json:"state"`
	}{success, s.Seq, s}, nil
}

func (m *Manager) handleHealth(r *http.Request, _ httprouter.Params) (any, error) {
	role := "reader"
	if m.IsWriter() {
		role = "writer"
	}
	m.mu.RLock()
	seq, writer, epoch := m.state.Seq, m.state.Writer, m.state.WriterEpoch
	m.mu.RUnlock()
	return struct {
		Status            string `json:"status"`
		Role              string `json:"role"`
		ConfiguredRole    Role   `json:"configured_role"`
		Name              string `json:"name"`
		Seq               int64  `json:"seq"`
		Writer            string `json:"writer"`
		WriterEpoch       int64  `json:"writer_epoch"`
		HeartbeatInterval int64  `json:"heartbeat_interval_ms"`
		HeartbeatTimeout  int64  `json:"heartbeat_timeout_ms"`
	}{success, role, m.cfg.Role, m.cfg.Name, seq, writer, epoch,
		m.cfg.HeartbeatInterval.Milliseconds(), m.cfg.HeartbeatTimeout.Milliseconds()}, nil
}
