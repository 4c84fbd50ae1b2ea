package broker

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/logq/logq/internal/pgtest"
)

// Two consumers of one topic each read every message exactly once, in
// partition order; concurrent consumes of one consumer never return the
// same message.
func TestFanOut(t *testing.T) {
	t.Parallel()
	b, _, _ := oneBroker(t, 3, Config{})
	const perPartition = 200
	for part := range 3 {
		for i := 0; i < perPartition; i += 50 {
			payloads := make([]string, 50)
			for j := range payloads {
				payloads[j] = fmt.Sprintf("%d-%d", part, i+j)
			}
			b.appendHTTP("orders", part, 1, payloads...)
		}
	}
	var wg sync.WaitGroup
	for part := range 3 {
		// Consumer 1: one reader per partition, batches of 7: in order.
		wg.Go(func() {
			var got []int64
			for {
				_, offs := b.consumeHTTP("orders", part, 1, 7)
				if len(offs) == 0 {
					break
				}
				got = append(got, offs...)
			}
			if len(got) != perPartition {
				t.Errorf("consumer 1, partition %d: %d messages; want %d", part, len(got), perPartition)
			}
			for i, off := range got {
				if off != int64(i) {
					t.Errorf("consumer 1, partition %d: message %d has offset %d", part, i, off)
					return
				}
			}
		})
		// Consumer 2: four concurrent readers per partition.
		var mu sync.Mutex
		seen := map[int64]int{}
		var readers sync.WaitGroup
		for r := range 4 {
			readers.Go(func() {
				for {
					ps, offs := b.consumeHTTP("orders", part, 2, 1+r*3)
					if len(offs) == 0 {
						return
					}
					mu.Lock()
					for i, off := range offs {
						seen[off]++
						if ps[i] != fmt.Sprintf("%d-%d", part, off) {
							t.Errorf("offset %d holds %q", off, ps[i])
						}
						if i > 0 && off != offs[i-1]+1 {
							t.Errorf("one consume returned offsets %d then %d", offs[i-1], off)
						}
					}
					mu.Unlock()
				}
			})
		}
		wg.Go(func() {
			readers.Wait()
			for off := range int64(perPartition) {
				if seen[off] != 1 {
					t.Errorf("consumer 2, partition %d: offset %d returned %d times", part, off, seen[off])
				}
			}
		})
	}
	wg.Wait()
	for _, c := range []int{1, 2} {
		for part := range 3 {
			status, out := b.do("GET", fmt.Sprintf("/v1/size?topic=orders&partition=%d&consumer_id=%d", part, c), nil)
			if status != 200 || out["size"].(float64) != 0 || out["position"].(float64) != perPartition {
				t.Errorf("size of consumer %d in partition %d: %d %v", c, part, status, out)
			}
		}
	}
	// A consumer that never consumed sees everything: size = high watermark.
	status, out := b.do("GET", "/v1/size?topic=orders&partition=0&consumer_id=3", nil)
	if status != 200 || out["size"].(float64) != perPartition {
		t.Errorf("size of a new consumer: %d %v", status, out)
	}
}

// startLongPollBroker starts broker 1 owning orders/0; waiting receives
// each time a long-poll consume starts to wait.
func startLongPollBroker(t *testing.T) (*testBroker, <-chan struct{}) {
	t.Helper()
	dsn := pgtest.NewDB(t)
	_, seq := withTopic(t, dsn, "orders", 1)
	waiting := make(chan struct{}, 10)
	b := startBrokerWith(t, Config{DSN: dsn, ID: 1}, func(b *Broker) {
		b.longPollWaiting = func() { waiting <- struct{}{} }
	})
	b.waitApplied(seq)
	return b, waiting
}

// A long-poll consume on an empty partition is woken by an append.
func TestLongPollWokenByAppend(t *testing.T) {
	t.Parallel()
	b, waiting := startLongPollBroker(t)

	// Nothing comes: an empty answer once wait_ms has passed.
	status, out := b.do("POST", "/v1/consume", map[string]any{"topic": "orders", "partition": 0, "consumer_id": 1, "wait_ms": 20})
	if status != 200 || len(out["messages"].([]any)) != 0 {
		t.Fatalf("empty long poll: %d %v", status, out)
	}
	await(t, waiting)

	type answer struct {
		status int
		out    map[string]any
		d      time.Duration
	}
	answers := make(chan answer, 1)
	start := time.Now()
	go func() {
		status, out := b.do("POST", "/v1/consume", map[string]any{"topic": "orders", "partition": 0, "consumer_id": 1, "wait_ms": 30000, "max": 10})
		answers <- answer{status, out, time.Since(start)}
	}()
	await(t, waiting) // the consume is waiting now
	b.appendHTTP("orders", 0, 1, "wake up")
	a := await(t, answers)
	ps, _ := payloadsOf(a.out)
	if a.status != 200 || len(ps) != 1 || ps[0] != "wake up" {
		t.Fatalf("long poll: %d %v", a.status, a.out)
	}
	if a.d > 15*time.Second {
		t.Fatalf("long poll answered after %v: not woken by the append", a.d)
	}
}

// Shutting down answers waiting long polls at once and drains appends in
// flight: every acknowledged append is stored.
func TestShutdownDrains(t *testing.T) {
	t.Parallel()
	b, waiting := startLongPollBroker(t)
	polled := make(chan int, 1)
	go func() {
		status, _ := b.do("POST", "/v1/consume", map[string]any{"topic": "orders", "partition": 0, "consumer_id": 1, "wait_ms": 30000})
		polled <- status
	}()
	await(t, waiting)

	var (
		mu    sync.Mutex
		acked = map[int64]string{}
		wg    sync.WaitGroup
		first = make(chan struct{})
		once  sync.Once
	)
	for g := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				payload := fmt.Sprintf("%d-%d", g, i)
				base, err := b.append(t.Context(), "orders", 0, msgsOf(1, payload))
				if err != nil {
					return // shutting down
				}
				mu.Lock()
				acked[base] = payload
				mu.Unlock()
				once.Do(func() { close(first) })
			}
		})
	}
	await(t, first)
	start := time.Now()
	b.cancel()
	b.cancel = nil
	if err := await(t, b.done); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("shutdown took %v with a long poll waiting", d)
	}
	if status := await(t, polled); status != 200 {
		t.Errorf("long poll at shutdown: %d", status)
	}
	wg.Wait()
	msgs := allMessages(t, b.store, "orders", 0)
	checkGapFree(t, "orders/0", msgs)
	for off, payload := range acked {
		if off >= int64(len(msgs)) || string(msgs[off].Value) != payload {
			t.Fatalf("acknowledged %q at %d is not stored", payload, off)
		}
	}
	if len(acked) == 0 {
		t.Fatal("nothing acknowledged")
	}
	b.Close()
	b.client.CloseIdleConnections()
}
