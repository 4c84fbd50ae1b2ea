package projection

import (
	"bytes"
	"testing"
)

// A version 2 snapshot (no kafka, deleted, topic config or groups section) still
// decodes.
func TestSnapshotV2Decodes(t *testing.T) {
	s := bigState(10)
	b := encodeBinary(s)
	groups := appendGroups(nil, s)
	tail := 3 + len(groups) // the empty kafka, deleted and topic config sections, then the groups
	if !bytes.Equal(b[len(b)-tail:], append([]byte{0, 0, 0}, groups...)) || len(s.Groups) != 0 {
		t.Fatal("bigState has Kafka addresses, deleted topics, topic configs or groups; the test needs none")
	}
	v2 := append([]byte{}, b[:len(b)-tail]...)
	v2[3] = 2
	d, err := DecodeState(v2)
	if err != nil {
		t.Fatal(err)
	}
	if Render(d) != Render(s) {
		t.Fatal("v2 snapshot decoded to another state")
	}
}
