package bench

import (
	"bytes"
	"context"
	"math"
	"testing"
	"time"
)

// TestKafkaRows runs the Kafka section alone in quick mode (`logq bench
// --quick --only kafka`) and checks that its three rows are measured, each
// against its baseline and JetStream. It checks no speed.
func TestKafkaRows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	rep, err := Run(ctx, Config{Quick: true, Only: []string{SectionKafka}, Progress: &progress})
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, progress.String())
	}
	ids := []string{"kafka_produce_batched", "kafka_produce_unbatched", "kafka_fetch"}
	if len(rep.Rows) != len(ids) {
		t.Fatalf("%d rows, want %d: %+v", len(rep.Rows), len(ids), rep.Rows)
	}
	for i, id := range ids {
		row := rep.Rows[i]
		if row.ID != id || !(row.Value > 0) || !(row.Baseline > 0) || !(row.Ratio > 0) || row.Pass == nil || row.Note == "" ||
			!(row.Peer > 0) || math.IsInf(row.PeerRatio, 0) {
			t.Errorf("row %d: %+v, want %s measured against its baseline and JetStream", i, row, id)
		}
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
}
