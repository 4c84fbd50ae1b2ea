package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logq/logq/broker/storage"
	"github.com/logq/logq/broker/storage/pgstore"
	"github.com/logq/logq/internal/pgserver"
	"github.com/logq/logq/internal/pgtest"
)

// BenchmarkGroupCommit measures unbatched appends (one 100-byte message
// per request) from 64 concurrent appenders to 3 partitions through the
// group-commit path, against a baseline of one INSERT per commit from 64
// goroutines into a same-shaped table of the same database, measured in
// the same run, the two alternating in three rounds. b.N is the number of
// messages per side. Metrics: msgs/s (group commit), baseline-msgs/s, and
// ratio (the median of the rounds' ratios); ns/op is the group-commit side.
//
//	go test ./broker -run '^$' -bench GroupCommit -benchtime=20000x
//
// The shared test server runs with fsync off; BenchmarkGroupCommitFsync
// runs the same on a private server with fsync on, where the cost of a
// commit (a WAL flush) dominates as it does in production.
func BenchmarkGroupCommit(b *testing.B) {
	benchGroupCommit(b, pgtest.NewDB(b), false)
}

func BenchmarkGroupCommitFsync(b *testing.B) {
	_, dsn := pgtest.NewServerWith(b, pgserver.Options{Fsync: true})
	benchGroupCommit(b, dsn, false)
}

// BenchmarkGroupCommitIdempotent is BenchmarkGroupCommit with every append
// idempotent (each appender a producer with its own sequences), as the Go
// client's producers send by default.
func BenchmarkGroupCommitIdempotent(b *testing.B) {
	benchGroupCommit(b, pgtest.NewDB(b), true)
}

// BenchmarkGroupCommitIdempotentFsync is BenchmarkGroupCommitIdempotent on
// a server with fsync on, as logq bench runs it.
func BenchmarkGroupCommitIdempotentFsync(b *testing.B) {
	_, dsn := pgtest.NewServerWith(b, pgserver.Options{Fsync: true})
	benchGroupCommit(b, dsn, true)
}

const benchAppenders, benchPartitions = 64, 3

var (
	benchPayload = strings.Repeat("x", 100)
	benchValue   = []byte(benchPayload)
)

func benchGroupCommit(b *testing.B, dsn string, idempotent bool) {
	ctx := pgtest.Context(b, 10*time.Minute)
	db := connect(b, dsn)
	s := pgstore.New(db)
	if _, err := db.Exec(ctx, `CREATE TABLE baseline (LIKE messages INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}

	// Group commit as the broker runs it: its default number of lanes,
	// the partitions spread over them.
	lanes := make([]*committer, Config{}.WithDefaults().CommitLanes)
	for i := range lanes {
		lanes[i] = newCommitter(s, DefaultMaxBatchMessages, DefaultMaxBatchBytes)
		go lanes[i].run()
		defer func() { lanes[i].close(fmt.Errorf("done")); lanes[i].wait(context.Background()) }()
	}
	parts := make([]*partition, benchPartitions)
	for p := range parts {
		parts[p] = claimPartition(b, s, lanes[p%len(lanes)], "bench", p, 1)
	}
	var seqs [benchAppenders][benchPartitions]int64 // each appender's row is its own
	groupCommit := func(g, i int) error {
		part := (g + i) % benchPartitions
		p := parts[part]
		if !idempotent {
			_, err := p.lane.submit(ctx, p, msgsOf(int64(g+1), benchPayload))
			return err
		}
		seq := seqs[g][part]
		seqs[g][part]++
		r, err := p.lane.submitIdem(ctx, p, msgsOf(int64(g+1), benchPayload), &storage.Idempotence{ProducerID: int64(g + 1), BaseSequence: seq})
		if err == nil && r.dup {
			err = fmt.Errorf("appender %d: sequence %d answered as a duplicate", g, seq)
		}
		return err
	}
	// Baseline: one INSERT per commit.
	var next [benchPartitions]atomic.Int64
	baseline := func(g, i int) error {
		p := (g + i) % benchPartitions
		_, err := db.Exec(ctx, `INSERT INTO baseline (topic, partition, "offset", produced_at, ts, producer_id, key, value)
			VALUES ($1, $2, $3, now(), now(), $4, NULL, $5)`, "bench", p, next[p].Add(1)-1, int64(g+1), []byte(benchPayload))
		return err
	}

	// Alternate the two in rounds, so that a noisy neighbour slows both
	// alike; report the total rates and the median of the rounds' ratios.
	const rounds = 3
	var gcTime, baseTime time.Duration
	ratios := make([]float64, 0, rounds)
	b.ResetTimer()
	for r := range rounds {
		n := b.N / rounds
		if r < b.N%rounds {
			n++
		}
		if n == 0 {
			continue
		}
		b.StartTimer()
		d1 := runAppenders(b, n, groupCommit)
		b.StopTimer()
		d2 := runAppenders(b, n, baseline)
		gcTime, baseTime = gcTime+d1, baseTime+d2
		ratios = append(ratios, d2.Seconds()/d1.Seconds())
	}
	slices.Sort(ratios)
	b.ReportMetric(float64(b.N)/gcTime.Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N)/baseTime.Seconds(), "baseline-msgs/s")
	b.ReportMetric(ratios[len(ratios)/2], "ratio")
}

// runAppenders runs n appends spread over benchAppenders goroutines and
// returns how long they took.
func runAppenders(b *testing.B, n int, appendOne func(g, i int) error) time.Duration {
	var wg sync.WaitGroup
	start := time.Now()
	for g := range benchAppenders {
		count := n / benchAppenders
		if g < n%benchAppenders {
			count++
		}
		wg.Go(func() {
			for i := range count {
				if err := appendOne(g, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkAppendHTTP measures the same unbatched load through a broker's
// HTTP API (64 concurrent clients, one message per request).
func BenchmarkAppendHTTP(b *testing.B) {
	dsn := pgtest.NewDB(b)
	_, seq := withTopic(b, dsn, "orders", 1, 1, 1)
	tb := startBroker(b, Config{DSN: dsn, ID: 1})
	tb.waitApplied(seq)
	tb.client.Transport.(*http.Transport).MaxIdleConnsPerHost = benchAppenders
	b.ResetTimer()
	d := runAppenders(b, b.N, func(g, i int) error {
		status, out, err := tb.request("POST", "/v1/append", appendBody("orders", (g+i)%benchPartitions, int64(g+1), benchPayload))
		if err == nil && status != 200 {
			err = fmt.Errorf("append: %d %v", status, out)
		}
		return err
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/d.Seconds(), "msgs/s")
}

// BenchmarkAppendBatchHTTP measures batched appends through a broker's
// HTTP API (8 concurrent clients, 1,000 100-byte messages per request, 3
// partitions) against a raw COPY of the same rows into a same-shaped table
// of the same database, in the same run. b.N is the number of messages.
func BenchmarkAppendBatchHTTP(b *testing.B) {
	const clients, perRequest = 8, 1000
	dsn := pgtest.NewDB(b)
	_, seq := withTopic(b, dsn, "orders", 1, 1, 1)
	tb := startBroker(b, Config{DSN: dsn, ID: 1})
	tb.waitApplied(seq)
	payloads := make([]string, perRequest)
	for i := range payloads {
		payloads[i] = benchPayload
	}
	body, err := json.Marshal(appendBody("orders", 0, 1, payloads...))
	if err != nil {
		b.Fatal(err)
	}
	requests := (b.N + perRequest - 1) / perRequest
	var next atomic.Int64
	run := func(one func(i int) error) time.Duration {
		next.Store(0)
		var wg sync.WaitGroup
		start := time.Now()
		for range clients {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= requests {
						return
					}
					if err := one(i); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	b.ResetTimer()
	d := run(func(i int) error {
		body := bytes.Replace(body, []byte(`"partition":0`), []byte(`"partition":`+fmt.Sprint(i%benchPartitions)), 1)
		status, out, err := tb.request("POST", "/v1/append", body)
		if err == nil && status != 200 {
			err = fmt.Errorf("append: %d %v", status, out)
		}
		return err
	})
	b.StopTimer()
	db := connect(b, dsn)
	ctx := pgtest.Context(b, 10*time.Minute)
	if _, err := db.Exec(ctx, `CREATE TABLE baseline (LIKE messages INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	var offsets [benchPartitions]atomic.Int64
	raw := run(func(i int) error {
		p := i % benchPartitions
		base := offsets[p].Add(perRequest) - perRequest
		now := time.Now()
		rows := make([][]any, perRequest)
		for j := range rows {
			rows[j] = []any{"orders", int32(p), base + int64(j), now, now, int64(1), nil, benchValue}
		}
		_, err := db.CopyFrom(ctx, pgx.Identifier{"baseline"},
			[]string{"topic", "partition", "offset", "produced_at", "ts", "producer_id", "key", "value"}, pgx.CopyFromRows(rows))
		return err
	})
	n := float64(requests * perRequest)
	b.ReportMetric(n/d.Seconds(), "msgs/s")
	b.ReportMetric(n/raw.Seconds(), "copy-msgs/s")
	b.ReportMetric(raw.Seconds()/d.Seconds(), "ratio")
}
