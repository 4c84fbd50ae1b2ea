package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/logq/logq/api"
)

// FetchOptions bound a Fetch. The zero value asks for up to 100 messages,
// the brokers' byte limit, and does not wait.
type FetchOptions struct {
	Max      int           // messages (1…10000; 0: 100)
	MaxBytes int           // bytes of values (0: the brokers' limit)
	MaxWait  time.Duration // long poll when the offset is the end (at most 30 s)
}

// Fetched is a Fetch's answer: the messages from the offset on, the
// offset to fetch from next, and the partition's marks.
type Fetched struct {
	Messages       []Message
	NextOffset     int64
	HighWatermark  int64
	LogStartOffset int64
}

// Fetch reads messages of one partition from offset on, moving nothing:
// the caller keeps its position (and commits it where it likes). An offset
// below the partition's log start or past its end is
// ErrOffsetOutOfRange: reset to ListOffsets' earliest or latest.
func (c *Client) Fetch(ctx context.Context, topic string, partition int, offset int64, opt FetchOptions) (Fetched, error) {
	q := url.Values{"topic": {topic}, "partition": {strconv.Itoa(partition)}, "offset": {strconv.FormatInt(offset, 10)}}
	if opt.Max > 0 {
		q.Set("max", strconv.Itoa(min(opt.Max, MaxPoll)))
	}
	if opt.MaxBytes > 0 {
		q.Set("max_bytes", strconv.Itoa(opt.MaxBytes))
	}
	wait := min(max0(opt.MaxWait), maxWaitLimit)
	if wait > 0 {
		q.Set("wait_ms", strconv.FormatInt(wait.Milliseconds(), 10))
	}
	out := messagesAnswer{topic: topic, partition: partition}
	if err := c.do(ctx, call{method: http.MethodGet, path: "/consumer/fetch", query: q, wait: wait}, &out); err != nil {
		return Fetched{}, err
	}
	f := Fetched{NextOffset: offset, Messages: out.msgs}
	for _, p := range out.partitions {
		if p.Partition != partition {
			continue
		}
		if p.Error != nil {
			return Fetched{}, itemError(p.Error.Code, p.Error.Message)
		}
		f.NextOffset, f.HighWatermark, f.LogStartOffset = p.NextOffset, p.HighWatermark, p.LogStartOffset
	}
	return f, nil
}

// ListOffsets' special times (Kafka's); any other at is a time in Unix
// milliseconds (OffsetAt).
const (
	OffsetLatest   = api.OffsetLatest
	OffsetEarliest = api.OffsetEarliest
)

// OffsetAt is the at of ListOffsets for the first record at or after t.
func OffsetAt(t time.Time) int64 { return t.UnixMilli() }

// PartitionOffset is ListOffsets' answer for one partition: the offset
// asked for (-1 when no record is at or after the time), and its marks.
type PartitionOffset struct {
	Partition      int
	Offset         int64
	Timestamp      time.Time // of the record found by time
	HighWatermark  int64
	LogStartOffset int64
	Err            error // this partition's broker did not answer (every partition asked only)
}

// ListOffsets answers, for one partition (or every one, partition nil),
// its earliest offset (at = OffsetEarliest: the log start), its latest
// (OffsetLatest: the end, where the next record goes) or the first offset
// whose record timestamp is at or after at (OffsetAt).
func (c *Client) ListOffsets(ctx context.Context, topic string, partition *int, at int64) ([]PartitionOffset, error) {
	q := api.OffsetsRequest{Topic: topic, Partition: partition, At: at}.Query()
	var out api.OffsetsAnswer
	if err := c.do(ctx, call{method: http.MethodGet, path: "/offsets", query: q}, &out); err != nil {
		return nil, err
	}
	res := make([]PartitionOffset, len(out.Offsets))
	for i, o := range out.Offsets {
		res[i] = PartitionOffset{Partition: o.Partition, Offset: o.Offset, HighWatermark: o.HighWatermark, LogStartOffset: o.LogStartOffset}
		if o.Timestamp != nil {
			res[i].Timestamp = time.UnixMilli(*o.Timestamp)
		}
		if o.Error != nil {
			res[i].Err = itemError(o.Error.Code, o.Error.Message)
		}
	}
	return res, nil
}
