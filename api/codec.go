package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	json "github.com/goccy/go-json"
)

// The one JSON codec of the wire contract. Every request and answer of the
// HTTP APIs is encoded and decoded here, so the library behind it is a
// one-file choice: goccy/go-json, chosen by the benchmark of
// internal/codecbench (docs/benchmarks.md): it encodes byte for byte as
// encoding/json does and is the fastest of the maintained libraries on
// batched produce and consume. Like every codec measured, it replaces
// invalid UTF-8 and lone surrogates with U+FFFD when decoding: Unmarshal
// refuses them first.

// RawMessage is an undecoded JSON value.
type RawMessage = json.RawMessage

// Marshal encodes v as JSON.
func Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes one JSON value into v, strictly: the data must be
// valid UTF-8, hold nothing after the value and no lone UTF-16 surrogate
// escape (which a decoder would otherwise turn into U+FFFD silently).
func Unmarshal(data []byte, v any) error {
	if err := CheckText(data); err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// CheckText refuses JSON that is not valid Unicode text: invalid UTF-8, or
// an escaped UTF-16 surrogate that is not half of a pair. Every codec
// internal/codecbench measured would decode either as U+FFFD silently.
func CheckText(data []byte) error {
	if !utf8.Valid(data) {
		return errInvalidUTF8
	}
	return checkSurrogates(data)
}

// DecodeReader reads r to its end and decodes it into v, as Unmarshal
// does: for answers read from a peer.
func DecodeReader(r io.Reader, v any) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return Unmarshal(data, v)
}

// decodeTrusted decodes a fragment of a value Unmarshal has checked already
// (in a custom UnmarshalJSON).
func decodeTrusted(data []byte, v any) error { return json.Unmarshal(data, v) }

// unquote decodes a JSON string of a body Unmarshal has checked (so it is
// valid UTF-8 and ends in a quote). A string without escapes or control
// characters, nearly every one, is its bytes between the quotes: one
// allocation instead of a trip through the codec, which copies its input
// first (TestUnquoteAllocs fails when this path is bypassed).
func unquote(b []byte, dst *string) error {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && plainString(b[1:len(b)-1]) {
		*dst = string(b[1 : len(b)-1])
		return nil
	}
	return decodeTrusted(b, dst)
}

// plainString reports whether s needs no unescaping: no backslash, no
// quote and no control character (which JSON forbids unescaped).
func plainString(s []byte) bool {
	if bytes.IndexByte(s, '\\') >= 0 || bytes.IndexByte(s, '"') >= 0 {
		return false
	}
	for _, c := range s {
		if c < 0x20 {
			return false
		}
	}
	return true
}

var errInvalidUTF8 = errors.New("not valid UTF-8")

// checkSurrogates refuses a \uXXXX escape of a UTF-16 surrogate that is not
// a high surrogate followed by an escaped low one.
func checkSurrogates(data []byte) error {
	for i := 0; i < len(data); i++ {
		// Jump to the next escape: most bodies have none, and IndexByte
		// scans many bytes at a time.
		j := bytes.IndexByte(data[i:], '\\')
		if j < 0 {
			return nil
		}
		i += j
		if i+1 >= len(data) {
			return nil // a syntax error, for the decoder to report
		}
		if data[i+1] != 'u' {
			i++ // an escaped character: skip it (\\ included)
			continue
		}
		r, ok := hex4(data, i+2)
		if !ok {
			return nil
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			lo, ok := rune(0), false
			if i+7 < len(data) && data[i+6] == '\\' && data[i+7] == 'u' {
				lo, ok = hex4(data, i+8)
			}
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return fmt.Errorf("lone UTF-16 surrogate \\u%04x at byte %d", r, i)
			}
			i += 11
		case r >= 0xDC00 && r <= 0xDFFF:
			return fmt.Errorf("lone UTF-16 surrogate \\u%04x at byte %d", r, i)
		default:
			i += 5
		}
	}
	return nil
}

func hex4(data []byte, at int) (rune, bool) {
	if at+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// syntaxText describes a decoding error without echoing the input.
func syntaxText(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("%s at byte %d", syn.Error(), syn.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		return typ.Field + " has the wrong type"
	case errors.As(err, &typ):
		return "not a JSON object of the expected shape"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "unexpected end of input"
	case errors.Is(err, errInvalidUTF8):
		return "not valid UTF-8"
	}
	return err.Error()
}
