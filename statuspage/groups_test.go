package statuspage

import (
	"bytes"
	"strings"
	"testing"

	"github.com/logq/logq/projection"
)

func TestGroupRowsAndSection(t *testing.T) {
	s := projection.New()
	s.Groups["g"] = &projection.Group{Name: "g", Generation: 3, ProtocolType: "logq", Protocol: "range", Leader: "m1",
		AssignedGeneration: 3, Members: []projection.GroupMember{{MemberID: "m1", ClientID: "c1"}, {MemberID: "m2", ClientID: "c2"}},
		Assignment: map[string]map[string][]int{"m1": {"orders": {0, 1}}, "m2": {"orders": {2}}}}
	s.Groups["empty"] = &projection.Group{Name: "empty", Generation: 5, AssignedGeneration: 5}
	rows, more := groupRows(s)
	if more != 0 || len(rows) != 2 || rows[1].Name != "g" || rows[1].Members[0].Assignment != "orders [0 1]" || !rows[1].Members[0].Leader {
		t.Fatalf("rows = %+v", rows)
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, &page{Groups: rows}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`data-group="g"`, "orders [2]", "logq/range", `data-group="empty"`} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("page lacks %q", want)
		}
	}
}
