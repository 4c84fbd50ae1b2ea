package decide

import (
	"maps"
	"slices"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

// Decision is what a command decided: the events to append, in order (none
// when nothing changes), the liveness Effects to apply after them, and the
// id a registration assigned or kept.
type Decision struct {
	Events  []projection.Payload
	Effects Effects
	ID      int64
}

func (d *Decision) heardBroker(id int64, now time.Time) {
	if d.Effects.BrokersHeard == nil {
		d.Effects.BrokersHeard = map[int64]time.Time{}
	}
	d.Effects.BrokersHeard[id] = now
}

func (d *Decision) heardClient(c Client, now time.Time) {
	if d.Effects.ClientsHeard == nil {
		d.Effects.ClientsHeard = map[Client]time.Time{}
	}
	d.Effects.ClientsHeard[c] = now
}

// Moves returns the reassignments among d's events.
func (d Decision) Moves() []projection.PartitionAssigned {
	var out []projection.PartitionAssigned
	for _, e := range d.Events {
		if mv, ok := e.(projection.PartitionAssigned); ok {
			out = append(out, mv)
		}
	}
	return out
}

// Elect decides the start of manager's writer term with epoch:
// WriterElected, then the reassignment of partitions left on dead brokers.
// Every broker not removed and every active client gets a fresh timer at
// now (Effects.Reset), so an election never declares a live broker dead;
// an inactive client stays inactive until heard from. The epoch must
// exceed the logged one (logq.EConflict).
func Elect(s *projection.State, manager string, epoch int64, now time.Time) (Decision, error) {
	if epoch <= s.WriterEpoch {
		return Decision{}, logq.Errorf(logq.EConflict, "writer epoch %d does not exceed the logged epoch %d", epoch, s.WriterEpoch)
	}
	events := []projection.Payload{projection.WriterElected{Manager: manager, Epoch: epoch}}
	events = append(events, newCluster(s, nil).reassignOrphans()...)
	l := Liveness{Brokers: map[int64]time.Time{}, Clients: map[Client]time.Time{}, Quiet: map[Client]bool{}}
	for _, id := range s.BrokerIDs() {
		l.Brokers[id] = now
	}
	for id, p := range s.Producers {
		if !p.Inactive {
			l.Clients[Client{KindProducer, id}] = now
		}
	}
	for id, c := range s.Consumers {
		if !c.Inactive {
			l.Clients[Client{KindConsumer, id}] = now
		}
	}
	return Decision{Events: events, Effects: Effects{Reset: &l}}, nil
}

// CreateTopic decides a topic with n partitions (0: one per live broker)
// placed over the live brokers: TopicCreated, then PartitionAssigned at
// epoch 1 for each partition.
func CreateTopic(s *projection.State, topic string, n int) (Decision, error) {
	if _, ok := s.Topics[topic]; ok {
		return Decision{}, logq.Errorf(logq.ETopicExists, "topic %q already exists", topic)
	}
	events, err := createTopic(s, topic, n)
	return Decision{Events: events}, err
}

func createTopic(s *projection.State, topic string, n int) ([]projection.Payload, error) {
	if err := projection.ValidateTopicName(topic); err != nil {
		return nil, logq.Errorf(logq.EInvalid, "%v", err)
	}
	if err := checkNotDeleted(s, topic); err != nil {
		return nil, err
	}
	c := newCluster(s, nil)
	if len(c.live) == 0 {
		return nil, logq.Errorf(logq.EUnavailable, "no live broker to hold topic %q; start or register a broker", topic)
	}
	if n == 0 {
		n = len(c.live)
	}
	if n < 1 || n > projection.MaxPartitions {
		return nil, logq.Errorf(logq.EInvalid, "partition count %d outside 1..%d", n, projection.MaxPartitions)
	}
	clusters, assigned := c.placeNew(topic, 0, n)
	return append([]projection.Payload{projection.TopicCreated{Topic: topic, Partitions: n, StorageClusters: clusters}}, assigned...), nil
}

// RegisterProducer decides a producer of topic (or of one partition of
// it), creating the topic with the default count when unknown; the
// producer is heard from now.
func RegisterProducer(s *projection.State, topic string, partition *int, now time.Time) (Decision, error) {
	var d Decision
	n := 0
	if t, ok := s.Topics[topic]; ok {
		n = len(t.Partitions)
	} else {
		events, err := createTopic(s, topic, 0)
		if err != nil {
			return Decision{}, err
		}
		d.Events = events
		n = events[0].(projection.TopicCreated).Partitions
	}
	if err := checkPartition(topic, partition, n); err != nil {
		return Decision{}, err
	}
	d.ID = s.NextIDs.Producer
	d.Events = append(d.Events, projection.ProducerRegistered{ProducerID: d.ID, Topic: topic, Partition: partition})
	d.heardClient(Client{KindProducer, d.ID}, now)
	return d, nil
}

// RegisterConsumer decides a consumer of an existing topic (or of one
// partition of it); the consumer is heard from now.
func RegisterConsumer(s *projection.State, topic string, partition *int, now time.Time) (Decision, error) {
	t, ok := s.Topics[topic]
	if !ok {
		return Decision{}, logq.Errorf(logq.ETopicNotFound, "topic %q not found", topic)
	}
	if err := checkPartition(topic, partition, len(t.Partitions)); err != nil {
		return Decision{}, err
	}
	d := Decision{ID: s.NextIDs.Consumer}
	d.Events = []projection.Payload{projection.ConsumerRegistered{ConsumerID: d.ID, Topic: topic, Partition: partition}}
	d.heardClient(Client{KindConsumer, d.ID}, now)
	return d, nil
}

func checkPartition(topic string, partition *int, n int) error {
	if partition != nil && (*partition < 0 || *partition >= n) {
		return logq.Errorf(logq.EInvalid, "topic %q has partitions 0..%d; no partition %d", topic, n-1, *partition)
	}
	return nil
}

// RegisterBroker decides the registration of a broker at address: a known
// address (or wantID, when not 0) keeps its id, else the next id. A broker
// that is new, moved or dead gets BrokerRegistered (alive again) and any
// partitions left on dead brokers; one already alive at the same address
// gets no event. Either way it is heard from now. A removed broker's id is
// refused (logq.EBrokerRemoved), and so is its address unless rejoin is
// set: then the address joins again as a new broker, with a new id.
func RegisterBroker(s *projection.State, address string, wantID int64, rejoin bool, now time.Time) (Decision, error) {
	return RegisterKafkaBroker(s, address, "", wantID, rejoin, now)
}

// RegisterKafkaBroker is RegisterBroker for a broker with a Kafka listener
// at kafkaAddress ("": none). A change of Kafka address alone is a
// BrokerRegistered too.
func RegisterKafkaBroker(s *projection.State, address, kafkaAddress string, wantID int64, rejoin bool, now time.Time) (Decision, error) {
	return RegisterStorageBroker(s, address, kafkaAddress, "", wantID, rejoin, now)
}

// registerBroker picks the id of a registering broker (see RegisterBroker)
// and refuses removed ids and addresses; d is heard from now.
func registerBroker(s *projection.State, address string, wantID int64, rejoin bool, now time.Time) (d Decision, id int64, err error) {
	var current, removed int64 // brokers at this address: not removed, removed (the last)
	for _, bid := range slices.Sorted(maps.Keys(s.Brokers)) {
		if b := s.Brokers[bid]; b.Address == address {
			if b.Removed {
				removed = bid
			} else if current == 0 {
				current = bid
			}
		}
	}
	id = wantID
	if id == 0 {
		id = current
	}
	if id == 0 {
		id = s.NextIDs.Broker
	}
	b, known := s.Brokers[id]
	if known && b.Removed {
		return Decision{}, 0, logq.Errorf(logq.EBrokerRemoved,
			"broker %d was removed from the cluster (decommissioned) and cannot come back under that id; stop it, "+
				"or register its address without a broker_id and with \"rejoin\": true to add it as a new broker", id)
	}
	if !known && current == 0 && removed != 0 && !rejoin {
		return Decision{}, 0, logq.Errorf(logq.EBrokerRemoved,
			"address %s belonged to broker %d, which was removed from the cluster (decommissioned); "+
				"to add this address back as a new broker, register with \"rejoin\": true", address, removed)
	}
	d = Decision{ID: id}
	d.heardBroker(id, now)
	return d, id, nil
}

// Heartbeat decides a broker's heartbeat at now: a broker believed dead is
// alive again (BrokerStatusChanged), one at a new address (not empty) is
// registered there (BrokerRegistered); either takes any partitions left on
// dead brokers. Unknown (logq.EBrokerNotFound) and removed
// (logq.EBrokerRemoved) brokers are refused.
func Heartbeat(s *projection.State, id int64, address string, now time.Time) (Decision, error) {
	b, ok := s.Brokers[id]
	if !ok {
		return Decision{}, logq.Errorf(logq.EBrokerNotFound, "broker %d is not registered; register it first", id)
	}
	if b.Removed {
		return Decision{}, logq.Errorf(logq.EBrokerRemoved,
			"broker %d was removed from the cluster (decommissioned): its partitions were reassigned and its heartbeats are refused; stop it", id)
	}
	d := Decision{ID: id}
	d.heardBroker(id, now)
	switch {
	case address != "" && address != b.Address:
		d.Events = append(d.Events, projection.BrokerRegistered{BrokerID: id, Address: address, KafkaAddress: b.KafkaAddress, StorageCluster: b.StorageCluster})
	case !b.Alive:
		d.Events = append(d.Events, projection.BrokerStatusChanged{BrokerID: id, Alive: true})
	default:
		return d, nil
	}
	d.Events = append(d.Events, newCluster(s, map[int64]bool{id: true}).reassignOrphans()...)
	return d, nil
}

// ClientHeartbeat decides a producer's or consumer's heartbeat at now: one
// shown inactive is active again (ClientStatusChanged). Unknown clients
// are refused (logq.EProducerNotFound, logq.EConsumerNotFound).
func ClientHeartbeat(s *projection.State, c Client, now time.Time) (Decision, error) {
	inactive, ok := ClientStatus(s, c)
	if !ok {
		if c.Kind == KindProducer {
			return Decision{}, logq.Errorf(logq.EProducerNotFound, "producer %d not found; register it first", c.ID)
		}
		return Decision{}, logq.Errorf(logq.EConsumerNotFound, "consumer %d not found; register it first", c.ID)
	}
	d := Decision{ID: c.ID}
	d.heardClient(c, now)
	if inactive {
		d.Events = []projection.Payload{projection.ClientStatusChanged{Client: c.Kind, ID: c.ID, Active: true}}
	}
	return d, nil
}

// RemoveBroker decides the decommission of a broker: its partitions move
// to live brokers (placement) with the next epoch, then BrokerRemoved
// retires it, and it is no longer timed. Refused when the broker is
// unknown (logq.EBrokerNotFound), already removed (logq.EBrokerRemoved),
// or owns partitions that no other live broker can take (logq.EConflict).
func RemoveBroker(s *projection.State, id int64) (Decision, error) {
	b, ok := s.Brokers[id]
	if !ok {
		return Decision{}, logq.Errorf(logq.EBrokerNotFound, "broker %d not found", id)
	}
	if b.Removed {
		return Decision{}, logq.Errorf(logq.EBrokerRemoved, "broker %d was already removed", id)
	}
	c := newCluster(s, map[int64]bool{id: false})
	if owned := s.PartitionsOf(id); len(owned) > 0 && len(c.storageLive(b.StorageCluster)) == 0 {
		return Decision{}, logq.Errorf(logq.EConflict,
			"broker %d owns %d partitions and no other live broker of its storage cluster %q can take them (their records are there); "+
				"start or register another broker of that storage cluster first", id, len(owned), projection.StorageClusterName(b.StorageCluster))
	}
	events := append(c.reassignOrphans(), projection.BrokerRemoved{BrokerID: id})
	return Decision{Events: events, Effects: Effects{BrokersForgotten: []int64{id}}, ID: id}, nil
}

// AddPartitions decides count partitions added to a topic and placed over
// the live brokers (PartitionsAdded, then PartitionAssigned at epoch 1).
// With expect >= 0, the topic must have exactly expect partitions now
// (logq.EConflict otherwise), which makes a retry safe.
func AddPartitions(s *projection.State, topic string, count, expect int) (Decision, error) {
	t, ok := s.Topics[topic]
	if !ok {
		return Decision{}, logq.Errorf(logq.ETopicNotFound, "topic %q not found", topic)
	}
	n := len(t.Partitions)
	if expect >= 0 && n != expect {
		return Decision{}, logq.Errorf(logq.EConflict, "topic %q has %d partitions, not the %d expected; nothing added", topic, n, expect)
	}
	if count < 1 || n+count > projection.MaxPartitions {
		return Decision{}, logq.Errorf(logq.EInvalid, "count must be between 1 and %d for topic %q (it has %d partitions, at most %d allowed); got %d",
			max(projection.MaxPartitions-n, 1), topic, n, projection.MaxPartitions, count)
	}
	c := newCluster(s, nil)
	if len(c.live) == 0 {
		return Decision{}, logq.Errorf(logq.EUnavailable, "no live broker to hold new partitions of topic %q; start or register a broker", topic)
	}
	clusters, assigned := c.placeNew(topic, n, n+count)
	events := append([]projection.Payload{projection.PartitionsAdded{Topic: topic, Count: count, StorageClusters: clusters}}, assigned...)
	return Decision{Events: events}, nil
}

// Rebalance decides the moves that even out every topic's spread and the
// total load over the live brokers (see the package doc): PartitionAssigned
// with the next epoch for each partition that changes owner; none on a
// balanced cluster. Refused when no broker is live (logq.EUnavailable).
func Rebalance(s *projection.State) (Decision, error) {
	c := newCluster(s, nil)
	if len(c.live) == 0 {
		return Decision{}, logq.Errorf(logq.EUnavailable, "no live broker to balance partitions over")
	}
	var d Decision
	for _, mv := range c.rebalance() {
		d.Events = append(d.Events, mv)
	}
	return d, nil
}
