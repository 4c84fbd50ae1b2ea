package api

import (
	"bytes"
	"strconv"

	"github.com/logq/logq"
)

// Pass-through of consumed messages (docs/api.md, "shape"): a manager
// asks a broker's /v1/consume for shape=batch, takes the bytes of the
// answer's messages array as they are (SplitBatchAnswer) and writes its
// consume_batch answer around them (AppendConsumeBatchAnswer), decoding
// and encoding no message.

// Encoded is an answer already encoded as JSON: a server writes its bytes
// as they are. Marshal of it gives the same bytes, checked.
type Encoded []byte

// MarshalJSON returns e.
func (e Encoded) MarshalJSON() ([]byte, error) { return e, nil }

// messagesKey is where a BatchMessagesAnswer's messages begin: they are its
// last member. A JSON string cannot hold it (a quote inside one is
// escaped), so its first occurrence is the key.
var messagesKey = []byte(`,"messages":[`)

// batchHead is what a BatchMessagesAnswer says before its messages.
type batchHead struct {
	Status string `json:"status"`
	Shape  string `json:"shape"`
	Count  int    `json:"count"`
}

// SplitBatchAnswer reads a broker's BatchMessagesAnswer without decoding
// its messages: their count, and the bytes between the brackets of the
// messages array (empty when there are none), checked to be valid text.
// ok false: body is not one (a broker that does not know the shape
// answered a MessagesAnswer): decode it as such. err: a malformed answer.
func SplitBatchAnswer(body []byte) (count int, inner []byte, ok bool, err error) {
	i := bytes.Index(body, messagesKey)
	if i < 0 {
		return 0, nil, false, nil
	}
	head := make([]byte, 0, i+1)
	head = append(append(head, body[:i]...), '}')
	var h batchHead
	if err := Unmarshal(head, &h); err != nil {
		return 0, nil, false, logq.Errorf(logq.EInvalid, "malformed batch answer: %s", syntaxText(err))
	}
	if h.Shape != ShapeBatch {
		return 0, nil, false, nil
	}
	rest := bytes.TrimRight(body[i+len(messagesKey)-1:], " \t\r\n")
	if len(rest) < 3 || rest[len(rest)-1] != '}' || rest[len(rest)-2] != ']' {
		return 0, nil, false, logq.Errorf(logq.EInvalid, "malformed batch answer: its messages are not its last member")
	}
	inner = bytes.TrimSpace(rest[1 : len(rest)-2])
	switch {
	case h.Status != StatusSuccess:
		return 0, nil, false, logq.Errorf(logq.EInvalid, "malformed batch answer: status %q", h.Status)
	case h.Count < 0 || (h.Count == 0) != (len(inner) == 0):
		return 0, nil, false, logq.Errorf(logq.EInvalid, "malformed batch answer: count %d for %d bytes of messages", h.Count, len(inner))
	case len(inner) > 0 && (inner[0] != '{' || inner[len(inner)-1] != '}'):
		return 0, nil, false, logq.Errorf(logq.EInvalid, "malformed batch answer: its messages are not objects")
	}
	if err := CheckText(inner); err != nil {
		return 0, nil, false, logq.Errorf(logq.EInvalid, "malformed batch answer: %s", syntaxText(err))
	}
	return h.Count, inner, true, nil
}

// AppendConsumeBatchAnswer appends a consume_batch answer (as Marshal of a
// ConsumeBatchAnswer writes it) whose messages are pieces, each the inside
// of a JSON array of BatchMessage (SplitBatchAnswer's inner; empty ones
// are left out).
func AppendConsumeBatchAnswer(dst []byte, pieces [][]byte, skipped []int) []byte {
	dst = append(dst, `{"status":"success","messages":[`...)
	first := true
	for _, p := range pieces {
		if len(p) == 0 {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, p...)
	}
	dst = append(dst, ']')
	if len(skipped) > 0 {
		dst = append(dst, `,"skipped_partitions":[`...)
		for i, p := range skipped {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendInt(dst, int64(p), 10)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// ConsumeBatchAnswerSize bounds the length of AppendConsumeBatchAnswer's
// answer for pieces and skipped partitions: to size its buffer.
func ConsumeBatchAnswerSize(pieces [][]byte, skipped int) int {
	n := 64 + 12*skipped
	for _, p := range pieces {
		n += len(p) + 1
	}
	return n
}
