// Package projection is the pure fold of the control-plane event log into
// cluster state: Apply(state, event) with no I/O, no clock and no
// randomness. The writer manager, every reader, every broker and the CLI's
// replay run this same code, so they agree on the state at every seq.
//
// Cluster state = fold of all events, or a snapshot (Encode/DecodeState)
// plus the events after it. Unknown event types and events that break an
// invariant (a gap in seq, a duplicate topic, a partition assigned to an
// unknown broker, an epoch that does not grow) are errors, and a failed
// Apply leaves the state unchanged.
package projection

import (
	"errors"
	"fmt"
	"sort"

	"github.com/logq/logq"
	"github.com/logq/logq/auth"
)

// Limits enforced by the fold (and by the managers before they append).
const (
	MaxTopicNameLen = 249
	MaxPartitions   = 1024 // per topic
	MaxAddressLen   = 512
)

// ErrInvariant marks an event that cannot be applied to the state.
var ErrInvariant = errors.New("event breaks an invariant")

// State is the cluster metadata at seq Seq.
type State struct {
	Seq         int64               `json:"seq"`          // last applied event
	WriterEpoch int64               `json:"writer_epoch"` // epoch of the latest WriterElected
	Writer      string              `json:"writer"`       // manager named by the latest WriterElected
	Brokers     map[int64]*Broker   `json:"brokers"`
	Topics      map[string]*Topic   `json:"topics"`
	Producers   map[int64]*Producer `json:"producers"`
	Consumers   map[int64]*Consumer `json:"consumers"`
	NextIDs     NextIDs             `json:"next_ids"`
	Security    *auth.Directory     `json:"security,omitempty"` // principals, tokens, ACLs (security.go); immutable, nil when empty
	// DeletedTopics are the names of deleted topics, with the seq of their
	// TopicDeleted (projection/topicdelete.go).
	DeletedTopics map[string]int64  `json:"deleted_topics,omitempty"`
	Groups        map[string]*Group `json:"groups"` // consumer groups (groups.go)
	// StorageClusters are the registered storage clusters other than the
	// default (storagecluster.go); nil when none.
	StorageClusters map[string]*StorageCluster `json:"storage_clusters,omitempty"`
}

// NextIDs are the smallest ids not yet used, for the writer to assign.
type NextIDs struct {
	Broker   int64 `json:"broker"`
	Producer int64 `json:"producer"`
	Consumer int64 `json:"consumer"`
}

// Broker is a registered broker.
type Broker struct {
	ID      int64  `json:"broker_id"`
	Address string `json:"address"`
	Alive   bool   `json:"alive"`
	Removed bool   `json:"removed,omitempty"`
	// KafkaAddress is the broker's Kafka listener (host:port), if any.
	KafkaAddress string `json:"kafka_address,omitempty"`
	// StorageCluster is the storage cluster it writes to ("" the default;
	// storagecluster.go).
	StorageCluster string `json:"storage_cluster,omitempty"`
}

// Topic is a topic with its partitions, indexed by partition number.
type Topic struct {
	Name       string      `json:"topic"`
	Partitions []Partition `json:"partitions"`
	// Retention (TopicConfigChanged): 0 the cluster default, -1 forever.
	RetentionMs    int64 `json:"retention_ms,omitempty"`
	RetentionBytes int64 `json:"retention_bytes,omitempty"`
}

// Partition is one partition's ownership. Broker 0 and Epoch 0 mean not yet
// assigned.
type Partition struct {
	Index  int   `json:"partition"`
	Broker int64 `json:"broker_id"`
	Epoch  int64 `json:"epoch"`
	// StorageCluster holds the partition's records ("" the default),
	// fixed when the partition is created (storagecluster.go).
	StorageCluster string `json:"storage_cluster,omitempty"`
}

// Producer is a registered producer. Partition nil: the whole topic.
type Producer struct {
	ID        int64  `json:"producer_id"`
	Topic     string `json:"topic"`
	Partition *int   `json:"partition,omitempty"`
	Inactive  bool   `json:"inactive,omitempty"`
	Principal string `json:"principal,omitempty"` // who registered it (auth on); "": anyone with the topic right
}

// Consumer is a registered consumer. Partition nil: the whole topic.
type Consumer struct {
	ID        int64  `json:"consumer_id"`
	Topic     string `json:"topic"`
	Partition *int   `json:"partition,omitempty"`
	Inactive  bool   `json:"inactive,omitempty"`
	Principal string `json:"principal,omitempty"` // who registered it (auth on); "": anyone with the topic right
}

// New returns the state before any event.
func New() *State {
	return &State{
		Brokers:   map[int64]*Broker{},
		Topics:    map[string]*Topic{},
		Producers: map[int64]*Producer{},
		Consumers: map[int64]*Consumer{},
		NextIDs:   NextIDs{Broker: 1, Producer: 1, Consumer: 1},
		Groups:    map[string]*Group{},
	}
}

// Apply folds e into s. The event must be the next one (e.Seq == s.Seq+1).
// On error s is unchanged.
func Apply(s *State, e logq.Event) error {
	if e.Seq != s.Seq+1 {
		return invariant(e, "seq %d does not follow %d", e.Seq, s.Seq)
	}
	p, err := Decode(e)
	if err != nil {
		return err
	}
	if err := s.check(e, p); err != nil {
		return err
	}
	if d, ok := p.(TopicDeleted); ok {
		s.deleteTopic(e.Seq, d)
	} else {
		s.mutate(p)
	}
	s.Seq = e.Seq
	return nil
}

// ApplyAll folds events in order, stopping at the first error.
func ApplyAll(s *State, events []logq.Event) error {
	for _, e := range events {
		if err := Apply(s, e); err != nil {
			return err
		}
	}
	return nil
}

func invariant(e logq.Event, format string, args ...any) error {
	return fmt.Errorf("event %d (%s): %w: %s", e.Seq, e.Type, ErrInvariant, fmt.Sprintf(format, args...))
}

// check validates p against s without changing anything.
func (s *State) check(e logq.Event, p Payload) error {
	switch p := p.(type) {
	case WriterElected:
		if p.Epoch <= s.WriterEpoch {
			return invariant(e, "writer epoch %d does not exceed %d", p.Epoch, s.WriterEpoch)
		}
		if p.Manager == "" {
			return invariant(e, "empty manager name")
		}
	case BrokerRegistered:
		if p.BrokerID <= 0 {
			return invariant(e, "broker id %d is not positive", p.BrokerID)
		}
		if b, ok := s.Brokers[p.BrokerID]; ok && b.Removed {
			return invariant(e, "broker %d was removed", p.BrokerID)
		}
		if p.Address == "" || len(p.Address) > MaxAddressLen {
			return invariant(e, "invalid broker address")
		}
		if len(p.KafkaAddress) > MaxAddressLen {
			return invariant(e, "invalid broker Kafka address")
		}
		return s.checkBrokerStorageCluster(e, p) // storagecluster.go
	case BrokerStatusChanged:
		b, err := s.liveBroker(e, p.BrokerID)
		if err != nil {
			return err
		}
		if b.Alive == p.Alive {
			return invariant(e, "broker %d already has alive=%t", p.BrokerID, p.Alive)
		}
	case BrokerRemoved:
		if _, err := s.liveBroker(e, p.BrokerID); err != nil {
			return err
		}
		if n := len(s.PartitionsOf(p.BrokerID)); n > 0 {
			return invariant(e, "broker %d still owns %d partitions", p.BrokerID, n)
		}
	case TopicCreated:
		if err := ValidateTopicName(p.Topic); err != nil {
			return invariant(e, "%v", err)
		}
		if _, ok := s.Topics[p.Topic]; ok {
			return invariant(e, "topic %q already exists", p.Topic)
		}
		if err := s.checkNotDeleted(e, p.Topic); err != nil {
			return err
		}
		if p.Partitions < 1 || p.Partitions > MaxPartitions {
			return invariant(e, "partition count %d outside 1..%d", p.Partitions, MaxPartitions)
		}
		return s.checkStorageClusterRefs(e, p.StorageClusters, p.Partitions) // storagecluster.go
	case PartitionsAdded:
		t, ok := s.Topics[p.Topic]
		if !ok {
			return invariant(e, "unknown topic %q", p.Topic)
		}
		if p.Count < 1 || len(t.Partitions)+p.Count > MaxPartitions {
			return invariant(e, "cannot add %d partitions to %d (max %d)", p.Count, len(t.Partitions), MaxPartitions)
		}
		return s.checkStorageClusterRefs(e, p.StorageClusters, p.Count) // storagecluster.go
	case PartitionAssigned:
		t, ok := s.Topics[p.Topic]
		if !ok {
			return invariant(e, "unknown topic %q", p.Topic)
		}
		if p.Partition < 0 || p.Partition >= len(t.Partitions) {
			return invariant(e, "topic %q has no partition %d", p.Topic, p.Partition)
		}
		if _, err := s.liveBroker(e, p.BrokerID); err != nil {
			return err
		}
		if cur := t.Partitions[p.Partition].Epoch; p.Epoch <= cur {
			return invariant(e, "epoch %d does not exceed %d", p.Epoch, cur)
		}
		return s.checkAssignedStorageCluster(e, p) // storagecluster.go
	case ProducerRegistered:
		_, taken := s.Producers[p.ProducerID]
		return s.checkNewClient(e, "producer", p.ProducerID, taken, p.Topic, p.Partition)
	case ConsumerRegistered:
		_, taken := s.Consumers[p.ConsumerID]
		return s.checkNewClient(e, "consumer", p.ConsumerID, taken, p.Topic, p.Partition)
	case ClientStatusChanged:
		var inactive bool
		switch p.Client {
		case "producer":
			c, ok := s.Producers[p.ID]
			if !ok {
				return invariant(e, "unknown producer %d", p.ID)
			}
			inactive = c.Inactive
		case "consumer":
			c, ok := s.Consumers[p.ID]
			if !ok {
				return invariant(e, "unknown consumer %d", p.ID)
			}
			inactive = c.Inactive
		default:
			return invariant(e, "unknown client kind %q", p.Client)
		}
		if inactive != p.Active {
			return invariant(e, "%s %d already has active=%t", p.Client, p.ID, p.Active)
		}
	case TopicConfigChanged:
		return s.checkTopicConfig(e, p)
	case TopicDeleted:
		return s.checkTopicDeleted(e, p)
	case GroupRebalanced, GroupAssigned, GroupDeleted: // consumer groups (groups.go)
		return s.checkGroup(e, p)
	case StorageClusterRegistered: // storagecluster.go
		return s.checkStorageClusterRegistered(e, p)
	default:
		if ok, err := s.checkSecurity(e, p); ok { // security.go
			return err
		}
		return invariant(e, "no rule for %T", p)
	}
	return nil
}

func (s *State) liveBroker(e logq.Event, id int64) (*Broker, error) {
	b, ok := s.Brokers[id]
	if !ok {
		return nil, invariant(e, "unknown broker %d", id)
	}
	if b.Removed {
		return nil, invariant(e, "broker %d was removed", id)
	}
	return b, nil
}

// checkNewClient checks the registration of a producer or consumer (kind)
// with id, taken when the id is already registered.
func (s *State) checkNewClient(e logq.Event, kind string, id int64, taken bool, topic string, partition *int) error {
	if id <= 0 {
		return invariant(e, "%s id %d is not positive", kind, id)
	}
	if taken {
		return invariant(e, "%s %d already registered", kind, id)
	}
	return s.checkTarget(e, topic, partition)
}

func (s *State) checkTarget(e logq.Event, topic string, partition *int) error {
	t, ok := s.Topics[topic]
	if !ok {
		return invariant(e, "unknown topic %q", topic)
	}
	if partition != nil && (*partition < 0 || *partition >= len(t.Partitions)) {
		return invariant(e, "topic %q has no partition %d", topic, *partition)
	}
	return nil
}

// mutate applies a checked payload.
func (s *State) mutate(p Payload) {
	switch p := p.(type) {
	case WriterElected:
		s.WriterEpoch, s.Writer = p.Epoch, p.Manager
	case BrokerRegistered:
		sc := NormStorageCluster(p.StorageCluster)
		if b, ok := s.Brokers[p.BrokerID]; ok {
			b.Address, b.Alive, b.KafkaAddress, b.StorageCluster = p.Address, true, p.KafkaAddress, sc
		} else {
			s.Brokers[p.BrokerID] = &Broker{ID: p.BrokerID, Address: p.Address, Alive: true, KafkaAddress: p.KafkaAddress, StorageCluster: sc}
		}
		s.NextIDs.Broker = max(s.NextIDs.Broker, p.BrokerID+1)
	case BrokerStatusChanged:
		s.Brokers[p.BrokerID].Alive = p.Alive
	case BrokerRemoved:
		b := s.Brokers[p.BrokerID]
		b.Alive, b.Removed = false, true
	case TopicCreated:
		t := &Topic{Name: p.Topic, Partitions: make([]Partition, p.Partitions)}
		for i := range t.Partitions {
			t.Partitions[i].Index = i
		}
		setStorageClusters(t, 0, p.StorageClusters) // storagecluster.go
		s.Topics[p.Topic] = t
	case PartitionsAdded:
		t := s.Topics[p.Topic]
		from := len(t.Partitions)
		for i := 0; i < p.Count; i++ {
			t.Partitions = append(t.Partitions, Partition{Index: len(t.Partitions)})
		}
		setStorageClusters(t, from, p.StorageClusters) // storagecluster.go
	case PartitionAssigned:
		part := &s.Topics[p.Topic].Partitions[p.Partition]
		part.Broker, part.Epoch = p.BrokerID, p.Epoch
	case ProducerRegistered:
		s.Producers[p.ProducerID] = &Producer{ID: p.ProducerID, Topic: p.Topic, Partition: copyInt(p.Partition), Principal: p.Principal}
		s.NextIDs.Producer = max(s.NextIDs.Producer, p.ProducerID+1)
	case ConsumerRegistered:
		s.Consumers[p.ConsumerID] = &Consumer{ID: p.ConsumerID, Topic: p.Topic, Partition: copyInt(p.Partition), Principal: p.Principal}
		s.NextIDs.Consumer = max(s.NextIDs.Consumer, p.ConsumerID+1)
	case ClientStatusChanged:
		if p.Client == "producer" {
			s.Producers[p.ID].Inactive = !p.Active
		} else {
			s.Consumers[p.ID].Inactive = !p.Active
		}
	case TopicConfigChanged:
		s.mutateTopicConfig(p)
	case GroupRebalanced, GroupAssigned, GroupDeleted: // consumer groups (groups.go)
		s.mutateGroup(p)
	case StorageClusterRegistered: // storagecluster.go
		s.mutateStorageClusterRegistered(p)
	default:
		s.mutateSecurity(p) // security.go
	}
}

func copyInt(p *int) *int {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// ValidateTopicName reports whether name is a valid topic name: 1 to 249
// characters from [A-Za-z0-9._-], as in Kafka.
func ValidateTopicName(name string) error {
	if name == "" {
		return errors.New("topic name is empty")
	}
	if len(name) > MaxTopicNameLen {
		return fmt.Errorf("topic name longer than %d characters", MaxTopicNameLen)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("topic name %q has a character outside [A-Za-z0-9._-]", name)
		}
	}
	return nil
}

// PartitionRef names one partition with its ownership.
type PartitionRef struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Broker    int64  `json:"broker_id"`
	Epoch     int64  `json:"epoch"`
}

// PartitionsOf returns the partitions owned by broker id, sorted by topic
// and partition.
func (s *State) PartitionsOf(id int64) []PartitionRef {
	var out []PartitionRef
	for _, name := range s.TopicNames() {
		for _, p := range s.Topics[name].Partitions {
			if p.Broker == id {
				out = append(out, PartitionRef{Topic: name, Partition: p.Index, Broker: p.Broker, Epoch: p.Epoch})
			}
		}
	}
	return out
}

// TopicNames returns the topic names, sorted.
func (s *State) TopicNames() []string {
	names := make([]string, 0, len(s.Topics))
	for n := range s.Topics {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// BrokerIDs returns the ids of brokers not removed, sorted.
func (s *State) BrokerIDs() []int64 {
	ids := make([]int64, 0, len(s.Brokers))
	for id, b := range s.Brokers {
		if !b.Removed {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// LiveBrokers returns the ids of alive brokers, sorted.
func (s *State) LiveBrokers() []int64 {
	var ids []int64
	for _, id := range s.BrokerIDs() {
		if s.Brokers[id].Alive {
			ids = append(ids, id)
		}
	}
	return ids
}

// Writable reports whether a partition can take appends now: assigned to a
// live broker.
func (s *State) Writable(topic string, partition int) bool {
	t, ok := s.Topics[topic]
	if !ok || partition < 0 || partition >= len(t.Partitions) {
		return false
	}
	b, ok := s.Brokers[t.Partitions[partition].Broker]
	return ok && b.Alive
}

// Clone returns a deep copy of s.
func (s *State) Clone() *State {
	c := *s
	c.Brokers = make(map[int64]*Broker, len(s.Brokers))
	for k, v := range s.Brokers {
		b := *v
		c.Brokers[k] = &b
	}
	c.Topics = make(map[string]*Topic, len(s.Topics))
	for k, v := range s.Topics {
		t := *v
		t.Partitions = append([]Partition(nil), v.Partitions...)
		c.Topics[k] = &t
	}
	c.Producers = make(map[int64]*Producer, len(s.Producers))
	for k, v := range s.Producers {
		p := *v
		p.Partition = copyInt(v.Partition)
		c.Producers[k] = &p
	}
	c.Consumers = make(map[int64]*Consumer, len(s.Consumers))
	for k, v := range s.Consumers {
		p := *v
		p.Partition = copyInt(v.Partition)
		c.Consumers[k] = &p
	}
	if s.DeletedTopics != nil {
		c.DeletedTopics = make(map[string]int64, len(s.DeletedTopics))
		for k, v := range s.DeletedTopics {
			c.DeletedTopics[k] = v
		}
	}
	c.Groups = cloneGroups(s.Groups)
	c.StorageClusters = cloneStorageClusters(s.StorageClusters) // storagecluster.go
	return &c
}
