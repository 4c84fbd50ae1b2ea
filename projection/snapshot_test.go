package projection

import (
	"encoding/json"
	"fmt"
	"testing"
)

// bigState is a state with n producers and n consumers over a few topics.
func bigState(n int) *State {
	s := New()
	s.Seq, s.WriterEpoch, s.Writer = int64(4*n), 3, "http://127.0.0.1:8080"
	for b := int64(1); b <= 3; b++ {
		s.Brokers[b] = &Broker{ID: b, Address: fmt.Sprintf("127.0.0.1:%d", 9000+b), Alive: b != 2, Removed: b == 3}
	}
	for t := range 4 {
		name := fmt.Sprintf("topic-%d", t)
		s.Topics[name] = &Topic{Name: name, Partitions: []Partition{{Index: 0, Broker: 1, Epoch: 2}, {Index: 1, Broker: 2, Epoch: 1}, {Index: 2}}}
	}
	for i := int64(1); i <= int64(n); i++ {
		var part *int
		if i%3 == 0 {
			p := int(i % 3)
			part = &p
		}
		s.Producers[i] = &Producer{ID: i, Topic: fmt.Sprintf("topic-%d", i%4), Partition: part, Inactive: i%5 == 0}
		s.Consumers[i] = &Consumer{ID: i, Topic: fmt.Sprintf("topic-%d", i%3), Partition: part, Inactive: i%7 == 0}
	}
	s.NextIDs = NextIDs{Broker: 4, Producer: int64(n + 1), Consumer: int64(n + 1)}
	return s
}

func TestSnapshotBinaryRoundTrip(t *testing.T) {
	for _, s := range []*State{New(), bigState(50)} {
		b, err := Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeState(b)
		if err != nil {
			t.Fatal(err)
		}
		if Render(got) != Render(s) {
			t.Fatalf("round trip differs:\n%s\nwant\n%s", Render(got), Render(s))
		}
		// The decoded state is a state like any other: deep-cloned apart.
		if c := got.Clone(); len(c.Producers) > 0 {
			c.Producers[3].Inactive = !c.Producers[3].Inactive
			*c.Producers[3].Partition = 7
			if got.Producers[3].Inactive == c.Producers[3].Inactive || *got.Producers[3].Partition == 7 {
				t.Fatal("clone of a decoded state shares memory with it")
			}
		}
		// Every truncation fails cleanly.
		for i := len(snapshotMagic); i < len(b); i++ {
			if _, err := DecodeState(b[:i]); err == nil {
				t.Fatalf("decoded a snapshot truncated to %d of %d bytes", i, len(b))
			}
		}
	}
}

// TestSnapshotReadsJSON: snapshots written before the binary encoding
// still load.
func TestSnapshotReadsJSON(t *testing.T) {
	s := bigState(20)
	old, err := encodeJSON(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeState(old)
	if err != nil {
		t.Fatal(err)
	}
	if Render(got) != Render(s) {
		t.Fatalf("JSON snapshot decodes to:\n%s\nwant\n%s", Render(got), Render(s))
	}
}

func FuzzSnapshotDecode(f *testing.F) {
	b, _ := Encode(bigState(3))
	f.Add(b)
	f.Add(snapshotMagic)
	withStorage := bigState(3) // a storage section (storagecluster.go)
	withStorage.StorageClusters = map[string]*StorageCluster{"pg2": {Name: "pg2"}}
	withStorage.Brokers[2].StorageCluster = "pg2"
	withStorage.Topics["topic-1"].Partitions[1].StorageCluster = "pg2"
	b, _ = Encode(withStorage)
	f.Add(b)
	withOwners := bigState(3) // an owners section (owners.go)
	withOwners.Producers[2].Principal, withOwners.Consumers[3].Principal = "alice", "bob"
	b, _ = Encode(withOwners)
	f.Add(b)
	f.Add([]byte(`{"version":1,"state":{"seq":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeState(data)
		if err != nil || !isBinarySnapshot(data) {
			return
		}
		// What decodes encodes back to a snapshot of the same state.
		again, err := Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := DecodeState(again)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if Render(s2) != Render(s) {
			t.Fatalf("re-decode differs:\n%s\nwant\n%s", Render(s2), Render(s))
		}
	})
}

// BenchmarkSnapshotDecode decodes the snapshot of a state of 250,000
// producers and as many consumers, binary and (version 1) JSON.
func BenchmarkSnapshotDecode(b *testing.B) {
	s := bigState(250_000)
	bin, _ := Encode(s)
	js, _ := encodeJSON(s)
	for _, c := range []struct {
		name string
		data []byte
	}{{"binary", bin}, {"json", js}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeState(c.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// encodeJSON is the version-1 encoding, which Decode still reads (tests of
// the upgrade path).
func encodeJSON(s *State) ([]byte, error) {
	return json.Marshal(snapshot{Version: snapshotVersion, State: s})
}
