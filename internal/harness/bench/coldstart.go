package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/logq/logq"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/pg"
	"github.com/logq/logq/projection"
)

// coldStartReads is the page size of the cold start's reads, as the
// managers' catch-up.
const coldStartReads = 10000

// coldStart fills the event log of a separate database with Events events
// (through eventlog's fenced writer), stores a snapshot SnapshotEvery
// events before the end, and times the rebuild of the projection the way a
// manager does it on start: without the snapshot (read every event from
// PostgreSQL and fold it) and with it (load and decode the snapshot, read
// and fold the events after it). The
// fold-only figures leave out PostgreSQL (the events already in memory).
// Each is the median of five runs; the best run is reported too (on a busy
// machine the spread is the neighbours', not logq's).
func (e *env) coldStart(ctx context.Context) error {
	cfg := e.cfg
	if err := createDatabase(ctx, e.pg.DSN("postgres"), "logq_coldstart"); err != nil {
		return err
	}
	dsn := e.pg.DSN("logq_coldstart")
	db, err := pg.Connect(ctx, dsn, 4)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := pg.Migrate(ctx, db); err != nil {
		return err
	}

	e.progress("cold start: appending %s events", groupThousands(int64(cfg.Events)))
	events := generateEvents(cfg.Events)
	w, err := eventlog.Acquire(ctx, dsn, "bench")
	if err != nil {
		return err
	}
	for i := 0; i < len(events); i += coldStartReads {
		stored, err := w.Append(ctx, events[i:min(i+coldStartReads, len(events))]...)
		if err != nil {
			w.Close(ctx)
			return fmt.Errorf("append events: %w", err)
		}
		copy(events[i:], stored)
	}
	if err := w.Close(ctx); err != nil {
		return err
	}
	snapSeq := int64(cfg.Events - cfg.SnapshotEvery)
	st := projection.New()
	if err := projection.ApplyAll(st, events[:snapSeq]); err != nil {
		return fmt.Errorf("fold: %w", err)
	}
	snap, err := projection.Encode(st)
	if err != nil {
		return err
	}
	if err := eventlog.SaveSnapshot(ctx, db, snapSeq, snap); err != nil {
		return err
	}
	if _, err := db.Exec(ctx, "VACUUM ANALYZE events"); err != nil {
		return err
	}

	const runs = 5
	e.progress("cold start: rebuilding from %s events, without and with a snapshot (%d runs each)", groupThousands(int64(cfg.Events)), runs)
	var full, fullFold, fromSnap, snapFold []time.Duration
	var final *projection.State
	var fullCPU cpuTime
	for range runs {
		c0 := e.cpuNow()
		d, s, err := loadState(ctx, db, false)
		if err != nil {
			return err
		}
		fullCPU.add(e.cpuNow().sub(c0))
		full = append(full, d)
		final = s
		start := time.Now()
		if err := projection.ApplyAll(projection.New(), events); err != nil {
			return err
		}
		fullFold = append(fullFold, time.Since(start))

		d, s, err = loadState(ctx, db, true)
		if err != nil {
			return err
		}
		if s.Seq != final.Seq {
			return fmt.Errorf("snapshot load ends at seq %d, full replay at %d", s.Seq, final.Seq)
		}
		fromSnap = append(fromSnap, d)
		start = time.Now()
		s, err = projection.DecodeState(snap)
		if err != nil {
			return err
		}
		if err := projection.ApplyAll(s, events[snapSeq:]); err != nil {
			return err
		}
		snapFold = append(snapFold, time.Since(start))
	}
	if final.Seq != int64(cfg.Events) {
		return fmt.Errorf("replay ended at seq %d of %d", final.Seq, cfg.Events)
	}
	size := fmt.Sprintf("%d brokers, %d topics, %d producers, %d consumers", len(final.Brokers), len(final.Topics), len(final.Producers), len(final.Consumers))
	e.report.add(Row{
		ID: "cold_start_full", Title: fmt.Sprintf("cold start, %s events", groupThousands(int64(cfg.Events))),
		ValueName: "load+fold", Value: median(full).Seconds(), Unit: "s",
		Figures: []Figure{{Name: "best", Value: slices.Min(full).Seconds(), Unit: "s"},
			{Name: "fold only", Value: median(fullFold).Seconds(), Unit: "s"},
			{Name: "cpu: this process", Value: fullCPU.self.Seconds() / runs, Unit: "s"},
			{Name: "postgres", Value: fullCPU.pg.Seconds() / runs, Unit: "s"}},
		Target: "< 2 s", Pass: pass(median(full) < 2*time.Second),
		Note: fmt.Sprintf("read every event from PostgreSQL (pages of %d, read ahead of the fold, as a manager's catch-up) and fold it with projection.Apply; final state %s; median of %d",
			coldStartReads, size, runs),
	})
	e.report.add(Row{
		ID: "cold_start_snapshot", Title: "cold start, from a snapshot",
		ValueName: "load+fold", Value: median(fromSnap).Seconds(), Unit: "s",
		Figures: []Figure{{Name: "best", Value: slices.Min(fromSnap).Seconds(), Unit: "s"},
			{Name: "decode+fold only", Value: median(snapFold).Seconds(), Unit: "s"}},
		Target: "< 0.2 s", Pass: pass(median(fromSnap) < 200*time.Millisecond),
		Note: fmt.Sprintf("load the latest snapshot (%s bytes, at seq %s), decode it, read and fold the %s events after it; median of %d",
			groupThousands(int64(len(snap))), groupThousands(snapSeq), groupThousands(int64(cfg.SnapshotEvery)), runs),
	})
	return nil
}

// loadState rebuilds the state as a manager or a broker does on start:
// with a snapshot, an eventlog.Replica's Start (the newest snapshot, then
// the events after it, read a page ahead of the fold); without, the same
// paged replay of the whole log (eventlog.Replay).
func loadState(ctx context.Context, db *pgxpool.Pool, withSnapshot bool) (time.Duration, *projection.State, error) {
	start := time.Now()
	log := eventlog.NewDB(db, eventlog.TailConfig{})
	if !withSnapshot {
		s := projection.New()
		if _, err := eventlog.Replay(ctx, log, s, 0); err != nil {
			return 0, nil, err
		}
		return time.Since(start), s, nil
	}
	r := eventlog.NewReplica(eventlog.ReplicaConfig{Log: log, PageSize: coldStartReads})
	if err := r.Start(ctx); err != nil {
		return 0, nil, err
	}
	if r.SnapshotSeq() == 0 {
		return 0, nil, fmt.Errorf("cold start: no snapshot loaded")
	}
	d := time.Since(start)
	return d, r.Clone(), nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// generateEvents returns n events of a plausible, long-lived cluster (Seq
// unset): a writer, 5 brokers, 20 topics of 6 partitions, then a stream in
// which producers (30%) and consumers (20%) register, clients go inactive
// and come back (40%), brokers die and come back (5%) and partitions move
// (5%). Every event is valid: the fold accepts the whole log.
func generateEvents(n int) []logq.Event {
	const brokers, topics, partitions = 5, 20, 6
	out := make([]logq.Event, 0, n)
	add := func(p projection.Payload) bool {
		if len(out) == n {
			return false
		}
		out = append(out, projection.NewEvent(p))
		return true
	}
	add(projection.WriterElected{Manager: "http://127.0.0.1:8080", Epoch: 1})
	for b := int64(1); b <= brokers; b++ {
		add(projection.BrokerRegistered{BrokerID: b, Address: fmt.Sprintf("127.0.0.1:%d", 8090+b)})
	}
	topic := func(i int) string { return fmt.Sprintf("topic-%02d", i%topics) }
	epochs := make([][]int64, topics)
	for t := range topics {
		add(projection.TopicCreated{Topic: topic(t), Partitions: partitions})
		epochs[t] = make([]int64, partitions)
		for p := range partitions {
			epochs[t][p] = 1
			add(projection.PartitionAssigned{Topic: topic(t), Partition: p, BrokerID: int64((t*partitions+p)%brokers + 1), Epoch: 1})
		}
	}
	var (
		producers, consumers int64
		inactiveP            = map[int64]bool{}
		inactiveC            = map[int64]bool{}
		alive                = [brokers + 1]bool{true, true, true, true, true, true}
		rnd                  = uint64(42)
	)
	next := func(k int64) int64 { // xorshift: deterministic, cheap
		rnd ^= rnd << 13
		rnd ^= rnd >> 7
		rnd ^= rnd << 17
		return int64(rnd % uint64(k))
	}
	for i := 0; len(out) < n; i++ {
		switch k := i % 20; {
		case k < 6:
			producers++
			add(projection.ProducerRegistered{ProducerID: producers, Topic: topic(int(next(topics)))})
		case k < 10:
			consumers++
			add(projection.ConsumerRegistered{ConsumerID: consumers, Topic: topic(int(next(topics)))})
		case k < 18:
			if k%2 == 0 && producers > 0 {
				id := next(producers) + 1
				add(projection.ClientStatusChanged{Client: "producer", ID: id, Active: inactiveP[id]})
				inactiveP[id] = !inactiveP[id]
			} else if consumers > 0 {
				id := next(consumers) + 1
				add(projection.ClientStatusChanged{Client: "consumer", ID: id, Active: inactiveC[id]})
				inactiveC[id] = !inactiveC[id]
			}
		case k == 18:
			b := next(brokers) + 1
			alive[b] = !alive[b]
			add(projection.BrokerStatusChanged{BrokerID: b, Alive: alive[b]})
		default:
			t, p := int(next(topics)), int(next(partitions))
			epochs[t][p]++
			add(projection.PartitionAssigned{Topic: topic(t), Partition: p, BrokerID: next(brokers) + 1, Epoch: epochs[t][p]})
		}
	}
	return out
}
