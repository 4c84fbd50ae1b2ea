package projection

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
)

// Owners of producer and consumer ids: the principal that registered each
// (ProducerRegistered.Principal, ConsumerRegistered.Principal; "" in open
// mode). In the binary snapshot they are a tagged section after the
// storage clusters and before the security section, absent when no client
// has an owner (so a snapshot of an open-mode cluster is what it was, and
// older snapshots, without the section, decode with no owners):
//
//	ownersTag
//	names:     count, then the principal names (sorted)
//	producers: count, then id, name index of each producer with an owner
//	consumers: as producers
const ownersTag = 0xC9

func appendOwners(b []byte, s *State) []byte {
	index := map[string]int{}
	var producers, consumers []int64
	for _, id := range slices.Sorted(maps.Keys(s.Producers)) {
		if n := s.Producers[id].Principal; n != "" {
			index[n] = 0
			producers = append(producers, id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.Consumers)) {
		if n := s.Consumers[id].Principal; n != "" {
			index[n] = 0
			consumers = append(consumers, id)
		}
	}
	if len(index) == 0 {
		return b
	}
	names := slices.Sorted(maps.Keys(index))
	b = append(b, ownersTag)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for i, n := range names {
		index[n] = i
		b = appendString(b, n)
	}
	b = binary.AppendUvarint(b, uint64(len(producers)))
	for _, id := range producers {
		b = binary.AppendVarint(b, id)
		b = binary.AppendUvarint(b, uint64(index[s.Producers[id].Principal]))
	}
	b = binary.AppendUvarint(b, uint64(len(consumers)))
	for _, id := range consumers {
		b = binary.AppendVarint(b, id)
		b = binary.AppendUvarint(b, uint64(index[s.Consumers[id].Principal]))
	}
	return b
}

func readOwners(r *reader, s *State) {
	if r.err != nil || len(r.b) == 0 || r.b[0] != ownersTag {
		return
	}
	r.b = r.b[1:]
	names := make([]string, r.count(1))
	for i := range names {
		names[i] = r.string()
	}
	owner := func() (int64, string) {
		id, k := r.varint(), r.uvarint()
		if r.err == nil && k >= uint64(len(names)) {
			r.err = errTruncated
		}
		if r.err != nil {
			return 0, ""
		}
		return id, names[k]
	}
	for n := r.count(2); n > 0 && r.err == nil; n-- {
		id, name := owner()
		if p, ok := s.Producers[id]; ok {
			p.Principal = name
		} else if r.err == nil {
			r.err = fmt.Errorf("decode snapshot: owner of unknown producer %d", id)
		}
	}
	for n := r.count(2); n > 0 && r.err == nil; n-- {
		id, name := owner()
		if c, ok := s.Consumers[id]; ok {
			c.Principal = name
		} else if r.err == nil {
			r.err = fmt.Errorf("decode snapshot: owner of unknown consumer %d", id)
		}
	}
}
