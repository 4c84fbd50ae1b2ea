package broker

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logq/logq/broker/storage"
	"github.com/logq/logq/internal/pgtest"
)

// producerLoad appends from several goroutines over HTTP and records every
// acknowledged message. An append that fails (it may or may not be stored;
// one acknowledged must be) is retried once the test has ended its
// disruption.
type producerLoad struct {
	partitions int
	mu         sync.Mutex
	cond       *sync.Cond
	acked      map[partKey]map[int64]string
	n          int64
	fails      atomic.Int64  // appends that failed (and were retried)
	back       chan struct{} // closed when no disruption is in progress
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startProducers(t *testing.T, target func() *testBroker, producers, partitions int) *producerLoad {
	l := &producerLoad{partitions: partitions, acked: map[partKey]map[int64]string{}, back: make(chan struct{}), stop: make(chan struct{})}
	l.cond = sync.NewCond(&l.mu)
	close(l.back)
	for p := range producers {
		l.wg.Go(func() {
			failures := 0
			for i := 0; ; {
				select {
				case <-l.stop:
					return
				default:
				}
				part := i % partitions
				payload := fmt.Sprintf("p%d-%d", p, i)
				l.mu.Lock()
				back := l.back
				l.mu.Unlock()
				status, out, err := target().request("POST", "/v1/append", appendBody("orders", part, int64(p+1), payload))
				if err != nil || status != 200 {
					if status != 0 && status != 503 {
						t.Errorf("append: %d %v", status, out)
						return
					}
					l.fails.Add(1)
					if failures++; failures > 10000 {
						t.Errorf("append keeps failing: %d %v %v", status, out, err)
						return
					}
					select { // retry once the disruption is over
					case <-back:
					case <-l.stop:
						return
					}
					continue
				}
				failures = 0
				l.mu.Lock()
				k := partKey{"orders", part}
				if l.acked[k] == nil {
					l.acked[k] = map[int64]string{}
				}
				l.acked[k][int64(out["base_offset"].(float64))] = payload
				l.n++
				l.cond.Broadcast()
				l.mu.Unlock()
				i++
			}
		})
	}
	return l
}

// waitAcked waits until n more messages are acknowledged.
func (l *producerLoad) waitAcked(n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for target := l.n + n; l.n < target; {
		l.cond.Wait()
	}
}

// disrupt marks the start of a disruption: failed appends wait for
// recoverAndCheck before they retry.
func (l *producerLoad) disrupt() {
	l.mu.Lock()
	l.back = make(chan struct{})
	l.mu.Unlock()
}

// recoverAndCheck ends the disruption, waits for 200 more acknowledged
// appends, stops the producers and verifies that every acknowledged message
// is stored in s at its offset and that the partitions are gap-free.
func (l *producerLoad) recoverAndCheck(t *testing.T, s storage.Store) {
	t.Helper()
	l.mu.Lock()
	close(l.back)
	l.mu.Unlock()
	l.waitAcked(200)
	close(l.stop)
	l.wg.Wait()
	total := 0
	for part := range l.partitions {
		msgs := allMessages(t, s, "orders", part)
		checkGapFree(t, fmt.Sprint("partition ", part), msgs)
		for off, payload := range l.acked[partKey{"orders", part}] {
			total++
			if off >= int64(len(msgs)) || string(msgs[off].Value) != payload {
				t.Fatalf("acknowledged %q at %d/%d is lost", payload, part, off)
			}
		}
	}
	t.Logf("%d acknowledged messages checked; %d appends failed and were retried", total, l.fails.Load())
}

// Restarting a broker while producers and a consumer run: nothing
// acknowledged is lost, the consumer's position survives, and the new
// process continues the offsets.
func TestBrokerRestart(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	_, seq := withTopic(t, dsn, "orders", 1, 1)
	var cur atomic.Pointer[testBroker]
	b := startBroker(t, Config{DSN: dsn, ID: 1})
	b.waitApplied(seq)
	cur.Store(b)

	load := startProducers(t, func() *testBroker { return cur.Load() }, 8, 2)
	load.waitAcked(200)
	if ps, _ := b.consumeHTTP("orders", 0, 7, 25); len(ps) != 25 {
		t.Fatalf("consumed %d", len(ps))
	}

	load.disrupt()
	b.stop() // in the middle of the appends
	b2 := startBroker(t, Config{DSN: dsn, ID: 1})
	b2.waitApplied(seq)
	cur.Store(b2)
	load.recoverAndCheck(t, b2.store)

	// The consumer goes on where it was.
	if _, offs := b2.consumeHTTP("orders", 0, 7, 5); len(offs) != 5 || offs[0] != 25 {
		t.Fatalf("after restart the consumer got offsets %v; want 25…", offs)
	}
}

// Restarting PostgreSQL under load: appends fail while it is down (503,
// never acknowledged), the broker reconnects by itself, nothing
// acknowledged is lost and consumer positions survive.
func TestPostgresRestart(t *testing.T) {
	t.Parallel()
	srv, dsn := pgtest.NewServer(t)
	cp, seq := withTopic(t, dsn, "orders", 1, 1)
	b := startBroker(t, Config{DSN: dsn, ID: 1})
	b.waitApplied(seq)

	load := startProducers(t, func() *testBroker { return b }, 8, 2)
	load.waitAcked(200)
	if ps, _ := b.consumeHTTP("orders", 1, 7, 30); len(ps) != 30 {
		t.Fatalf("consumed %d", len(ps))
	}

	load.disrupt()
	if err := srv.Restart(pgtest.Context(t, 2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	load.recoverAndCheck(t, b.store)

	if _, offs := b.consumeHTTP("orders", 1, 7, 5); len(offs) != 5 || offs[0] != 30 {
		t.Fatalf("after the restart the consumer got offsets %v; want 30…", offs)
	}
	// The tail reconnected too: an assignment made after the restart (by a
	// new writer: the old one's session died with the server) reaches the
	// broker.
	cp.w.Close(context.Background())
	cp = newControlPlane(t, dsn)
	cp.clients = true // the first writer registered 1..testClients for "orders"
	cp.topic("later", 1)
	seq = cp.register("later", nil, testClients+1)
	b.waitApplied(seq)
	if base := b.appendHTTP("later", 0, testClients+1, "x"); base != 0 {
		t.Fatalf("append to a topic created after the restart: base %d", base)
	}
}
