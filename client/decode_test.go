package client

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/logq/logq/api"
)

// genericDecode is what the generic codec makes of an answer.
func genericDecode(t testing.TB, data []byte, topic string, partition int) []Message {
	t.Helper()
	var out struct {
		Messages  []wireMessage `json:"messages"`
		Partition *int          `json:"partition"`
	}
	if err := api.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if out.Partition != nil {
		partition = *out.Partition
	}
	msgs := make([]Message, len(out.Messages))
	for i, m := range out.Messages {
		p := partition
		if m.Partition != nil {
			p = *m.Partition
		}
		msgs[i] = Message{Topic: topic, Partition: p, Offset: m.Offset}
		msgs[i].fromWire(m.Encoding, m.Message, m.Key, m.Headers, m.Timestamp)
	}
	return msgs
}

// randomText is text with what JSON escapes: quotes, backslashes, control
// characters, HTML's characters, U+2028, and characters beyond the BMP.
func randomText(r *rand.Rand) string {
	parts := []string{"a", "bc", `"`, `\`, "\n", "\t", "\x01", "<", ">", "&", "\u2028", "é", "😀", "/", " ", "\u007f"}
	var b strings.Builder
	for range r.IntN(12) {
		b.WriteString(parts[r.IntN(len(parts))])
	}
	return b.String()
}

func randomAnswer(r *rand.Rand, n int, batch bool) []byte {
	strp := func(s string) *string { return &s }
	var bms []api.BatchMessage
	for i := range n {
		m := api.BatchMessage{Topic: "t", Partition: r.IntN(3), Offset: int64(i) * 7, Message: randomText(r), Timestamp: r.Int64N(api.MaxTimestamp)}
		if r.IntN(2) == 0 {
			m.Key = strp(randomText(r))
		}
		for range r.IntN(3) {
			h := api.Header{Key: randomText(r)}
			if r.IntN(3) > 0 {
				h.Value = strp(randomText(r))
			}
			m.Headers = append(m.Headers, h)
		}
		if r.IntN(4) == 0 { // bytes
			k, v, hs, enc := api.EncodeRecord([]byte{0xff, byte(i)}, []byte{0, 0xfe, byte(i)}, []api.BinHeader{{Key: "b", Value: []byte{0xc3, 0x28}}}, false)
			m.Key, m.Message, m.Headers, m.Encoding = k, v, hs, enc
		}
		bms = append(bms, m)
	}
	var v any = api.ConsumeBatchAnswer{Status: api.StatusSuccess, Messages: bms}
	if !batch {
		sms := make([]api.StoredMessage, len(bms))
		for i, m := range bms {
			sms[i] = api.StoredMessage{Offset: m.Offset, Message: m.Message, Key: m.Key, Encoding: m.Encoding, Headers: m.Headers, Timestamp: m.Timestamp, ProducerID: 4}
		}
		v = api.MessagesAnswer{Status: api.StatusSuccess, Topic: "t", Partition: 2, Messages: sms}
	}
	b, err := api.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// The scanner reads what the generic codec reads, message for message —
// consume_batch's answers and a broker's, compact or indented — and it is
// the path taken for the servers' answers.
func TestScanAnswerIsTheGenericDecode(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		data := randomAnswer(r, r.IntN(20), i%2 == 0)
		if i%5 == 0 {
			var ind bytes.Buffer
			json.Indent(&ind, data, " ", "\t")
			data = ind.Bytes()
		}
		want := genericDecode(t, data, "t", 1)
		fast := decodeStats.fast.Load()
		a := messagesAnswer{topic: "t", partition: 1}
		if err := a.decodeAnswer(data); err != nil {
			t.Fatal(err)
		}
		if decodeStats.fast.Load() != fast+1 {
			t.Fatalf("answer %s was not scanned", data)
		}
		if !reflect.DeepEqual(a.msgs, want) {
			t.Fatalf("answer %s\nscanned %+v\ngeneric %+v", data, a.msgs, want)
		}
	}
}

// What the scanner does not read goes to the generic codec, which decodes
// it or refuses it as before.
func TestScanAnswerLeavesTheRestToTheCodec(t *testing.T) {
	for _, c := range []struct {
		body string
		ok   bool // the generic codec decodes it
	}{
		{`{"status":"success","messages":[{"offset":1,"message":"a"}],}`, false},
		{`{"status":"success","messages":[{"offset":1,"message":"\x"}]}`, false},
		{`{"status":"success","messages":[{"offset":"1","message":"a"}]}`, false},
		{`{"status":"success","messages":[{"offset":1,"message":"a"}]} {}`, false},
		{`{"status":"success","messages":[{"offset":1.5e3,"message":"a"}]}`, false},
		{`{"status":"success","messages":[{"offset":1,"message":"a","extra":{"x":[1,{"y":null}]}}],"skipped_partitions":[1,2]}`, true},
	} {
		a := messagesAnswer{topic: "t"}
		err := a.decodeAnswer([]byte(c.body))
		if (err == nil) != c.ok {
			t.Errorf("decode %s: %v", c.body, err)
		}
		if err == nil && (len(a.msgs) != 1 || a.msgs[0].Value != "a" || a.msgs[0].Offset != 1) {
			t.Errorf("decode %s = %+v", c.body, a.msgs)
		}
	}
}

func FuzzScanAnswer(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 8 {
		f.Add(randomAnswer(r, 3, i%2 == 0))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if api.CheckText(data) != nil {
			return
		}
		msgs, _, ok := scanAnswer(string(data), "t", 0)
		if !ok {
			return
		}
		var out struct {
			Messages  []wireMessage `json:"messages"`
			Partition *int          `json:"partition"`
		}
		if err := api.Unmarshal(data, &out); err != nil {
			return // lenient where the codec is strict (a raw control character, say)
		}
		if want := genericDecode(t, data, "t", 0); !reflect.DeepEqual(msgs, want) {
			t.Fatalf("answer %q\nscanned %+v\ngeneric %+v", data, msgs, want)
		}
	})
}

// pollAnswer is a consume_batch answer of n messages of 100 bytes.
func pollAnswer(n int) []byte {
	msgs := make([]api.BatchMessage, n)
	for i := range msgs {
		msgs[i] = api.BatchMessage{Topic: "bench", Partition: 1, Offset: int64(i), Message: strings.Repeat("abcdefghij", 10), Timestamp: 1_700_000_000_000 + int64(i)}
	}
	b, _ := api.Marshal(api.ConsumeBatchAnswer{Status: api.StatusSuccess, Messages: msgs})
	return b
}

// A poll's answer of 10,000 messages: the scanner, against the generic
// codec as Poll used it before (an api.ConsumeBatchAnswer, then fromWire).
func BenchmarkDecodePoll(b *testing.B) {
	data := pollAnswer(10000)
	b.Run("scanner", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			a := messagesAnswer{topic: "bench"}
			if err := a.decodeAnswer(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("codec", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var out api.ConsumeBatchAnswer
			if err := api.Unmarshal(data, &out); err != nil {
				b.Fatal(err)
			}
			msgs := make([]Message, len(out.Messages))
			for i, m := range out.Messages {
				msgs[i] = Message{Topic: "bench", Partition: m.Partition, Offset: m.Offset}
				msgs[i].fromWire(m.Encoding, m.Message, m.Key, m.Headers, m.Timestamp)
			}
		}
	})
}

// The servers' text messages are read in their own form, not as any
// object: the canonical path is the one taken.
func TestScanAnswerReadsCanonicalMessages(t *testing.T) {
	before := canonicalMessages.Load()
	a := messagesAnswer{topic: "bench"}
	if err := a.decodeAnswer(pollAnswer(100)); err != nil || len(a.msgs) != 100 {
		t.Fatalf("decode: %v, %d messages", err, len(a.msgs))
	}
	if n := canonicalMessages.Load() - before; n < 100 {
		t.Fatalf("%d of 100 messages read in the canonical form", n)
	}
	if m := a.msgs[7]; m.Offset != 7 || m.Partition != 1 || m.Value != strings.Repeat("abcdefghij", 10) || m.Timestamp.UnixMilli() != 1_700_000_000_007 || m.Topic != "bench" {
		t.Fatalf("message 7 = %+v", m)
	}
}

// A manager's fetch answer: its messages scanned, its partitions' marks
// and errors as the codec reads them.
func TestScanFetchAnswer(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for range 50 {
		batch := randomAnswer(r, r.IntN(10), true)
		var cb api.ConsumeBatchAnswer
		if err := api.Unmarshal(batch, &cb); err != nil {
			t.Fatal(err)
		}
		fa := api.FetchAnswer{Status: api.StatusSuccess, Topic: "t", Messages: cb.Messages, Partitions: []api.FetchedPartition{
			{Partition: 0, NextOffset: 4, HighWatermark: 9, LogStartOffset: 1},
			{Partition: 1, NextOffset: 2, Error: &api.ItemFailure{Code: "unavailable", Message: "broker <2> is down"}},
		}}
		data, _ := api.Marshal(fa)
		fast := decodeStats.fast.Load()
		a := messagesAnswer{topic: "t"}
		if err := a.decodeAnswer(data); err != nil || decodeStats.fast.Load() != fast+1 {
			t.Fatalf("fetch answer %s: %v (not scanned?)", data, err)
		}
		if want := genericDecode(t, data, "t", 0); !reflect.DeepEqual(a.msgs, want) || !reflect.DeepEqual(a.partitions, fa.Partitions) {
			t.Fatalf("fetch answer %s\nscanned %+v %+v", data, a.msgs, a.partitions)
		}
	}
}
