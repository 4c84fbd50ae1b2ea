package client

import (
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/logq/logq/api"
)

// TestWireRecordText: wireRecord gives what api.EncodeRecord gives for
// every record, and a text record without headers keeps its value's
// bytes (not copied twice on the way to the wire: the fast path is taken).
func TestWireRecordText(t *testing.T) {
	recs := []Record{
		{Value: "plain"},
		{Value: "é", Key: "k", Timestamp: time.UnixMilli(1700000000123)},
		{Value: "v", Key: "\xff"},
		{Value: "\xfe\x00"},
		{Value: "h", Headers: []Header{{Key: "a", Value: []byte("b")}, {Key: "n"}}},
		{Value: "", Key: ""},
	}
	for _, rec := range recs {
		v, k, hs, enc, ts := wireRecord(rec)
		var key []byte
		if rec.Key != "" {
			key = []byte(rec.Key)
		}
		var bh []api.BinHeader
		for _, h := range rec.Headers {
			bh = append(bh, api.BinHeader{Key: h.Key, Value: h.Value})
		}
		wk, wv, wh, wenc := api.EncodeRecord(key, []byte(rec.Value), bh, false)
		if v != wv || !reflect.DeepEqual(k, wk) || !reflect.DeepEqual(hs, wh) || enc != wenc {
			t.Errorf("%+v: got %q %v %v %q, want %q %v %v %q", rec, v, k, hs, enc, wv, wk, wh, wenc)
		}
		if (ts != nil) != !rec.Timestamp.IsZero() || (ts != nil && *ts != rec.Timestamp.UnixMilli()) {
			t.Errorf("%+v: timestamp %v", rec, ts)
		}
	}
	rec := Record{Value: "some text", Key: "k"}
	if v, _, _, _, _ := wireRecord(rec); unsafe.StringData(v) != unsafe.StringData(rec.Value) {
		t.Fatal("a text record's value was copied (the fast path was bypassed)")
	}
}
