// Package batch is what logq's two batchers share — the broker's group
// commit (many appends per transaction) and the router's coalescing (many
// produces per broker append): taking the next batch off a queue of
// waiting requests, within a bound of messages and bytes.
package batch

// Take removes the next batch from the front of *queue and returns it: the
// longest run of requests whose messages and bytes (as count and size say)
// stay within maxMessages and maxBytes, and always at least one request.
// A request for which drop returns true is taken off the queue but left out
// of the batch (drop answers it: its caller gave up, or it can no longer
// be served). The queue keeps the rest, in order.
func Take[R any](queue *[]R, maxMessages, maxBytes int, count, size func(R) int, drop func(R) bool) []R {
	q := *queue
	var out []R
	messages, bytes, i := 0, 0, 0
	for ; i < len(q); i++ {
		r := q[i]
		if drop(r) {
			continue
		}
		if len(out) > 0 && (messages+count(r) > maxMessages || bytes+size(r) > maxBytes) {
			break
		}
		out = append(out, r)
		messages += count(r)
		bytes += size(r)
	}
	rest := copy(q, q[i:])
	clear(q[rest:])
	*queue = q[:rest]
	return out
}
