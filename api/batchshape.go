package api

import (
	"bytes"
	"strconv"

	"github.com/logq/logq"
)

// Pass-through of consumed and fetched messages (docs/api.md,
// "pass-through"): a manager asks a broker's /v1/consume or /v1/fetch for
// shape=batch, takes the bytes of the answer's messages array as they are
// (SplitBatchAnswer) and writes its consume_batch or fetch answer around
// them (ConsumeBatchAnswerOf, FetchAnswerOf), decoding and encoding no
// message.

// Encoded is an answer already encoded as JSON, in parts: a server writes
// them one after the other, as they are (the pieces of brokers' answers
// are not copied into one). Marshal of it gives the same bytes, checked.
type Encoded struct {
	Parts [][]byte
	// Done, when set, is called by the server once it has written the
	// answer: the parts' buffers may then be used again.
	Done func()
}

// Bytes is the answer in one piece.
func (e Encoded) Bytes() []byte { return bytes.Join(e.Parts, nil) }

// Len is the answer's length.
func (e Encoded) Len() int {
	n := 0
	for _, p := range e.Parts {
		n += len(p)
	}
	return n
}

// MarshalJSON returns e's bytes.
func (e Encoded) MarshalJSON() ([]byte, error) { return e.Bytes(), nil }

// messagesKey is where a BatchMessagesAnswer's messages begin: they are its
// last member. A JSON string cannot hold it (a quote inside one is
// escaped), so its first occurrence is the key.
var messagesKey = []byte(`,"messages":[`)

// BatchHead is what a BatchMessagesAnswer says before its messages.
type BatchHead struct {
	Status         string `json:"status"`
	Shape          string `json:"shape"`
	Count          int    `json:"count"`
	NextOffset     *int64 `json:"next_offset"`
	HighWatermark  *int64 `json:"high_watermark"`
	LogStartOffset *int64 `json:"log_start_offset"`
}

// SplitBatchAnswer reads a broker's BatchMessagesAnswer without decoding
// its messages: what it says before them (their count, the marks), and
// the bytes between the brackets of the messages array (empty when there
// are none), checked to be valid text. ok false: body is not one (a broker
// that does not know the shape answered a MessagesAnswer): decode it as
// such. err: a malformed answer.
func SplitBatchAnswer(body []byte) (h BatchHead, inner []byte, ok bool, err error) {
	i := bytes.Index(body, messagesKey)
	if i < 0 {
		return h, nil, false, nil
	}
	head := make([]byte, 0, i+1)
	head = append(append(head, body[:i]...), '}')
	if err := Unmarshal(head, &h); err != nil {
		return BatchHead{}, nil, false, logq.Errorf(logq.EInvalid, "malformed batch answer: %s", syntaxText(err))
	}
	if h.Shape != ShapeBatch {
		return BatchHead{}, nil, false, nil
	}
	rest := bytes.TrimRight(body[i+len(messagesKey)-1:], " \t\r\n")
	if len(rest) < 3 || rest[len(rest)-1] != '}' || rest[len(rest)-2] != ']' {
		return BatchHead{}, nil, false, logq.Errorf(logq.EInvalid, "malformed batch answer: its messages are not its last member")
	}
	inner = bytes.TrimSpace(rest[1 : len(rest)-2])
	switch {
	case h.Status != StatusSuccess:
		return BatchHead{}, nil, false, logq.Errorf(logq.EInvalid, "malformed batch answer: status %q", h.Status)
	case h.Count < 0 || (h.Count == 0) != (len(inner) == 0):
		return BatchHead{}, nil, false, logq.Errorf(logq.EInvalid, "malformed batch answer: count %d for %d bytes of messages", h.Count, len(inner))
	case len(inner) > 0 && (inner[0] != '{' || inner[len(inner)-1] != '}'):
		return BatchHead{}, nil, false, logq.Errorf(logq.EInvalid, "malformed batch answer: its messages are not objects")
	}
	if err := CheckText(inner); err != nil {
		return BatchHead{}, nil, false, logq.Errorf(logq.EInvalid, "malformed batch answer: %s", syntaxText(err))
	}
	return h, inner, true, nil
}

// ConsumeBatchAnswerOf is a consume_batch answer (as Marshal of a
// ConsumeBatchAnswer writes it) whose messages are pieces, each the inside
// of a JSON array of BatchMessage (SplitBatchAnswer's inner; empty ones
// are left out), not copied.
func ConsumeBatchAnswerOf(pieces [][]byte, skipped []int) Encoded {
	out := make([][]byte, 0, 2*len(pieces)+2)
	out = append(out, []byte(`{"status":"success","messages":[`))
	for _, p := range pieces {
		if len(p) == 0 {
			continue
		}
		if len(out) > 1 {
			out = append(out, comma)
		}
		out = append(out, p)
	}
	tail := []byte{']'}
	if len(skipped) > 0 {
		tail = append(tail, `,"skipped_partitions":[`...)
		for i, p := range skipped {
			if i > 0 {
				tail = append(tail, ',')
			}
			tail = strconv.AppendInt(tail, int64(p), 10)
		}
		tail = append(tail, ']')
	}
	return Encoded{Parts: append(out, append(tail, '}'))}
}

var comma = []byte{','}

// FetchAnswerOf is a manager's fetch answer (as Marshal of a FetchAnswer
// writes it) whose messages are pieces, as ConsumeBatchAnswerOf's.
func FetchAnswerOf(topic string, pieces [][]byte, parts []FetchedPartition) (Encoded, error) {
	head := AppendJSONString([]byte(`{"status":"success","topic":`), topic)
	ps, err := Marshal(parts)
	if err != nil {
		return Encoded{}, err
	}
	out := make([][]byte, 0, 2*len(pieces)+3)
	out = append(out, append(head, `,"messages":[`...))
	first := true
	for _, p := range pieces {
		if len(p) == 0 {
			continue
		}
		if !first {
			out = append(out, comma)
		}
		first = false
		out = append(out, p)
	}
	tail := append([]byte(`],"partitions":`), ps...)
	return Encoded{Parts: append(out, append(tail, '}'))}, nil
}
