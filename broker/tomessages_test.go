package broker

import (
	"bytes"
	"testing"
	"time"

	"github.com/logq/logq/api"
)

// TestToMessagesSlab: text records' bytes are the ones DecodeRecord gives,
// copied into one slab (a handful of allocations for 100 records, not one
// or two each); base64 records and headers still decode through it.
func TestToMessagesSlab(t *testing.T) {
	k, e, v, ts := "key", "", "dg==", int64(1700000000000)
	in := []api.AppendMessage{
		{ProducerID: 1, Message: "a"},
		{ProducerID: 2, Message: "", Key: &e, Timestamp: &ts},
		{ProducerID: 3, Message: "bc", Key: &k},
		{ProducerID: 4, Message: "dg==", Key: &v, Encoding: api.EncodingBase64},
		{ProducerID: 5, Message: "h", Headers: []api.Header{{Key: "x", Value: &k}, {Key: "n"}}},
	}
	got, err := toMessages(in)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range in {
		wk, wv, wh, err := api.DecodeRecord(m.Encoding, m.Message, m.Key, m.Headers)
		if err != nil {
			t.Fatal(err)
		}
		g := got[i]
		if g.ProducerID != m.ProducerID || !bytes.Equal(g.Value, wv) || g.Value == nil || !bytes.Equal(g.Key, wk) || (g.Key == nil) != (wk == nil) || len(g.Headers) != len(wh) {
			t.Errorf("%d: got %+v, want key %q value %q headers %v", i, g, wk, wv, wh)
		}
		if (m.Timestamp != nil) != !g.Timestamp.IsZero() || (m.Timestamp != nil && !g.Timestamp.Equal(time.UnixMilli(*m.Timestamp))) {
			t.Errorf("%d: timestamp %v", i, g.Timestamp)
		}
	}
	// Appending to one record's bytes must not write over the next's.
	_ = append(got[0].Value, 'z')
	if string(got[1].Key) != "" || string(got[2].Value) != "bc" {
		t.Fatalf("records share capacity: %q %q", got[1].Key, got[2].Value)
	}
	if raceEnabled {
		return
	}
	many := make([]api.AppendMessage, 100)
	for i := range many {
		many[i] = api.AppendMessage{ProducerID: 1, Message: "some text", Key: &k}
	}
	if n := testing.AllocsPerRun(20, func() {
		if _, err := toMessages(many); err != nil {
			t.Fatal(err)
		}
	}); n > 3 {
		t.Fatalf("%v allocations for 100 text records, want at most 3 (the slab was bypassed)", n)
	}
}
