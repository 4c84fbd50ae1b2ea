package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/logq/logq/client"
)

// clientFlags are the flags of a command that talks to the managers:
// --manager and, where the command prints data, --json.
type clientFlags struct {
	f       *flags
	stdout  io.Writer
	manager *string
	asJSON  *bool        // nil: the command has no --json
	creds   *clientCreds // security.go
}

// addClientFlags adds --manager (env LOGQ_MANAGER) to f.
func addClientFlags(e *env, f *flags) *clientFlags {
	cl := &clientFlags{f: f, stdout: e.stdout}
	cl.manager = f.String("manager", client.DefaultManager, "manager `URL`s, comma-separated (tried in order)")
	f.fromEnv("manager", "LOGQ_MANAGER")
	cl.creds = addClientCreds(f) // security.go
	return cl
}

// jsonFlag adds --json, described by usage.
func (cl *clientFlags) jsonFlag(usage string) {
	cl.asJSON = cl.f.Bool("json", false, usage)
}

// client makes a client for the managers of --manager.
func (cl *clientFlags) client() (*client.Client, error) {
	c, err := client.New(cl.creds.apply(client.Config{Managers: []string{*cl.manager}}))
	if err != nil {
		return nil, usageErrorf("%s: --manager: %v", cl.f.name(), err)
	}
	return c, nil
}

// with calls body with a client for the managers of --manager, closed when
// body returns.
func (cl *clientFlags) with(ctx context.Context, body func(ctx context.Context, c *client.Client) error) error {
	c, err := cl.client()
	if err != nil {
		return err
	}
	defer c.Close()
	return body(ctx, c)
}

// show prints v on stdout: indented JSON with --json, otherwise as text
// writes it.
func show[T any](cl *clientFlags, v T, text func(io.Writer, T) error) error {
	if cl.asJSON != nil && *cl.asJSON {
		return writeJSON(cl.stdout, v)
	}
	return text(cl.stdout, v)
}

// optionalInt is an int flag that knows whether it was given.
type optionalInt struct {
	set bool
	v   int
}

func (o *optionalInt) String() string {
	if !o.set {
		return ""
	}
	return strconv.Itoa(o.v)
}

func (o *optionalInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("not an integer")
	}
	if n < 0 {
		return errors.New("must not be negative")
	}
	o.set, o.v = true, n
	return nil
}

// Type is the value's name in pflag's messages.
func (o *optionalInt) Type() string { return "int" }

func (o *optionalInt) ptr() *int {
	if !o.set {
		return nil
	}
	return client.Partition(o.v)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func topicsCreateCmd(e *env) *cobra.Command {
	cmd, f := newCommand("create NAME", "create a topic", "Create a topic. Its partitions are assigned to the live brokers.", 1, 1)
	cl := addClientFlags(e, f)
	partitions := f.Int("partitions", 0, "number of partitions `N` (0: the manager's default)")
	ret := addRetentionFlags(f) // topicconfig.go
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		if *partitions < 0 {
			return usageErrorf("topics create: --partitions must not be negative")
		}
		return cl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			seq, err := c.CreateTopicConfigured(ctx, pos[0], *partitions, ret.change())
			if err != nil {
				return err
			}
			info, err := c.DescribeTopic(ctx, pos[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "created topic %s with %d partitions (seq %d)\n", pos[0], len(info.Partitions), seq)
			return nil
		})
	}
	return cmd
}

func topicsListCmd(e *env) *cobra.Command {
	cmd, f := newCommand("list", "list the topics", "List the topics, one per line.", 0, 0)
	cl := addClientFlags(e, f)
	cl.jsonFlag("print a JSON array")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return cl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			names, err := c.ListTopics(ctx)
			if err != nil {
				return err
			}
			return show(cl, names, printLines)
		})
	}
	return cmd
}

func printLines(w io.Writer, lines []string) error {
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return nil
}

func topicsDescribeCmd(e *env) *cobra.Command {
	cmd, f := newCommand("describe NAME", "show a topic's partitions, owners and high watermarks", "Show a topic's partitions: owning broker, ownership epoch, high watermark\n(next offset) and whether the partition is writable now.", 1, 1)
	cl := addClientFlags(e, f)
	cl.jsonFlag("print JSON")
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		return cl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			info, err := c.DescribeTopic(ctx, pos[0])
			if err != nil {
				return err
			}
			return show(cl, info, printTopic)
		})
	}
	return cmd
}

func printTopic(w io.Writer, info *client.TopicInfo) error {
	fmt.Fprintf(w, "topic %s, %d partitions\n", info.Name, len(info.Partitions))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tBROKER\tADDRESS\tEPOCH\tLOG START\tHIGH WATERMARK\tWRITABLE\tSTORAGE")
	for _, p := range info.Partitions {
		start := "-" // its broker has not said yet (retention)
		if p.LogStartOffset != nil {
			start = strconv.FormatInt(*p.LogStartOffset, 10)
		}
		storage := p.StorageCluster // storage clusters (issue 17)
		if storage == "" {
			storage = "-"
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%s\t%d\t%t\t%s\n", p.Partition, p.BrokerID, p.Address, p.Epoch, start, p.HighWatermark, p.Writable, storage)
	}
	return tw.Flush()
}

func brokersCmd(e *env) *cobra.Command {
	cmd, f := newCommand("brokers", "list the brokers", "List the registered brokers with their liveness and partitions.", 0, 0)
	cl := addClientFlags(e, f)
	cl.jsonFlag("print JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return cl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			brokers, err := c.Brokers(ctx)
			if err != nil {
				return err
			}
			return show(cl, brokers, printBrokers)
		})
	}
	return cmd
}

func printBrokers(w io.Writer, brokers []client.BrokerInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tALIVE\tPARTITIONS")
	for _, b := range brokers {
		fmt.Fprintf(tw, "%d\t%s\t%t\t%d\n", b.ID, b.Address, b.Alive, b.PartitionCount)
	}
	return tw.Flush()
}

func sizeCmd(e *env) *cobra.Command {
	cmd, f := newCommand("size", "print how many messages are left for a consumer", "Print how many messages are left for a consumer (its lag), summed over its partitions.", 0, 0)
	cl := addClientFlags(e, f)
	topic := f.String("topic", "", "the `topic` (required)")
	id := f.Int64("consumer-id", 0, "the consumer `id` (required)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *topic == "" {
			return usageErrorf("size: --topic is required")
		}
		if *id <= 0 {
			return usageErrorf("size: --consumer-id is required (a positive id)")
		}
		return cl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			n, err := c.Size(ctx, *topic, *id)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, n)
			return nil
		})
	}
	return cmd
}

func produceCmd(e *env) *cobra.Command {
	cmd, f := newCommand("produce [FILE]", "produce lines from stdin or a file", `Produce one message per line of FILE (or stdin, or FILE "-"), batched.
Without --partition, a message goes to the partition of its key's hash, or
round robin when it has no key. Prints a summary on stderr; exits non-zero if
any message failed.`, 0, 1)
	cl := addClientFlags(e, f)
	topic := f.String("topic", "", "the `topic` (required; created if unknown)")
	key := f.String("key", "", "`key` of every message")
	keySep := f.String("key-separator", "", "split each line at the first `SEP` into key and message")
	var partition optionalInt
	f.Var(&partition, "partition", "write every message to partition `P`")
	linger := f.Duration("linger", client.DefaultLinger, "how long a batch waits for more messages")
	batch := f.Int("batch-size", client.DefaultBatchSize, "at most `N` messages per batch")
	direct := f.Bool("direct", false, "send straight to the brokers (falls back to the manager)")
	progress := f.Bool("progress", false, "show progress on stderr (default: when stderr is a terminal)")
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		ctx := cmd.Context()
		if *topic == "" {
			return usageErrorf("produce: --topic is required")
		}
		if *batch <= 0 {
			return usageErrorf("produce: --batch-size must be positive")
		}
		in := e.stdin
		if len(pos) == 1 && pos[0] != "-" {
			file, err := os.Open(pos[0])
			if err != nil {
				return fmt.Errorf("produce: %w", err)
			}
			defer file.Close()
			in = file
		}
		c, err := cl.client()
		if err != nil {
			return err
		}
		defer c.Close()
		p, err := c.NewProducer(ctx, *topic, client.ProducerConfig{
			Linger: *linger, BatchSize: *batch, Direct: *direct,
		})
		if err != nil {
			return err
		}
		defer p.Close()

		// A waiter collects results in order while lines are read.
		futures := make(chan *client.Future, 4*(*batch)+1024)
		var (
			mu      sync.Mutex
			ok      int64
			failed  int64
			firstEr error
			perPart = map[int]int64{}
		)
		waitDone := make(chan struct{})
		go func() {
			defer close(waitDone)
			for fut := range futures {
				ack, err := fut.Wait(context.Background())
				mu.Lock()
				if err != nil {
					failed++
					if firstEr == nil {
						firstEr = err
					}
				} else {
					ok++
					perPart[ack.Partition]++
				}
				mu.Unlock()
			}
		}()
		showProgress := *progress || isTerminal(e.stderr)
		var stopProgress func()
		if showProgress {
			stopProgress = startProgress(e.stderr, func() (int64, int64) {
				mu.Lock()
				defer mu.Unlock()
				return ok, failed
			})
		}

		r := bufio.NewReaderSize(in, 1<<16)
		var lines int64
		var readErr error
		for {
			line, err := r.ReadString('\n')
			if len(line) > 0 {
				line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
				rec := client.Record{Key: *key, Value: line, Partition: partition.ptr()}
				if *keySep != "" {
					if k, v, found := strings.Cut(line, *keySep); found {
						rec.Key, rec.Value = k, v
					}
				}
				futures <- p.Send(ctx, rec)
				lines++
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				readErr = err
				break
			}
			if ctx.Err() != nil {
				break
			}
		}
		flushErr := p.Flush(ctx)
		close(futures)
		<-waitDone
		if stopProgress != nil {
			stopProgress()
		}
		var dist []string
		for _, k := range slices.Sorted(maps.Keys(perPart)) {
			dist = append(dist, fmt.Sprintf("%d:%d", k, perPart[k]))
		}
		fmt.Fprintf(e.stderr, "produced %d of %d messages to %s (partition:count %s)\n", ok, lines, *topic, strings.Join(dist, " "))
		switch {
		case readErr != nil:
			return fmt.Errorf("produce: read input: %w", readErr)
		case firstEr != nil:
			return fmt.Errorf("produce: %d of %d messages failed; first error: %w", failed, lines, firstEr)
		case ctx.Err() != nil:
			return ctx.Err()
		case flushErr != nil:
			return flushErr
		}
		return nil
	}
	return cmd
}

// startProgress prints a progress line on w every 200 ms until stopped.
func startProgress(w io.Writer, counts func() (ok, failed int64)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	print := func() {
		ok, failed := counts()
		rate := float64(ok) / max(time.Since(start).Seconds(), 0.001)
		fmt.Fprintf(w, "\r%d produced, %d failed, %.0f msg/s ", ok, failed, rate)
	}
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				print()
				fmt.Fprintln(w)
				return
			case <-t.C:
				print()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func consumeCmd(e *env) *cobra.Command {
	cmd, f := newCommand("consume", "consume messages and print them", `Consume messages and print them, one per line. Without --consumer-id a new
consumer is registered (from the beginning of every partition) and its id is
printed on stderr: pass it back to resume. Stops when nothing is left, after
--max messages, or (with --follow) on Ctrl-C.

With --group G it consumes as a member of consumer group G (docs/groups.md):
it shares the topic's partitions with the group's other members, starts
from the group's committed offsets (--from earliest or latest where none is
committed), and commits, at least once, what it has printed: every 5 s, on
a rebalance and when it stops. --consumer-id and --partition do not apply.`, 0, 0)
	cl := addClientFlags(e, f)
	topic := f.String("topic", "", "the `topic` (required)")
	id := f.Int64("consumer-id", 0, "resume consumer `id` (0: register a new one)")
	var partition optionalInt
	f.Var(&partition, "partition", "register the new consumer for partition `P` only")
	maxN := f.Int("max", 0, "stop after `N` messages (0: no limit)")
	follow := f.Bool("follow", false, "keep waiting for new messages")
	wait := f.Duration("wait", 5*time.Second, "long-poll time per request with --follow")
	format := f.String("format", "value", "output `format`: value, kv (key<TAB>value), json")
	group := f.String("group", "", "consume as a member of consumer `group` G (committed offsets, at least once)")
	from := f.String("from", "", "with --group: where to start in a partition without a committed offset, `earliest` (default) or latest")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		if *topic == "" {
			return usageErrorf("consume: --topic is required")
		}
		if *group == "" && *from != "" {
			return usageErrorf("consume: --from needs --group (a new consumer starts at the beginning)")
		}
		if *group != "" {
			switch {
			case *id != 0 || partition.ptr() != nil:
				return usageErrorf("consume: --group shares the partitions among the group's members: no --consumer-id or --partition")
			case *from != "" && *from != client.ResetEarliest && *from != client.ResetLatest:
				return usageErrorf("consume: --from must be earliest or latest, not %q", *from)
			}
		}
		if *maxN < 0 {
			return usageErrorf("consume: --max must not be negative")
		}
		switch *format {
		case "value", "kv", "json":
		default:
			return usageErrorf("consume: --format must be value, kv or json, not %q", *format)
		}
		c, err := cl.client()
		if err != nil {
			return err
		}
		defer c.Close()
		w := -time.Nanosecond // no wait: stop when nothing is left
		if *follow {
			w = *wait
		}
		var poll func(ctx context.Context, max int) ([]client.Message, error)
		commit := func(bool) {} // a group's: commits what was printed, when due
		committed := time.Now()
		if *group != "" {
			gc, err := c.NewGroupConsumer(ctx, *group, []string{*topic}, client.GroupConsumerConfig{ResetPolicy: *from, MaxWait: w, ClientID: "logq-cli",
				NoAutoCommit: true}) // committed below, once printed

			if err != nil {
				return err
			}
			defer func() {
				// Commit what was printed and leave, even after Ctrl-C.
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				defer cancel()
				if err := gc.Close(cctx); err != nil {
					fmt.Fprintf(e.stderr, "consume: leaving group %s: %v\n", *group, err)
				}
			}()
			a := gc.Member().Assignment()
			fmt.Fprintf(e.stderr, "group %s: member %s, generation %d, partitions %v\n", *group, a.MemberID, a.Generation, a.Partitions[*topic])
			poll = gc.Poll
			commit = func(force bool) {
				if !force && time.Since(committed) < client.DefaultAutoCommitInterval {
					return
				}
				committed = time.Now()
				if err := gc.Commit(ctx); err != nil && ctx.Err() == nil {
					fmt.Fprintf(e.stderr, "consume: commit (the records are redelivered): %v\n", err)
				}
			}
		} else {
			cons, err := c.NewConsumer(ctx, *topic, client.ConsumerConfig{ID: *id, Partition: partition.ptr(), MaxWait: w})
			if err != nil {
				return err
			}
			defer cons.Close()
			if *id == 0 {
				fmt.Fprintf(e.stderr, "consumer id: %d\n", cons.ID())
			}
			poll = cons.Poll
		}
		out := bufio.NewWriter(e.stdout)
		defer out.Flush()
		enc := json.NewEncoder(out)
		n := 0
		for *maxN == 0 || n < *maxN {
			want := client.DefaultPollBatch
			if *maxN > 0 {
				want = min(want, *maxN-n)
			}
			msgs, err := poll(ctx, want)
			if err != nil {
				if *follow && ctx.Err() != nil {
					return nil
				}
				return err
			}
			for _, m := range msgs {
				switch *format {
				case "json":
					enc.Encode(m)
				case "kv":
					fmt.Fprintf(out, "%s\t%s\n", m.Key, m.Value)
				default:
					fmt.Fprintln(out, m.Value)
				}
			}
			n += len(msgs)
			if *follow || *group != "" {
				if err := out.Flush(); err != nil {
					return err
				}
				commit(false)
			}
			if len(msgs) == 0 && !*follow {
				break
			}
		}
		return out.Flush()
	}
	return cmd
}
