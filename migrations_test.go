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
	"0001_initial.sql": "426c972adf97484fb9a20ecf568a424ff1d5b9b0ddd4913738acc470c3456663",
	// 0002 and 0003 are placeholders on the groups branch: the records and
	// retention branches' files (and checksums) replace them.
	"0002_records.sql":   "d66783fe6b36a07f4f67078180099427aec37d8a0353c8bc6b7c4b0aa76960ed",
	"0003_retention.sql": "5bd7f3eb389cad0f4bacd3d2a47aae0833c7a8e5a7ed79ec58884e124d641762",
	"0004_groups.sql":    "db3e17cc31d3e237df59b801b47c8a91f3e5a12213bf7d9bb5ad21050d2951b6",
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
