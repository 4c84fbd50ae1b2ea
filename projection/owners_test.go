package projection_test

import (
	"bytes"
	"testing"

	"github.com/logq/logq/projection"
)

// TestClientOwners: ProducerRegistered and ConsumerRegistered keep their
// principal on the producer and consumer; without one (open mode, older
// logs) the client has no owner.
func TestClientOwners(t *testing.T) {
	tests := []struct {
		name  string
		event projection.Payload
		check func(t *testing.T, s *projection.State)
	}{
		{"producer with an owner", projection.ProducerRegistered{ProducerID: 2, Topic: "orders", Principal: "alice"}, func(t *testing.T, s *projection.State) {
			if p := s.Producers[2]; p == nil || p.Principal != "alice" {
				t.Errorf("producer 2 = %+v", p)
			}
		}},
		{"consumer with an owner", projection.ConsumerRegistered{ConsumerID: 2, Topic: "orders", Partition: intp(0), Principal: "bob"}, func(t *testing.T, s *projection.State) {
			if c := s.Consumers[2]; c == nil || c.Principal != "bob" || *c.Partition != 0 {
				t.Errorf("consumer 2 = %+v", c)
			}
		}},
		{"consumer without an owner", projection.ConsumerRegistered{ConsumerID: 2, Topic: "orders"}, func(t *testing.T, s *projection.State) {
			if c := s.Consumers[2]; c == nil || c.Principal != "" {
				t.Errorf("consumer 2 = %+v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseState(t)
			e := projection.NewEvent(tt.event)
			e.Seq, e.Epoch = s.Seq+1, 1
			if err := projection.Apply(s, e); err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
			if c := s.Clone(); c.Producers[1].Principal != s.Producers[1].Principal {
				t.Error("clone lost an owner")
			}
		})
	}
	// The JSON of an event without an owner is what it was.
	if e := projection.NewEvent(projection.ProducerRegistered{ProducerID: 1, Topic: "orders"}); bytes.Contains(e.Data, []byte("principal")) {
		t.Errorf("event data %s names a principal", e.Data)
	}
}

// TestOwnersSnapshotSection: owners survive a snapshot (a tagged section
// before the security section), and a state without owners encodes byte
// for byte as before (so older snapshots, which have no such section,
// decode with no owners).
func TestOwnersSnapshotSection(t *testing.T) {
	plain := baseState(t)
	pb, err := projection.Encode(plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(pb, []byte{0xC9}) {
		t.Error("owners section written for a state without owners")
	}
	d, err := projection.DecodeState(pb)
	if err != nil {
		t.Fatal(err)
	}
	if d.Producers[1].Principal != "" || d.Consumers[1].Principal != "" {
		t.Error("owners from a snapshot without any")
	}

	s := projection.New()
	all := append(append([]projection.Payload{}, base...),
		projection.ProducerRegistered{ProducerID: 2, Topic: "orders", Principal: "alice"},
		projection.ConsumerRegistered{ConsumerID: 2, Topic: "orders", Partition: intp(0), Principal: "alice"},
		projection.ConsumerRegistered{ConsumerID: 3, Topic: "orders", Principal: "bob"},
		projection.PrincipalCreated{Name: "alice", Kind: "client"},
	)
	if err := projection.ApplyAll(s, events(all...)); err != nil {
		t.Fatal(err)
	}
	b, err := projection.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	if d, err = projection.DecodeState(b); err != nil {
		t.Fatal(err)
	}
	if projection.Render(d) != projection.Render(s) {
		t.Fatalf("round trip:\n%s\nwant\n%s", projection.Render(d), projection.Render(s))
	}
	if d.Producers[2].Principal != "alice" || d.Consumers[3].Principal != "bob" || d.Producers[1].Principal != "" || d.Security == nil {
		t.Fatalf("owners or security lost: %+v %+v", d.Producers[2], d.Consumers[3])
	}
	// A truncation inside the owners section fails cleanly (one at a
	// section's boundary may decode: the tagged sections are optional).
	at := bytes.Index(b, []byte("\xc9\x02\x05alice\x03bob"))
	if at < 0 {
		t.Fatal("no owners section")
	}
	for i := at + 1; i < at+14; i++ {
		if _, err := projection.DecodeState(b[:i]); err == nil {
			t.Fatalf("decoded a snapshot truncated to %d of %d bytes", i, len(b))
		}
	}
}
