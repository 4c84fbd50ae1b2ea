package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// appendBatchKmsg is appendBatch written with kmsg alone: the reference
// appendBatch's hand-written body must equal byte for byte.
func appendBatchKmsg(dst []byte, recs []StoredRecord, logAppendTime bool) []byte {
	first, last := recs[0], recs[len(recs)-1]
	firstTS := first.Timestamp.UnixMilli()
	maxTS := firstTS
	var body []byte
	for _, r := range recs {
		ts := r.Timestamp.UnixMilli()
		maxTS = max(maxTS, ts)
		rec := kmsg.Record{
			TimestampDelta64: ts - firstTS,
			OffsetDelta:      int32(r.Offset - first.Offset),
			Key:              r.Key,
			Value:            r.Value,
		}
		for _, h := range r.Headers {
			rec.Headers = append(rec.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		rec.Length = int32(len(rec.AppendTo(nil)) - 1) // less the length's own byte (0)
		body = rec.AppendTo(body)
	}
	var attrs int16
	if logAppendTime {
		attrs |= 0x08
	}
	rb := kmsg.RecordBatch{
		FirstOffset:          first.Offset,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           attrs,
		LastOffsetDelta:      int32(last.Offset - first.Offset),
		FirstTimestamp:       firstTS,
		MaxTimestamp:         maxTS,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(recs)),
		Records:              body,
	}
	start := len(dst)
	dst = rb.AppendTo(dst)
	b := dst[start:]
	binary.BigEndian.PutUint32(b[8:12], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:21], crc32.Checksum(b[21:], crc32c))
	return dst
}

func batchCases() map[string][]StoredRecord {
	t0 := time.UnixMilli(1_700_000_000_123)
	big := bytes.Repeat([]byte("x"), 20000) // a length of three varint bytes
	many := make([]StoredRecord, 300)       // offset deltas past one varint byte
	for i := range many {
		many[i] = StoredRecord{Offset: 1<<40 + int64(i), Value: []byte{byte(i)}, Timestamp: t0.Add(time.Duration(i%7) * time.Hour)}
	}
	return map[string][]StoredRecord{
		"one": {{Offset: 0, Value: []byte("v"), Timestamp: t0}},
		"nil key and value, empty key": {
			{Offset: 5, Timestamp: t0},
			{Offset: 6, Key: []byte{}, Value: []byte{}, Timestamp: t0},
		},
		"headers": {{Offset: 9, Key: []byte("k"), Value: []byte("v"), Timestamp: t0,
			Headers: []Header{{Key: "a", Value: []byte("1")}, {Key: "", Value: nil}, {Key: "long", Value: big}}}},
		"timestamps back and forth": {
			{Offset: 100, Value: big, Timestamp: t0},
			{Offset: 101, Value: []byte("b"), Timestamp: t0.Add(-time.Hour)},
			{Offset: 103, Value: []byte("c"), Timestamp: t0.Add(48 * time.Hour)},
		},
		"epoch and far timestamps": {
			{Offset: math.MaxInt32, Value: []byte("a"), Timestamp: time.UnixMilli(0)},
			{Offset: math.MaxInt32 + 1, Value: []byte("b"), Timestamp: time.UnixMilli(1 << 45)},
		},
		"many": many,
	}
}

// TestAppendBatchIsKmsg: the hand-written batch is kmsg's bytes, appended
// after what dst holds, and kmsg reads it back.
func TestAppendBatchIsKmsg(t *testing.T) {
	for name, recs := range batchCases() {
		for _, lat := range []bool{false, true} {
			want := appendBatchKmsg([]byte("prefix"), recs, lat)
			got := appendBatch([]byte("prefix"), recs, lat)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s (log append time %v): bytes differ from kmsg's\n got %x\nwant %x", name, lat, got, want)
			}
			var rb kmsg.RecordBatch
			if err := rb.ReadFrom(got[len("prefix"):]); err != nil || int(rb.NumRecords) != len(recs) {
				t.Fatalf("%s: kmsg reads %d records, %v", name, rb.NumRecords, err)
			}
			batches, err := decodeBatches(got[len("prefix"):])
			if err != nil || len(batches) != 1 || len(batches[0].records) != len(recs) {
				t.Fatalf("%s: decodeBatches: %v", name, err)
			}
			for i, r := range batches[0].records {
				if !bytes.Equal(r.Value, recs[i].Value) || !bytes.Equal(r.Key, recs[i].Key) || (r.Key == nil) != (recs[i].Key == nil) ||
					!r.Timestamp.Equal(recs[i].Timestamp) || len(r.Headers) != len(recs[i].Headers) {
					t.Fatalf("%s: record %d reads back as %+v, want %+v", name, i, r, recs[i])
				}
			}
		}
	}
}

// TestAppendBatchAllocs: the batch is written in place: nothing allocated
// when dst has room, one allocation when it has not (kmsg's way allocates
// per record, twice).
func TestAppendBatchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation bounds do not hold under the race detector")
	}
	recs := batchCases()["many"]
	buf := appendBatch(nil, recs, false)
	if n := testing.AllocsPerRun(20, func() { appendBatch(buf[:0], recs, false) }); n != 0 {
		t.Fatalf("appendBatch into a buffer with room: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(20, func() { appendBatch(nil, recs, false) }); n != 1 {
		t.Fatalf("appendBatch(nil): %v allocations, want 1", n)
	}
}

func BenchmarkAppendBatch(b *testing.B) {
	recs := make([]StoredRecord, 10000)
	t0 := time.Now()
	for i := range recs {
		recs[i] = StoredRecord{Offset: int64(i), Value: bytes.Repeat([]byte("v"), 100), Timestamp: t0}
	}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			appendBatch(nil, recs, false)
		}
	})
	b.Run("kmsg", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			appendBatchKmsg(nil, recs, false)
		}
	})
}

// TestDecodeBatchesAllocs: a batch's records are decoded into one slice
// and their headers into another, not allocated record by record: a batch
// of 300 records with headers costs the allocations of a batch of one.
func TestDecodeBatchesAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation bounds do not hold under the race detector")
	}
	recs := batchCases()["many"]
	for i := range recs {
		recs[i].Key = []byte("key")
		recs[i].Headers = []Header{{Key: "h1", Value: []byte("a")}, {Key: "h2", Value: []byte("b")}}
	}
	allocs := func(data []byte) (float64, []batch) {
		var got []batch
		return testing.AllocsPerRun(20, func() {
			var err error
			if got, err = decodeBatches(data); err != nil {
				t.Fatal(err)
			}
		}), got
	}
	one, _ := allocs(appendBatch(nil, recs[:1], false))
	n, got := allocs(appendBatch(nil, recs, false))
	if n != one || n > 6 {
		t.Fatalf("decodeBatches: %v allocations for %d records, %v for one; want the same, at most 6", n, len(recs), one)
	}
	if len(got) != 1 || len(got[0].records) != len(recs) || got[0].records[299].Headers[1].Key != "h2" ||
		string(got[0].records[9].Headers[0].Value) != "a" || len(got[0].records[9].Headers) != 2 {
		t.Fatalf("decoded %+v", got)
	}
}

// BenchmarkKgoProduceUnbatched is the bench's unbatched Kafka row against
// the in-memory Log: 64 kgo clients (idempotent, acks=all, linger 0),
// each producing one record per request and waiting for its ack; what is
// left is the listener and the clients.
func BenchmarkKgoProduceUnbatched(b *testing.B) {
	_, _, addr := startFake(b)
	const clients = 64
	cls := make([]*kgo.Client, clients)
	for i := range cls {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("unbatched"), kgo.AllowAutoTopicCreation(),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte("warm-up")}).FirstErr(); err != nil {
			b.Fatal(err)
		}
		cls[i] = cl
	}
	value := bytes.Repeat([]byte("v"), 100)
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, cl := range cls {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: value}).FirstErr(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestDeadlinesMoveRarely: a connection serving request after request
// moves its deadlines a few times, not three times a request; the idle
// timeout still closes it (TestConnectionLimits).
func TestDeadlinesMoveRarely(t *testing.T) {
	_, _, s, addr := startFakeServer(t)
	rc := dialRaw(t, addr)
	const requests = 200
	for i := int32(1); i <= requests; i++ {
		rc.send(kmsg.NewPtrApiVersionsRequest(), i)
		if corr, _, err := rc.read(); err != nil || corr != i {
			t.Fatalf("answer %d: %d, %v", i, corr, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) != 1 {
		t.Fatalf("%d connections", len(s.conns))
	}
	for c := range s.conns {
		// The answer is written before the connection goes idle again:
		// the last request's idle deadline may not be set yet.
		if n := c.deadlineMoves.Load(); n > 4 {
			t.Fatalf("%d requests moved the deadlines %d times, want at most 4", requests, n)
		}
	}
}

// TestProduceRequestAllocs bounds what one produce request of one record
// allocates in the listener (decoding, the produce, the answer), the Log's
// own allocations aside: 18 before the client id was kept, the header's
// reader and the one partition's job kept off the heap.
func TestProduceRequestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation bounds do not hold under the race detector")
	}
	c, _, s, _ := startFakeServer(t)
	c.CreateTopic(testCtx(t), "a", 1)
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "a"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = appendBatch(nil, []StoredRecord{{Value: []byte("v"), Timestamp: time.Now()}}, false)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	wire := kmsg.NewRequestFormatter(kmsg.FormatterClientID("a-client")).AppendRequest(nil, req, 7)[4:]
	h := &handler{s: s}
	var logAllocs float64
	{
		batches, err := decodeBatches(rp.Records)
		if err != nil {
			t.Fatal(err)
		}
		logAllocs = testing.AllocsPerRun(100, func() {
			s.cfg.Log.Produce(context.Background(), "a", 0, batches[0].records, batches[0].producer)
		})
	}
	n := testing.AllocsPerRun(100, func() {
		if _, err := h.handle(wire); err != nil {
			t.Fatal(err)
		}
	})
	// The request, its topics and partitions (3); the answer, its topics
	// and partitions (3); the timeout's context (4); the records and the
	// batches (2); the framed answer (1). Not: the client id, the header's
	// reader, the partition's job.
	if n-logAllocs > 13 {
		t.Fatalf("one produce request: %v allocations in the listener, want at most 13", n-logAllocs)
	}
}
