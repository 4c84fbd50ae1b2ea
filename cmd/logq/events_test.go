package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

// fixtureEvents is a small, fixed event log.
func fixtureEvents() []logq.Event {
	p1 := 1
	payloads := []projection.Payload{
		projection.WriterElected{Manager: "http://127.0.0.1:8080", Epoch: 1},
		projection.BrokerRegistered{BrokerID: 1, Address: "127.0.0.1:9001"},
		projection.BrokerRegistered{BrokerID: 2, Address: "127.0.0.1:9002"},
		projection.TopicCreated{Topic: "orders", Partitions: 2},
		projection.PartitionAssigned{Topic: "orders", Partition: 0, BrokerID: 1, Epoch: 1},
		projection.PartitionAssigned{Topic: "orders", Partition: 1, BrokerID: 2, Epoch: 1},
		projection.ProducerRegistered{ProducerID: 1, Topic: "orders"},
		projection.ConsumerRegistered{ConsumerID: 1, Topic: "orders", Partition: &p1},
		projection.BrokerStatusChanged{BrokerID: 2, Alive: false},
		projection.PartitionAssigned{Topic: "orders", Partition: 1, BrokerID: 1, Epoch: 2},
	}
	base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	events := make([]logq.Event, len(payloads))
	for i, p := range payloads {
		e := projection.NewEvent(p)
		e.Seq, e.At, e.Epoch = int64(i+1), base.Add(time.Duration(i)*time.Second), 1
		events[i] = e
	}
	return events
}

func stateAt(t *testing.T, events []logq.Event, seq int64) *projection.State {
	t.Helper()
	st := projection.New()
	if err := projection.ApplyAll(st, events[:seq]); err != nil {
		t.Fatal(err)
	}
	return st
}

// fakeManager serves GET /events from events and GET /state from state.
func fakeManager(t *testing.T, events []logq.Event, state func() *projection.State) string {
	t.Helper()
	reply := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/events":
			from, _ := strconv.ParseInt(r.URL.Query().Get("from"), 10, 64)
			limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
			if limit <= 0 {
				limit = 100
			}
			out := []logq.Event{}
			for _, e := range events {
				if e.Seq > from && len(out) < limit {
					out = append(out, e)
				}
			}
			reply(w, 200, map[string]any{"status": "success", "events": out})
		case "/state":
			st := state()
			if min, _ := strconv.ParseInt(r.URL.Query().Get("min_seq"), 10, 64); min > st.Seq {
				reply(w, 503, map[string]any{"status": "failure", "code": "timeout", "message": "behind"})
				return
			}
			reply(w, 200, map[string]any{"status": "success", "seq": st.Seq, "state": st})
		default:
			reply(w, 404, map[string]any{"status": "failure", "code": "not_found", "message": "no route " + r.URL.Path})
		}
	}))
	t.Cleanup(s.Close)
	return s.URL
}

func TestEventCommandsGolden(t *testing.T) {
	t.Parallel()
	events := fixtureEvents()
	url := fakeManager(t, events, func() *projection.State { return stateAt(t, events, int64(len(events))) })
	envv := map[string]string{"LOGQ_MANAGER": url}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"events_list", []string{"events", "list"}},
		{"events_list_filtered", []string{"events", "list", "--type", "PartitionAssigned,BrokerStatusChanged", "--from", "6"}},
		{"events_list_json", []string{"events", "list", "--json", "--to", "3"}},
		{"events_list_time", []string{"events", "list", "--since", "2025-01-02T03:04:07Z", "--until", "2025-01-02T03:04:09Z", "--limit", "5"}},
		{"events_show", []string{"events", "show", "8"}},
		{"state_at_6", []string{"state", "--at", "6"}},
		{"state", []string{"state"}},
		{"state_json_at_4", []string{"state", "--json", "--at", "4"}},
		{"events_verify_ok", []string{"events", "verify"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := mustLogq(t, envv, "", tc.args...)
			golden(t, tc.name, strings.ReplaceAll(r.stdout, url, "http://MANAGER"))
		})
	}
}

func TestStateAtMatchesTheProjection(t *testing.T) {
	t.Parallel()
	events := fixtureEvents()
	url := fakeManager(t, events, func() *projection.State { return stateAt(t, events, int64(len(events))) })
	for seq := int64(1); seq <= int64(len(events)); seq++ {
		r := mustLogq(t, nil, "", "state", "--manager", url, "--at", fmt.Sprint(seq))
		if want := projection.Render(stateAt(t, events, seq)); r.stdout != want {
			t.Fatalf("state --at %d:\n%s\nwant:\n%s", seq, r.stdout, want)
		}
		r = mustLogq(t, nil, "", "state", "--manager", url, "--at", fmt.Sprint(seq), "--json")
		var got projection.State
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatal(err)
		}
		if projection.Render(&got) != projection.Render(stateAt(t, events, seq)) {
			t.Fatalf("state --json --at %d differs", seq)
		}
	}
	if r := runLogq(t, nil, "", "state", "--manager", url, "--at", "99"); r.err == nil || !strings.Contains(r.err.Error(), "ends at seq 10") {
		t.Fatalf("state past the end: %v", r.err)
	}
}

func TestEventsVerifyFailsOnATamperedState(t *testing.T) {
	t.Parallel()
	events := fixtureEvents()
	url := fakeManager(t, events, func() *projection.State {
		st := stateAt(t, events, int64(len(events)))
		st.Brokers[1].Address = "10.0.0.1:9001"     // not what the log says
		st.Topics["orders"].Partitions[1].Epoch = 7 // nor this
		return st
	})
	r := runLogq(t, nil, "", "events", "verify", "--manager", url)
	if r.err == nil {
		t.Fatalf("verify passed on a tampered state:\n%s", r.stdout)
	}
	if !strings.Contains(r.err.Error(), "differs from the replay at seq 10") {
		t.Fatalf("err = %v", r.err)
	}
	for _, want := range []string{
		"- broker 1 127.0.0.1:9001 alive", "+ broker 1 10.0.0.1:9001 alive",
		"-   partition 1 broker 1 epoch 2", "+   partition 1 broker 1 epoch 7",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("diff lacks %q:\n%s", want, r.stdout)
		}
	}
	// A manager that has applied more than the log holds is an error too.
	ahead := fakeManager(t, events[:5], func() *projection.State { return stateAt(t, events, 6) })
	if r := runLogq(t, nil, "", "events", "verify", "--manager", ahead); r.err == nil || !strings.Contains(r.err.Error(), "ends at 5") {
		t.Fatalf("verify against a manager ahead of the log: %v", r.err)
	}
}

func TestEventsTailPollsAManager(t *testing.T) {
	t.Parallel()
	events := fixtureEvents()
	url := fakeManager(t, events, nil)
	ctx, cancel := context.WithCancel(context.Background())
	out := newSyncBuffer()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"events", "tail", "--manager", url, "--from", "7", "--poll", "10ms"},
			func(string) string { return "" }, strings.NewReader(""), out, newSyncBuffer())
	}()
	got := out.waitFor(t, "\tPartitionAssigned\t", 10*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("tail ended with %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "8\t") || !strings.HasPrefix(lines[2], "10\t") {
		t.Fatalf("tail printed:\n%s", got)
	}
}

func TestHelpAndUsageErrors(t *testing.T) {
	t.Parallel()
	golden(t, "help", mustLogq(t, nil, "", "--help").stdout)
	golden(t, "help_produce", mustLogq(t, nil, "", "produce", "--help").stdout)
	golden(t, "help_events_list", mustLogq(t, nil, "", "events", "list", "-h").stdout)
	golden(t, "help_manager", mustLogq(t, nil, "", "help", "manager").stdout)
	golden(t, "help_topics", mustLogq(t, nil, "", "topics", "--help").stdout)
	if r := mustLogq(t, nil, "", "completion", "bash"); !strings.Contains(r.stdout, "__start_logq") {
		t.Errorf("logq completion bash printed:\n%.300s", r.stdout)
	}
	if r := mustLogq(t, nil, "", "version"); r.stdout != "logq dev\n" {
		t.Errorf("logq version printed %q", r.stdout)
	}
	// Every command answers --help.
	for _, c := range logqCommands() {
		args := append(strings.Fields(commandName(c)), "--help")
		if r := runLogq(t, nil, "", args...); r.err != nil || !strings.Contains(r.stdout, "Usage:\n  "+c.CommandPath()) {
			t.Errorf("logq %s --help: %v\n%s", commandName(c), r.err, r.stdout)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"topics"}, "topics: missing command"},
		{[]string{"topics", "nuke"}, `unknown command "topics nuke"`},
		{[]string{"topics", "create"}, "topics create: missing NAME"},
		{[]string{"topics", "create", "a", "b"}, `unexpected argument "b"`},
		{[]string{"topics", "create", "a", "--partitions", "x"}, `invalid argument "x" for "--partitions" flag`},
		{[]string{"produce"}, "produce: --topic is required"},
		{[]string{"consume", "--topic", "t", "--bogus"}, "consume: unknown flag: --bogus"},
		{[]string{"consume", "-topic", "t"}, "long flags take two dashes: --topic"},
		{[]string{"consume", "--topic"}, "flag needs an argument: --topic"},
		{[]string{"brokers", "remove"}, "brokers remove: missing ID"},
		{[]string{"consume", "--topic", "t", "--format", "xml"}, "--format must be value, kv or json"},
		{[]string{"size", "--topic", "t"}, "--consumer-id is required"},
		{[]string{"events", "show", "x"}, "SEQ must be a positive integer"},
		{[]string{"events", "list", "--type", "Nope"}, `unknown event type "Nope"`},
		{[]string{"events", "list", "--since", "yesterday"}, "invalid time"},
		{[]string{"manager"}, "--db (or LOGQ_DATABASE_URL) is required"},
		{[]string{"manager", "--db", "postgres://x", "--role", "boss"}, `unknown manager role "boss"`},
		{[]string{"broker", "--db", "postgres://x", "--tail", "carrier-pigeon"}, `unknown tail mode "carrier-pigeon"`},
		{[]string{"dev", "--db", "postgres://x", "--data", "/tmp/x"}, "--db and --data exclude each other"},
		{[]string{"dev", "--addr", "nope"}, `--addr "nope": want host:port`},
		{[]string{"dev", "--kafka-addr", "nope"}, `--kafka-addr "nope": want host:port`},
	} {
		r := runLogq(t, nil, "", tc.args...)
		var ue *usageError
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) || !errors.As(r.err, &ue) {
			t.Errorf("logq %s: err = %v; want a usage error containing %q", strings.Join(tc.args, " "), r.err, tc.want)
		}
	}
	// Environment fallbacks, and a bad value in the environment is named.
	r := runLogq(t, map[string]string{"LOGQ_ROLE": "boss", "LOGQ_DATABASE_URL": "postgres://x"}, "", "manager")
	if r.err == nil || !strings.Contains(r.err.Error(), `unknown manager role "boss"`) {
		t.Errorf("LOGQ_ROLE=boss: %v", r.err)
	}
	r = runLogq(t, map[string]string{"LOGQ_HEARTBEAT_INTERVAL": "soon", "LOGQ_DATABASE_URL": "postgres://x"}, "", "manager")
	if r.err == nil || !strings.Contains(r.err.Error(), `invalid LOGQ_HEARTBEAT_INTERVAL="soon"`) {
		t.Errorf("LOGQ_HEARTBEAT_INTERVAL=soon: %v", r.err)
	}
}

func TestServerErrorsPrintTheirMessage(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := fakeManager(t, nil, nil)
	var stdout, stderr strings.Builder
	err := run(ctx, []string{"topics", "describe", "nope", "--manager", url}, func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr)
	if err == nil || err.Error() != "no route /topics/nope" {
		t.Fatalf("err = %v", err)
	}
}
