package manager

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/projection"
	"github.com/logq/logq/router"
)

const success = api.StatusSuccess

// readBody reads the whole (size-limited) body (api.ReadBody).
func readBody(r *http.Request) ([]byte, error) { return api.ReadBody(r) }

// decode reads a request's parameters into dst, a pointer to an api
// XxxParams (api.Decode: the one decoder), and waits for its min_seq when
// it has one.
func (m *Manager) decode(r *http.Request, dst any) error {
	body, err := api.ReadBody(r)
	if err != nil {
		return err
	}
	if err := api.Decode(r, body, dst); err != nil {
		return err
	}
	ms, ok := dst.(interface{ MinSeqValue() (int64, error) })
	if !ok {
		return nil
	}
	minSeq, err := ms.MinSeqValue()
	if err != nil || minSeq == 0 {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), m.cfg.MinSeqWait)
	defer cancel()
	return m.WaitApplied(ctx, minSeq)
}

// readOnly decodes a read that takes nothing but min_seq.
func (m *Manager) readOnly(r *http.Request) error {
	var p api.ReadParams
	return m.decode(r, &p)
}

func (m *Manager) handleCreateTopic(r *http.Request, _ httprouter.Params) (any, error) {
	var p api.CreateTopicParams
	if err := m.decode(r, &p); err != nil {
		return nil, err
	}
	req, err := p.Request()
	if err != nil {
		return nil, err
	}
	topic := req.TopicName
	seq, err := m.createTopicConfigured(r.Context(), req) // topicconfig.go
	if err != nil {
		return nil, err
	}
	count := m.partitionCount(topic)
	return api.CreateTopicAnswer{
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

// registration reads what producer and consumer registration take: a
// topic and, optionally, one partition of it.
func (m *Manager) registration(r *http.Request) (api.RegisterRequest, error) {
	var p api.RegisterParams
	if err := m.decode(r, &p); err != nil {
		return api.RegisterRequest{}, err
	}
	return p.Request()
}

// registeredFor describes a registration for the answer's message.
func registeredFor(kind string, id int64, req api.RegisterRequest) string {
	if req.Partition != nil {
		return fmt.Sprintf("%s %d registered for partition %d of topic %q", kind, id, *req.Partition, req.Topic)
	}
	return fmt.Sprintf("%s %d registered for topic %q", kind, id, req.Topic)
}

func (m *Manager) handleRegisterProducer(r *http.Request, _ httprouter.Params) (any, error) {
	req, err := m.registration(r)
	if err != nil {
		return nil, err
	}
	id, seq, err := m.registerProducer(r.Context(), req.Topic, req.Partition, owner(r, m.directory()))
	if err != nil {
		return nil, err
	}
	return api.RegisterProducerAnswer{Status: success, Message: registeredFor("producer", id, req),
		ProducerID: id, Seq: seq, Topic: req.Topic, Partition: req.Partition}, nil
}

func (m *Manager) handleRegisterConsumer(r *http.Request, _ httprouter.Params) (any, error) {
	req, err := m.registration(r)
	if err != nil {
		return nil, err
	}
	id, seq, err := m.registerConsumer(r.Context(), req.Topic, req.Partition, owner(r, m.directory()))
	if err != nil {
		return nil, err
	}
	return api.RegisterConsumerAnswer{Status: success, Message: registeredFor("consumer", id, req),
		ConsumerID: id, Seq: seq, Topic: req.Topic, Partition: req.Partition}, nil
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
	var p api.RegisterBrokerParams
	if err := m.decode(r, &p); err != nil {
		return nil, err
	}
	req, err := p.Request()
	if err != nil {
		return nil, err
	}
	if err := checkAddress(req.Address); err != nil {
		return nil, err
	}
	if req.KafkaAddress != "" {
		if err := checkAddress(req.KafkaAddress); err != nil {
			return nil, logq.Errorf(logq.EInvalid, "kafka_address: %s", logq.ErrorMessage(err))
		}
	}
	id, seq, err := m.registerBroker(r.Context(), req.Address, req.KafkaAddress, req.StorageCluster, req.BrokerID, req.Rejoin)
	if err != nil {
		return nil, err
	}
	return api.BrokerAnswer{Status: success, BrokerID: id, Seq: seq}, nil
}

// moveInfo is one reassignment in the answers of DELETE /brokers/{id} and
// POST /rebalance.
type moveInfo = api.Move

// newMoveInfo describes a reassignment decided against s.
func newMoveInfo(s *projection.State, mv projection.PartitionAssigned) moveInfo {
	info := moveInfo{Topic: mv.Topic, Partition: mv.Partition, BrokerID: mv.BrokerID, Epoch: mv.Epoch}
	if t, ok := s.Topics[mv.Topic]; ok && mv.Partition < len(t.Partitions) {
		info.FromBroker = t.Partitions[mv.Partition].Broker
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
	return api.RemoveBrokerAnswer{Status: success, Message: fmt.Sprintf("broker %d removed; %d partitions reassigned", id, len(moves)),
		BrokerID: id, Seq: seq, Moved: nonNil(moves)}, nil
}

func (m *Manager) handleAddPartitions(r *http.Request, ps httprouter.Params) (any, error) {
	topic := ps.ByName("topic")
	if err := api.ValidateTopic(topic); err != nil {
		return nil, err
	}
	var p api.AddPartitionsParams
	if err := m.decode(r, &p); err != nil {
		return nil, err
	}
	req, err := p.Request()
	if err != nil {
		return nil, err
	}
	count, expect := req.Count, req.ExpectPartitions
	if expect == 0 {
		expect = -1
	}
	seq, err := m.addPartitions(r.Context(), topic, int(count), int(expect))
	if err != nil {
		return nil, err
	}
	total := m.partitionCount(topic)
	return api.AddPartitionsAnswer{Status: success, Message: fmt.Sprintf("added %d partitions to topic %q (%d in all)", count, topic, total),
		Topic: topic, Added: count, Partitions: total, Seq: seq}, nil
}

func (m *Manager) handleRebalance(r *http.Request, _ httprouter.Params) (any, error) {
	if _, err := readBody(r); err != nil { // any body is accepted and ignored
		return nil, err
	}
	seq, moves, err := m.rebalance(r.Context())
	if err != nil {
		return nil, err
	}
	return api.RebalanceAnswer{Status: success, Message: fmt.Sprintf("%d partitions moved", len(moves)), Seq: seq, Moved: nonNil(moves)}, nil
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
	var p api.HeartbeatParams
	if err := m.decode(r, &p); err != nil {
		return nil, err
	}
	req, err := p.Request()
	if err != nil {
		return nil, err
	}
	addr := req.Address
	if addr != "" {
		if err := checkAddress(addr); err != nil {
			return nil, err
		}
	}
	seq, err := m.heartbeat(r.Context(), id, addr)
	if err != nil {
		return nil, err
	}
	return api.BrokerAnswer{Status: success, BrokerID: id, Seq: seq}, nil
}

// Reads.

func (m *Manager) handleTopics(r *http.Request, _ httprouter.Params) (any, error) {
	if err := m.readOnly(r); err != nil {
		return nil, err
	}
	m.mu.RLock()
	names := m.state.TopicNames()
	seq := m.state.Seq
	m.mu.RUnlock()
	return api.TopicsAnswer{Status: success, Topics: names, Seq: seq}, nil
}

func (m *Manager) handleTopic(r *http.Request, ps httprouter.Params) (any, error) {
	if err := m.readOnly(r); err != nil {
		return nil, err
	}
	topic := ps.ByName("topic")
	m.mu.RLock()
	t, ok := m.state.Topics[topic]
	if !ok {
		m.mu.RUnlock()
		return nil, logq.Errorf(logq.ETopicNotFound, "topic %q not found", topic)
	}
	infos := make([]api.PartitionInfo, len(t.Partitions))
	owners := map[int64]router.Owner{}
	for i, part := range t.Partitions {
		infos[i] = api.PartitionInfo{Partition: part.Index, BrokerID: part.Broker, Epoch: part.Epoch, Writable: m.state.Writable(topic, i),
			StorageCluster: projection.StorageClusterName(part.StorageCluster)}
		if b, ok := m.state.Brokers[part.Broker]; ok {
			infos[i].Address = b.Address
			if infos[i].Writable {
				owners[b.ID] = router.Owner{Broker: b.ID, Address: b.Address}
			}
		}
	}
	seq := m.state.Seq
	cfg := api.TopicConfig{RetentionMs: t.RetentionMs, RetentionBytes: t.RetentionBytes}
	m.mu.RUnlock()

	served := m.servedPartitions(r.Context(), owners, seq) // topicconfig.go
	for i := range infos {
		if v, ok := served[partKey{topic, infos[i].Partition, infos[i].BrokerID}]; ok {
			infos[i].HighWatermark = &v.HighWatermark
			infos[i].LogStartOffset = v.LogStartOffset
		}
	}
	return api.TopicAnswer{Status: success, Topic: topic, Partitions: infos, Seq: seq, Config: cfg}, nil
}

type partKey struct {
	topic     string
	partition int
	broker    int64
}

// highWatermarks asks each broker (concurrently, briefly) for the
// partitions it owns; a broker that does not answer leaves its partitions'
// high watermarks unknown.
func (m *Manager) highWatermarks(ctx context.Context, owners map[int64]router.Owner, seq int64) map[partKey]int64 {
	ctx, cancel := context.WithTimeout(ctx, min(m.cfg.BrokerTimeout, 2*time.Second))
	defer cancel()
	var mu sync.Mutex
	out := map[partKey]int64{}
	var wg sync.WaitGroup
	for _, o := range owners {
		wg.Go(func() {
			var ans api.PartitionsAnswer
			if err := m.router.CallBroker(ctx, o, seq, "partitions", "GET", "/v1/partitions", nil, nil, &ans, 0); err != nil {
				return
			}
			mu.Lock()
			for _, p := range ans.Partitions {
				out[partKey{p.Topic, p.Partition, o.Broker}] = p.HighWatermark
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func (m *Manager) handleBrokers(r *http.Request, _ httprouter.Params) (any, error) {
	if err := m.readOnly(r); err != nil {
		return nil, err
	}
	m.mu.RLock()
	ids := m.state.BrokerIDs()
	brokers := make([]api.BrokerInfo, 0, len(ids))
	byBroker := map[int64][]api.BrokerPartRef{}
	for _, name := range m.state.TopicNames() {
		for _, p := range m.state.Topics[name].Partitions {
			byBroker[p.Broker] = append(byBroker[p.Broker], api.BrokerPartRef{Topic: name, Partition: p.Index, Epoch: p.Epoch})
		}
	}
	for _, id := range ids {
		b := m.state.Brokers[id]
		parts := byBroker[id]
		if parts == nil {
			parts = []api.BrokerPartRef{}
		}
		brokers = append(brokers, api.BrokerInfo{BrokerID: id, Address: b.Address, Alive: b.Alive, Partitions: parts,
			StorageCluster: projection.StorageClusterName(b.StorageCluster)})
	}
	seq := m.state.Seq
	m.mu.RUnlock()
	return api.BrokersAnswer{Status: success, Brokers: brokers, Seq: seq}, nil
}

func (m *Manager) handleEvents(r *http.Request, _ httprouter.Params) (any, error) {
	var p api.EventsParams
	if err := m.decode(r, &p); err != nil {
		return nil, err
	}
	from, limit, err := p.Range()
	if err != nil {
		return nil, err
	}
	events, err := eventlog.Read(r.Context(), m.db, from, limit)
	if err != nil {
		return nil, err
	}
	if events == nil {
		events = []logq.Event{}
	}
	return api.EventsAnswer{Status: success, Events: events}, nil
}

func (m *Manager) handleState(r *http.Request, _ httprouter.Params) (any, error) {
	if err := m.readOnly(r); err != nil {
		return nil, err
	}
	s := m.State()
	return api.StateAnswer{Status: success, Seq: s.Seq, State: s}, nil
}

func (m *Manager) handleHealth(r *http.Request, _ httprouter.Params) (any, error) {
	role := "reader"
	if m.IsWriter() {
		role = "writer"
	}
	m.mu.RLock()
	seq, writer, epoch := m.state.Seq, m.state.Writer, m.state.WriterEpoch
	m.mu.RUnlock()
	return api.HealthAnswer{Status: success, Role: role, ConfiguredRole: string(m.cfg.Role), Name: m.cfg.Name, Seq: seq,
		Writer: writer, WriterEpoch: epoch,
		HeartbeatInterval: m.cfg.HeartbeatInterval.Milliseconds(), HeartbeatTimeout: m.cfg.HeartbeatTimeout.Milliseconds()}, nil
}
