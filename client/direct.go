package client

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/logq/logq/internal/fastjson"
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

// consumeRequest is the body of a broker's POST /v1/consume.
type consumeRequest struct {
	Topic      string
	Partition  int
	ConsumerID int64
	Max        int
}

func (r consumeRequest) appendJSON(b []byte) []byte {
	b = append(b, `{"topic":`...)
	b = fastjson.AppendString(b, r.Topic)
	b = append(b, `,"partition":`...)
	b = fastjson.AppendInt(b, int64(r.Partition))
	b = append(b, `,"consumer_id":`...)
	b = fastjson.AppendInt(b, r.ConsumerID)
	b = append(b, `,"max":`...)
	b = fastjson.AppendInt(b, int64(r.Max))
	return append(b, '}')
}

// brokerMessages is a broker's consume answer: its messages' offset,
// message and key (producer_id and produced_at are skipped).
type brokerMessages struct {
	Messages []struct {
		Offset  int64   `json:"offset"`
		Message string  `json:"message"`
		Key     *string `json:"key"`
	} `json:"messages"`

	topic     string
	partition int
	out       []Message // filled by decodeJSON, or from Messages
}

func (a *brokerMessages) decodeJSON(data []byte) (status string, ok bool) {
	d := fastjson.NewDecoder(data)
	seen := false
	ok = d.Object(func(k string) bool {
		if k != "messages" {
			_, ok := member(d, k, &status, "messages")
			return ok
		}
		if seen || d.Null() {
			return false
		}
		seen = true
		a.out = make([]Message, 0, bytes.Count(data, []byte(`"offset"`))) // no growing
		return d.Array(func() bool {
			m := Message{Topic: a.topic, Partition: a.partition}
			var hasO, hasM, hasK bool
			ok := d.Object(func(k string) bool {
				var ok bool
				switch k {
				case "offset":
					m.Offset, ok = d.Int()
					ok, hasO = ok && !hasO, true
				case "message":
					m.Value, ok = d.String()
					ok, hasM = ok && !hasM, true
				case "key":
					if hasK {
						return false
					}
					hasK = true
					if d.Null() {
						return true
					}
					m.Key, ok = d.String()
				default:
					for _, f := range []string{"offset", "message", "key"} {
						if strings.EqualFold(k, f) {
							return false
						}
					}
					return d.Skip()
				}
				return ok
			})
			a.out = append(a.out, m)
			return ok && hasO && hasM
		})
	})
	return status, ok && seen && d.End()
}

// fetchDirect consumes up to max messages of one partition from its broker.
func (c *Consumer) fetchDirect(ctx context.Context, part PartitionInfo, max int) ([]Message, error) {
	base, err := normalizeURL(part.Address)
	if err != nil {
		return nil, err
	}
	hdr := http.Header{}
	if seq := c.c.Seq(); seq > 0 {
		hdr.Set("X-Logq-Min-Seq", strconv.FormatInt(seq, 10))
	}
	ans := &brokerMessages{topic: c.topic, partition: part.Partition}
	err = c.c.attemptOnce(ctx, call{
		method: http.MethodPost, path: "/v1/consume", base: base, header: hdr, noMinSeq: true,
		body: consumeRequest{Topic: c.topic, Partition: part.Partition, ConsumerID: c.id, Max: max},
	}, ans)
	if err != nil {
		return nil, err
	}
	if ans.out == nil { // decoded by encoding/json
		for _, m := range ans.Messages {
			msg := Message{Topic: c.topic, Partition: part.Partition, Offset: m.Offset, Value: m.Message}
			if m.Key != nil {
				msg.Key = *m.Key
			}
			ans.out = append(ans.out, msg)
		}
	}
	return ans.out, nil
}
