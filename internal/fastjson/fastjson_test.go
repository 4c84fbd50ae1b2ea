package fastjson

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"
)

var stringSeeds = []string{
	"", "hello", "a\"b\\c", "<tag>&amp;", "tab\there\nnl\rcr\b\f", "\x00\x01\x1f\x7f", "é ü 日本 🎉",
	"\u2028\u2029", "bad \xff utf8 \xc3", string(bytes.Repeat([]byte("x"), 100)),
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range stringSeeds {
		checkAppendString(t, s)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add(s)
	}
	f.Fuzz(checkAppendString)
}

func checkAppendString(t *testing.T, s string) {
	want, _ := json.Marshal(s)
	if got := AppendString(nil, s); !bytes.Equal(got, want) {
		t.Fatalf("AppendString(%q) = %s, encoding/json: %s", s, got, want)
	}
}

var docSeeds = []string{
	`{}`, `{"a":1}`, ` { "a" : [1, -2.5e3, "x", true, false, null, {"b": {}}], "c": "d" } `,
	`{"topic":"t","producer_id":7,"messages":[{"message":"hi","key":"k"},"plain",{"message":"x\"y","partition":2}]}`,
	`{"a":"\u00e9\ud83c\udf89\ud800\u0041\udc00x\\\/\b\f\n\r\t"}`, `{"a":"\ud800"}`, `{"a":"\ud800\ud800"}`,
	`{"a":1,"a":2}`, `{"a":01}`, `{"a":-}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":-0}`, `{"a":-0.0e+1}`,
	`{"a":"\x01"}`, `{"a":"\'"}`, `{"a":"\q"}`, `{"a":"\u12"}`, `{"a":tru}`, `{"a":nul}`, `{"a":1,}`, `{,}`,
	`{"a":1}x`, `{"a":1} `, `[1]`, `"s"`, `{"a":[1,]}`, `{"a":[,1]}`, `{"a" 1}`, `{"a":"é\xff"}`, `{"\xff":1}`,
	`{"a":99999999999999999999999}`, `{"a":1E400}`, `{`, ``, `{"a":{"b":{"c":[[[[]]]]}}}`,
}

// TestDecodeObjectMatchesEncodingJSON: whenever DecodeObject succeeds, it
// gives what encoding/json gives (and encoding/json succeeds too).
func TestDecodeObjectMatchesEncodingJSON(t *testing.T) {
	for _, s := range docSeeds {
		checkDecodeObject(t, []byte(s))
	}
	deep := bytes.Repeat([]byte(`{"a":`), 2000)
	if _, ok := DecodeObject(append(deep, bytes.Repeat([]byte("}"), 2000)...)); ok {
		t.Fatal("decoded a document nested 2000 deep")
	}
}

func FuzzDecodeObject(f *testing.F) {
	for _, s := range docSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkDecodeObject)
}

func checkDecodeObject(t *testing.T, b []byte) {
	got, ok := DecodeObject(b)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var want map[string]any
	err := dec.Decode(&want)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = terr
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
		}
	}
	if !ok {
		return // the caller falls back to encoding/json
	}
	if err != nil || want == nil {
		t.Fatalf("DecodeObject(%q) succeeded; encoding/json: %v (%v)", b, err, want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeObject(%q) = %#v; encoding/json: %#v", b, got, want)
	}
	// Strings and integers read alone agree too.
	for _, v := range got {
		raw, _ := json.Marshal(v)
		d := NewDecoder(raw)
		switch v := v.(type) {
		case string:
			if s, ok := d.String(); !ok || s != v {
				t.Fatalf("String(%s) = %q, %v; want %q", raw, s, ok, v)
			}
			s, text, ok := NewDecoder(raw).StringRaw()
			if !ok || s != v || !bytes.Equal(text, raw) {
				t.Fatalf("StringRaw(%s) = %q, %s, %v; want %q and the input", raw, s, text, ok, v)
			}
		case json.Number:
			var n int64
			jerr := json.Unmarshal(raw, &n)
			m, ok := d.Int()
			if ok && (jerr != nil || m != n) {
				t.Fatalf("Int(%s) = %d; encoding/json: %d, %v", raw, m, n, jerr)
			}
			if !ok && jerr == nil {
				t.Fatalf("Int(%s) failed; encoding/json: %d", raw, n)
			}
		}
	}
}

func BenchmarkDecodeObject(b *testing.B) {
	doc := []byte(`{"topic":"bench","producer_id":1,"messages":[`)
	for i := range 1000 {
		if i > 0 {
			doc = append(doc, ',')
		}
		doc = append(doc, `{"message":"m1234:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`...)
	}
	doc = append(doc, "]}"...)
	b.SetBytes(int64(len(doc)))
	b.Run("fastjson", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := DecodeObject(doc); !ok {
				b.Fatal("failed")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			dec := json.NewDecoder(bytes.NewReader(doc))
			dec.UseNumber()
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
