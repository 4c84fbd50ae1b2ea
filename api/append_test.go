package api

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func randomBytes(r *rand.Rand) []byte {
	parts := []string{"a", "bc", `"`, `\`, "\n", "\t", "\x01", "\x7f", "<", ">", "&", "\u2028", "\u2029", "é", "😀", "/", " ", "\xff", "\xe2\x82\xac"}
	var b strings.Builder
	for range r.IntN(10) {
		b.WriteString(parts[r.IntN(len(parts))])
	}
	return []byte(b.String())
}

// The appenders write what the codec writes of the same message, in
// every shape of record: text and bytes, keys or none, headers with null
// values, escapes, forced base64.
func TestAppendMessageIsMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("", -(3*3600 + 30*60))}
	for i := range 2000 {
		rec := StoredRecord{Offset: r.Int64N(1 << 40), Value: randomBytes(r), Timestamp: r.Int64N(MaxTimestamp), ProducerID: r.Int64N(1000),
			ProducedAt: time.UnixMicro(r.Int64N(1 << 52)).In(zones[i%len(zones)])}
		if r.IntN(2) == 0 {
			rec.Key = randomBytes(r)
		}
		for range r.IntN(3) {
			h := BinHeader{Key: string(randomBytes(r))}
			if r.IntN(3) > 0 {
				h.Value = randomBytes(r)
			}
			rec.Headers = append(rec.Headers, h)
		}
		force := i%7 == 0
		k, v, wh, enc := EncodeRecord(rec.Key, rec.Value, rec.Headers, force)
		topic := string(randomBytes(r))
		want, err := Marshal(BatchMessage{Topic: topic, Partition: i % 5, Offset: rec.Offset, Message: v, Key: k, Encoding: enc, Headers: wh, Timestamp: rec.Timestamp})
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendBatchMessage(nil, topic, i%5, &rec, force); !bytes.Equal(got, want) {
			t.Fatalf("AppendBatchMessage\n%s\nMarshal\n%s", got, want)
		}
		want, err = Marshal(StoredMessage{Offset: rec.Offset, Message: v, Key: k, Encoding: enc, Headers: wh, Timestamp: rec.Timestamp,
			ProducerID: rec.ProducerID, ProducedAt: rec.ProducedAt})
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendStoredMessage(nil, &rec, force); !bytes.Equal(got, want) {
			t.Fatalf("AppendStoredMessage\n%s\nMarshal\n%s", got, want)
		}
	}
}

// A text record is appended without the codec (and without allocating).
func TestAppendTextMessageAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	rec := StoredRecord{Offset: 7, Key: []byte("key"), Value: []byte(strings.Repeat("abcdefghij", 10)), Timestamp: 1_700_000_000_000}
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { AppendBatchMessage(buf[:0], "bench", 1, &rec, false) }); n != 0 {
		t.Fatalf("%v allocations per text message; want 0", n)
	}
}

// 10,000 records of 100 bytes as a broker's consume answers them: the
// appender against building BatchMessages for the codec.
func BenchmarkAppendMessages(b *testing.B) {
	recs := make([]StoredRecord, 10000)
	for i := range recs {
		recs[i] = StoredRecord{Offset: int64(i), Value: []byte(strings.Repeat("abcdefghij", 10)), Timestamp: 1_700_000_000_000}
	}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf := make([]byte, 0, 10000*200)
			for i := range recs {
				buf = AppendBatchMessage(buf, "bench", 1, &recs[i], false)
			}
		}
	})
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out := make([]BatchMessage, len(recs))
			for i := range recs {
				r := &recs[i]
				k, v, wh, enc := EncodeRecord(r.Key, r.Value, r.Headers, false)
				out[i] = BatchMessage{Topic: "bench", Partition: 1, Offset: r.Offset, Message: v, Key: k, Encoding: enc, Headers: wh, Timestamp: r.Timestamp}
			}
			Marshal(BatchMessagesAnswer{Status: StatusSuccess, Topic: "bench", Partition: 1, Shape: ShapeBatch, Count: len(out), Messages: out})
		}
	})
}

// plainWord agrees with plainByte on every byte at every place of a word
// (it is stricter on bytes from 0x80, which the byte loop then looks at).
func TestPlainWord(t *testing.T) {
	for c := range 256 {
		for at := range 8 {
			w := uint64(0x6161616161616161)&^(0xff<<(8*at)) | uint64(c)<<(8*at)
			got, want := plainWord(w), plainByte[c]
			if got != want && !(c >= 0x80 && !got) {
				t.Fatalf("byte %#x at %d: plainWord %v, plainByte %v", c, at, got, want)
			}
		}
	}
}
