package api

import (
	"strconv"
	"strings"
	"sync/atomic"
)

// A strict fast decode of the two hottest request bodies, produce_batch
// (ProduceBatchParams) and /v1/append (AppendParams), in the exact form
// the Go client and the managers' router send them: one JSON object of
// known keys, each given once, whose values are strings without escapes,
// non-negative integers, header values' nulls, and the lists of the form.
// Anything else (an unknown or repeated key, an escape, a fraction, a
// null elsewhere, a syntax error …) makes it give up, and the codec's
// lenient decode does the whole work as before: what the fast decode
// accepts, it decodes exactly as the lenient one does
// (FuzzFastDecode compares both on arbitrary input), and every error is
// the lenient decode's.
//
// Its strings are substrings of one copy of the body: one allocation for
// all the messages' texts instead of one per message and field.

// fastDecoder is a Params type with a fast decode: decodeFast fills it
// from s, the whole (trimmed, valid UTF-8) body, or reports false, having
// maybe filled part of it.
type fastDecoder interface{ decodeFast(s string) bool }

// fastDecodes counts the bodies the fast decode took (TestFastDecodeTaken).
var fastDecodes atomic.Int64

// scan is a cursor over a body.
type scan struct {
	s string
	i int
}

func (c *scan) ws() {
	for c.i < len(c.s) {
		switch c.s[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

// byte consumes b (after whitespace).
func (c *scan) byte(b byte) bool {
	c.ws()
	if c.i < len(c.s) && c.s[c.i] == b {
		c.i++
		return true
	}
	return false
}

// peek is the next byte after whitespace (0 at the end).
func (c *scan) peek() byte {
	c.ws()
	if c.i < len(c.s) {
		return c.s[c.i]
	}
	return 0
}

// str reads a string without escapes or control characters, 8 bytes at a
// time while none of them ends it or needs a look.
func (c *scan) str() (string, bool) {
	if !c.byte('"') {
		return "", false
	}
	start, i := c.i, c.i
	for ; i+8 <= len(c.s); i += 8 {
		if !plainStringWord(uint64(c.s[i]) | uint64(c.s[i+1])<<8 | uint64(c.s[i+2])<<16 | uint64(c.s[i+3])<<24 |
			uint64(c.s[i+4])<<32 | uint64(c.s[i+5])<<40 | uint64(c.s[i+6])<<48 | uint64(c.s[i+7])<<56) {
			break
		}
	}
	for ; i < len(c.s); i++ {
		switch b := c.s[i]; {
		case b == '"':
			c.i = i + 1
			return c.s[start:i], true
		case b == '\\' || b < 0x20:
			return "", false
		}
	}
	return "", false
}

// plainStringWord reports whether none of the 8 bytes of w is a quote, a
// backslash or a control character.
func plainStringWord(w uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q, bs := w^(lo*'"'), w^(lo*'\\')
	return (w-lo*0x20)&^w&hi|(q-lo)&^q&hi|(bs-lo)&^bs&hi == 0
}

// int reads a non-negative integer of at most 18 digits, without a
// leading zero (which JSON forbids), that ends the number.
func (c *scan) int() (int64, bool) {
	c.ws()
	start := c.i
	for c.i < len(c.s) && c.s[c.i] >= '0' && c.s[c.i] <= '9' {
		c.i++
	}
	n := c.i - start
	if n == 0 || n > 18 || (n > 1 && c.s[start] == '0') {
		return 0, false
	}
	if c.i < len(c.s) {
		switch c.s[c.i] {
		case '.', 'e', 'E', '-', '+':
			return 0, false
		}
	}
	v, err := strconv.ParseInt(c.s[start:c.i], 10, 64)
	return v, err == nil
}

func (c *scan) setStr(v *Str) bool {
	s, ok := c.str()
	*v = Str{V: s, state: state{src: srcBody}}
	return ok
}

func (c *scan) setText(v *Text) bool {
	s, ok := c.str()
	*v = Text{V: s, state: state{src: srcBody}}
	return ok
}

func (c *scan) setInt(v *Int) bool {
	n, ok := c.int()
	*v = Int{V: n, state: state{src: srcBody}}
	return ok
}

// object reads an object whose members field reads, each key given once
// (a repeated key gives up); field reports false for an unknown key or a
// bad value.
func (c *scan) object(field func(key string) bool) bool {
	if !c.byte('{') {
		return false
	}
	if c.byte('}') {
		return true
	}
	seen := map[string]struct{}(nil)
	var first [8]string
	n := 0
	for {
		k, ok := c.str()
		if !ok || !c.byte(':') {
			return false
		}
		for _, s := range first[:min(n, len(first))] {
			if s == k {
				return false
			}
		}
		if n >= len(first) {
			if seen == nil {
				seen = map[string]struct{}{}
			}
			if _, dup := seen[k]; dup {
				return false
			}
			seen[k] = struct{}{}
		} else {
			first[n] = k
		}
		n++
		if !field(k) {
			return false
		}
		if c.byte('}') {
			return true
		}
		if !c.byte(',') {
			return false
		}
	}
}

// array reads a non-empty array whose elements elem reads.
func (c *scan) array(elem func() bool) bool {
	if !c.byte('[') || c.peek() == ']' {
		return false
	}
	for {
		if !elem() {
			return false
		}
		if c.byte(']') {
			return true
		}
		if !c.byte(',') {
			return false
		}
	}
}

// end reports whether the whole body was read.
func (c *scan) end() bool {
	c.ws()
	return c.i == len(c.s)
}

// recordField reads one of a record's members but its partition.
func (c *scan) recordField(k string, msg *Text, key *Str, f *RecordFields) bool {
	switch k {
	case "message":
		return c.setText(msg)
	case "key":
		return c.setStr(key)
	case "encoding":
		return c.setStr(&f.Encoding)
	case "timestamp":
		return c.setInt(&f.Timestamp)
	case "headers":
		return c.array(func() bool {
			var h HeaderItem
			ok := c.object(func(k string) bool {
				switch k {
				case "key":
					return c.setStr(&h.Key)
				case "value":
					if c.peek() == 'n' {
						if len(c.s)-c.i >= 4 && c.s[c.i:c.i+4] == "null" {
							c.i += 4
							return true
						}
						return false
					}
					return c.setStr(&h.Value)
				}
				return false
			})
			f.Headers = append(f.Headers, h)
			return ok
		})
	}
	return false
}

func (p *ProduceBatchParams) decodeFast(s string) bool {
	c := &scan{s: s}
	ok := c.object(func(k string) bool {
		switch k {
		case "producer_id":
			return c.setInt(&p.ProducerID)
		case "topic":
			return c.setStr(&p.Topic)
		case "partition":
			return c.setInt(&p.Partition)
		case "producer_epoch":
			return c.setInt(&p.ProducerEpoch)
		case "sequence":
			return c.setInt(&p.Sequence)
		case "min_seq":
			return c.setInt(&p.MinSeq)
		case "messages":
			p.Messages = make([]ProduceItem, 0, estimateItems(s[c.i:]))
			return c.array(func() bool {
				p.Messages = append(p.Messages, ProduceItem{})
				it := &p.Messages[len(p.Messages)-1]
				return c.object(func(k string) bool {
					if k == "partition" {
						return c.setInt(&it.Partition)
					}
					return c.recordField(k, &it.Message, &it.Key, &it.RecordFields)
				})
			})
		}
		return false
	})
	return ok && c.end()
}

func (p *AppendParams) decodeFast(s string) bool {
	c := &scan{s: s}
	items := func(dst *[]AppendItem) bool {
		*dst = make([]AppendItem, 0, estimateItems(c.s[c.i:]))
		return c.array(func() bool {
			*dst = append(*dst, AppendItem{})
			it := &(*dst)[len(*dst)-1]
			return c.object(func(k string) bool {
				if k == "producer_id" {
					return c.setInt(&it.ProducerID)
				}
				return c.recordField(k, &it.Message, &it.Key, &it.RecordFields)
			})
		})
	}
	ok := c.object(func(k string) bool {
		switch k {
		case "topic":
			return c.setStr(&p.Topic)
		case "partition":
			return c.setInt(&p.Partition)
		case "producer_epoch":
			return c.setInt(&p.ProducerEpoch)
		case "sequence":
			return c.setInt(&p.Sequence)
		case "messages":
			return items(&p.Messages)
		case "runs":
			return c.array(func() bool {
				p.Runs = append(p.Runs, AppendRunParams{})
				run := &p.Runs[len(p.Runs)-1]
				return c.object(func(k string) bool {
					switch k {
					case "messages":
						return items(&run.Messages)
					case "producer_epoch":
						return c.setInt(&run.ProducerEpoch)
					case "sequence":
						return c.setInt(&run.Sequence)
					}
					return false
				})
			})
		}
		return false
	})
	return ok && c.end()
}

// estimateItems guesses how many objects the array at the start of s
// holds (its opening braces up to the first "]", which may end an inner
// array: an estimate low rather than high): a capacity, not a count, so
// that the items are seldom copied as the list grows.
func estimateItems(s string) int {
	if end := strings.IndexByte(s, ']'); end >= 0 {
		s = s[:end]
	}
	return strings.Count(s, "{")
}
