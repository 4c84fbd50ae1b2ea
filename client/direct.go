package client

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/logq/logq/api"
)

// Direct consume: a Consumer with ConsumerConfig.Direct reads its
// partitions straight from the brokers that own them (POST /v1/consume),
// as a direct Producer appends; a round over its partitions costs one
// request per partition and no manager. A poll that would wait (nothing
// ready and MaxWait > 0), and any poll whose broker is fenced, unreachable
// or unknown, goes through the managers as usual (the routes are then
// fetched again for the next poll).

// directState is a direct Consumer's view of the brokers.
type directState struct {
	parts  []int // the partitions the consumer reads; nil: every partition of the topic
	routes atomic.Pointer[TopicInfo]
	rr     atomic.Uint64
}

// newDirect prepares direct polls for a consumer, nil when the partitions
// it reads are unknown (a reused ID the managers do not list).
func (c *Client) newDirect(ctx context.Context, topic string, id int64, registered bool, partition *int) *directState {
	d := &directState{}
	if registered {
		if partition != nil {
			d.parts = []int{*partition}
		}
		return d
	}
	infos, err := c.Consumers(ctx, topic)
	if err != nil {
		return nil
	}
	for _, ci := range infos {
		if ci.ID == id {
			if ci.Partition != nil {
				d.parts = []int{*ci.Partition}
			}
			return d
		}
	}
	return nil
}

// pollDirect polls the consumer's partitions from their brokers, each once
// (starting with the next in rotation), for up to max messages in all. ok
// false: poll through the managers instead (what it returns is empty then).
func (c *Consumer) pollDirect(ctx context.Context, max int, wait bool) (out []Message, ok bool) {
	d := c.direct
	rt := d.routes.Load()
	if rt == nil {
		info, err := c.c.DescribeTopic(ctx, c.topic)
		if err != nil || len(info.Partitions) == 0 {
			return nil, false
		}
		d.routes.Store(info)
		rt = info
	}
	parts := d.parts
	if parts == nil {
		parts = make([]int, len(rt.Partitions))
		for i := range parts {
			parts[i] = i
		}
	}
	start := int(d.rr.Add(1) - 1)
	for i := range parts {
		if len(out) >= max {
			break
		}
		p := parts[(start+i)%len(parts)]
		if p >= len(rt.Partitions) || !rt.Partitions[p].Writable || rt.Partitions[p].Address == "" {
			d.routes.Store(nil)
			return out, len(out) > 0
		}
		msgs, err := c.fetchDirect(ctx, rt.Partitions[p], max-len(out))
		if err != nil {
			d.routes.Store(nil)
			// What was read is consumed: hand it out, never drop it.
			return out, len(out) > 0
		}
		out = append(out, msgs...)
	}
	return out, len(out) > 0 || !wait
}

// fetchDirect consumes up to max messages of one partition from its broker.
func (c *Consumer) fetchDirect(ctx context.Context, part PartitionInfo, max int) ([]Message, error) {
	base, err := normalizeURL(part.Address)
	if err != nil {
		return nil, err
	}
	ans := messagesAnswer{topic: c.topic, partition: part.Partition}
	err = c.c.attemptOnce(ctx, call{
		method: http.MethodPost, path: "/v1/consume", base: base, header: c.c.minSeqHeader(), noMinSeq: true,
		body: api.BrokerConsumeRequest{Topic: c.topic, Partition: part.Partition, ConsumerID: c.id, Max: max, Shape: api.ShapeBatch},
	}, &ans)
	if err != nil {
		return nil, err
	}
	return ans.msgs, nil
}

// minSeqHeader carries the client's seq to a broker (X-Logq-Min-Seq), so
// that the broker knows what the client's writes made.
func (c *Client) minSeqHeader() http.Header {
	hdr := http.Header{}
	if seq := c.Seq(); seq > 0 {
		hdr.Set(api.HeaderMinSeq, strconv.FormatInt(seq, 10))
	}
	return hdr
}
