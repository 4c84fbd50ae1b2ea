package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/logq/logq"
	"github.com/logq/logq/broker/storage"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func testLogger(t testing.TB) zerolog.Logger {
	if os.Getenv("LOGQ_TEST_LOG") != "" {
		return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
	}
	return zerolog.Nop()
}

// connect opens a pool on dsn for the test, closed when it ends.
func connect(t testing.TB, dsn string) *pgxpool.Pool { return pgtest.Pool(t, dsn, 70) }

// controlPlane appends control-plane events for a test, as a manager would.
type controlPlane struct {
	t       testing.TB
	dsn     string
	w       *eventlog.Writer
	clients bool // ids 1..testClients are registered (by the first topic)
}

// testClients is how many producer and consumer ids (1..testClients) the
// first topic of a controlPlane registers: a broker refuses ids it does
// not know.
const testClients = 64

func newControlPlane(t testing.TB, dsn string) *controlPlane {
	t.Helper()
	ctx := pgtest.Context(t, time.Minute)
	w, err := eventlog.Acquire(ctx, dsn, "test-"+t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(context.Background()) })
	return &controlPlane{t: t, dsn: dsn, w: w}
}

// append appends events and returns the seq of the last.
func (c *controlPlane) append(payloads ...projection.Payload) int64 {
	c.t.Helper()
	events := make([]logq.Event, len(payloads))
	for i, p := range payloads {
		events[i] = projection.NewEvent(p)
	}
	out, err := c.w.Append(pgtest.Context(c.t, time.Minute), events...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out[len(out)-1].Seq
}

// topic creates topic with one partition per owner and assigns partition
// i to broker owners[i] at epoch 1. The first topic of c also gets
// whole-topic producers and consumers 1..testClients; register ids for
// later topics with clients.
func (c *controlPlane) topic(name string, owners ...int64) int64 {
	c.t.Helper()
	ps := []projection.Payload{projection.TopicCreated{Topic: name, Partitions: len(owners)}}
	for i, o := range owners {
		ps = append(ps, projection.PartitionAssigned{Topic: name, Partition: i, BrokerID: o, Epoch: 1})
	}
	if !c.clients {
		c.clients = true
		for id := int64(1); id <= testClients; id++ {
			ps = append(ps, clientEvents(name, nil, id)...)
		}
	}
	return c.append(ps...)
}

// register registers id as a producer and a consumer of topic (of one
// partition when partition is not nil) and returns the seq.
func (c *controlPlane) register(topic string, partition *int, id int64) int64 {
	c.t.Helper()
	return c.append(clientEvents(topic, partition, id)...)
}

func clientEvents(topic string, partition *int, id int64) []projection.Payload {
	return []projection.Payload{
		projection.ProducerRegistered{ProducerID: id, Topic: topic, Partition: partition},
		projection.ConsumerRegistered{ConsumerID: id, Topic: topic, Partition: partition},
	}
}

// withTopic is the usual start of a test on dsn: broker 1 registered and
// topic created with one partition per owner; seq is the last event.
func withTopic(t testing.TB, dsn, topic string, owners ...int64) (cp *controlPlane, seq int64) {
	t.Helper()
	cp = newControlPlane(t, dsn)
	cp.brokers(1)
	return cp, cp.topic(topic, owners...)
}

func (c *controlPlane) brokers(ids ...int64) int64 {
	c.t.Helper()
	var ps []projection.Payload
	for _, id := range ids {
		ps = append(ps, projection.BrokerRegistered{BrokerID: id, Address: fmt.Sprintf("broker-%d:1", id)})
	}
	return c.append(ps...)
}

// testBroker is a broker serving on a loopback port for one test.
type testBroker struct {
	*Broker
	t      testing.TB
	url    string
	cancel context.CancelFunc
	done   chan error
	client *http.Client
}

// startBroker starts a broker with cfg (DSN and ID set by the caller) and
// stops it when the test ends.
func startBroker(t testing.TB, cfg Config) *testBroker {
	t.Helper()
	return startBrokerWith(t, cfg, nil)
}

// startBrokerWith is startBroker with a chance to set test hooks before
// Serve.
func startBrokerWith(t testing.TB, cfg Config, setup func(*Broker)) *testBroker {
	t.Helper()
	cfg.Logger = testLogger(t)
	ctx := pgtest.Context(t, time.Minute)
	b, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(b)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	tb := &testBroker{
		Broker: b, t: t, url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}, Timeout: time.Minute},
	}
	go func() { tb.done <- b.Serve(sctx, ln) }()
	t.Cleanup(tb.stop)
	return tb
}

// stop shuts the broker down (idempotent) and checks Serve returned nil.
func (tb *testBroker) stop() {
	tb.t.Helper()
	if tb.cancel == nil {
		return
	}
	tb.cancel()
	tb.cancel = nil
	select {
	case err := <-tb.done:
		if err != nil {
			tb.t.Errorf("Serve: %v", err)
		}
	case <-time.After(time.Minute):
		tb.t.Fatal("Serve did not return within a minute of cancel")
	}
	tb.Close()
	tb.client.CloseIdleConnections()
}

// waitApplied waits until the broker has applied seq.
func (tb *testBroker) waitApplied(seq int64) {
	tb.t.Helper()
	if err := tb.WaitApplied(pgtest.Context(tb.t, 30*time.Second), seq); err != nil {
		tb.t.Fatalf("broker %d: %v", tb.ID(), err)
	}
}

// do sends a request with a JSON body (nil: none; a string or []byte is
// sent as is) and decodes the answer; it fails the test on transport
// errors.
func (tb *testBroker) do(method, path string, body any, header ...string) (int, map[string]any) {
	tb.t.Helper()
	status, out, err := tb.request(method, path, body, header...)
	if err != nil {
		tb.t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, out
}

// request is do returning transport errors.
func (tb *testBroker) request(method, path string, body any, header ...string) (int, map[string]any, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, tb.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := tb.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var out map[string]any
	if resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(raw, &out); err != nil {
			return 0, nil, fmt.Errorf("answer is not JSON: %q", raw)
		}
	}
	return resp.StatusCode, out, nil
}

// appendHTTP appends messages over HTTP and returns the base offset;
// it fails the test on any error.
func (tb *testBroker) appendHTTP(topic string, partition int, producer int64, payloads ...string) int64 {
	tb.t.Helper()
	status, out := tb.do("POST", "/v1/append", appendBody(topic, partition, producer, payloads...))
	if status != 200 {
		tb.t.Fatalf("append: %d %v", status, out)
	}
	return int64(out["base_offset"].(float64))
}

func appendBody(topic string, partition int, producer int64, payloads ...string) map[string]any {
	msgs := make([]map[string]any, len(payloads))
	for i, p := range payloads {
		msgs[i] = map[string]any{"producer_id": producer, "message": p}
	}
	return map[string]any{"topic": topic, "partition": partition, "messages": msgs}
}

// consumeHTTP consumes up to max messages and returns their payloads and
// offsets.
func (tb *testBroker) consumeHTTP(topic string, partition int, consumer int64, max int) ([]string, []int64) {
	tb.t.Helper()
	status, out := tb.do("POST", "/v1/consume", map[string]any{"topic": topic, "partition": partition, "consumer_id": consumer, "max": max})
	if status != 200 {
		tb.t.Fatalf("consume: %d %v", status, out)
	}
	return payloadsOf(out)
}

func payloadsOf(out map[string]any) ([]string, []int64) {
	var ps []string
	var offs []int64
	for _, m := range out["messages"].([]any) {
		mm := m.(map[string]any)
		ps = append(ps, mm["message"].(string))
		offs = append(offs, int64(mm["offset"].(float64)))
	}
	return ps, offs
}

// allMessages reads a partition's messages straight from storage.
func allMessages(t testing.TB, s storage.Store, topic string, partition int) []storedMessage {
	t.Helper()
	var out []storedMessage
	for {
		msgs, err := s.Read(pgtest.Context(t, time.Minute), topic, partition, int64(len(out)), 10000, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			return out
		}
		out = append(out, msgs...)
	}
}

// checkGapFree checks that msgs have offsets 0..n-1.
func checkGapFree(t testing.TB, what string, msgs []storedMessage) {
	t.Helper()
	for i, m := range msgs {
		if m.Offset != int64(i) {
			t.Fatalf("%s: message %d has offset %d", what, i, m.Offset)
		}
	}
}

// await receives from ch, failing the test after 30 s.
func await[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatal("nothing received within 30s")
		panic("unreachable")
	}
}
