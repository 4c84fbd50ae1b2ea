package projection

import "testing"

// A version 2 snapshot (no kafka, deleted or topic config section) still
// decodes.
func TestSnapshotV2Decodes(t *testing.T) {
	s := bigState(10)
	b := encodeBinary(s)
	if b[len(b)-1] != 0 || b[len(b)-2] != 0 || b[len(b)-3] != 0 {
		t.Fatal("bigState has Kafka addresses, deleted topics or topic configs; the test needs none")
	}
	v2 := append([]byte{}, b[:len(b)-3]...) // drop the empty kafka, deleted and topic config sections
	v2[3] = 2
	d, err := DecodeState(v2)
	if err != nil {
		t.Fatal(err)
	}
	if Render(d) != Render(s) {
		t.Fatal("v2 snapshot decoded to another state")
	}
}
