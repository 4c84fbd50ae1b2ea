package client_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/client"
)

// TestProducerRetryBudget: a producer left at the default RetryTimeout
// retries a record for at least the cluster's heartbeat timeout (from
// GET /healthz) plus FailoverMargin; an explicit RetryTimeout bounds it;
// the error after the budget names the partition and what it waited on.
func TestProducerRetryBudget(t *testing.T) {
	t.Parallel()
	s := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			writeJSON(w, 200, map[string]any{"status": "success", "role": "writer", "heartbeat_timeout_ms": 60000})
		case "/producer/register":
			writeJSON(w, 200, map[string]any{"status": "success", "producer_id": 3, "seq": 1})
		case "/producer/produce_batch":
			writeJSON(w, 200, map[string]any{"status": "success", "results": []any{map[string]any{
				"partition": 2,
				"error":     map[string]string{"code": logq.EUnavailable, "message": "broker 5 at h5:9000 is unreachable; retry"},
			}}})
		default:
			failure(w, logq.ENotFound, "no such path")
		}
	})
	ctx := context.Background()

	c := newClient(t, client.Config{Managers: []string{s.URL}})
	p, err := c.NewProducer(ctx, "t", client.ProducerConfig{Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got, want := p.RetryBudget(), 60*time.Second+client.FailoverMargin; got != want {
		t.Errorf("retry budget at the default RetryTimeout = %v; want %v (heartbeat timeout + margin)", got, want)
	}

	short := newClient(t, client.Config{Managers: []string{s.URL}, RetryTimeout: 100 * time.Millisecond,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	// The manager path without idempotence (the fake has no topic map to
	// partition by).
	q, err := short.NewProducer(ctx, "t", client.ProducerConfig{Linger: time.Millisecond, NotIdempotent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if got := q.RetryBudget(); got != 100*time.Millisecond {
		t.Errorf("retry budget with RetryTimeout set = %v; want it", got)
	}
	_, err = q.Produce(ctx, client.Record{Value: "m", Partition: client.Partition(2)})
	if !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("produce to an unreachable partition: %v; want unavailable", err)
	}
	for _, want := range []string{"topic t partition 2", "broker 5 at h5:9000 is unreachable", "heartbeat timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
