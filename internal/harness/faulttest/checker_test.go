package faulttest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The checker reads the data plane's tables directly: they are the test's
// ground truth, whatever any server says. All three reads run in one
// REPEATABLE READ transaction, so they see one consistent snapshot (a
// partition's next_offset and its messages are committed together).
const (
	sqlPartitions = `SELECT partition, next_offset FROM partitions WHERE topic = $1 ORDER BY partition`
	sqlMessages   = `SELECT partition, "offset", convert_from(value, 'UTF8') FROM messages WHERE topic = $1 ORDER BY partition, "offset"`
	sqlPositions  = `SELECT consumer_id, partition, position FROM consumer_offsets WHERE topic = $1`
)

// report is what a check found.
type report struct {
	Scenario     string
	Acked        int // messages acknowledged to producers
	Failed       int // sends that failed after the client's retries (not acknowledged)
	Stored       int // rows in the topic
	Lost         int // acknowledged but not stored where acknowledged: must be 0
	Duplicated   int // extra stored copies (at-least-once produce: a resend whose first answer was lost)
	Resent       int // messages the client sent again: the bound for Duplicated
	Consumed     int // deliveries received by the consumers
	LostInFlight int // deliveries consumed on the server whose answer never reached the consumer
	// Consumer groups (groupload_test.go): deliveries to the groups'
	// members, acknowledged records some group never received by the end
	// (must be 0), and deliveries of a record its group had already
	// received (at-least-once allows them).
	GroupDelivered   int
	GroupMissing     int
	GroupRedelivered int
	Recover          time.Duration // fault to every partition acknowledging again (worst round)
	Notes            []string
}

type row struct {
	offset  int64
	payload string
}

// snapshot of the ground truth.
type snapshot struct {
	next      map[int]int64           // partition → next_offset
	rows      map[int][]row           // partition → rows by offset
	positions map[int64]map[int]int64 // consumer id → partition → position
}

func readSnapshot(ctx context.Context, c *cluster) (*snapshot, error) {
	s := &snapshot{next: map[int]int64{}, rows: map[int][]row{}, positions: map[int64]map[int]int64{}}
	err := pgx.BeginTxFunc(ctx, c.db, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		each := func(sql string, scans []any, fn func()) error {
			rows, err := tx.Query(ctx, sql, topicName)
			if err != nil {
				return err
			}
			_, err = pgx.ForEachRow(rows, scans, func() error { fn(); return nil })
			return err
		}
		var (
			p          int
			n, id, pos int64
			r          row
		)
		if err := each(sqlPartitions, []any{&p, &n}, func() { s.next[p] = n }); err != nil {
			return err
		}
		if err := each(sqlMessages, []any{&p, &r.offset, &r.payload}, func() { s.rows[p] = append(s.rows[p], r) }); err != nil {
			return err
		}
		return each(sqlPositions, []any{&id, &p, &pos}, func() {
			if s.positions[id] == nil {
				s.positions[id] = map[int]int64{}
			}
			s.positions[id][p] = pos
		})
	})
	return s, err
}

// problems collects what a check finds wrong, reporting the first few.
type problems struct {
	t     *testing.T
	label string
	n     int
}

func (p *problems) add(format string, args ...any) {
	p.t.Helper()
	p.n++
	if p.n <= 20 {
		p.t.Errorf("%s: %s", p.label, fmt.Sprintf(format, args...))
	}
}

// prodState is what a producer knew at a check.
type prodState struct {
	sent   int64
	acks   map[int64]ack
	failed int
}

// check verifies the guarantees against the database. Mid-run (final
// false) it checks what is settled: every message acknowledged before the
// snapshot is stored where acknowledged, offsets are gap-free, producers'
// messages are in order, and every message a consumer received is the one
// stored at its offset, in order. At the end (final: producers stopped,
// consumers drained and stopped) it also checks that every consumer has
// reached the end of every partition and counts the deliveries lost in
// flight.
func check(ctx context.Context, t *testing.T, c *cluster, w *workload, label string, final bool) report {
	t.Helper()
	pr := &problems{t: t, label: label}
	r := report{}

	// What producers and consumers know, taken before the database's
	// snapshot: all of it was committed before that snapshot.
	prods := make([]prodState, len(w.producers))
	for i, p := range w.producers {
		p.mu.Lock()
		prods[i] = prodState{sent: p.sent, acks: make(map[int64]ack, len(p.acks)), failed: len(p.failed)}
		for k, v := range p.acks {
			prods[i].acks[k] = v
		}
		p.mu.Unlock()
		r.Acked += len(prods[i].acks)
		r.Failed += prods[i].failed
	}
	gots := make([]map[int][]received, len(w.consumers))
	for i, cs := range w.consumers {
		cs.mu.Lock()
		gots[i] = map[int][]received{}
		for p, g := range cs.got {
			gots[i][p] = append([]received(nil), g...)
		}
		cs.mu.Unlock()
	}

	members := snapshotGroups(w)

	snap, err := readSnapshot(ctx, c)
	if err != nil {
		t.Fatalf("%s: read the ground truth: %v", label, err)
	}
	// Read after the snapshot: a bound for every duplicate in it.
	for _, p := range w.producers {
		r.Resent += int(p.tr.resent.Load())
	}

	// Offsets: 0 … next_offset-1, each once.
	type loc struct {
		partition int
		offset    int64
	}
	where := map[[2]int64][]loc{} // (producer, seq) → where stored
	for p := range numPartitions {
		rows := snap.rows[p]
		if int64(len(rows)) != snap.next[p] {
			pr.add("partition %d: next_offset %d but %d messages", p, snap.next[p], len(rows))
		}
		for i, rw := range rows {
			if rw.offset != int64(i) {
				pr.add("partition %d: offset %d at position %d: offsets are not gap-free", p, rw.offset, i)
				break
			}
		}
		r.Stored += len(rows)
		// No producer's messages reordered within the partition: the first
		// copy of each message comes after the first copy of every earlier
		// one (a resent copy may follow later).
		last := map[int]int64{}
		seen := map[[2]int64]bool{}
		for _, rw := range rows {
			prod, seq, ok := parsePayload(rw.payload)
			if !ok || prod >= len(prods) {
				pr.add("partition %d offset %d: a message no producer sent: %q", p, rw.offset, truncate(rw.payload, 80))
				continue
			}
			if final && seq >= prods[prod].sent {
				pr.add("partition %d offset %d: producer %d never sent seq %d", p, rw.offset, prod, seq)
			}
			k := [2]int64{int64(prod), seq}
			where[k] = append(where[k], loc{p, rw.offset})
			if seen[k] {
				continue
			}
			seen[k] = true
			if l, ok := last[prod]; ok && seq <= l {
				pr.add("partition %d offset %d: producer %d's seq %d comes after its seq %d: reordered", p, rw.offset, prod, seq, l)
			}
			last[prod] = seq
		}
	}
	for _, locs := range where {
		r.Duplicated += len(locs) - 1
	}

	// Every acknowledged message is stored, at the offset acknowledged.
	for i, ps := range prods {
		for seq, a := range ps.acks {
			locs := where[[2]int64{int64(i), seq}]
			if len(locs) == 0 {
				r.Lost++
				pr.add("producer %d seq %d acknowledged at %d/%d is not stored: LOST", i, seq, a.partition, a.offset)
				continue
			}
			at := false
			for _, l := range locs {
				at = at || (l.partition == a.partition && l.offset == a.offset)
			}
			if !at {
				r.Lost++
				pr.add("producer %d seq %d acknowledged at %d/%d is stored elsewhere: %v", i, seq, a.partition, a.offset, locs)
			}
		}
	}
	// The workload's producers are idempotent (the client's default): a
	// resend after a lost answer is stored once, so no duplicate is
	// explained by resends any more.
	if r.Duplicated > 0 {
		pr.add("%d duplicated messages (the clients resent %d): the idempotent producers must store each message once", r.Duplicated, r.Resent)
	}

	// Consumers: each saw its partitions in order, each message the one
	// stored at its offset; what it skipped was consumed by a request
	// whose answer was lost.
	for i, cs := range w.consumers {
		pos := snap.positions[cs.cons.ID()]
		for p := range numPartitions {
			got := gots[i][p]
			r.Consumed += len(got)
			prev := int64(-1)
			for _, g := range got {
				switch {
				case g.offset <= prev:
					pr.add("consumer %d partition %d: offset %d after %d: redelivered or out of order", i, p, g.offset, prev)
				case g.offset >= int64(len(snap.rows[p])):
					pr.add("consumer %d partition %d: received offset %d beyond the partition's end %d", i, p, g.offset, len(snap.rows[p]))
				case snap.rows[p][g.offset].payload != g.value:
					pr.add("consumer %d partition %d offset %d: received %q, stored %q", i, p, g.offset, truncate(g.value, 40), truncate(snap.rows[p][g.offset].payload, 40))
				}
				prev = max(prev, g.offset)
			}
			end := prev + 1 // mid-run: what lies past the last delivery may still be in flight
			if final {
				end = pos[p]
				if prev >= end {
					pr.add("consumer %d partition %d: received offset %d but its position is %d", i, p, prev, end)
				}
				if end != snap.next[p] {
					pr.add("consumer %d partition %d: position %d, partition ends at %d: not drained", i, p, end, snap.next[p])
				}
			}
			r.LostInFlight += int(max(end-int64(len(got)), 0))
		}
	}
	checkGroups(pr, &r, w, members, snap, prods, final)
	if pr.n > 20 {
		t.Errorf("%s: … %d problems in all", label, pr.n)
	}
	var consumeFailures int64
	for _, cs := range w.consumers {
		consumeFailures += cs.tr.failedAttempts.Load()
	}
	t.Logf("%s: acked %d, failed %d, stored %d, lost %d, duplicated %d (resent %d), consumed %d, lost in flight %d (failed consume attempts %d); "+
		"groups: delivered %d, missing %d, redelivered %d",
		label, r.Acked, r.Failed, r.Stored, r.Lost, r.Duplicated, r.Resent, r.Consumed, r.LostInFlight, consumeFailures,
		r.GroupDelivered, r.GroupMissing, r.GroupRedelivered)
	return r
}

// waitDrained waits until every consumer's position is at the end of every
// partition (producers stopped).
func waitDrained(ctx context.Context, t *testing.T, c *cluster, w *workload) {
	t.Helper()
	waitFor(t, ctx, "the consumers to drain the topic", func() (bool, error) {
		snap, err := readSnapshot(ctx, c)
		if err != nil {
			return false, err
		}
		for _, cs := range w.consumers {
			for p := range numPartitions {
				if snap.positions[cs.cons.ID()][p] != snap.next[p] {
					return false, nil
				}
			}
		}
		return true, nil
	})
}

// summary renders reports as a table.
func summary(reports []report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-18s %8s %6s %5s %10s %7s %6s %9s %14s %15s %13s %17s %10s\n",
		"SCENARIO", "ACKED", "FAILED", "LOST", "DUPLICATED", "RESENT", "STORED", "CONSUMED", "LOST-IN-FLIGHT",
		"GROUP-DELIVERED", "GROUP-MISSING", "GROUP-REDELIVERED", "RECOVER")
	for _, r := range reports {
		fmt.Fprintf(&b, "%-18s %8d %6d %5d %10d %7d %6d %9d %14d %15d %13d %17d %10s\n",
			r.Scenario, r.Acked, r.Failed, r.Lost, r.Duplicated, r.Resent, r.Stored, r.Consumed, r.LostInFlight,
			r.GroupDelivered, r.GroupMissing, r.GroupRedelivered, r.Recover.Round(time.Millisecond))
	}
	return b.String()
}
