// Package fastjson is the hand-written JSON codec logq's hot paths used
// before the codec comparison (package codecbench, docs/benchmarks.md "JSON
// codec") chose goccy/go-json. Nothing in logq uses it any more: it is kept
// only as that comparison's baseline, so the figures stay reproducible (the
// parts the comparison does not call, the map decoding of the old lenient
// path, are gone).
//
// It is not a general JSON library. The encoder appends strings and
// numbers exactly as encoding/json writes them. The decoder is a cursor
// over one document that reads what its caller expects; anything it is not
// sure about (invalid UTF-8, a value of another type, too deep a nesting)
// makes it fail, and the caller then falls back to encoding/json, so that
// the result — value or error — is always the one encoding/json gives.
// Tests compare the two on fuzzed input.
package fastjson

import (
	"encoding/json"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

const hex = "0123456789abcdef"

// safe[b] is true for the ASCII bytes encoding/json writes as they are
// (with HTML escaping on, its default).
var safe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

// AppendString appends s as a JSON string, byte for byte as encoding/json
// encodes it: <, > and & escaped, invalid UTF-8 as \ufffd, U+2028 and
// U+2029 escaped.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if safe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendInt appends n as a JSON number.
func AppendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

// maxDepth bounds the nesting Any decodes (encoding/json allows 10,000).
const maxDepth = 1000

// Decoder reads one JSON document. Every method reports failure with false;
// after a failure the decoder stays failed.
type Decoder struct {
	b      []byte
	i      int
	esc    int // see rawString
	failed bool
	depth  int
}

// NewDecoder returns a decoder at the start of b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

func (d *Decoder) fail() bool {
	d.failed = true
	return false
}

func (d *Decoder) skipSpace() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// Peek returns the first byte of the next value ('"', '{', '[', 't', 'f',
// 'n', '-' or a digit), 0 at the end or after a failure.
func (d *Decoder) Peek() byte {
	d.skipSpace()
	if d.failed || d.i >= len(d.b) {
		return 0
	}
	return d.b[d.i]
}

// End reports whether only whitespace is left.
func (d *Decoder) End() bool {
	d.skipSpace()
	return !d.failed && d.i == len(d.b)
}

// Object reads an object, calling member with each key; member must read
// the value (or Skip it) and return true to go on.
func (d *Decoder) Object(member func(key string) bool) bool {
	if d.Peek() != '{' {
		return d.fail()
	}
	d.i++
	if d.Peek() == '}' {
		d.i++
		return true
	}
	for {
		key, ok := d.String()
		if !ok || d.Peek() != ':' {
			return d.fail()
		}
		d.i++
		if !member(key) || d.failed {
			return d.fail()
		}
		switch d.Peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return true
		default:
			return d.fail()
		}
	}
}

// Array reads an array, calling item for each element; item must read the
// element and return true to go on.
func (d *Decoder) Array(item func() bool) bool {
	if d.Peek() != '[' {
		return d.fail()
	}
	d.i++
	if d.Peek() == ']' {
		d.i++
		return true
	}
	for {
		if !item() || d.failed {
			return d.fail()
		}
		switch d.Peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return true
		default:
			return d.fail()
		}
	}
}

// Null reads a null if one is next and reports whether it did.
func (d *Decoder) Null() bool {
	if d.Peek() == 'n' && d.word("null") {
		return true
	}
	return false
}

func (d *Decoder) word(w string) bool {
	if len(d.b)-d.i >= len(w) && string(d.b[d.i:d.i+len(w)]) == w {
		d.i += len(w)
		return true
	}
	return false
}

// Bool reads true or false.
func (d *Decoder) Bool() (v, ok bool) {
	switch d.Peek() {
	case 't':
		if d.word("true") {
			return true, true
		}
	case 'f':
		if d.word("false") {
			return false, true
		}
	}
	return false, d.fail()
}

// Number reads a number and returns its text.
func (d *Decoder) Number() (string, bool) {
	d.skipSpace()
	start := d.i
	if !d.number() {
		return "", false
	}
	return string(d.b[start:d.i]), true
}

// number reads a number.
func (d *Decoder) number() bool {
	d.skipSpace()
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.b) && d.b[d.i] == '0':
		d.i++
	case d.i < len(d.b) && d.b[d.i] >= '1' && d.b[d.i] <= '9':
		d.digits()
	default:
		return d.fail()
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if !d.digits() {
			return d.fail()
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if !d.digits() {
			return d.fail()
		}
	}
	return true
}

func (d *Decoder) digits() bool {
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}

// Int reads an integer that fits an int64 (not 1.0, not 1e3: encoding/json
// refuses those for integer fields).
func (d *Decoder) Int() (int64, bool) {
	d.skipSpace()
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	if !d.digits() || (d.b[start] == '-' && d.b[start+1] == '0' && d.i-start > 2) || (d.b[start] == '0' && d.i-start > 1) {
		return 0, d.fail()
	}
	if d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		return 0, d.fail()
	}
	n, err := strconv.ParseInt(string(d.b[start:d.i]), 10, 64)
	if err != nil {
		return 0, d.fail()
	}
	return n, true
}

// plain[c] is true for the bytes a string holds as they are: not '"', not
// '\\', not a control character, ASCII.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// String reads a string. Invalid UTF-8 in it fails (encoding/json would
// replace it).
func (d *Decoder) String() (string, bool) {
	raw, ok := d.rawString()
	if !ok {
		return "", false
	}
	if raw == nil {
		return d.unescape(d.i, d.esc)
	}
	return string(raw), true
}

// StringLike is String, but returns prev itself (not a copy) when the
// string equals it: for values repeated in every item of a list.
func (d *Decoder) StringLike(prev string) (string, bool) {
	raw, ok := d.rawString()
	if !ok {
		return "", false
	}
	if raw == nil {
		return d.unescape(d.i, d.esc)
	}
	if string(raw) == prev {
		return prev, true
	}
	return string(raw), true
}

// StringRaw reads a string, returning also its JSON text as it stands in
// the input (quotes included), to copy into another document as is. s
// aliases the input when the string holds no escape (no allocation): the
// input must not change while s is in use.
func (d *Decoder) StringRaw() (s string, raw []byte, ok bool) {
	d.skipSpace()
	start := d.i
	b, ok := d.rawString()
	if !ok {
		return "", nil, false
	}
	if b == nil {
		if s, ok = d.unescape(d.i, d.esc); !ok {
			return "", nil, false
		}
	} else if len(b) > 0 {
		s = unsafe.String(&b[0], len(b))
	}
	return s, d.b[start:d.i], true
}

// rawString reads a string without escapes and returns its bytes; for a
// string with escapes it returns nil and sets d.i to its start and d.esc to
// its first escape, for unescape.
func (d *Decoder) rawString() ([]byte, bool) {
	if d.Peek() != '"' {
		return nil, d.fail()
	}
	start := d.i + 1
	j := start
	for {
		for j < len(d.b) && plain[d.b[j]] {
			j++
		}
		if j >= len(d.b) {
			return nil, d.fail()
		}
		switch c := d.b[j]; {
		case c == '"':
			s := d.b[start:j]
			if !utf8.Valid(s) {
				return nil, d.fail()
			}
			d.i = j + 1
			return s, true
		case c == '\\':
			d.i, d.esc = start, j
			return nil, true
		case c < 0x20:
			return nil, d.fail()
		}
		j++ // non-ASCII: checked as a whole at the end
	}
}

// skipString reads a string without keeping it.
func (d *Decoder) skipString() bool {
	raw, ok := d.rawString()
	if ok && raw == nil {
		_, ok = d.unescape(d.i, d.esc)
	}
	return ok
}

// unescape reads the rest of a string holding escapes, from its first
// escape at esc.
func (d *Decoder) unescape(start, esc int) (string, bool) {
	if !utf8.Valid(d.b[start:esc]) {
		return "", d.fail()
	}
	out := make([]byte, 0, esc-start+16)
	out = append(out, d.b[start:esc]...)
	j := esc
	for j < len(d.b) {
		c := d.b[j]
		switch {
		case c == '"':
			d.i = j + 1
			return string(out), true
		case c < 0x20:
			return "", d.fail()
		case c == '\\':
			if j+1 >= len(d.b) {
				return "", d.fail()
			}
			switch e := d.b[j+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
				j += 2
			case 'b':
				out, j = append(out, '\b'), j+2
			case 'f':
				out, j = append(out, '\f'), j+2
			case 'n':
				out, j = append(out, '\n'), j+2
			case 'r':
				out, j = append(out, '\r'), j+2
			case 't':
				out, j = append(out, '\t'), j+2
			case 'u':
				r := hex4(d.b, j+2)
				if r < 0 {
					return "", d.fail()
				}
				j += 6
				if utf16.IsSurrogate(r) {
					if j+1 < len(d.b) && d.b[j] == '\\' && d.b[j+1] == 'u' {
						if r2 := hex4(d.b, j+2); r2 >= 0 {
							if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
								out = utf8.AppendRune(out, dec)
								j += 6
								continue
							}
						}
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", d.fail()
			}
		case c < utf8.RuneSelf:
			out = append(out, c)
			j++
		default:
			r, size := utf8.DecodeRune(d.b[j:])
			if r == utf8.RuneError && size == 1 {
				return "", d.fail()
			}
			out = append(out, d.b[j:j+size]...)
			j += size
		}
	}
	return "", d.fail()
}

// hex4 decodes the four hex digits at b[i:], -1 if they are not.
func hex4(b []byte, i int) rune {
	if len(b)-i < 4 {
		return -1
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// Skip reads and discards any value.
func (d *Decoder) Skip() bool {
	_, ok := d.any(false)
	return ok
}

func (d *Decoder) any(keep bool) (any, bool) {
	switch c := d.Peek(); {
	case c == '"':
		if !keep {
			return nil, d.skipString()
		}
		s, ok := d.String()
		return s, ok
	case c == '-' || c >= '0' && c <= '9':
		if !keep {
			return nil, d.number()
		}
		n, ok := d.Number()
		return json.Number(n), ok
	case c == 't' || c == 'f':
		b, ok := d.Bool()
		return b, ok
	case c == 'n':
		if d.Null() {
			return nil, true
		}
	case c == '{':
		if d.depth++; d.depth > maxDepth {
			return nil, d.fail()
		}
		var m map[string]any
		if keep {
			m = map[string]any{}
		}
		ok := d.Object(func(key string) bool {
			v, ok := d.any(keep)
			if keep {
				m[key] = v
			}
			return ok
		})
		d.depth--
		return m, ok
	case c == '[':
		if d.depth++; d.depth > maxDepth {
			return nil, d.fail()
		}
		var l []any
		if keep {
			l = []any{}
		}
		ok := d.Array(func() bool {
			v, ok := d.any(keep)
			if keep {
				l = append(l, v)
			}
			return ok
		})
		d.depth--
		return l, ok
	}
	return nil, d.fail()
}
