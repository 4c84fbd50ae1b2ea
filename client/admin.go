package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/projection"
)

// TopicInfo describes a topic: its partitions, who owns them and how far
// each has been written.
type TopicInfo struct {
	Name       string          `json:"topic"`
	Partitions []PartitionInfo `json:"partitions"`
	Config     TopicConfig     `json:"config"` // retention (topicconfig.go)
}

// PartitionInfo is one partition of a topic.
type PartitionInfo struct {
	Partition     int    `json:"partition"`
	BrokerID      int64  `json:"broker_id"`
	Address       string `json:"address"`        // the owning broker's address
	Epoch         int64  `json:"epoch"`          // ownership epoch
	HighWatermark int64  `json:"high_watermark"` // next offset to be written
	Writable      bool   `json:"writable"`       // owned by a live broker
	// LogStartOffset is the first offset still stored (retention); nil
	// when its broker did not say.
	LogStartOffset *int64 `json:"log_start_offset"`
	// StorageCluster is the storage cluster (PostgreSQL) holding the
	// partition's records; empty from a manager that does not say.
	StorageCluster string `json:"storage_cluster,omitempty"`
}

// BrokerInfo is a registered broker.
type BrokerInfo struct {
	ID      int64  `json:"broker_id"`
	Address string `json:"address"`
	Alive   bool   `json:"alive"`
	// Partitions are the partitions the broker owns, when the manager lists
	// them; PartitionCount is their number either way.
	Partitions     []TopicPartition `json:"partitions,omitempty"`
	PartitionCount int              `json:"partition_count"`
	// StorageCluster is the storage cluster the broker writes to; empty
	// from a manager that does not say.
	StorageCluster string `json:"storage_cluster,omitempty"`
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Epoch     int64  `json:"epoch,omitempty"` // ownership epoch, when known
}

// brokerInfo converts a broker of GET /brokers.
func brokerInfo(b api.BrokerInfo) BrokerInfo {
	out := BrokerInfo{ID: b.BrokerID, Address: b.Address, Alive: b.Alive, PartitionCount: b.PartitionCount, StorageCluster: b.StorageCluster}
	for _, p := range b.Partitions {
		out.Partitions = append(out.Partitions, TopicPartition{Topic: p.Topic, Partition: p.Partition, Epoch: p.Epoch})
	}
	return out
}

// Health is a manager's answer to GET /healthz.
type Health struct {
	Role   string `json:"role"`   // "writer" or "reader"
	Seq    int64  `json:"seq"`    // last applied event
	Writer string `json:"writer"` // the writer it knows of
}

// CreateTopic creates a topic with the given number of partitions (0: the
// server's default) and returns the seq of the event that created it.
// errors.Is(err, ErrTopicExists) when it already exists.
func (c *Client) CreateTopic(ctx context.Context, name string, partitions int) (int64, error) {
	body := api.CreateTopicRequest{TopicName: name, Partitions: max(partitions, 0)}
	var out api.CreateTopicAnswer
	if err := c.do(ctx, call{method: http.MethodPost, path: "/topics", body: body, noMinSeq: true}, &out); err != nil {
		return 0, err
	}
	c.observeSeq(out.Seq)
	return out.Seq, nil
}

// ListTopics returns the names of all topics, sorted.
func (c *Client) ListTopics(ctx context.Context) ([]string, error) {
	var out api.TopicsAnswer
	if err := c.do(ctx, call{method: http.MethodGet, path: "/topics"}, &out); err != nil {
		return nil, err
	}
	names := append([]string{}, out.Topics...)
	sort.Strings(names)
	return names, nil
}

// DescribeTopic returns a topic's partitions with their owners and high
// watermarks. errors.Is(err, ErrTopicNotFound) for an unknown topic.
func (c *Client) DescribeTopic(ctx context.Context, name string) (*TopicInfo, error) {
	var ans api.TopicAnswer
	if err := c.do(ctx, call{method: http.MethodGet, path: "/topics/" + url.PathEscape(name)}, &ans); err != nil {
		return nil, err
	}
	out := TopicInfo{Name: ans.Topic, Partitions: make([]PartitionInfo, len(ans.Partitions)),
		Config: TopicConfig{RetentionMs: ans.Config.RetentionMs, RetentionBytes: ans.Config.RetentionBytes}}
	if out.Name == "" {
		out.Name = name
	}
	for i, p := range ans.Partitions {
		out.Partitions[i] = PartitionInfo{Partition: p.Partition, BrokerID: p.BrokerID, Address: p.Address, Epoch: p.Epoch, Writable: p.Writable,
			LogStartOffset: p.LogStartOffset, StorageCluster: p.StorageCluster}
		if p.HighWatermark != nil {
			out.Partitions[i].HighWatermark = *p.HighWatermark
		}
	}
	sort.Slice(out.Partitions, func(i, j int) bool { return out.Partitions[i].Partition < out.Partitions[j].Partition })
	return &out, nil
}

// Brokers lists the registered brokers, by id.
func (c *Client) Brokers(ctx context.Context) ([]BrokerInfo, error) {
	var ans api.BrokersAnswer
	if err := c.do(ctx, call{method: http.MethodGet, path: "/brokers"}, &ans); err != nil {
		return nil, err
	}
	out := make([]BrokerInfo, len(ans.Brokers))
	for i, b := range ans.Brokers {
		out[i] = brokerInfo(b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// RegisterProducer registers a producer for topic (created if unknown), or
// for one partition of it when partition is non-nil, and returns its id.
func (c *Client) RegisterProducer(ctx context.Context, topic string, partition *int) (int64, error) {
	return c.register(ctx, "/producer/register", "producer_id", topic, partition)
}

// RegisterConsumer registers a consumer for topic, or for one partition of
// it when partition is non-nil, and returns its id. The consumer starts at
// the beginning of every partition it reads.
func (c *Client) RegisterConsumer(ctx context.Context, topic string, partition *int) (int64, error) {
	return c.register(ctx, "/consumer/register", "consumer_id", topic, partition)
}

func (c *Client) register(ctx context.Context, path, idField, topic string, partition *int) (int64, error) {
	body := api.RegisterRequest{Topic: topic, Partition: partition}
	// One answer type for both: a producer's carries producer_id, a
	// consumer's consumer_id.
	var out struct {
		api.RegisterProducerAnswer
		ConsumerID int64 `json:"consumer_id"`
	}
	if err := c.do(ctx, call{method: http.MethodPost, path: path, body: body, noMinSeq: true}, &out); err != nil {
		return 0, err
	}
	id := out.ProducerID
	if idField == "consumer_id" {
		id = out.ConsumerID
	}
	if id <= 0 {
		return 0, &Error{Code: logq.EInternal, Message: fmt.Sprintf("POST %s: answer has no %s", path, idField)}
	}
	c.observeSeq(out.Seq)
	return id, nil
}

// Size returns the number of messages left for a consumer in topic (summed
// over the partitions it reads): its lag.
func (c *Client) Size(ctx context.Context, topic string, consumerID int64) (int64, error) {
	var out api.SizeAnswer
	q := api.ConsumeRequest{Topic: topic, ConsumerID: consumerID}.Query()
	if err := c.do(ctx, call{method: http.MethodGet, path: "/size", query: q}, &out); err != nil {
		return 0, err
	}
	return out.Size, nil
}

// Events returns up to limit control-plane events with seq > after, in seq
// order (limit 0: the server's default page).
func (c *Client) Events(ctx context.Context, after int64, limit int) ([]logq.Event, error) {
	q := url.Values{"from": {strconv.FormatInt(after, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out api.EventsAnswer
	if err := c.do(ctx, call{method: http.MethodGet, path: "/events", query: q}, &out); err != nil {
		return nil, err
	}
	return out.Events, nil
}

// State returns a manager's projected cluster state, once it has applied
// at least minSeq (0: whatever it has).
func (c *Client) State(ctx context.Context, minSeq int64) (*projection.State, error) {
	q := url.Values{}
	if minSeq > 0 {
		q.Set("min_seq", strconv.FormatInt(minSeq, 10))
	}
	var out api.RawStateAnswer
	if err := c.do(ctx, call{method: http.MethodGet, path: "/state", query: q}, &out); err != nil {
		return nil, err
	}
	st, err := DecodeState(out.State)
	if err != nil {
		return nil, &Error{Code: logq.EInternal, Message: fmt.Sprintf("GET /state: %v", err)}
	}
	if st.Seq == 0 {
		st.Seq = out.Seq
	}
	return st, nil
}

// DecodeState decodes the JSON of a projection.State (as GET /state answers
// it, bare or wrapped as a snapshot) into a state whose maps are never nil.
func DecodeState(data []byte) (*projection.State, error) {
	var probe struct {
		Version int            `json:"version"`
		State   api.RawMessage `json:"state"`
	}
	if api.Unmarshal(data, &probe) == nil && probe.Version > 0 && len(probe.State) > 0 {
		return projection.DecodeState(data)
	}
	st := projection.New()
	if err := api.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("decode state: %w", err)
	}
	if st.Brokers == nil {
		st.Brokers = map[int64]*projection.Broker{}
	}
	if st.Topics == nil {
		st.Topics = map[string]*projection.Topic{}
	}
	if st.Producers == nil {
		st.Producers = map[int64]*projection.Producer{}
	}
	if st.Consumers == nil {
		st.Consumers = map[int64]*projection.Consumer{}
	}
	return st, nil
}

// Health returns the preferred manager's health (no retries across managers
// beyond the usual ones).
func (c *Client) Health(ctx context.Context) (Health, error) {
	var out api.HealthAnswer
	err := c.do(ctx, call{method: http.MethodGet, path: "/healthz", noMinSeq: true}, &out)
	return Health{Role: out.Role, Seq: out.Seq, Writer: out.Writer}, err
}

// Move is one partition's change of owner, as answered by RemoveBroker and
// Rebalance: the wire contract's own type.
type Move = api.Move

// RemoveBroker decommissions a broker: its partitions move to live brokers
// (with higher epochs) and it is retired, so that its appends are fenced and
// its heartbeats refused. It returns the moves and the seq of the last
// event. errors.Is(err, ErrBrokerNotFound) for an unknown id,
// ErrBrokerRemoved when it was removed already, ErrConflict when no other
// live broker could take its partitions.
func (c *Client) RemoveBroker(ctx context.Context, id int64) ([]Move, int64, error) {
	var out api.RemoveBrokerAnswer
	path := "/brokers/" + strconv.FormatInt(id, 10)
	if err := c.do(ctx, call{method: http.MethodDelete, path: path, noMinSeq: true}, &out); err != nil {
		return nil, 0, err
	}
	c.observeSeq(out.Seq)
	return moves(out.Moved), out.Seq, nil
}

// AddPartitions adds count partitions to a topic (numbered after the
// existing ones) and returns the new total. The request names the count
// the topic has now, so that a retry after a lost answer cannot add twice.
// Keys hash over the new count from then on. errors.Is(err,
// ErrTopicNotFound) for an unknown topic, ErrInvalid for a bad count.
func (c *Client) AddPartitions(ctx context.Context, topic string, count int) (int, int64, error) {
	info, err := c.DescribeTopic(ctx, topic)
	if err != nil {
		return 0, 0, err
	}
	have := len(info.Partitions)
	body := api.AddPartitionsRequest{Count: count, ExpectPartitions: have}
	var out api.AddPartitionsAnswer
	path := "/topics/" + url.PathEscape(topic) + "/partitions"
	err = c.do(ctx, call{method: http.MethodPost, path: path, body: body, noMinSeq: true}, &out)
	if errors.Is(err, ErrConflict) {
		// A retry whose first attempt was applied finds the new count.
		if now, derr := c.DescribeTopic(ctx, topic); derr == nil && len(now.Partitions) == have+count {
			return have + count, c.Seq(), nil
		}
	}
	if err != nil {
		return 0, 0, err
	}
	c.observeSeq(out.Seq)
	return out.Partitions, out.Seq, nil
}

// Rebalance evens out the partitions over the live brokers (moving
// ownership only; the data stays in PostgreSQL) and returns the moves
// (none when already balanced).
func (c *Client) Rebalance(ctx context.Context) ([]Move, int64, error) {
	var out api.RebalanceAnswer
	if err := c.do(ctx, call{method: http.MethodPost, path: "/rebalance", noMinSeq: true}, &out); err != nil {
		return nil, 0, err
	}
	c.observeSeq(out.Seq)
	return moves(out.Moved), out.Seq, nil
}

// moves returns an answer's moves, never nil.
func moves(in []api.Move) []Move {
	if in == nil {
		return []Move{}
	}
	return in
}

// ClientInfo is a registered producer or consumer as the managers see it.
type ClientInfo struct {
	ID        int64  `json:"id"`
	Topic     string `json:"topic"`
	Partition *int   `json:"partition"` // nil: the whole topic
	Active    bool   `json:"active"`
	// LastSeen is when the writer manager last heard from the client, on
	// its clock; nil when it has not in its current term (or no writer
	// answered). Idle is the time since then, as the writer measured it.
	LastSeen *time.Time    `json:"last_seen"`
	Idle     time.Duration `json:"idle"`
	// Lag is the number of messages left for a consumer, summed over its
	// partitions; LagKnown is false when a broker did not answer (Lag then
	// counts the partitions that did). Zero for producers.
	Lag      int64 `json:"lag,omitempty"`
	LagKnown bool  `json:"lag_known,omitempty"`
}

// clientInfo converts one item of GET /producers or /consumers.
func clientInfo(a api.ClientInfo) ClientInfo {
	ci := ClientInfo{Topic: a.Topic, Partition: a.Partition, Active: a.Active, LastSeen: a.LastSeen}
	if a.ProducerID != nil {
		ci.ID = *a.ProducerID
	} else if a.ConsumerID != nil {
		ci.ID = *a.ConsumerID
	}
	if a.IdleMS != nil {
		ci.Idle = time.Duration(*a.IdleMS) * time.Millisecond
	}
	if a.Lag != nil {
		ci.Lag = *a.Lag
		ci.LagKnown = a.LagKnown == nil || *a.LagKnown
	}
	return ci
}

// Producers lists the registered producers (of topic only, when not
// empty), by id, with their liveness.
func (c *Client) Producers(ctx context.Context, topic string) ([]ClientInfo, error) {
	return c.listClients(ctx, "/producers", "producers", topic)
}

// Consumers lists the registered consumers (of topic only, when not
// empty), by id, with their liveness and lag.
func (c *Client) Consumers(ctx context.Context, topic string) ([]ClientInfo, error) {
	return c.listClients(ctx, "/consumers", "consumers", topic)
}

func (c *Client) listClients(ctx context.Context, path, field, topic string) ([]ClientInfo, error) {
	q := url.Values{}
	if topic != "" {
		q.Set("topic", topic)
	}
	var out struct {
		api.ProducersAnswer
		Consumers []api.ClientInfo `json:"consumers"`
	}
	if err := c.do(ctx, call{method: http.MethodGet, path: path, query: q}, &out); err != nil {
		return nil, err
	}
	items := out.Producers
	if field == "consumers" {
		items = out.Consumers
	}
	infos := make([]ClientInfo, len(items))
	for i, it := range items {
		infos[i] = clientInfo(it)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].ID < infos[j].ID })
	return infos, nil
}
