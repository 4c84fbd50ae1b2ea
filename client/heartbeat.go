package client

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultHeartbeatInterval is how often an idle Producer or Consumer tells
// the managers it is still there (the managers show a client inactive after
// a minute of silence by default).
const DefaultHeartbeatInterval = 15 * time.Second

// idleHeartbeat sends POST /{kind}s/{id}/heartbeat when the client has not
// talked to a manager for a whole interval, so that the managers keep
// showing an idle producer or consumer active. It runs on a timer, not a
// goroutine of its own: nothing runs between heartbeats, and stop waits for
// the one in flight.
type idleHeartbeat struct {
	c        *Client
	path     string
	interval time.Duration
	last     atomic.Int64 // unix nanoseconds of the last request to a manager

	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
	running sync.WaitGroup
}

// newIdleHeartbeat starts heartbeats for a client; interval < 0 disables
// them (nil is a valid, inert idleHeartbeat).
func newIdleHeartbeat(c *Client, kind string, id int64, interval time.Duration) *idleHeartbeat {
	if interval < 0 {
		return nil
	}
	if interval == 0 {
		interval = DefaultHeartbeatInterval
	}
	h := &idleHeartbeat{c: c, path: "/" + kind + "s/" + strconv.FormatInt(id, 10) + "/heartbeat", interval: interval}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.touch()
	h.mu.Lock()
	h.timer = time.AfterFunc(interval, h.fire)
	h.mu.Unlock()
	c.hbMu.Lock()
	if c.hbs == nil {
		c.hbs = map[*idleHeartbeat]struct{}{}
	}
	c.hbs[h] = struct{}{}
	c.hbMu.Unlock()
	return h
}

// touch records a request to a manager: the client is not idle.
func (h *idleHeartbeat) touch() {
	if h != nil {
		h.last.Store(time.Now().UnixNano())
	}
}

// fire runs on the timer: a heartbeat if the client has been idle for an
// interval, then the next timer.
func (h *idleHeartbeat) fire() {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	h.running.Add(1)
	h.mu.Unlock()
	defer h.running.Done()

	next := h.interval
	if idle := time.Since(time.Unix(0, h.last.Load())); idle >= h.interval {
		// One attempt: a failed heartbeat is simply followed by the next.
		h.c.attemptOnce(h.ctx, call{method: http.MethodPost, path: h.path, noMinSeq: true}, nil)
		h.touch()
	} else {
		next = h.interval - idle
	}
	h.mu.Lock()
	if !h.stopped {
		h.timer.Reset(next)
	}
	h.mu.Unlock()
}

// stop ends the heartbeats and waits for one in flight (the owner's Close,
// or the Client's).
func (h *idleHeartbeat) stop() {
	if h == nil {
		return
	}
	h.c.hbMu.Lock()
	delete(h.c.hbs, h)
	h.c.hbMu.Unlock()
	h.mu.Lock()
	h.stopped = true
	h.timer.Stop()
	h.mu.Unlock()
	h.cancel()
	h.running.Wait()
}
