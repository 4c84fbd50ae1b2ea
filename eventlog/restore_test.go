package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

// TestRestartFromSnapshotEqualsFullReplay is a cold start: the state
// rebuilt from the newest snapshot plus the tail after it equals the state
// from replaying the whole log, in both tail modes.
func TestRestartFromSnapshotEqualsFullReplay(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			dsn := pgtest.NewDB(t)
			db := newPool(t, dsn)
			w := acquire(t, dsn, "writer")

			// A writer's life: election, brokers, topics, clients.
			live := projection.New()
			appendApply := func(ps ...projection.Payload) {
				t.Helper()
				evs := make([]logq.Event, len(ps))
				for i, p := range ps {
					evs[i] = projection.NewEvent(p)
				}
				if err := projection.ApplyAll(live, mustAppend(t, w, evs...)); err != nil {
					t.Fatal(err)
				}
			}
			appendApply(projection.WriterElected{Manager: "http://m1", Epoch: w.Epoch()},
				projection.BrokerRegistered{BrokerID: 1, Address: "b1"},
				projection.BrokerRegistered{BrokerID: 2, Address: "b2"})
			for i := 0; i < 20; i++ {
				topic := fmt.Sprintf("t%d", i)
				appendApply(projection.TopicCreated{Topic: topic, Partitions: 2},
					projection.PartitionAssigned{Topic: topic, Partition: 0, BrokerID: 1, Epoch: 1},
					projection.PartitionAssigned{Topic: topic, Partition: 1, BrokerID: 2, Epoch: 1})
				if i == 9 {
					snap, err := projection.Encode(live)
					if err != nil {
						t.Fatal(err)
					}
					if err := eventlog.SaveSnapshot(testCtx(t), db, live.Seq, snap); err != nil {
						t.Fatal(err)
					}
				}
				appendApply(projection.ProducerRegistered{ProducerID: live.NextIDs.Producer, Topic: topic})
			}
			appendApply(projection.BrokerStatusChanged{BrokerID: 2, Alive: false},
				projection.PartitionAssigned{Topic: "t3", Partition: 1, BrokerID: 1, Epoch: 2})

			// Full replay from seq 0.
			full := projection.New()
			all, err := eventlog.Read(testCtx(t), db, 0, 100000)
			if err != nil {
				t.Fatal(err)
			}
			if err := projection.ApplyAll(full, all); err != nil {
				t.Fatal(err)
			}

			// Cold start: snapshot, then tail from its seq to the end.
			seq, b, err := eventlog.LatestSnapshot(testCtx(t), db)
			if err != nil {
				t.Fatal(err)
			}
			restored, err := projection.DecodeState(b)
			if err != nil {
				t.Fatal(err)
			}
			if restored.Seq != seq || seq >= full.Seq {
				t.Fatalf("snapshot at seq %d (state seq %d); log ends at %d", seq, restored.Seq, full.Seq)
			}
			c, stop := startTail(t, eventlog.TailConfig{DSN: dsn, Mode: mode}, seq, 0)
			tail := c.wait(t, int(full.Seq-seq), 30*time.Second)
			if err := stop(); !errors.Is(err, context.Canceled) {
				t.Fatalf("tail: %v", err)
			}
			if err := projection.ApplyAll(restored, tail); err != nil {
				t.Fatal(err)
			}
			if got, want := projection.Render(restored), projection.Render(full); got != want {
				t.Fatalf("snapshot + tail:\n%s\nfull replay:\n%s", got, want)
			}
			if got, want := projection.Render(full), projection.Render(live); got != want {
				t.Fatalf("full replay differs from the writer's own state:\n%s\nwant\n%s", got, want)
			}
		})
	}
}
