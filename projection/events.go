package projection

import (
	"encoding/json"
	"fmt"

	"github.com/logq/logq"
)

// Event types: the control plane's whole vocabulary. docs/events.md
// documents each one.
const (
	TypeWriterElected       = "WriterElected"
	TypeBrokerRegistered    = "BrokerRegistered"
	TypeBrokerStatusChanged = "BrokerStatusChanged"
	TypeBrokerRemoved       = "BrokerRemoved"
	TypeTopicCreated        = "TopicCreated"
	TypePartitionsAdded     = "PartitionsAdded"
	TypePartitionAssigned   = "PartitionAssigned"
	TypeProducerRegistered  = "ProducerRegistered"
	TypeConsumerRegistered  = "ConsumerRegistered"
	TypeClientStatusChanged = "ClientStatusChanged"
)

// Payload is the data of one event type.
type Payload interface{ EventType() string }

// WriterElected: a manager became the writer with a new leadership epoch.
type WriterElected struct {
	Manager string `json:"manager"`
	Epoch   int64  `json:"epoch"`
}

// BrokerRegistered: a broker joined (new id) or re-registered (known id,
// possibly at a new address; it is alive again).
type BrokerRegistered struct {
	BrokerID int64  `json:"broker_id"`
	Address  string `json:"address"`
	// KafkaAddress is the broker's Kafka listener (host:port); empty when
	// it has none.
	KafkaAddress string `json:"kafka_address,omitempty"`
	// StorageCluster is the storage cluster (PostgreSQL) the broker writes
	// records to; empty: the default (storagecluster.go).
	StorageCluster string `json:"storage_cluster,omitempty"`
}

// BrokerStatusChanged: a broker's liveness changed (heartbeat timeout, or a
// heartbeat from a broker believed dead).
type BrokerStatusChanged struct {
	BrokerID int64 `json:"broker_id"`
	Alive    bool  `json:"alive"`
}

// BrokerRemoved: a broker was decommissioned; it owns no partition any more
// and may not come back under this id.
type BrokerRemoved struct {
	BrokerID int64 `json:"broker_id"`
}

// TopicCreated: a topic with Partitions partitions (0..Partitions-1), not
// yet assigned; PartitionAssigned events follow.
type TopicCreated struct {
	Topic      string `json:"topic"`
	Partitions int    `json:"partitions"`
	// StorageClusters, when set, names each partition's storage cluster
	// (one per partition, fixed for its life); absent: all on the default
	// (storagecluster.go).
	StorageClusters []string `json:"storage_clusters,omitempty"`
}

// PartitionsAdded: Count partitions appended to an existing topic.
type PartitionsAdded struct {
	Topic string `json:"topic"`
	Count int    `json:"count"`
	// StorageClusters, when set, names each new partition's storage
	// cluster, as in TopicCreated.
	StorageClusters []string `json:"storage_clusters,omitempty"`
}

// PartitionAssigned: a partition's owner, with an ownership epoch higher
// than any before for that partition (first assignment and reassignment).
type PartitionAssigned struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	BrokerID  int64  `json:"broker_id"`
	Epoch     int64  `json:"epoch"`
}

// ProducerRegistered: a producer for a topic, or one partition of it.
// Principal is the name of the principal that registered it (with auth
// on), which alone (with admins and managers) may use the id; absent in
// open mode and in logs from before ownership.
type ProducerRegistered struct {
	ProducerID int64  `json:"producer_id"`
	Topic      string `json:"topic"`
	Partition  *int   `json:"partition,omitempty"`
	Principal  string `json:"principal,omitempty"`
}

// ConsumerRegistered: a consumer for a topic, or one partition of it.
// Principal: as for ProducerRegistered.
type ConsumerRegistered struct {
	ConsumerID int64  `json:"consumer_id"`
	Topic      string `json:"topic"`
	Partition  *int   `json:"partition,omitempty"`
	Principal  string `json:"principal,omitempty"`
}

// ClientStatusChanged: a producer or consumer became inactive (silent past
// the timeout) or active again.
type ClientStatusChanged struct {
	Client string `json:"client"` // "producer" or "consumer"
	ID     int64  `json:"id"`
	Active bool   `json:"active"`
}

func (WriterElected) EventType() string       { return TypeWriterElected }
func (BrokerRegistered) EventType() string    { return TypeBrokerRegistered }
func (BrokerStatusChanged) EventType() string { return TypeBrokerStatusChanged }
func (BrokerRemoved) EventType() string       { return TypeBrokerRemoved }
func (TopicCreated) EventType() string        { return TypeTopicCreated }
func (PartitionsAdded) EventType() string     { return TypePartitionsAdded }
func (PartitionAssigned) EventType() string   { return TypePartitionAssigned }
func (ProducerRegistered) EventType() string  { return TypeProducerRegistered }
func (ConsumerRegistered) EventType() string  { return TypeConsumerRegistered }
func (ClientStatusChanged) EventType() string { return TypeClientStatusChanged }

// Types lists every event type, in documentation order.
var Types = []string{
	TypeWriterElected, TypeBrokerRegistered, TypeBrokerStatusChanged, TypeBrokerRemoved,
	TypeTopicCreated, TypePartitionsAdded, TypePartitionAssigned,
	TypeProducerRegistered, TypeConsumerRegistered, TypeClientStatusChanged,
	TypePrincipalCreated, TypePrincipalDeleted, TypeTokenIssued, TypeTokenRevoked, TypeAclAdded, TypeAclRemoved, // security.go
	TypeTopicConfigChanged, // topicconfig.go
	TypeTopicDeleted,
	TypeGroupRebalanced, TypeGroupAssigned, TypeGroupDeleted, // consumer groups (groups.go)
	TypeStorageClusterRegistered, // storagecluster.go
}

// NewEvent wraps a payload into an event to append (the writer sets Seq, At
// and Epoch).
func NewEvent(p Payload) logq.Event {
	data, err := json.Marshal(p)
	if err != nil {
		// Payloads are plain structs of strings, numbers and bools.
		panic(fmt.Sprintf("projection: marshal %T: %v", p, err))
	}
	return logq.Event{Type: p.EventType(), Data: data}
}

// Decode returns the typed payload of e. An unknown type or malformed data is
// an error.
func Decode(e logq.Event) (Payload, error) {
	if p, ok := decodeFast(e.Type, e.Data); ok {
		return p, nil
	}
	return decodeJSON(e)
}

// decodeJSON is Decode by encoding/json alone: the general path, for what
// the fast path declines, and the reference the fast path is tested against.
func decodeJSON(e logq.Event) (Payload, error) {
	var p Payload
	switch e.Type {
	case TypeWriterElected:
		p = new(WriterElected)
	case TypeBrokerRegistered:
		p = new(BrokerRegistered)
	case TypeBrokerStatusChanged:
		p = new(BrokerStatusChanged)
	case TypeBrokerRemoved:
		p = new(BrokerRemoved)
	case TypeTopicCreated:
		p = new(TopicCreated)
	case TypePartitionsAdded:
		p = new(PartitionsAdded)
	case TypePartitionAssigned:
		p = new(PartitionAssigned)
	case TypeProducerRegistered:
		p = new(ProducerRegistered)
	case TypeConsumerRegistered:
		p = new(ConsumerRegistered)
	case TypeClientStatusChanged:
		p = new(ClientStatusChanged)
	case TypeTopicConfigChanged: // topicconfig.go
		return decodeTopicConfig(e)
	case TypeTopicDeleted:
		p = new(TopicDeleted)
	case TypeGroupRebalanced: // consumer groups (groups.go)
		p = new(GroupRebalanced)
	case TypeGroupAssigned:
		p = new(GroupAssigned)
	case TypeGroupDeleted:
		p = new(GroupDeleted)
	case TypeStorageClusterRegistered: // storagecluster.go
		p = new(StorageClusterRegistered)
	default:
		if p = newSecurityPayload(e.Type); p != nil { // security.go
			break
		}
		return nil, fmt.Errorf("event %d: unknown event type %q", e.Seq, e.Type)
	}
	if err := json.Unmarshal(e.Data, p); err != nil {
		return nil, fmt.Errorf("event %d (%s): malformed data: %w", e.Seq, e.Type, err)
	}
	return deref(p), nil
}

func deref(p Payload) Payload {
	if v, ok := derefSecurity(p); ok { // security.go
		return v
	}
	switch v := p.(type) {
	case *WriterElected:
		return *v
	case *BrokerRegistered:
		return *v
	case *BrokerStatusChanged:
		return *v
	case *BrokerRemoved:
		return *v
	case *TopicCreated:
		return *v
	case *PartitionsAdded:
		return *v
	case *PartitionAssigned:
		return *v
	case *ProducerRegistered:
		return *v
	case *ConsumerRegistered:
		return *v
	case *ClientStatusChanged:
		return *v
	case *TopicDeleted:
		return *v
	case *GroupRebalanced: // consumer groups (groups.go)
		return *v
	case *GroupAssigned:
		return *v
	case *GroupDeleted:
		return *v
	case *StorageClusterRegistered: // storagecluster.go
		return *v
	}
	return p
}
