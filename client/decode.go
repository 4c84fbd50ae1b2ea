package client

import (
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/logq/logq/api"
)

// Decoding delivered messages. A poll's answer holds up to 10,000 of them:
// the generic codec spends more on it than the rest of the client, so the
// answers of polls and fetches (consume_batch, a broker's consume, a
// manager's fetch) are read by a scanner made for them, straight into
// Messages. The whole
// answer is turned into one string first, and every text value and key is
// a part of it: one allocation per answer instead of two or three per
// message (a Message kept keeps its poll's answer alive, as one slice of a
// batch would). Anything the scanner does not expect (it expects the
// servers' own JSON, but reads any valid JSON of that shape; it does not
// refuse a raw control character in a string, which the servers escape)
// sends the answer to the generic codec instead, which decodes it as
// before.

// messagesAnswer is an answer whose messages a Poll or Fetch hands out: of
// consume_batch, a broker's consume, or a manager's fetch (with its
// partitions' marks). topic and partition are
// the messages' when they do not say theirs.
type messagesAnswer struct {
	topic     string
	partition int

	msgs       []Message
	partitions []api.FetchedPartition // a manager's fetch's
}

// decodeStats counts the answers read by the scanner (fast) and by the
// generic codec (slow): a test sees that the fast one is taken.
var decodeStats struct{ fast, slow atomic.Int64 }

// canonicalMessages counts the messages read in the servers' own form
// (scanner.canonical).
var canonicalMessages atomic.Int64

// decodeAnswer decodes data, a success answer.
func (a *messagesAnswer) decodeAnswer(data []byte) error {
	if err := api.CheckText(data); err != nil {
		return err
	}
	if msgs, parts, ok := scanAnswer(string(data), a.topic, a.partition); ok {
		decodeStats.fast.Add(1)
		a.msgs, a.partitions = msgs, parts
		return nil
	}
	decodeStats.slow.Add(1)
	var out struct {
		Messages   []wireMessage          `json:"messages"`
		Partition  *int                   `json:"partition"`
		Partitions []api.FetchedPartition `json:"partitions"`
	}
	if err := api.Unmarshal(data, &out); err != nil {
		return err
	}
	a.partitions = out.Partitions
	part := a.partition
	if out.Partition != nil {
		part = *out.Partition
	}
	a.msgs = make([]Message, len(out.Messages))
	for i, m := range out.Messages {
		p := part
		if m.Partition != nil {
			p = *m.Partition
		}
		a.msgs[i] = Message{Topic: a.topic, Partition: p, Offset: m.Offset}
		a.msgs[i].fromWire(m.Encoding, m.Message, m.Key, m.Headers, m.Timestamp)
	}
	return nil
}

// wireMessage is what the client reads of a delivered message.
type wireMessage struct {
	Partition *int         `json:"partition"`
	Offset    int64        `json:"offset"`
	Message   string       `json:"message"`
	Key       *string      `json:"key"`
	Encoding  string       `json:"encoding"`
	Headers   []api.Header `json:"headers"`
	Timestamp int64        `json:"timestamp"`
}

// scanner reads JSON text s from i.
type scanner struct {
	s  string
	i  int
	ok bool
}

func (sc *scanner) fail() { sc.ok = false }

func (sc *scanner) ws() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// next skips whitespace and reports whether the next byte is c (and then
// consumes it).
func (sc *scanner) next(c byte) bool {
	sc.ws()
	if sc.i < len(sc.s) && sc.s[sc.i] == c {
		sc.i++
		return true
	}
	return false
}

func (sc *scanner) expect(c byte) {
	if !sc.next(c) {
		sc.fail()
	}
}

// str reads a string: a part of s when it has no escape.
func (sc *scanner) str() string {
	sc.ws()
	if sc.i >= len(sc.s) || sc.s[sc.i] != '"' {
		sc.fail()
		return ""
	}
	start := sc.i + 1
	// Short strings (keys, most of all) byte by byte; long ones with
	// IndexByte, which looks at many bytes at a time.
	for k := start; k < len(sc.s) && k < start+16; k++ {
		switch sc.s[k] {
		case '"':
			sc.i = k + 1
			return sc.s[start:k]
		case '\\':
			return sc.escaped(start)
		}
	}
	j := strings.IndexByte(sc.s[start:], '"')
	if j < 0 {
		sc.fail()
		return ""
	}
	if strings.IndexByte(sc.s[start:start+j], '\\') < 0 {
		sc.i = start + j + 1
		return sc.s[start : start+j]
	}
	return sc.escaped(start)
}

// escaped reads a string with escapes, from its first byte on.
func (sc *scanner) escaped(start int) string {
	// The real end is the first quote not escaped.
	var b []byte
	k := start
	for {
		e := strings.IndexAny(sc.s[k:], `"\`)
		if e < 0 {
			sc.fail()
			return ""
		}
		b = append(b, sc.s[k:k+e]...)
		k += e
		if sc.s[k] == '"' {
			sc.i = k + 1
			return string(b)
		}
		var n int
		if b, n = unescape(b, sc.s[k:]); n == 0 {
			sc.fail()
			return ""
		}
		k += n
	}
}

// unescape appends what the escape at the start of s stands for and
// returns its length (0: not a JSON escape). api.CheckText has refused
// lone surrogates already.
func unescape(b []byte, s string) ([]byte, int) {
	if len(s) < 2 {
		return b, 0
	}
	switch s[1] {
	case '"', '\\', '/':
		return append(b, s[1]), 2
	case 'b':
		return append(b, '\b'), 2
	case 'f':
		return append(b, '\f'), 2
	case 'n':
		return append(b, '\n'), 2
	case 'r':
		return append(b, '\r'), 2
	case 't':
		return append(b, '\t'), 2
	case 'u':
		r, ok := hex4(s, 2)
		if !ok {
			return b, 0
		}
		if utf16.IsSurrogate(r) {
			lo, ok := rune(0), len(s) >= 12 && s[6] == '\\' && s[7] == 'u'
			if ok {
				lo, ok = hex4(s, 8)
			}
			if r = utf16.DecodeRune(r, lo); !ok || r == utf8.RuneError {
				return b, 0
			}
			return utf8.AppendRune(b, r), 12
		}
		return utf8.AppendRune(b, r), 6
	}
	return b, 0
}

func hex4(s string, at int) (rune, bool) {
	if at+4 > len(s) {
		return 0, false
	}
	n, err := strconv.ParseUint(s[at:at+4], 16, 32)
	return rune(n), err == nil
}

// optStr reads a string or null (ok false).
func (sc *scanner) optStr() (string, bool) {
	if sc.null() {
		return "", false
	}
	return sc.str(), true
}

func (sc *scanner) null() bool {
	sc.ws()
	if strings.HasPrefix(sc.s[sc.i:], "null") {
		sc.i += 4
		return true
	}
	return false
}

// int reads an integer.
func (sc *scanner) int() int64 {
	sc.ws()
	start := sc.i
	neg := sc.i < len(sc.s) && sc.s[sc.i] == '-'
	if neg {
		sc.i++
	}
	var n int64
	digits := sc.i
	for sc.i < len(sc.s) && sc.s[sc.i] >= '0' && sc.s[sc.i] <= '9' {
		n = n*10 + int64(sc.s[sc.i]-'0')
		sc.i++
	}
	switch d := sc.i - digits; {
	case d == 0 || (d > 1 && sc.s[digits] == '0'):
		sc.fail()
	case d > 18: // may overflow: let strconv say
		v, err := strconv.ParseInt(sc.s[start:sc.i], 10, 64)
		if err != nil {
			sc.fail()
		}
		return v
	}
	if neg {
		return -n
	}
	return n
}

// skip skips any value.
func (sc *scanner) skip() {
	sc.ws()
	if sc.i >= len(sc.s) {
		sc.fail()
		return
	}
	switch c := sc.s[sc.i]; {
	case c == '"':
		sc.str()
	case c == '{' || c == '[':
		close := byte('}')
		if c == '[' {
			close = ']'
		}
		sc.i++
		if sc.next(close) {
			return
		}
		for sc.ok {
			if c == '{' {
				sc.str()
				sc.expect(':')
			}
			sc.skip()
			if sc.next(close) {
				return
			}
			sc.expect(',')
		}
	default: // a number, true, false or null
		start := sc.i
		for sc.i < len(sc.s) && strings.IndexByte(",]} \t\r\n", sc.s[sc.i]) < 0 {
			sc.i++
		}
		if sc.i == start {
			sc.fail()
		}
	}
}

// object reads an object's members, calling member with each key (which
// must read its value).
func (sc *scanner) object(member func(key string)) {
	sc.expect('{')
	if !sc.ok || sc.next('}') {
		return
	}
	for sc.ok {
		k := sc.str()
		sc.expect(':')
		if !sc.ok {
			return
		}
		member(k)
		if sc.next('}') {
			return
		}
		sc.expect(',')
	}
}

// array reads an array, calling elem for each element (which must read it).
func (sc *scanner) array(elem func()) {
	sc.expect('[')
	if !sc.ok || sc.next(']') {
		return
	}
	for sc.ok {
		elem()
		if sc.next(']') {
			return
		}
		sc.expect(',')
	}
}

// scanAnswer reads the messages of an answer; ok false: leave it to the
// generic codec.
func scanAnswer(s, topic string, partition int) (msgs []Message, parts []api.FetchedPartition, ok bool) {
	sc := &scanner{s: s, ok: true}
	answerPart := -1
	var partsText string // few: the codec reads them
	sc.object(func(key string) {
		switch key {
		case "messages":
			msgs = msgs[:0]
			if sc.null() {
				return
			}
			sc.array(func() {
				at := sc.i
				msgs = append(msgs, Message{Topic: topic, Partition: -1})
				sc.message(&msgs[len(msgs)-1])
				if len(msgs) == 1 && sc.i > at {
					// Room for as many as the first one's size says.
					msgs = slices.Grow(msgs, min((len(s)-sc.i)/(sc.i-at)+8, maxScanGuess))
				}
			})
		case "partition":
			if answerPart = int(sc.int()); answerPart < 0 {
				sc.fail()
			}
		case "partitions":
			at := sc.i
			sc.skip()
			partsText = s[at:sc.i]
		default:
			sc.other(key, "messages", "partition", "partitions")
		}
	})
	sc.ws()
	if !sc.ok || sc.i != len(s) {
		return nil, nil, false
	}
	if partsText != "" {
		if err := api.Unmarshal([]byte(partsText), &parts); err != nil {
			return nil, nil, false
		}
	}
	if answerPart >= 0 {
		partition = answerPart
	}
	if msgs == nil {
		msgs = []Message{}
	}
	for i := range msgs {
		if msgs[i].Partition < 0 {
			msgs[i].Partition = partition
		}
	}
	return msgs, parts, true
}

// maxScanGuess bounds the room scanAnswer makes for messages at first.
const maxScanGuess = MaxPoll + 1

// messageKeys are the members of a message the scanner reads.
var messageKeys = []string{"partition", "offset", "message", "key", "encoding", "timestamp", "headers"}

// other skips the value of a member the scanner does not read, unless its
// key is one of known but for case, which the codec takes as that one (as
// encoding/json does): then the generic codec reads the answer.
func (sc *scanner) other(key string, known ...string) {
	for _, k := range known {
		if strings.EqualFold(key, k) {
			sc.fail()
			return
		}
	}
	sc.skip()
}

// lit consumes l when it comes next.
func (sc *scanner) lit(l string) bool {
	if strings.HasPrefix(sc.s[sc.i:], l) {
		sc.i += len(l)
		return true
	}
	return false
}

// canonical reads a text message without headers in the servers' own form
// (api.AppendBatchMessage's: its members in BatchMessage's order, no
// space) into m; false, having read nothing: read it as any object.
func (sc *scanner) canonical(m *Message) bool {
	at, p := sc.i, m.Partition
	ok := sc.lit(`{"topic":`)
	if ok {
		sc.str()
		ok = sc.lit(`,"partition":`)
	}
	if ok {
		m.Partition = int(sc.int())
		ok = m.Partition >= 0 && sc.lit(`,"offset":`)
	}
	if ok {
		m.Offset = sc.int()
		ok = sc.lit(`,"message":`)
	}
	if ok {
		m.Value = sc.str()
		ok = sc.lit(`,"key":`)
	}
	if ok {
		if !sc.lit(`null`) {
			m.Key = sc.str()
		}
		ok = sc.lit(`,"timestamp":`)
	}
	if ok {
		if ts := sc.int(); ts != 0 {
			m.Timestamp = time.UnixMilli(ts)
		}
		ok = sc.lit(`}`)
	}
	if ok && sc.ok {
		return true
	}
	sc.i, sc.ok = at, true
	m.Partition, m.Offset, m.Value, m.Key, m.Timestamp = p, 0, "", "", time.Time{}
	return false
}

// message reads one message object into m.
func (sc *scanner) message(m *Message) {
	if sc.canonical(m) {
		canonicalMessages.Add(1)
		return
	}
	var (
		key    *string
		enc    string
		hdrs   []api.Header
		ts     int64
		keyStr string
	)
	sc.object(func(k string) {
		switch k {
		case "partition":
			if m.Partition = int(sc.int()); m.Partition < 0 {
				sc.fail()
			}
		case "offset":
			m.Offset = sc.int()
		case "message":
			m.Value = sc.str()
		case "key":
			key = nil
			if v, ok := sc.optStr(); ok {
				keyStr = v
				key = &keyStr
			}
		case "encoding":
			if enc = sc.str(); enc == "text" {
				enc = ""
			}
		case "timestamp":
			ts = sc.int()
		case "headers":
			hdrs = nil
			if sc.null() {
				return
			}
			sc.array(func() {
				var h api.Header
				sc.object(func(k string) {
					switch k {
					case "key":
						h.Key = sc.str()
					case "value":
						h.Value = nil
						if v, ok := sc.optStr(); ok {
							h.Value = &v
						}
					default:
						sc.other(k, "key", "value")
					}
				})
				hdrs = append(hdrs, h)
			})
		default: // topic, producer_id, produced_at…
			sc.other(k, messageKeys...)
		}
	})
	if enc == "" && len(hdrs) == 0 {
		// Text without headers: the parts of s as they are.
		if key != nil {
			m.Key = *key
		}
		if ts != 0 {
			m.Timestamp = time.UnixMilli(ts)
		}
		return
	}
	m.fromWire(enc, m.Value, key, hdrs, ts)
}
