package projection

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// The binary snapshot encoding (version 3; version 2 had no kafka, deleted, topic config or groups section). Integers are varints (zigzag,
// encoding/binary), counts and lengths uvarints, strings a length then the
// bytes; everything sorted (brokers and clients by id, topics by name), so
// the encoding of a state is deterministic.
//
//	magic "LQS" 0x02
//	seq, writer epoch, writer, next ids (broker, producer, consumer)
//	brokers:   count, then id, address, flags (1 alive, 2 removed)
//	topics:    count, then name, partition count, then per partition broker, epoch
//	names:     count, then the topic names clients refer to (sorted)
//	producers: count, then id, name index, flags (1 inactive, 2 has a partition), [partition]
//	consumers: as producers
//	kafka:     count, then id, Kafka address of each broker that has one
//	           (version 3)
//	deleted:   count, then name, seq of each deleted topic (version 3)
//	topic configs: count, then name, retention ms, retention bytes, for the
//	           topics with a config (version 3)
//	groups:    see appendGroups (groups.go) (version 3)
//	storage:   see appendStorageClusters (storagecluster.go), tagged,
//	           absent when everything is on the default storage cluster
//	owners:    see appendOwners (owners.go), tagged, absent when no
//	           producer or consumer has an owning principal
//
// Decoding allocates each kind of entity as one slice and points the maps
// into it: a state of a million clients decodes in a few allocations.

var snapshotMagic = []byte{'L', 'Q', 'S', 3}

// snapshotMagicV2 is the encoding before the kafka section (still decoded).
var snapshotMagicV2 = []byte{'L', 'Q', 'S', 2}

func isBinarySnapshot(b []byte) bool {
	return bytes.HasPrefix(b, snapshotMagic) || bytes.HasPrefix(b, snapshotMagicV2)
}

const (
	flagAlive     = 1
	flagRemoved   = 2
	flagInactive  = 1
	flagPartition = 2
)

func encodeBinary(s *State) []byte {
	b := make([]byte, 0, 64+32*len(s.Brokers)+16*(len(s.Producers)+len(s.Consumers)))
	b = append(b, snapshotMagic...)
	b = binary.AppendVarint(b, s.Seq)
	b = binary.AppendVarint(b, s.WriterEpoch)
	b = appendString(b, s.Writer)
	b = binary.AppendVarint(b, s.NextIDs.Broker)
	b = binary.AppendVarint(b, s.NextIDs.Producer)
	b = binary.AppendVarint(b, s.NextIDs.Consumer)

	b = binary.AppendUvarint(b, uint64(len(s.Brokers)))
	for _, id := range slices.Sorted(maps.Keys(s.Brokers)) {
		br := s.Brokers[id]
		b = binary.AppendVarint(b, id)
		b = appendString(b, br.Address)
		var f byte
		if br.Alive {
			f |= flagAlive
		}
		if br.Removed {
			f |= flagRemoved
		}
		b = append(b, f)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Topics)))
	for _, name := range s.TopicNames() {
		t := s.Topics[name]
		b = appendString(b, name)
		b = binary.AppendUvarint(b, uint64(len(t.Partitions)))
		for _, p := range t.Partitions {
			b = binary.AppendVarint(b, p.Broker)
			b = binary.AppendVarint(b, p.Epoch)
		}
	}
	// The topic names the clients refer to, once each.
	index := map[string]int{}
	for _, p := range s.Producers {
		index[p.Topic] = 0
	}
	for _, c := range s.Consumers {
		index[c.Topic] = 0
	}
	names := make([]string, 0, len(index))
	for n := range index {
		names = append(names, n)
	}
	slices.Sort(names)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for i, n := range names {
		index[n] = i
		b = appendString(b, n)
	}
	client := func(id int64, topic string, partition *int, inactive bool) {
		b = binary.AppendVarint(b, id)
		b = binary.AppendUvarint(b, uint64(index[topic]))
		var f byte
		if inactive {
			f |= flagInactive
		}
		if partition != nil {
			f |= flagPartition
		}
		b = append(b, f)
		if partition != nil {
			b = binary.AppendVarint(b, int64(*partition))
		}
	}
	b = binary.AppendUvarint(b, uint64(len(s.Producers)))
	for _, id := range slices.Sorted(maps.Keys(s.Producers)) {
		p := s.Producers[id]
		client(id, p.Topic, p.Partition, p.Inactive)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Consumers)))
	for _, id := range slices.Sorted(maps.Keys(s.Consumers)) {
		c := s.Consumers[id]
		client(id, c.Topic, c.Partition, c.Inactive)
	}
	var kafka []int64
	for _, id := range slices.Sorted(maps.Keys(s.Brokers)) {
		if s.Brokers[id].KafkaAddress != "" {
			kafka = append(kafka, id)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(kafka)))
	for _, id := range kafka {
		b = binary.AppendVarint(b, id)
		b = appendString(b, s.Brokers[id].KafkaAddress)
	}
	b = binary.AppendUvarint(b, uint64(len(s.DeletedTopics)))
	for _, name := range slices.Sorted(maps.Keys(s.DeletedTopics)) {
		b = appendString(b, name)
		b = binary.AppendVarint(b, s.DeletedTopics[name])
	}
	b = appendTopicConfigs(b, s)    // topicconfig.go
	b = appendGroups(b, s)          // consumer groups (groups.go)
	b = appendStorageClusters(b, s) // storagecluster.go: tagged, absent when all is on the default
	b = appendOwners(b, s)          // owners.go: tagged, absent when no client has an owner
	b = appendSecurity(b, s)        // security.go: after everything else, tagged
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errTruncated = errors.New("decode snapshot: truncated or corrupt")

// reader reads the binary encoding; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) varint() int64 { return readVarint(r, binary.Varint) }

func (r *reader) uvarint() uint64 { return readVarint(r, binary.Uvarint) }

// readVarint reads one value with decode (binary.Varint or binary.Uvarint).
func readVarint[T int64 | uint64](r *reader, decode func([]byte) (T, int)) T {
	if r.err != nil {
		return 0
	}
	v, n := decode(r.b)
	if n <= 0 {
		r.err = errTruncated
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count of items of at least min bytes each, bounded by
// what is left (a corrupt count cannot make us allocate much).
func (r *reader) count(min int) int {
	v := r.uvarint()
	if r.err == nil && v > uint64(len(r.b))/uint64(min) {
		r.err = errTruncated
	}
	if r.err != nil {
		return 0
	}
	return int(v)
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errTruncated
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) string() string {
	n := r.count(1)
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func decodeBinary(data []byte) (*State, error) {
	v3 := bytes.HasPrefix(data, snapshotMagic)
	r := &reader{b: data[len(snapshotMagic):]}
	s := &State{}
	s.Seq = r.varint()
	s.WriterEpoch = r.varint()
	s.Writer = r.string()
	s.NextIDs = NextIDs{Broker: r.varint(), Producer: r.varint(), Consumer: r.varint()}

	s.Brokers = readAll(r, 3, func(br *Broker) int64 {
		br.ID = r.varint()
		br.Address = r.string()
		f := r.byte()
		br.Alive, br.Removed = f&flagAlive != 0, f&flagRemoved != 0
		return br.ID
	})
	s.Topics = readAll(r, 2, func(t *Topic) string {
		t.Name = r.string()
		t.Partitions = make([]Partition, r.count(2))
		for j := range t.Partitions {
			t.Partitions[j] = Partition{Index: j, Broker: r.varint(), Epoch: r.varint()}
		}
		return t.Name
	})
	names := make([]string, r.count(1))
	for i := range names {
		names[i] = r.string()
	}
	var ints []int // the clients' partitions, allocated in chunks
	partition := func() *int {
		if len(ints) == cap(ints) {
			ints = make([]int, 0, 1024)
		}
		ints = append(ints, int(r.varint()))
		return &ints[len(ints)-1]
	}
	client := func() (id int64, topic string, p *int, inactive bool) {
		id = r.varint()
		k := r.uvarint()
		if r.err == nil && k >= uint64(len(names)) {
			r.err = errTruncated
		}
		if r.err != nil {
			return
		}
		topic = names[k]
		f := r.byte()
		if f&flagPartition != 0 {
			p = partition()
		}
		return id, topic, p, f&flagInactive != 0
	}
	s.Producers = readAll(r, 3, func(p *Producer) int64 {
		p.ID, p.Topic, p.Partition, p.Inactive = client()
		return p.ID
	})
	s.Consumers = readAll(r, 3, func(c *Consumer) int64 {
		c.ID, c.Topic, c.Partition, c.Inactive = client()
		return c.ID
	})
	s.Groups = map[string]*Group{}
	if v3 {
		for n := r.count(2); n > 0 && r.err == nil; n-- {
			id, addr := r.varint(), r.string()
			if br, ok := s.Brokers[id]; ok {
				br.KafkaAddress = addr
			} else if r.err == nil {
				r.err = fmt.Errorf("decode snapshot: Kafka address of unknown broker %d", id)
			}
		}
		if n := r.count(2); n > 0 {
			s.DeletedTopics = make(map[string]int64, n)
			for ; n > 0 && r.err == nil; n-- {
				name := r.string()
				s.DeletedTopics[name] = r.varint()
			}
		}
		readTopicConfigs(r, s)    // topicconfig.go
		s.Groups = readGroups(r)  // consumer groups (groups.go)
		readStorageClusters(r, s) // storagecluster.go
		readOwners(r, s)          // owners.go
	}
	readSecurity(r, s) // security.go: absent when there is no security state
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("decode snapshot: %d bytes after the state", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}

// readAll reads a count of entities of at least min bytes each, each by
// read (which returns its key), into one slice, and maps the keys into it.
func readAll[K comparable, T any](r *reader, min int, read func(*T) K) map[K]*T {
	items := make([]T, r.count(min))
	m := make(map[K]*T, len(items))
	for i := range items {
		m[read(&items[i])] = &items[i]
	}
	return m
}
