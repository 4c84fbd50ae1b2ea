package codecbench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/logq/logq/api"
	"github.com/logq/logq/internal/codecbench/fastjson"
)

// TestSameValues checks the benchmark is fair: every library decodes what
// every library encodes into the values encoding/json gives, and the hand
// decoders accept the fixture (no fallback to encoding/json inside the
// measured steps).
func TestSameValues(t *testing.T) {
	f := newFixture()
	for _, enc := range libraries {
		for _, dec := range libraries {
			roundTrip(t, enc, dec, f.produceBatch, &produceBatchRequest{})
			roundTrip(t, enc, dec, f.appendReq, &appendRequest{})
			roundTrip(t, enc, dec, f.appendAns, &appendAnswer{})
			roundTrip(t, enc, dec, f.produceAns, &produceBatchAnswer{})
			roundTrip(t, enc, dec, f.consumeReq, &consumeRequest{})
			roundTrip(t, enc, dec, f.messagesAns, &messagesAnswer{})
			roundTrip(t, enc, dec, f.consumeAns, &consumeBatchAnswer{})
		}
	}
	// A lenient integer as a numeric string, through every library.
	for _, c := range libraries {
		var v appendRequest
		if err := c.unmarshal([]byte(`{"topic":"t","partition":"3","messages":[{"producer_id":"9","message":"m"}]}`), &v); err != nil || v.Partition != 3 || v.Messages[0].ProducerID != 9 {
			t.Errorf("%s: lenient integers: %+v, %v", c.name, v, err)
		}
	}
	for _, s := range append(handProduce(f), handConsume(f)...) {
		if err := s.run(); err != nil {
			t.Errorf("hand %s: %v", s.name, err)
		}
	}
}

func roundTrip(t *testing.T, enc, dec codec, in any, out any) {
	t.Helper()
	b, err := enc.marshal(in)
	if err != nil {
		t.Fatalf("%s marshal %T: %v", enc.name, in, err)
	}
	if err := dec.unmarshal(b, out); err != nil {
		t.Fatalf("%s unmarshal of %s's %T: %v", dec.name, enc.name, in, err)
	}
	want := reflect.New(reflect.TypeOf(in)).Interface()
	if err := json.Unmarshal(mustJSON(in), want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("%s → %s: %T differs from encoding/json's", enc.name, dec.name, in)
	}
}

// What a codec does with a string that is not valid Unicode.
const (
	refuses  = "refuses"          // an error
	replaces = "replaces"         // U+FFFD in its place
	keeps    = "keeps"            // the invalid bytes passed on as they are
	escapes  = "writes \\ufffd"   // (encoding) U+FFFD, escaped
	raw      = "writes raw bytes" // (encoding) invalid UTF-8 in the output
)

// strictness is what each codec was seen doing (TestStrictness keeps it
// true): decoding a lone surrogate escape, decoding invalid UTF-8 inside a
// string, encoding a Go string holding invalid UTF-8.
var strictness = map[string][3]string{
	"encoding/json":      {replaces, replaces, escapes},
	"goccy/go-json":      {replaces, replaces, escapes},
	"segmentio/encoding": {replaces, replaces, escapes},
	"sonic-std":          {replaces, replaces, escapes},
	"sonic-default":      {replaces, keeps, raw},
	"sonic-copy":         {replaces, keeps, raw},
	handName:             {replaces, replaces, escapes},
}

// TestStrictness records how each codec treats `"\ud800"` and invalid
// UTF-8, decoding and encoding: none refuses them, so logq's wrapper must
// check for them itself (docs/benchmarks.md).
func TestStrictness(t *testing.T) {
	decodeCases := [][]byte{
		[]byte(`{"message":"a\ud800b"}`),   // lone surrogate
		[]byte("{\"message\":\"a\xffb\"}"), // invalid UTF-8
	}
	type msg struct {
		Message string `json:"message"`
	}
	got := map[string][3]string{}
	decode := func(unmarshal func([]byte, any) error, in []byte) string {
		var m msg
		if err := unmarshal(in, &m); err != nil {
			return refuses
		}
		return classify(m.Message)
	}
	encode := func(marshal func(any) ([]byte, error)) string {
		b, err := marshal(msg{Message: "a\xffb"})
		switch {
		case err != nil:
			return refuses
		case bytes.Contains(b, []byte(`\ufffd`)):
			return escapes
		case !utf8.Valid(b):
			return raw
		}
		return "other: " + string(b)
	}
	for _, c := range libraries {
		got[c.name] = [3]string{decode(c.unmarshal, decodeCases[0]), decode(c.unmarshal, decodeCases[1]), encode(c.marshal)}
	}
	// The hand codec as used: fastjson's decoder (encoding/json when it
	// declines), fastjson.AppendString.
	hand := func(in []byte, v any) error {
		d := fastjson.NewDecoder(in)
		ok := d.Object(func(k string) bool {
			s, ok := d.String()
			v.(*msg).Message = s
			return ok
		})
		if !ok || !d.End() {
			return json.Unmarshal(in, v)
		}
		return nil
	}
	got[handName] = [3]string{decode(hand, decodeCases[0]), decode(hand, decodeCases[1]),
		encode(func(v any) ([]byte, error) { return fastjson.AppendString(nil, v.(msg).Message), nil })}

	var table strings.Builder
	fmt.Fprintf(&table, "%-20s %-10s %-10s %s\n", "codec", `"\ud800"`, "bad UTF-8", "encoding bad UTF-8")
	for _, name := range append(namesOf(libraries), handName) {
		g := got[name]
		fmt.Fprintf(&table, "%-20s %-10s %-10s %s\n", name, g[0], g[1], g[2])
		if g != strictness[name] {
			t.Errorf("%s: got %q, recorded %q", name, g, strictness[name])
		}
	}
	t.Logf("\n%s", table.String())
}

func classify(s string) string {
	switch {
	case !utf8.ValidString(s):
		return keeps
	case strings.ContainsRune(s, utf8.RuneError):
		return replaces
	}
	return "other: " + s
}

func namesOf(cs []codec) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.name)
	}
	return out
}

// validText is logq's own check (api.CheckText), which every decode of a
// request body runs first, since none of the codecs refuses invalid UTF-8
// or a lone surrogate (TestStrictness); its cost is BenchmarkStrictCheck's.
func validText(b []byte) bool { return api.CheckText(b) == nil }

func TestValidText(t *testing.T) {
	for in, want := range map[string]bool{
		`{"message":"plain"}`:               true,
		`{"message":"\u00e9\n\"\\"}`:        true,
		`{"message":"\ud83d\ude00"}`:        true, // a pair
		`{"message":"\\ud800"}`:             true, // an escaped backslash, then text
		`{"message":"\\\ud800"}`:            false,
		`{"message":"\ud800"}`:              false,
		`{"message":"\udc00"}`:              false,
		`{"message":"\ud800\u0041"}`:        false,
		`{"message":"\ud800\ud800"}`:        false,
		`{"message":"\ud800`:                false,
		"{\"message\":\"a\xffb\"}":          false,
		"{\"message\":\"\xed\xa0\x80\"}":    false, // a surrogate in UTF-8
		`{"message":"\uD83D\uDE00 \uFFFD"}`: true,
		`{"message":"\u12"}`:                true, // not JSON: left to the decoder
	} {
		if got := validText([]byte(in)); got != want {
			t.Errorf("validText(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestSameBytes records which libraries encode byte for byte as
// encoding/json does (HTML characters, U+2028, control characters and
// invalid UTF-8 included): those can replace it without any answer's
// bytes changing.
func TestSameBytes(t *testing.T) {
	f := newFixture()
	odd := "<a href='x'>&amp;</a>\u2028\u2029\x00\x1f\x7f\"\\/é\xff 😀"
	f.consumeAns.Messages[0].Message = odd
	f.appendReq.Messages[0].Message = odd
	same := map[string]bool{"encoding/json": true, "goccy/go-json": true, "segmentio/encoding": true, "sonic-std": true}
	for _, c := range libraries {
		got := true
		for _, v := range []any{f.produceBatch, f.appendReq, f.appendAns, f.produceAns, f.consumeReq, f.messagesAns, f.consumeAns} {
			if !bytes.Equal(must(c.marshal(v)), mustJSON(v)) {
				got = false
			}
		}
		if got != same[c.name] {
			t.Errorf("%s: same bytes as encoding/json: %v, recorded %v", c.name, got, same[c.name])
		}
	}
}
