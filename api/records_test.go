package api

import (
	"errors"
	"strings"
	"testing"

	"github.com/logq/logq"
)

func TestRecordEncoding(t *testing.T) {
	for _, c := range []struct {
		key, value []byte
		hs         []BinHeader
		force      bool
		b64        bool
	}{
		{nil, []byte("text"), nil, false, false},
		{[]byte("k"), []byte("a\x00b"), []BinHeader{{Key: "h", Value: []byte("v")}, {Key: "n"}}, false, false},
		{nil, []byte{0xff}, nil, false, true},
		{[]byte{0xc3, 0x28}, []byte("ok"), nil, false, true},
		{nil, []byte("ok"), []BinHeader{{Key: "b", Value: []byte{0x80}}}, false, true},
		{[]byte{}, []byte{}, nil, true, true},
	} {
		k, v, wh, enc := EncodeRecord(c.key, c.value, c.hs, c.force)
		if (enc == EncodingBase64) != c.b64 {
			t.Errorf("EncodeRecord(%q, %q) encoding %q", c.key, c.value, enc)
		}
		dk, dv, dh, err := DecodeRecord(enc, v, k, wh)
		if err != nil || string(dk) != string(c.key) || (dk == nil) != (c.key == nil) || string(dv) != string(c.value) || len(dh) != len(c.hs) {
			t.Errorf("round trip of %q, %q: %q, %q, %v, %v", c.key, c.value, dk, dv, dh, err)
		}
		for i := range dh {
			if dh[i].Key != c.hs[i].Key || string(dh[i].Value) != string(c.hs[i].Value) || (dh[i].Value == nil) != (c.hs[i].Value == nil) {
				t.Errorf("header %d: %+v; want %+v", i, dh[i], c.hs[i])
			}
		}
	}
	// Re-encoding a text record as base64 decodes to the same bytes.
	key := "k"
	v, k, _, enc := Reencode("", "text", &key, nil)
	if dk, dv, _, err := DecodeRecord(enc, v, k, nil); err != nil || string(dk) != "k" || string(dv) != "text" || enc != EncodingBase64 {
		t.Fatalf("Reencode: %q %q %v", dk, dv, err)
	}
	if p := PickKey(EncodingBase64, k); p == nil || *p != "k" {
		t.Fatalf("PickKey = %v", p)
	}
}

func TestCheckRecord(t *testing.T) {
	if err := CheckRecord(EncodingBase64, "!!", nil, nil, 10); !errors.Is(err, logq.ErrInvalid) {
		t.Fatalf("bad base64: %v", err)
	}
	// The limit counts decoded bytes: 8 bytes are 12 of base64.
	if err := CheckRecord(EncodingBase64, "AAAAAAAAAAA=", nil, nil, 8); err != nil {
		t.Fatalf("8 bytes in base64 against an 8-byte limit: %v", err)
	}
	v := "v"
	if err := CheckRecord("", "12345", nil, []Header{{Key: "abc", Value: &v}}, 8); !errors.Is(err, logq.ErrTooLarge) {
		t.Fatalf("headers count against the limit: %v", err)
	}
}

func TestProduceRecordFields(t *testing.T) {
	decode := func(body string) (ProduceRequest, error) {
		var p ProduceParams
		if err := Decode(req("POST", "/x", "application/json", ""), []byte(body), &p); err != nil {
			return ProduceRequest{}, err
		}
		return p.Request(1 << 20)
	}
	r, err := decode(`{"producer_id":1,"message":"AP8=","encoding":"base64","headers":[{"key":"a","value":"YQ=="},{"key":"n","value":null}],"timestamp":5,"producer_epoch":2,"sequence":7}`)
	if err != nil || r.Encoding != EncodingBase64 || len(r.Headers) != 2 || r.Headers[1].Value != nil || *r.Timestamp != 5 || *r.ProducerEpoch != 2 || *r.Sequence != 7 {
		t.Fatalf("produce = %+v, %v", r, err)
	}
	for _, bad := range []string{
		`{"producer_id":1,"message":"m","encoding":"hex"}`,
		`{"producer_id":1,"message":"m","sequence":1}`,
		`{"producer_id":1,"message":"m","producer_epoch":1}`,
		`{"producer_id":1,"message":"m","producer_epoch":40000,"sequence":1}`,
		`{"producer_id":1,"message":"m","sequence":-1,"producer_epoch":0}`,
		`{"producer_id":1,"message":"m","timestamp":1.5}`,
		`{"producer_id":1,"message":"m","headers":[{"value":"x"}]}`,
		`{"producer_id":1,"message":"m","headers":"x"}`,
		`{"producer_id":1,"message":"%%","encoding":"base64"}`,
	} {
		if _, err := decode(bad); err == nil || logq.ErrorCode(err) != logq.EInvalid {
			t.Errorf("%s: %v; want invalid", bad, err)
		}
	}
}

func TestFetchAndOffsetsParams(t *testing.T) {
	fetch := func(q string) (FetchRequest, error) {
		var p FetchParams
		if err := Decode(req("GET", "/x?"+q, "", ""), nil, &p); err != nil {
			return FetchRequest{}, err
		}
		return p.Request()
	}
	r, err := fetch("topic=t&offsets=0:5,%202:7&max=3&max_bytes=10&wait_ms=20&encoding=base64")
	if err != nil || len(r.From) != 2 || r.From[0] != 5 || r.From[2] != 7 || r.Max != 3 || r.MaxBytes != 10 || r.WaitMS != 20 || r.Encoding != EncodingBase64 {
		t.Fatalf("fetch = %+v, %v", r, err)
	}
	if r, err := fetch("topic=t&partition=1&offset=9"); err != nil || r.From[1] != 9 || len(r.From) != 1 || r.Max != DefaultConsumeMax {
		t.Fatalf("fetch of one partition = %+v, %v", r, err)
	}
	for _, q := range []string{"topic=t", "partition=0&offset=0", "topic=t&partition=0", "topic=t&offset=0", "topic=t&offsets=0:0&partition=0&offset=0",
		"topic=t&offsets=", "topic=t&offsets=a:b", "topic=t&offsets=0:1,0:2", "topic=t&offsets=0:-1", "topic=t&offsets=0:0&max=0", "topic=t&offsets=0:0&wait_ms=99999999"} {
		if _, err := fetch(q); logq.ErrorCode(err) != logq.EInvalid {
			t.Errorf("fetch?%s: %v; want invalid", q, err)
		}
	}
	offs := func(q string) (OffsetsRequest, error) {
		var p OffsetsParams
		if err := Decode(req("GET", "/x?"+q, "", ""), nil, &p); err != nil {
			return OffsetsRequest{}, err
		}
		return p.Request()
	}
	for q, want := range map[string]int64{"topic=t": OffsetLatest, "topic=t&at=latest": OffsetLatest, "topic=t&at=earliest": OffsetEarliest, "topic=t&at=1700000000000": 1700000000000} {
		if r, err := offs(q); err != nil || r.At != want {
			t.Errorf("offsets?%s = %+v, %v; want at %d", q, r, err, want)
		}
	}
	for _, q := range []string{"topic=t&at=-1", "topic=t&at=soon", "at=latest"} {
		if _, err := offs(q); logq.ErrorCode(err) != logq.EInvalid {
			t.Errorf("offsets?%s: %v; want invalid", q, err)
		}
	}
	if q := (OffsetsRequest{Topic: "t", At: OffsetEarliest}).Query().Encode(); !strings.Contains(q, "at=earliest") {
		t.Fatalf("query %s", q)
	}
}
