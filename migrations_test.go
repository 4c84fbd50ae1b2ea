package logq_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"testing"

	"github.com/logq/logq"
)

// shipped holds the SHA-256 of every migration that has shipped. A shipped
// migration is never edited (databases past it never run it again): change
// the schema by adding the next file, and its checksum here.
var shipped = map[string]string{
	"0001_initial.sql":         "426c972adf97484fb9a20ecf568a424ff1d5b9b0ddd4913738acc470c3456663",
	"0002_records.sql":         "2499ce26611cb396d17df85240ba0074bffb53422ec1e04309b8226a1fbe9a12",
	"0003_retention.sql":       "f1be94edf9c728c04061e10375c561fb6979432a7b558d662078d938f899a189",
	"0004_groups.sql":          "db3e17cc31d3e237df59b801b47c8a91f3e5a12213bf7d9bb5ad21050d2951b6",
	"0005_max_value_bytes.sql": "05d5f4c23f923cf299c83a0e3638cb0e75d93a8be40b19596ff8049f8e98f45f",
}

func TestMigrationsUnchanged(t *testing.T) {
	files, err := fs.Glob(logq.Migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		b, err := fs.ReadFile(logq.Migrations, f)
		if err != nil {
			t.Fatal(err)
		}
		name := f[len("migrations/"):]
		seen[name] = true
		sum := sha256.Sum256(b)
		got := hex.EncodeToString(sum[:])
		want, ok := shipped[name]
		switch {
		case !ok:
			t.Errorf("migration %s is new: add %q: %q to shipped", name, name, got)
		case got != want:
			t.Errorf("migration %s has shipped and was edited (sha256 %s, shipped %s): revert it and add a new migration instead", name, got, want)
		}
	}
	for name := range shipped {
		if !seen[name] {
			t.Errorf("shipped migration %s was removed", name)
		}
	}
}
