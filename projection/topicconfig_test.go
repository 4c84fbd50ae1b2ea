package projection_test

import (
	"strings"
	"testing"

	"github.com/logq/logq/projection"
)

// TestApplyTopicConfigChanged: table tests of TopicConfigChanged.
func TestApplyTopicConfigChanged(t *testing.T) {
	for _, tc := range []struct {
		name    string
		event   projection.TopicConfigChanged
		wantErr string // substring; "" = success
		wantMs  int64
		wantB   int64
	}{
		{"both", projection.TopicConfigChanged{Topic: "orders", RetentionMs: 60000, RetentionBytes: 1 << 30}, "", 60000, 1 << 30},
		{"forever", projection.TopicConfigChanged{Topic: "orders", RetentionMs: -1, RetentionBytes: -1}, "", -1, -1},
		{"back to the default", projection.TopicConfigChanged{Topic: "orders"}, "", 0, 0},
		{"unknown topic", projection.TopicConfigChanged{Topic: "nope", RetentionMs: 1}, "unknown topic", 0, 0},
		{"ms below -1", projection.TopicConfigChanged{Topic: "orders", RetentionMs: -2}, "retention_ms -2", 0, 0},
		{"bytes below -1", projection.TopicConfigChanged{Topic: "orders", RetentionBytes: -5}, "retention_bytes -5", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := baseState(t)
			before := projection.Render(s)
			e := projection.NewEvent(tc.event)
			e.Seq, e.Epoch = s.Seq+1, 1
			err := projection.Apply(s, e)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Apply = %v; want an error with %q", err, tc.wantErr)
				}
				if projection.Render(s) != before {
					t.Fatal("a failed Apply changed the state")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o := s.Topics["orders"]
			if o.RetentionMs != tc.wantMs || o.RetentionBytes != tc.wantB {
				t.Fatalf("retention = %d ms, %d bytes; want %d, %d", o.RetentionMs, o.RetentionBytes, tc.wantMs, tc.wantB)
			}
			// Snapshots and clones carry it.
			b, err := projection.Encode(s)
			if err != nil {
				t.Fatal(err)
			}
			got, err := projection.DecodeState(b)
			if err != nil {
				t.Fatal(err)
			}
			if projection.Render(got) != projection.Render(s) {
				t.Fatalf("snapshot round trip differs:\n%s\nwant\n%s", projection.Render(got), projection.Render(s))
			}
			if c := s.Clone(); c.Topics["orders"].RetentionMs != tc.wantMs {
				t.Fatal("clone lost the retention")
			} else if c.Topics["orders"].RetentionMs = 99; s.Topics["orders"].RetentionMs == 99 {
				t.Fatal("clone shares the topic")
			}
		})
	}
}
