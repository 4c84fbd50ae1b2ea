package faulttest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logq/logq/client"
)

// TestLostAnswerStoredOnce: against real processes (two managers, three
// brokers, PostgreSQL), a proxy in front of the managers forwards every
// produce but drops the answer of every other one for the first ones (it
// closes the connection after the manager answered: the records are
// stored, the producer cannot know). The Go client's producer, idempotent
// by default, sends each such batch again to the same partition with the
// same sequence: every record is stored exactly once (the ground truth is
// the messages table), at the offset its acknowledgement names.
func TestLostAnswerStoredOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := startCluster(t, clusterOpts{})
	target, err := url.Parse(c.managers[0].url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var seen, dropped atomic.Int64
	const dropFirst = 40 // produce requests; every other one loses its answer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/producer/produce_batch" {
			proxy.ServeHTTP(w, r)
			return
		}
		n := seen.Add(1)
		if n > dropFirst || n%2 == 0 {
			proxy.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, r)
		if rec.Code == http.StatusOK {
			dropped.Add(1)
		}
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close() // the answer is lost
		}
	}))
	defer srv.Close()

	cl, err := client.New(client.Config{Managers: []string{srv.URL}, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	prod, err := cl.NewProducer(ctx, topicName, client.ProducerConfig{BatchSize: 25, Linger: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	futs := make([]*client.Future, n)
	for i := range n {
		rec := client.Record{Value: fmt.Sprintf("lost-%d", i)}
		if i%3 == 0 {
			rec.Key = fmt.Sprint("k", i%11)
		}
		futs[i] = prod.Send(ctx, rec)
	}
	if err := prod.Close(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]client.Ack{}
	for i, f := range futs {
		ack, err := f.Wait(ctx)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		acked[fmt.Sprintf("lost-%d", i)] = ack
	}
	if dropped.Load() == 0 {
		t.Fatal("no answer of a stored produce was dropped: the test tested nothing")
	}

	rows, err := c.db.Query(ctx, `SELECT partition, "offset", convert_from(value, 'UTF8') FROM messages WHERE topic = $1`, topicName)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	stored := map[string]int{}
	for rows.Next() {
		var (
			part  int
			off   int64
			value string
		)
		if err := rows.Scan(&part, &off, &value); err != nil {
			t.Fatal(err)
		}
		stored[value]++
		if a, ok := acked[value]; ok && (a.Partition != part || a.Offset != off) {
			t.Errorf("%s stored at %d/%d, acknowledged at %d/%d", value, part, off, a.Partition, a.Offset)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	dups, lost := 0, 0
	for v := range acked {
		switch stored[v] {
		case 0:
			lost++
		case 1:
		default:
			dups += stored[v] - 1
		}
	}
	t.Logf("%d records produced through a proxy that dropped %d answers of stored produces: %d duplicated, %d lost",
		n, dropped.Load(), dups, lost)
	if dups != 0 || lost != 0 || len(stored) != n {
		t.Fatalf("%d duplicated, %d lost, %d distinct stored; want 0, 0, %d", dups, lost, len(stored), n)
	}
}
