package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/logq/logq"
	"github.com/logq/logq/client"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/pg"
	"github.com/logq/logq/projection"
)

// pageSize is how many events one read asks for.
const pageSize = 10000

// eventSource is where the event commands read the log: a manager's
// GET /events or the database itself.
type eventSource interface {
	// read returns up to limit events with seq > after, in seq order.
	read(ctx context.Context, after int64, limit int) ([]logq.Event, error)
	// list returns the events matching f (f.Limit bounds the page).
	list(ctx context.Context, f eventlog.Filter) ([]logq.Event, error)
	get(ctx context.Context, seq int64) (logq.Event, error)
	// snapshot returns the newest snapshot at or before seq, if any.
	snapshot(ctx context.Context, seq int64) (*projection.State, bool, error)
	// tail calls fn for every event with seq > after until ctx is done.
	tail(ctx context.Context, after int64, fn func(logq.Event) error) error
	describe() string
	close()
}

// sourceFlags adds --manager, --db and --tail and returns the opener.
type sourceFlags struct {
	manager *string
	db      *string
	mode    *string
	poll    *time.Duration
	creds   *clientCreds // security.go
}

func addSourceFlags(f *flags, withTail bool) *sourceFlags {
	s := &sourceFlags{
		manager: f.String("manager", client.DefaultManager, "read events from the manager at `URL`s, comma-separated"),
		db:      f.String("db", "", "read events from the database at `URL` instead of a manager"),
	}
	f.fromEnv("manager", "LOGQ_MANAGER")
	f.fromEnv("db", "LOGQ_DATABASE_URL")
	s.creds = addClientCreds(f) // security.go
	if withTail {
		s.mode = f.String("tail", "notify", "with --db, how to follow the log (`MODE`: notify or logical)")
		s.poll = f.Duration("poll", 250*time.Millisecond, "with --manager, how often to ask for new events")
	}
	return s
}

func (s *sourceFlags) open(ctx context.Context) (eventSource, error) {
	if *s.db != "" {
		pool, err := pg.Connect(ctx, *s.db, 4)
		if err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		src := &dbSource{pool: pool, dsn: *s.db}
		if s.mode != nil {
			m, err := eventlog.ParseMode(*s.mode)
			if err != nil {
				pool.Close()
				return nil, usageErrorf("--tail: %v", err)
			}
			src.mode = m
		}
		return src, nil
	}
	c, err := client.New(s.creds.apply(client.Config{Managers: []string{*s.manager}}))
	if err != nil {
		return nil, usageErrorf("--manager: %v", err)
	}
	src := &managerSource{c: c, poll: 250 * time.Millisecond}
	if s.poll != nil && *s.poll > 0 {
		src.poll = *s.poll
	}
	return src, nil
}

type dbSource struct {
	pool *pgxpool.Pool
	dsn  string
	mode eventlog.Mode
}

func (s *dbSource) read(ctx context.Context, after int64, limit int) ([]logq.Event, error) {
	return eventlog.Read(ctx, s.pool, after, limit)
}

func (s *dbSource) list(ctx context.Context, f eventlog.Filter) ([]logq.Event, error) {
	return eventlog.List(ctx, s.pool, f)
}

func (s *dbSource) get(ctx context.Context, seq int64) (logq.Event, error) {
	return eventlog.Get(ctx, s.pool, seq)
}

func (s *dbSource) snapshot(ctx context.Context, seq int64) (*projection.State, bool, error) {
	_, data, err := eventlog.LatestSnapshotAtOrBefore(ctx, s.pool, seq)
	if errors.Is(err, logq.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	st, err := projection.DecodeState(data)
	if err != nil {
		return nil, false, err
	}
	return st, true, nil
}

func (s *dbSource) tail(ctx context.Context, after int64, fn func(logq.Event) error) error {
	return eventlog.Tail(ctx, eventlog.TailConfig{DSN: s.dsn, Mode: s.mode}, after, fn)
}

func (s *dbSource) describe() string { return "the database" }
func (s *dbSource) close()           { s.pool.Close() }

type managerSource struct {
	c    *client.Client
	poll time.Duration
}

func (s *managerSource) read(ctx context.Context, after int64, limit int) ([]logq.Event, error) {
	return s.c.Events(ctx, after, limit)
}

// list filters pages of GET /events on this side.
func (s *managerSource) list(ctx context.Context, f eventlog.Filter) ([]logq.Event, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = eventlog.DefaultLimit
	}
	var out []logq.Event
	after := f.After
	for len(out) < limit {
		page, err := s.c.Events(ctx, after, pageSize)
		if err != nil {
			return nil, err
		}
		for _, ev := range page {
			if f.Until > 0 && ev.Seq > f.Until {
				return out, nil
			}
			if matches(ev, f) {
				out = append(out, ev)
				if len(out) == limit {
					return out, nil
				}
			}
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].Seq
	}
	return out, nil
}

func matches(ev logq.Event, f eventlog.Filter) bool {
	if len(f.Types) > 0 && !slices.Contains(f.Types, ev.Type) {
		return false
	}
	if !f.Since.IsZero() && ev.At.Before(f.Since) {
		return false
	}
	if !f.Before.IsZero() && !ev.At.Before(f.Before) {
		return false
	}
	return true
}

func (s *managerSource) get(ctx context.Context, seq int64) (logq.Event, error) {
	evs, err := s.c.Events(ctx, seq-1, 1)
	if err != nil {
		return logq.Event{}, err
	}
	if len(evs) == 0 || evs[0].Seq != seq {
		return logq.Event{}, logq.Errorf(logq.ENotFound, "event %d not found", seq)
	}
	return evs[0], nil
}

func (s *managerSource) snapshot(context.Context, int64) (*projection.State, bool, error) {
	return nil, false, nil
}

// tail polls GET /events.
func (s *managerSource) tail(ctx context.Context, after int64, fn func(logq.Event) error) error {
	t := time.NewTicker(s.poll)
	defer t.Stop()
	for {
		for {
			page, err := s.c.Events(ctx, after, pageSize)
			if err != nil {
				return err
			}
			for _, ev := range page {
				if err := fn(ev); err != nil {
					return err
				}
				after = ev.Seq
			}
			if len(page) < pageSize {
				break
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (s *managerSource) describe() string { return "manager " + strings.Join(s.c.Managers(), ",") }
func (s *managerSource) close()           { s.c.Close() }

// lastSeq returns the seq of the last event of src.
func lastSeq(ctx context.Context, src eventSource) (int64, error) {
	if db, ok := src.(*dbSource); ok {
		return eventlog.LastSeq(ctx, db.pool)
	}
	var last int64
	for {
		page, err := src.read(ctx, last, pageSize)
		if err != nil {
			return 0, err
		}
		if len(page) == 0 {
			return last, nil
		}
		last = page[len(page)-1].Seq
	}
}

// replay folds the log of src into st up to seq `to` (0: to the end) and
// returns the number of events applied. It starts from a snapshot when the
// source has one at or before `to` and useSnapshot is set.
func replay(ctx context.Context, src eventSource, st *projection.State, to int64, useSnapshot bool) (*projection.State, int, error) {
	if useSnapshot && st.Seq == 0 {
		snapAt := to
		if snapAt == 0 {
			snapAt = 1<<63 - 1
		}
		if snap, ok, err := src.snapshot(ctx, snapAt); err != nil {
			return nil, 0, err
		} else if ok {
			st = snap
		}
	}
	n, err := eventlog.Replay(ctx, eventlog.ReadFunc(src.read), st, to)
	if err != nil {
		return nil, n, err
	}
	return st, n, nil
}

// eventTime formats an event's time the same way everywhere.
func eventTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func eventsListCmd(e *env) *cobra.Command {
	cmd, f := newCommand("list", "list control-plane events", "List control-plane events in seq order, as a table or JSON lines.", 0, 0)
	src := addSourceFlags(f, false)
	var types []string
	f.Func("type", "only events of `TYPE` (repeatable, or comma-separated)", func(s string) error {
		for _, t := range strings.Split(s, ",") {
			if t = strings.TrimSpace(t); t != "" {
				if !slices.Contains(projection.Types, t) {
					return fmt.Errorf("unknown event type %q (known: %s)", t, strings.Join(projection.Types, ", "))
				}
				types = append(types, t)
			}
		}
		return nil
	})
	from := f.Int64("from", 0, "first `seq` to list")
	to := f.Int64("to", 0, "last `seq` to list (0: the end)")
	since := f.String("since", "", "only events at or after `TIME` (RFC 3339, a date, or a duration ago like 1h)")
	until := f.String("until", "", "only events before `TIME`")
	limit := f.Int("limit", 0, "at most `N` events (0: all)")
	asJSON := f.Bool("json", false, "print JSON lines")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runEventsList(cmd.Context(), e, src, types, from, to, since, until, limit, asJSON)
	}
	return cmd
}

func runEventsList(ctx context.Context, e *env, src *sourceFlags, types []string, from, to *int64, since, until *string, limit *int, asJSON *bool) error {
	now := time.Now()
	sinceT, err := parseTime(*since, now)
	if err != nil {
		return usageErrorf("events list: --since: %v", err)
	}
	untilT, err := parseTime(*until, now)
	if err != nil {
		return usageErrorf("events list: --until: %v", err)
	}
	if *from < 0 || *to < 0 || *limit < 0 {
		return usageErrorf("events list: --from, --to and --limit must not be negative")
	}
	if *to > 0 && *from > *to {
		return usageErrorf("events list: --from %d is after --to %d", *from, *to)
	}
	s, err := src.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	out := bufio.NewWriter(e.stdout)
	defer out.Flush()
	var tw *tabwriter.Writer
	w := io.Writer(out)
	if !*asJSON {
		tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tAT\tEPOCH\tTYPE\tDATA")
		w = tw
	}
	filter := eventlog.Filter{After: max(*from-1, 0), Until: *to, Types: types, Since: sinceT, Before: untilT}
	printed := 0
	for *limit == 0 || printed < *limit {
		filter.Limit = pageSize
		if *limit > 0 {
			filter.Limit = min(pageSize, *limit-printed)
		}
		page, err := s.list(ctx, filter)
		if err != nil {
			return err
		}
		for _, ev := range page {
			if err := writeEvent(w, ev, *asJSON); err != nil {
				return err
			}
		}
		printed += len(page)
		if len(page) < filter.Limit {
			break
		}
		filter.After = page[len(page)-1].Seq
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// writeEvent writes ev as a JSON line or as a row of tab-separated columns
// (seq, time, epoch, type, data).
func writeEvent(w io.Writer, ev logq.Event, asJSON bool) error {
	if asJSON {
		return writeEventJSON(w, ev)
	}
	_, err := fmt.Fprintf(w, "%d\t%s\t%d\t%s\t%s\n", ev.Seq, eventTime(ev.At), ev.Epoch, ev.Type, compactJSON(ev.Data))
	return err
}

func writeEventJSON(w io.Writer, ev logq.Event) error {
	ev.At = ev.At.UTC()
	ev.Data = json.RawMessage(compactJSON(ev.Data))
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func compactJSON(data []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return string(data)
	}
	return buf.String()
}

func eventsTailCmd(e *env) *cobra.Command {
	cmd, f := newCommand("tail", "follow control-plane events as they are appended", `Follow the event log: print events as they are appended, until Ctrl-C.
With --db it tails the database (LISTEN/NOTIFY or logical replication);
with --manager it polls GET /events.`, 0, 0)
	src := addSourceFlags(f, true)
	from := f.Int64("from", -1, "print events after `seq` (-1: only new ones)")
	asJSON := f.Bool("json", false, "print JSON lines")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runEventsTail(cmd.Context(), e, src, from, asJSON)
	}
	return cmd
}

func runEventsTail(ctx context.Context, e *env, src *sourceFlags, from *int64, asJSON *bool) error {
	s, err := src.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	after := *from
	if after < 0 {
		if after, err = lastSeq(ctx, s); err != nil {
			return err
		}
	}
	err = s.tail(ctx, after, func(ev logq.Event) error { return writeEvent(e.stdout, ev, *asJSON) })
	if ctx.Err() != nil {
		return nil // Ctrl-C ends a tail normally
	}
	return err
}

func eventsShowCmd(e *env) *cobra.Command {
	cmd, f := newCommand("show SEQ", "show one event", "Show one event, with its decoded payload.", 1, 1)
	src := addSourceFlags(f, false)
	asJSON := f.Bool("json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		return runEventsShow(cmd.Context(), e, src, asJSON, pos)
	}
	return cmd
}

func runEventsShow(ctx context.Context, e *env, src *sourceFlags, asJSON *bool, pos []string) error {
	seq, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || seq <= 0 {
		return usageErrorf("events show: SEQ must be a positive integer, not %q", pos[0])
	}
	s, err := src.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	ev, err := s.get(ctx, seq)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeEventJSON(e.stdout, ev)
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, ev.Data, "      ", "  ") != nil {
		pretty.Reset()
		pretty.Write(ev.Data)
	}
	fmt.Fprintf(e.stdout, "seq   %d\nat    %s\ntype  %s\nepoch %d\ndata  %s\n", ev.Seq, eventTime(ev.At), ev.Type, ev.Epoch, pretty.String())
	if _, err := projection.Decode(ev); err != nil {
		fmt.Fprintf(e.stdout, "warning: %v\n", err)
	}
	return nil
}

func stateCmd(e *env) *cobra.Command {
	cmd, f := newCommand("state", "replay the event log and print the cluster state as of a seq", `Replay the event log through the projection (the same fold the servers run)
and print the cluster state as of a seq.`, 0, 0)
	src := addSourceFlags(f, false)
	at := f.Int64("at", 0, "replay up to `seq` (0: the whole log)")
	asJSON := f.Bool("json", false, "print JSON")
	noSnap := f.Bool("no-snapshot", false, "with --db, replay from the first event even when a snapshot exists")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runState(cmd.Context(), e, src, at, asJSON, noSnap)
	}
	return cmd
}

func runState(ctx context.Context, e *env, src *sourceFlags, at *int64, asJSON, noSnap *bool) error {
	if *at < 0 {
		return usageErrorf("state: --at must not be negative")
	}
	s, err := src.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	st, _, err := replay(ctx, s, projection.New(), *at, !*noSnap)
	if err != nil {
		return err
	}
	if *at > 0 && st.Seq < *at {
		return fmt.Errorf("state: the log ends at seq %d, before --at %d", st.Seq, *at)
	}
	if *asJSON {
		return writeJSON(e.stdout, st)
	}
	_, err = io.WriteString(e.stdout, projection.Render(st))
	return err
}

func eventsVerifyCmd(e *env) *cobra.Command {
	cmd, f := newCommand("verify", "replay the log and compare with a live manager's state", `Replay the whole event log (from --db, or from the manager) and compare the
result with the live state of the manager at --manager (GET /state), at the
same seq. Exits non-zero and prints the differences when they differ.`, 0, 0)
	src := addSourceFlags(f, false)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runEventsVerify(cmd.Context(), e, src)
	}
	return cmd
}

func runEventsVerify(ctx context.Context, e *env, src *sourceFlags) error {
	s, err := src.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	c, err := client.New(src.creds.apply(client.Config{Managers: []string{*src.manager}}))
	if err != nil {
		return usageErrorf("events verify: --manager: %v", err)
	}
	defer c.Close()

	// Replay what the log holds, ask the manager for its state once it has
	// applied at least that much, then replay on to exactly its seq.
	st, n, err := replay(ctx, s, projection.New(), 0, false)
	if err != nil {
		return err
	}
	live, err := c.State(ctx, st.Seq)
	if err != nil {
		return fmt.Errorf("events verify: live state: %w", err)
	}
	if live.Seq < st.Seq {
		return fmt.Errorf("events verify: manager is at seq %d, behind the log's %d", live.Seq, st.Seq)
	}
	if live.Seq > st.Seq {
		var more int
		st, more, err = replay(ctx, s, st, live.Seq, false)
		if err != nil {
			return err
		}
		n += more
		if st.Seq != live.Seq {
			return fmt.Errorf("events verify: manager is at seq %d but %s ends at %d", live.Seq, s.describe(), st.Seq)
		}
	}
	diff, err := diffStates(st, live)
	if err != nil {
		return err
	}
	if len(diff) > 0 {
		fmt.Fprintf(e.stdout, "state at seq %d differs (- replay of %s, + manager %s):\n", st.Seq, s.describe(), strings.Join(c.Managers(), ","))
		for i, line := range diff {
			if i == 50 {
				fmt.Fprintf(e.stdout, "… %d more\n", len(diff)-50)
				break
			}
			fmt.Fprintln(e.stdout, line)
		}
		return fmt.Errorf("events verify: the manager's state differs from the replay at seq %d (%d differences)", st.Seq, len(diff))
	}
	fmt.Fprintf(e.stdout, "ok: replayed %d events from %s; the state at seq %d matches the manager's\n", n, s.describe(), st.Seq)
	return nil
}

// diffStates compares two states: it returns "- line" / "+ line" for the
// lines of their renderings (or, when those agree, of their JSON) that only
// one of them has.
func diffStates(replayed, live *projection.State) ([]string, error) {
	a, err := json.Marshal(replayed)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(live)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(a, b) {
		return nil, nil
	}
	if d := diffLines(projection.Render(replayed), projection.Render(live)); len(d) > 0 {
		return d, nil
	}
	var ia, ib bytes.Buffer
	json.Indent(&ia, a, "", "  ")
	json.Indent(&ib, b, "", "  ")
	if d := diffLines(ia.String(), ib.String()); len(d) > 0 {
		return d, nil
	}
	return []string{"- " + string(a), "+ " + string(b)}, nil
}

// diffLines returns the lines only in a ("- …") and only in b ("+ …"),
// counting repeats, in their order.
func diffLines(a, b string) []string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	return append(linesNotIn(la, lb, "- "), linesNotIn(lb, la, "+ ")...)
}

// linesNotIn returns, prefixed, the lines of a that b lacks: a line b has
// n times is left out n times.
func linesNotIn(a, b []string, prefix string) []string {
	count := map[string]int{}
	for _, l := range b {
		count[l]++
	}
	var out []string
	for _, l := range a {
		if count[l] > 0 {
			count[l]--
			continue
		}
		out = append(out, prefix+l)
	}
	return out
}
