package faulttest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/logq/logq/client"
)

// segmentBytes sums the table and index bytes of a topic's segments (the
// tables of its partitions' logs) and of all segments of messages.
type segmentBytes struct {
	segments          int64
	table, index      int64 // the topic's
	allTable, allIndx int64 // every topic's: the whole messages table
}

func (c *cluster) segmentBytes(ctx context.Context, topic string) segmentBytes {
	c.t.Helper()
	var b segmentBytes
	err := c.db.QueryRow(ctx, `
		SELECT count(*), coalesce(sum(pg_table_size(to_regclass(quote_ident(relname)))), 0)::bigint,
		       coalesce(sum(pg_indexes_size(to_regclass(quote_ident(relname)))), 0)::bigint
		FROM message_segments WHERE topic = $1`, topic).Scan(&b.segments, &b.table, &b.index)
	if err == nil {
		err = c.db.QueryRow(ctx, `
			SELECT coalesce(sum(pg_table_size(relid)), 0)::bigint, coalesce(sum(pg_indexes_size(relid)), 0)::bigint
			FROM pg_partition_tree('messages') WHERE isleaf`).Scan(&b.allTable, &b.allIndx)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

func (b segmentBytes) String() string {
	return fmt.Sprintf("topic: %d segments, table %d B, indexes %d B, total %d B; whole messages table: table %d B, indexes %d B",
		b.segments, b.table, b.index, b.table+b.index, b.allTable, b.allIndx)
}

// TestRetentionReclaims: real processes, a topic with a short retention.ms.
// After N records, the brokers' retention drops every closed segment: the
// old records are gone from storage, each partition's log start offset has
// moved, a new consumer's size counts from it, and the messages tables
// (summed over the segments, pg_table_size + pg_indexes_size) shrank.
func TestRetentionReclaims(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of processes")
	}
	t.Parallel()
	const (
		topic          = "retained"
		partitions     = 2
		records        = 20500 // 10250 per partition: a quarter of the last segment stays
		segmentOffsets = 1000
		retentionMs    = 1500
	)
	c := startCluster(t, clusterOpts{brokers: 2, brokerFlags: []string{
		"--segment-offsets", fmt.Sprint(segmentOffsets), "--retention-check-interval", "250ms",
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ms := int64(retentionMs)
	if _, err := c.admin.CreateTopicConfigured(ctx, topic, partitions, client.TopicConfigChange{RetentionMs: &ms}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the topic's partitions to be writable", func() (bool, error) {
		info, err := c.admin.DescribeTopic(ctx, topic)
		if err != nil {
			return false, err
		}
		for _, p := range info.Partitions {
			if !p.Writable {
				return false, nil
			}
		}
		return len(info.Partitions) == partitions, nil
	})
	prod, err := c.admin.NewProducer(ctx, topic, client.ProducerConfig{Linger: 5 * time.Millisecond, BatchSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	payload := strings.Repeat("r", 100)
	futs := make([]*client.Future, records)
	for i := range futs {
		futs[i] = prod.Send(ctx, client.Record{Value: payload, Partition: client.Partition(i % partitions)})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i, f := range futs {
		if _, err := f.Wait(ctx); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	before := c.segmentBytes(ctx, topic)
	t.Logf("retention reclaim: before: %s", before)

	// Every closed segment is past retention.ms a moment later: wait for
	// the brokers to drop them all (each partition's log start within one
	// segment of its high watermark).
	var info *client.TopicInfo
	waited := waitFor(t, ctx, "retention to drop the closed segments", func() (bool, error) {
		info, err = c.admin.DescribeTopic(ctx, topic)
		if err != nil {
			return false, err
		}
		for _, p := range info.Partitions {
			if p.LogStartOffset == nil || p.HighWatermark-*p.LogStartOffset >= segmentOffsets {
				return false, nil
			}
		}
		return true, nil
	})
	after := c.segmentBytes(ctx, topic)
	t.Logf("retention reclaim: after (%v): %s", waited.Round(time.Millisecond), after)

	var left int64
	for _, p := range info.Partitions {
		start := *p.LogStartOffset
		if start <= 0 || start%segmentOffsets != 0 {
			t.Errorf("partition %d: log start offset %d; want a positive segment boundary", p.Partition, start)
		}
		var below, stored int64
		if err := c.db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE "offset" < $3), count(*) FROM messages WHERE topic = $1 AND partition = $2`,
			topic, p.Partition, start).Scan(&below, &stored); err != nil {
			t.Fatal(err)
		}
		if below != 0 || stored != p.HighWatermark-start {
			t.Errorf("partition %d: %d records below the log start %d, %d stored; want 0 and %d", p.Partition, below, start, stored, p.HighWatermark-start)
		}
		left += p.HighWatermark - start
	}
	if after.table+after.index >= before.table+before.index || after.segments >= before.segments {
		t.Errorf("the topic's segments did not shrink: before %v, after %v", before, after)
	}
	// A new consumer's size counts from the log start.
	id, err := c.admin.RegisterConsumer(ctx, topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	size, err := c.admin.Size(ctx, topic, id)
	if err != nil || size != left {
		t.Fatalf("a new consumer's size = %d, %v; want %d (from the log start)", size, err, left)
	}
}
