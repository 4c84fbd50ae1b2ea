package projection_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

var update = flag.Bool("update", false, "rewrite the golden transcript files")

// TestGoldenTranscripts folds each testdata/transcripts/*.jsonl (one
// {"type","data"} per line, seq assigned in order) and compares the
// rendered state after every event with the .golden file beside it.
func TestGoldenTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/transcripts/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts found (%v)", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".jsonl")
		t.Run(name, func(t *testing.T) {
			got := transcript(t, file)
			golden := strings.TrimSuffix(file, ".jsonl") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./projection -run Golden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("transcript %s differs from %s (run with -update if the change is intended):\n%s", file, golden, got)
			}
		})
	}
}

func transcript(t *testing.T, file string) []byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	s := projection.New()
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		var in struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal([]byte(text), &in); err != nil {
			t.Fatalf("%s:%d: %v", file, line, err)
		}
		e := logq.Event{Seq: s.Seq + 1, Type: in.Type, Data: in.Data, Epoch: 1}
		fmt.Fprintf(&out, "> %d %s %s\n", e.Seq, e.Type, e.Data)
		if err := projection.Apply(s, e); err != nil {
			fmt.Fprintf(&out, "error: %v\n", err)
			continue
		}
		out.WriteString(projection.Render(s))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
