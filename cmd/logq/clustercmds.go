package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/logq/logq/client"
)

// Commands that change the cluster's shape (brokers remove, topics
// add-partitions, rebalance) and the client listings (producers,
// consumers).

func brokersRemoveCmd(e *env) *cobra.Command {
	cmd, f := newCommand("remove ID", "decommission a broker: move its partitions away and retire it", `Decommission a broker: its partitions move to live brokers (with higher
ownership epochs; the data stays in PostgreSQL) and it is retired, in one
step. A removed broker that keeps running is fenced: its appends fail and its
heartbeats are refused. Refused when no other live broker can take its
partitions.`, 1, 1)
	cl := addClientFlags(e, f)
	cl.jsonFlag("print the moves as JSON")
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || id <= 0 {
			return usageErrorf("brokers remove: ID %q is not a positive integer", pos[0])
		}
		return cl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			moves, seq, err := c.RemoveBroker(ctx, id)
			if err != nil {
				return err
			}
			return show(cl, nonNilMoves(moves), func(w io.Writer, moves []client.Move) error {
				fmt.Fprintf(w, "removed broker %d (seq %d); %d partitions reassigned\n", id, seq, len(moves))
				return printMoves(w, moves)
			})
		})
	}
	return cmd
}

func topicsAddPartitionsCmd(e *env) *cobra.Command {
	cmd, f := newCommand("add-partitions NAME", "add partitions to a topic", `Add partitions to a topic (numbered after the existing ones), spread over the
live brokers. Keys hash over the new partition count from then on, so a key's
later messages may land in another partition than its earlier ones.`, 1, 1)
	cl := addClientFlags(e, f)
	count := f.Int("count", 0, "number of partitions `N` to add (required, at least 1)")
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		if *count < 1 {
			return usageErrorf("topics add-partitions: --count must be at least 1")
		}
		return cl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			total, seq, err := c.AddPartitions(ctx, pos[0], *count)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "added %d partitions to topic %s: %d in all (seq %d)\n", *count, pos[0], total, seq)
			return nil
		})
	}
	return cmd
}

func rebalanceCmd(e *env) *cobra.Command {
	cmd, f := newCommand("rebalance", "even out partitions over the live brokers", `Even out partitions over the live brokers (after brokers joined): moves
ownership only, with higher epochs; the data stays in PostgreSQL. Producers
and consumers carry on (requests in flight are re-routed).`, 0, 0)
	cl := addClientFlags(e, f)
	cl.jsonFlag("print the moves as JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return cl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			moves, seq, err := c.Rebalance(ctx)
			if err != nil {
				return err
			}
			return show(cl, nonNilMoves(moves), func(w io.Writer, moves []client.Move) error {
				if len(moves) == 0 {
					fmt.Fprintf(w, "already balanced: nothing moved (seq %d)\n", seq)
					return nil
				}
				fmt.Fprintf(w, "moved %d partitions (seq %d)\n", len(moves), seq)
				return printMoves(w, moves)
			})
		})
	}
	return cmd
}

func nonNilMoves(moves []client.Move) []client.Move {
	if moves == nil {
		return []client.Move{}
	}
	return moves
}

func printMoves(w io.Writer, moves []client.Move) error {
	if len(moves) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tFROM\tTO\tEPOCH")
	for _, m := range moves {
		from := "-"
		if m.FromBroker != 0 {
			from = strconv.FormatInt(m.FromBroker, 10)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\n", m.Topic, m.Partition, from, m.BrokerID, m.Epoch)
	}
	return tw.Flush()
}

// clientsCmd is "producers" or "consumers".
func clientsCmd(e *env, kind string) *cobra.Command {
	short := "list the producers with their status and last contact"
	about := `List the producers with their topic, partition ("all": the whole topic),
status and when the writer manager last heard from them. A client silent past
the managers' client timeout (default 1m) is inactive until its next request.`
	if kind == "consumers" {
		short = "list the consumers with their status, last contact and lag"
		about = `List the consumers with their topic, partition ("all": the whole topic),
status, when the writer manager last heard from them, and their lag (messages
left, summed over their partitions; "?" marks a partial sum when a broker did
not answer). A client silent past the managers' client timeout (default 1m) is
inactive until its next request.`
	}
	cmd, f := newCommand(kind, short, about, 0, 0)
	cl := addClientFlags(e, f)
	topic := f.String("topic", "", "only the clients of `topic`")
	cl.jsonFlag("print JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return cl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			list := c.Producers
			if kind == "consumers" {
				list = c.Consumers
			}
			clients, err := list(ctx, *topic)
			if err != nil {
				return err
			}
			if clients == nil {
				clients = []client.ClientInfo{}
			}
			return show(cl, clients, func(w io.Writer, clients []client.ClientInfo) error {
				return printClients(w, clients, kind == "consumers")
			})
		})
	}
	return cmd
}

// printClients writes a table of producers or consumers (withLag).
func printClients(w io.Writer, clients []client.ClientInfo, withLag bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "ID\tTOPIC\tPARTITION\tSTATUS\tLAST SEEN"
	if withLag {
		head += "\tLAG"
	}
	fmt.Fprintln(tw, head)
	for _, ci := range clients {
		part := "all"
		if ci.Partition != nil {
			part = strconv.Itoa(*ci.Partition)
		}
		status := "active"
		if !ci.Active {
			status = "inactive"
		}
		seen := "-"
		if ci.LastSeen != nil {
			seen = ci.Idle.Truncate(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s", ci.ID, ci.Topic, part, status, seen)
		if withLag {
			lag := strconv.FormatInt(ci.Lag, 10)
			if !ci.LagKnown {
				lag += "?"
			}
			fmt.Fprintf(tw, "\t%s", lag)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
