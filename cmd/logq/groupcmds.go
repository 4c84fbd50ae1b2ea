package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/logq/logq/api"
	"github.com/logq/logq/client"
)

// The consumer-group commands (docs/groups.md), like kafka-consumer-groups:
// groups list, describe (lag per partition), reset-offsets, delete.

func groupsCmd(e *env) *cobra.Command {
	return group("groups", "list, describe, reset the offsets of and delete consumer groups",
		groupsListCmd(e), groupsDescribeCmd(e), groupsResetCmd(e), groupsDeleteCmd(e))
}

func groupsListCmd(e *env) *cobra.Command {
	cmd, f := newCommand("list", "list the consumer groups", "List the consumer groups with their state and protocol type.", 0, 0)
	cl := addClientFlags(e, f)
	cl.jsonFlag("print JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return cl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			gs, err := c.ListGroups(ctx)
			if err != nil {
				return err
			}
			return show(cl, gs, func(w io.Writer, gs []api.GroupListing) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL TYPE")
				for _, g := range gs {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Group, g.State, g.ProtocolType)
				}
				return tw.Flush()
			})
		})
	}
	return cmd
}

// groupPartition is one row of groups describe.
type groupPartition struct {
	Topic         string `json:"topic"`
	Partition     int    `json:"partition"`
	Committed     int64  `json:"committed_offset"` // -1: none
	HighWatermark int64  `json:"high_watermark"`   // -1: unknown
	Lag           int64  `json:"lag"`              // -1: unknown
	MemberID      string `json:"member_id,omitempty"`
	ClientID      string `json:"client_id,omitempty"`
}

type groupDescription struct {
	api.GroupAnswer
	Partitions []groupPartition `json:"partitions"`
}

func groupsDescribeCmd(e *env) *cobra.Command {
	cmd, f := newCommand("describe GROUP", "show a group's members, assignment, committed offsets and lag", `Show a group's state, generation and members, and per partition (of the
topics it is assigned or has committed offsets for) the committed offset, the
high watermark and the lag (high watermark − committed offset; "-" where
nothing is committed).`, 1, 1)
	cl := addClientFlags(e, f)
	cl.jsonFlag("print JSON")
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		return cl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			d, err := describeGroup(ctx, c, pos[0])
			if err != nil {
				return err
			}
			return show(cl, d, printGroup)
		})
	}
	return cmd
}

func describeGroup(ctx context.Context, c *client.Client, name string) (groupDescription, error) {
	g, err := c.DescribeGroup(ctx, name)
	if err != nil {
		return groupDescription{}, err
	}
	d := groupDescription{GroupAnswer: g, Partitions: []groupPartition{}}
	owner := map[string]map[int]api.DescribedMember{}
	topics := map[string]bool{}
	for _, m := range g.Members {
		for t, ps := range m.Assignment {
			topics[t] = true
			if owner[t] == nil {
				owner[t] = map[int]api.DescribedMember{}
			}
			for _, p := range ps {
				owner[t][p] = m
			}
		}
	}
	committed, err := c.FetchOffsets(ctx, name)
	if err != nil {
		return d, err
	}
	for _, o := range committed {
		topics[o.Topic] = true
	}
	if len(topics) == 0 {
		return d, nil
	}
	offs, err := c.FetchOffsets(ctx, name, slices.Sorted(maps.Keys(topics))...)
	if err != nil {
		return d, err
	}
	hwm := map[string]map[int]int64{}
	for t := range topics {
		info, err := c.DescribeTopic(ctx, t)
		if err != nil {
			continue // a deleted topic: its offsets show without a watermark
		}
		hwm[t] = map[int]int64{}
		for _, p := range info.Partitions {
			hwm[t][p.Partition] = p.HighWatermark
		}
	}
	for _, o := range offs {
		row := groupPartition{Topic: o.Topic, Partition: o.Partition, Committed: o.Offset, HighWatermark: -1, Lag: -1}
		if h, ok := hwm[o.Topic][o.Partition]; ok {
			row.HighWatermark = h
			if o.Offset >= 0 {
				row.Lag = max(h-o.Offset, 0)
			}
		}
		if m, ok := owner[o.Topic][o.Partition]; ok {
			row.MemberID, row.ClientID = m.MemberID, m.ClientID
		}
		d.Partitions = append(d.Partitions, row)
	}
	return d, nil
}

func dash(n int64) string {
	if n < 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

func printGroup(w io.Writer, d groupDescription) error {
	proto := d.ProtocolType
	if d.Protocol != "" {
		proto += "/" + d.Protocol
	}
	fmt.Fprintf(w, "group %s: %s, generation %d, protocol %s, leader %s, %d members\n",
		d.Group, d.State, d.Generation, proto, dash0(d.Leader), len(d.Members))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(d.Members) > 0 {
		fmt.Fprintln(tw, "MEMBER\tINSTANCE\tCLIENT\tASSIGNMENT")
		for _, m := range d.Members {
			var parts []string
			for _, t := range slices.Sorted(maps.Keys(m.Assignment)) {
				parts = append(parts, fmt.Sprintf("%s%v", t, m.Assignment[t]))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.MemberID, dash0(m.GroupInstanceID), dash0(m.ClientID), dash0(strings.Join(parts, " ")))
		}
		tw.Flush()
	}
	if len(d.Partitions) > 0 {
		fmt.Fprintln(tw, "TOPIC\tPARTITION\tCOMMITTED\tHIGH WATERMARK\tLAG\tMEMBER")
		for _, p := range d.Partitions {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", p.Topic, p.Partition, dash(p.Committed), dash(p.HighWatermark), dash(p.Lag), dash0(p.MemberID))
		}
	}
	return tw.Flush()
}

func dash0(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func groupsResetCmd(e *env) *cobra.Command {
	cmd, f := newCommand("reset-offsets GROUP", "set a group's committed offsets of a topic", `Set the committed offsets of a group for a topic's partitions (all, or
--partitions): to an offset, the earliest or latest offset, or the first
offset at or after a time. Only while the group has no members (stop its
consumers first), as kafka-consumer-groups --reset-offsets --execute.`, 1, 1)
	cl := addClientFlags(e, f)
	cl.jsonFlag("print JSON")
	topic := f.String("topic", "", "the `TOPIC` (required)")
	partitions := f.String("partitions", "", "comma-separated partition `NUMBERS` (default all)")
	toOffset := f.Int64("to-offset", -1, "reset to offset `N`")
	toEarliest := f.Bool("to-earliest", false, "reset to the earliest offset (the log start)")
	toLatest := f.Bool("to-latest", false, "reset to the latest offset (the high watermark)")
	toDatetime := f.String("to-datetime", "", "reset to the first offset at or after `TIME` (RFC 3339)")
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		if *topic == "" {
			return usageErrorf("groups reset-offsets: --topic is required")
		}
		req := api.ResetOffsetsRequest{Topic: *topic}
		n := 0
		if *toOffset >= 0 {
			req.To, req.Offset = api.ResetToOffset, *toOffset
			n++
		}
		if *toEarliest {
			req.To = api.ResetToEarliest
			n++
		}
		if *toLatest {
			req.To = api.ResetToLatest
			n++
		}
		if *toDatetime != "" {
			at, err := time.Parse(time.RFC3339, *toDatetime)
			if err != nil {
				return usageErrorf("groups reset-offsets: --to-datetime %q is not an RFC 3339 time", *toDatetime)
			}
			req.To, req.TimestampMS = api.ResetToDatetime, at.UnixMilli()
			n++
		}
		if n != 1 {
			return usageErrorf("groups reset-offsets: give exactly one of --to-offset, --to-earliest, --to-latest, --to-datetime")
		}
		if *partitions != "" {
			for _, s := range strings.Split(*partitions, ",") {
				p, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil || p < 0 {
					return usageErrorf("groups reset-offsets: --partitions %q is not a list of partition numbers", *partitions)
				}
				req.Partitions = append(req.Partitions, p)
			}
		}
		return cl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			offs, err := c.ResetOffsets(ctx, pos[0], req)
			if err != nil {
				return err
			}
			return show(cl, offs, func(w io.Writer, offs []api.CommittedOffset) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TOPIC\tPARTITION\tNEW OFFSET")
				for _, o := range offs {
					fmt.Fprintf(tw, "%s\t%d\t%d\n", o.Topic, o.Partition, o.Offset)
				}
				return tw.Flush()
			})
		})
	}
	return cmd
}

func groupsDeleteCmd(e *env) *cobra.Command {
	cmd, f := newCommand("delete GROUP", "delete an empty group and its committed offsets", "Delete a group that has no members, with its committed offsets.", 1, 1)
	cl := addClientFlags(e, f)
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		return cl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			if err := c.DeleteGroup(ctx, pos[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "deleted group %s\n", pos[0])
			return nil
		})
	}
	return cmd
}
