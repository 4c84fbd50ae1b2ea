package openloop

import (
	"errors"
	"testing"
	"time"
)

func TestAcks(t *testing.T) {
	sent := make([]time.Time, 3)
	a := NewAcks(3, sent, func(f chan error) error { return <-f })
	for i := range sent {
		sent[i] = time.Now()
		f := make(chan error, 1)
		f <- nil
		a.Add(f)
	}
	acked, err := a.Close()
	if err != nil || len(acked) != 3 {
		t.Fatalf("got %v, %v; want 3 latencies", acked, err)
	}

	boom := errors.New("boom")
	a = NewAcks(3, sent, func(f chan error) error { return <-f })
	for i := range sent {
		f := make(chan error, 1)
		if i == 1 {
			f <- boom
		} else {
			f <- nil
		}
		a.Add(f)
	}
	if _, err := a.Close(); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the first error", err)
	}
}
