package pgoffsets_test

import (
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/logq/logq/api"
	"github.com/logq/logq/groups/pgoffsets"
	"github.com/logq/logq/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestStore(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t, time.Minute)
	s := pgoffsets.New(pgtest.Pool(t, pgtest.NewDB(t), 4))
	at := time.Unix(1700000000, 0)
	if got, err := s.Fetch(ctx, "g", nil); err != nil || len(got) != 0 {
		t.Fatalf("fetch of nothing = %v, %v", got, err)
	}
	in := []api.CommittedOffset{{Topic: "b", Partition: 1, Offset: 7, Metadata: "m"}, {Topic: "a", Partition: 0, Offset: 3}}
	if err := s.Commit(ctx, "g", in, at); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "g", []api.CommittedOffset{{Topic: "a", Partition: 0, Offset: 5}}, at); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "h", []api.CommittedOffset{{Topic: "a", Partition: 0, Offset: 1}}, at); err != nil {
		t.Fatal(err)
	}
	got, err := s.Fetch(ctx, "g", nil)
	want := []api.CommittedOffset{{Topic: "a", Partition: 0, Offset: 5}, {Topic: "b", Partition: 1, Offset: 7, Metadata: "m"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("fetch = %v, %v; want %v", got, err, want)
	}
	if got, _ := s.Fetch(ctx, "g", []string{"b"}); len(got) != 1 || got[0].Topic != "b" {
		t.Fatalf("fetch b = %v", got)
	}
	if gs, err := s.Groups(ctx); err != nil || !reflect.DeepEqual(gs, []string{"g", "h"}) {
		t.Fatalf("groups = %v, %v", gs, err)
	}
	// A negative offset is refused by the table (the coordinator refuses it first).
	if err := s.Commit(ctx, "g", []api.CommittedOffset{{Topic: "a", Partition: 0, Offset: -5}}, at); err == nil {
		t.Fatal("negative offset stored")
	}
	if err := s.Delete(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if gs, _ := s.Groups(ctx); !reflect.DeepEqual(gs, []string{"h"}) {
		t.Fatalf("groups after delete = %v", gs)
	}
}
