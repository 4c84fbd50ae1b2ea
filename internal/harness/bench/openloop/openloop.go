// Package openloop is the skeleton of the benchmark's fixed-rate latency
// runs, for logq and its peer alike: sends paced at a rate whatever the
// acknowledgements are doing (an open loop), and the time from each send
// to its acknowledgement.
package openloop

import "time"

// Acks times acknowledgements that complete in send order.
type Acks[F any] struct {
	futures chan F
	acked   []time.Duration
	done    chan error
}

// NewAcks waits, with wait, for the futures of up to n sends handed to
// Add, in order; sent[i] is when the i-th was sent.
func NewAcks[F any](n int, sent []time.Time, wait func(F) error) *Acks[F] {
	a := &Acks[F]{futures: make(chan F, n), acked: make([]time.Duration, 0, n), done: make(chan error, 1)}
	go func() {
		i := 0
		for f := range a.futures {
			if err := wait(f); err != nil {
				a.done <- err
				for range a.futures {
				}
				return
			}
			a.acked = append(a.acked, time.Since(sent[i]))
			i++
		}
		a.done <- nil
	}()
	return a
}

// Add hands over the future of the next send.
func (a *Acks[F]) Add(f F) { a.futures <- f }

// Close waits for the futures added and returns their latencies (send →
// acknowledged) in send order, or the first error.
func (a *Acks[F]) Close() ([]time.Duration, error) {
	close(a.futures)
	if err := <-a.done; err != nil {
		return nil, err
	}
	return a.acked, nil
}

// Pace sleeps until send i of a run at one send per interval from start is
// due, unless that is under 200 µs away (a late sender catches up).
func Pace(start time.Time, i int, interval time.Duration) {
	if d := time.Until(start.Add(time.Duration(i) * interval)); d > 200*time.Microsecond {
		time.Sleep(d)
	}
}
