package curves

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteSVG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.svg")
	err := WriteSVG(path, Chart{Title: "unbatched produce", XLabel: "partitions", Caption: "64 producers", Series: []Series{
		{Name: "logq", X: []float64{1, 3, 12, 48}, Rate: []float64{5000, 9000, 12000, 11000}, P99: []float64{20, 30, 40, 0}},
		{Name: "JetStream", X: []float64{1, 3, 12, 48}, Rate: []float64{40000, 42000, 41000, 39000}, P99: []float64{2, 3, 4, 5}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "logq", "JetStream", "partitions", "48", "throughput"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the SVG lacks %q", want)
		}
	}
	if err := WriteSVG(path, Chart{Series: []Series{{Name: "x", X: []float64{0}, Rate: []float64{1}, P99: []float64{1}}}}); err == nil {
		t.Error("x = 0 on a log axis passed")
	}
	if err := WriteSVG(path, Chart{}); err == nil {
		t.Error("an empty chart passed")
	}
}
