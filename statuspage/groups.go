package statuspage

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/logq/logq/projection"
)

// The consumer groups' section: each group's latest generation in the
// ledger, its members and their assignments (live states such as a
// rebalance in progress are the writer's: GET /groups/{group}).

type (
	groupRow struct {
		Name         string
		Generation   int64
		ProtocolType string
		Protocol     string
		Leader       string
		Assigned     bool // the generation's assignment is logged
		Members      []groupMemberRow
	}
	groupMemberRow struct {
		ID, ClientID, Instance, Assignment string
		Leader                             bool
	}
)

// groupRows lists the groups of s by name, at most maxRows, with how many
// were left out.
func groupRows(s *projection.State) (out []groupRow, more int) {
	for _, name := range s.GroupNames() {
		if len(out) == maxRows {
			more++
			continue
		}
		g := s.Groups[name]
		row := groupRow{Name: name, Generation: g.Generation, ProtocolType: g.ProtocolType, Protocol: g.Protocol,
			Leader: g.Leader, Assigned: g.AssignedGeneration == g.Generation}
		for _, m := range g.Members {
			var parts []string
			topics := g.Assignment[m.MemberID]
			for _, t := range slices.Sorted(maps.Keys(topics)) {
				parts = append(parts, fmt.Sprintf("%s %v", t, topics[t]))
			}
			row.Members = append(row.Members, groupMemberRow{ID: m.MemberID, ClientID: m.ClientID, Instance: m.GroupInstanceID,
				Assignment: strings.Join(parts, ", "), Leader: m.MemberID == g.Leader})
		}
		out = append(out, row)
	}
	return out, more
}
