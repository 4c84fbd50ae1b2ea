// Package batch is what logq's batchers share — the broker's group commit
// (many appends per transaction), the router's coalescing (many produces
// per broker append) and the Go client's (its producers' direct appends):
// taking the next batch off a queue of waiting requests, within a bound of
// messages and bytes, and the lane that decides who sends it.
package batch

import "sync"

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

// Lane is a queue of requests to one destination that go together: while
// fewer than a bound of sends are on their way, a newcomer leads (it sends
// what is queued, itself included); otherwise it waits in the queue for
// the next send. The router's coalescing of appends to a partition and the
// Go client's of its direct producers' appends are lanes. The zero Lane is
// empty.
type Lane[R any] struct {
	mu       sync.Mutex
	queue    []R
	inFlight int // sends on their way; at the bound, newcomers queue
}

// Join queues r and reports whether its caller leads: fewer than maxInFlight
// sends were on their way, and the caller now has one (it must call Next
// until Next gives it nothing).
func (l *Lane[R]) Join(r R, maxInFlight int) (lead bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queue = append(l.queue, r)
	if l.inFlight < maxInFlight {
		l.inFlight++
		return true
	}
	return false
}

// Next takes the next batch off the queue (as Take does) for a send on its
// way; when nothing is left to send it gives that send's place back and
// returns nil.
func (l *Lane[R]) Next(maxMessages, maxBytes int, count, size func(R) int, drop func(R) bool) []R {
	l.mu.Lock()
	defer l.mu.Unlock()
	taken := Take(&l.queue, maxMessages, maxBytes, count, size, drop)
	if len(taken) == 0 {
		l.inFlight--
	}
	return taken
}

// Queued is how many requests wait in the queue.
func (l *Lane[R]) Queued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}
