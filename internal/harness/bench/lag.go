package bench

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/manager"
)

// readerLag starts one reader manager per tail mode, appends LagEvents
// events through the writer at LagRate, and measures for each event the
// time from the writer's append (the event's at, taken just before its
// INSERT) to each reader having applied it (its WaitApplied returning).
func (e *env) readerLag(ctx context.Context) error {
	cfg := e.cfg
	modes := []eventlog.Mode{eventlog.ModeNotify, eventlog.ModeLogical}
	readers := make([]*manager.Manager, len(modes))
	var serving sync.WaitGroup
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer func() { stop(); serving.Wait() }()
	for i, mode := range modes {
		m, err := manager.New(ctx, manager.Config{
			Name: "bench-reader-" + string(mode), Role: manager.RoleRead, DSN: e.cluster.DSN, TailMode: mode,
			Logger: e.cfg.Logger.With().Str("node", "bench-reader-"+string(mode)).Logger(),
		})
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			m.Close()
			return err
		}
		serving.Go(func() { m.Serve(sctx, ln) })
		readers[i] = m
	}
	first, err := eventlog.LastSeq(ctx, e.db)
	if err != nil {
		return err
	}
	first++
	// Both readers are following the log once they have applied its end.
	for _, m := range readers {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := m.WaitApplied(wctx, first-1)
		cancel()
		if err != nil {
			return fmt.Errorf("reader did not catch up: %w", err)
		}
	}

	// One waiter per reader records when it applies each seq from first
	// on, until target (the last seq appended, known at the end).
	var target atomic.Int64
	applied := make([][]time.Time, len(readers))
	wctx, cancelWait := context.WithCancel(ctx)
	defer cancelWait()
	var waiters sync.WaitGroup
	for i, m := range readers {
		applied[i] = make([]time.Time, 0, cfg.LagEvents+64)
		waiters.Go(func() {
			for seq := first; ; seq++ {
				if err := m.WaitApplied(wctx, seq); err != nil {
					return
				}
				applied[i] = append(applied[i], time.Now())
				if t := target.Load(); t > 0 && seq >= t {
					return
				}
			}
		})
	}

	e.progress("reader lag: %d events at %d/s, readers in modes notify and logical", cfg.LagEvents, cfg.LagRate)
	sem := make(chan struct{}, 8)
	var (
		wg      sync.WaitGroup
		failed  atomic.Value
		lastSeq atomic.Int64
	)
	start := time.Now()
	interval := time.Second / time.Duration(cfg.LagRate)
	for i := range cfg.LagEvents {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			// Each registration appends one event (ProducerRegistered).
			if _, err := e.client.RegisterProducer(ctx, "lag", nil); err != nil {
				failed.Store(err)
			}
		})
		if i == 0 {
			wg.Wait() // the first one also creates the topic
		}
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	lastSeq.Store(e.client.Seq())
	last := lastSeq.Load()
	target.Store(last)
	for _, m := range readers {
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := m.WaitApplied(tctx, last)
		cancel()
		if err != nil {
			return fmt.Errorf("reader did not apply seq %d: %w", last, err)
		}
	}
	// A waiter that moved past last before target was set waits for an
	// event that may never come.
	cancelWait()
	waiters.Wait()

	events, err := readEvents(ctx, e, first-1, last)
	if err != nil {
		return err
	}
	for i, mode := range modes {
		var lags []time.Duration
		for j, at := range applied[i] {
			if j >= len(events) {
				break
			}
			lags = append(lags, max(0, at.Sub(events[j].At)))
		}
		if len(lags) < len(events) {
			return fmt.Errorf("reader (%s) applied %d of %d events: %w", mode, len(lags), len(events), errShort)
		}
		figs := latencyFigures(lags, 0.99, 0.5)
		e.report.add(Row{
			ID: "reader_lag_" + string(mode), Title: fmt.Sprintf("reader lag (%s tail)", mode),
			ValueName: "p99", Value: figs[0].Value, Unit: "ms", Figures: figs[1:],
			Target: "p99 < 20 ms", Pass: pass(figs[0].Value < 20),
			Note: fmt.Sprintf("%s events appended by the writer at %d/s; event.at (writer, before its INSERT) → reader manager applied it (WaitApplied)",
				groupThousands(int64(len(lags))), cfg.LagRate),
		})
	}
	return nil
}

// readEvents reads the events after..last from the database.
func readEvents(ctx context.Context, e *env, after, last int64) (out []eventRecord, err error) {
	for after < last {
		events, err := eventlog.Read(ctx, e.db, after, int(min(last-after, 10000)))
		if err != nil {
			return nil, err
		}
		if len(events) == 0 {
			return nil, fmt.Errorf("event log ends at seq %d, before %d", after, last)
		}
		for _, ev := range events {
			out = append(out, eventRecord{Seq: ev.Seq, At: ev.At})
		}
		after = events[len(events)-1].Seq
	}
	return out, nil
}

type eventRecord struct {
	Seq int64
	At  time.Time
}
