package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/client"
	"github.com/logq/logq/internal/harness/devcluster"
	"github.com/logq/logq/internal/pgtest"
)

// The tests here run real Kafka clients against a real cluster (writer
// manager, brokers with Kafka listeners, PostgreSQL).

func startCluster(t testing.TB, brokers int) *devcluster.Cluster {
	t.Helper()
	ctx := pgtest.Context(t, time.Minute)
	c, err := devcluster.Start(ctx, devcluster.Config{DSN: pgtest.NewDB(t), Readers: -1, Brokers: brokers, Kafka: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// Every broker's view must show every Kafka listener before clients
	// rely on any one broker's metadata.
	for _, b := range c.Brokers {
		waitBrokers(t, ctx, b.KafkaAddr, brokers)
	}
	return c
}

func waitBrokers(t testing.TB, ctx context.Context, addr string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	for {
		resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0]) // this broker, not any
		if err == nil && len(resp.Brokers) == n {
			return
		}
		if !pollWait(ctx) {
			t.Fatalf("broker %s does not show %d brokers: %v %v", addr, n, resp, err)
		}
	}
}

// pollWait paces a loop polling a condition (the brokers' projections
// catching up with the event log); false when ctx is done.
func pollWait(ctx context.Context) bool {
	t := time.NewTimer(10 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// createTopic creates a topic through kadm and waits until every broker
// serves its partitions.
func createTopic(t testing.TB, ctx context.Context, adm *kadm.Client, c *devcluster.Cluster, topic string, partitions int32) {
	t.Helper()
	r, err := adm.CreateTopic(ctx, partitions, -1, nil, topic)
	if err != nil || r.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, r.Err)
	}
	// As in Kafka, the other brokers learn of it a moment later.
	for _, b := range c.Brokers {
		waitTopic(t, ctx, b.KafkaAddr, topic, int(partitions))
	}
}

// waitTopic waits until the broker at addr shows topic with n partitions,
// each with a leader (n -1: until it shows no such topic).
func waitTopic(t testing.TB, ctx context.Context, addr, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	for {
		resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0]) // this broker, not any
		if n < 0 && err == nil && len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == kerr.UnknownTopicOrPartition.Code {
			return
		}
		if err == nil && len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0 && len(resp.Topics[0].Partitions) == n {
			led := 0
			for _, p := range resp.Topics[0].Partitions {
				if p.ErrorCode == 0 && p.Leader >= 0 {
					led++
				}
			}
			if led == n {
				return
			}
		}
		if !pollWait(ctx) {
			t.Fatalf("broker %s does not show %s with %d partitions: %v", addr, topic, n, err)
		}
	}
}

func TestFranzGo(t *testing.T) {
	c := startCluster(t, 2)
	ctx := pgtest.Context(t, 2*time.Minute)
	seeds := strings.Split(c.KafkaBootstrap(), ",")
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	createTopic(t, ctx, adm, c, "kgo", 4)

	// Metadata: leaders are the owning brokers, spread over both.
	td, err := adm.ListTopics(ctx, "kgo")
	if err != nil {
		t.Fatal(err)
	}
	leaders := map[int32]bool{}
	for _, p := range td["kgo"].Partitions {
		if p.Err != nil {
			t.Fatalf("partition %d: %v", p.Partition, p.Err)
		}
		leaders[p.Leader] = true
	}
	if len(td["kgo"].Partitions) != 4 || len(leaders) != 2 {
		t.Fatalf("metadata %+v", td["kgo"])
	}

	// Produce with and without idempotence, keys spread over partitions.
	const perProducer = 200
	for _, idem := range []bool{true, false} {
		opts := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic("kgo")}
		if !idem {
			opts = append(opts, kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.LeaderAck()))
		}
		p, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		for i := range perProducer {
			p.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%10), Value: fmt.Appendf(nil, "v-%t-%d", idem, i)}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		p.Close()
	}

	// The same topic over HTTP (one data plane): a record produced with
	// logq's Go client is fetched by Kafka clients.
	lc, err := client.New(client.Config{Managers: c.ManagerURLs()})
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	hp, err := lc.NewProducer(ctx, "kgo", client.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hp.Produce(ctx, client.Record{Value: "from-http"}); err != nil {
		t.Fatal(err)
	}
	hp.Close()

	// Consume every partition from the start.
	offsets := map[int32]kgo.Offset{}
	for p := range int32(4) {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"kgo": offsets}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	want := 2*perProducer + 1
	seen := map[string]bool{}
	keyPart := map[string]int32{}
	for len(seen) < want {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if seen[string(r.Value)] {
				t.Errorf("record %q twice (offset %d)", r.Value, r.Offset)
			}
			seen[string(r.Value)] = true
			if r.Key != nil {
				if p, ok := keyPart[string(r.Key)]; ok && p != r.Partition {
					t.Errorf("key %s in partitions %d and %d", r.Key, p, r.Partition)
				}
				keyPart[string(r.Key)] = r.Partition
			}
		})
	}
	if !seen["from-http"] {
		t.Error("the record produced over HTTP was not fetched")
	}
	// And the reverse: logq's Go client consumes what Kafka clients
	// produced, keys included.
	hc, err := lc.NewConsumer(ctx, "kgo", client.ConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	got := 0
	for got < want {
		msgs, err := hc.Poll(ctx, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			got++
			if m.Value != "from-http" && !strings.HasPrefix(m.Key, "k") {
				t.Errorf("HTTP consumer: record %+v lost its key", m)
			}
		}
	}
	if got != want {
		t.Errorf("HTTP consumer got %d records, want %d", got, want)
	}

	// ListOffsets: the end offsets sum to every record.
	ends, err := adm.ListEndOffsets(ctx, "kgo")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != int64(want) {
		t.Errorf("end offsets sum to %d, want %d", total, want)
	}

	// A partition sent to the broker that does not own it: not leader.
	meta, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	var p0 kmsg.MetadataResponseTopicPartition
	for _, tp := range meta.Topics {
		if *tp.Topic == "kgo" {
			p0 = tp.Partitions[0]
		}
	}
	var other int32 = -1
	for _, b := range meta.Brokers {
		if b.NodeID != p0.Leader {
			other = b.NodeID
		}
	}
	lreq := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "kgo"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Partition, lp.Timestamp = p0.Partition, -1
	lt.Partitions = append(lt.Partitions, lp)
	lreq.Topics = append(lreq.Topics, lt)
	lresp, err := lreq.RequestWith(ctx, cl.Broker(int(other)))
	if err != nil {
		t.Fatal(err)
	}
	if code := lresp.Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
		t.Errorf("list offsets on broker %d for a partition of broker %d: error %d, want NOT_LEADER_OR_FOLLOWER", other, p0.Leader, code)
	}

	// kadm: list, add partitions, delete.
	if _, err := adm.CreatePartitions(ctx, 2, "kgo"); err != nil {
		t.Fatal(err)
	}
	createTopic(t, ctx, adm, c, "doomed", 1)
	if r, err := adm.DeleteTopics(ctx, "doomed"); err != nil || r.Error() != nil {
		t.Fatalf("delete: %v %v", err, r.Error())
	}
	// Every broker learns of both (as in Kafka, a moment after the
	// answer).
	for _, b := range c.Brokers {
		waitTopic(t, ctx, b.KafkaAddr, "kgo", 6)
		waitTopic(t, ctx, b.KafkaAddr, "doomed", -1)
	}
	// A deleted name cannot be created again (its records stay stored).
	if r, _ := adm.CreateTopic(ctx, 1, -1, nil, "doomed"); r.Err == nil {
		t.Error("a deleted topic's name was created again")
	}
}

// tool returns the path of an external client, skipping the test when it
// is not installed — except in CI (LOGQ_KAFKA_CLIENTS=required, set by
// .ci/run, which installs them), where a missing client fails.
func tool(t *testing.T, name string, check ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil && len(check) > 0 {
		err = exec.Command(path, check...).Run()
	}
	if err != nil {
		if os.Getenv("LOGQ_KAFKA_CLIENTS") == "required" || os.Getenv("CI") != "" {
			t.Fatalf("%s is required here (.ci/run installs it): %v", name, err)
		}
		t.Skipf("%s not installed (%v); .ci/run installs it", name, err)
	}
	return path
}

// run runs a client process with a deadline and returns its stdout.
func run(t *testing.T, ctx context.Context, stdin string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\nstdout:\n%s\nstderr:\n%s", name, args, err, out, stderr.String())
	}
	return string(out)
}

func TestKcat(t *testing.T) {
	kcat := tool(t, "kcat", "-V")
	c := startCluster(t, 2)
	ctx := pgtest.Context(t, 2*time.Minute)
	b := c.KafkaBootstrap()

	// Produce with keys (key:value lines); the topic is created on first
	// use (auto-create, as Kafka's default).
	var in strings.Builder
	for i := range 20 {
		fmt.Fprintf(&in, "key%d:value %d\n", i%3, i)
	}
	run(t, ctx, in.String(), kcat, "-b", b, "-t", "kcat", "-P", "-K", ":", "-p", "0")
	meta := run(t, ctx, "", kcat, "-b", b, "-L", "-t", "kcat")
	if !strings.Contains(meta, `topic "kcat" with 1 partitions`) || !strings.Contains(meta, "2 brokers:") {
		t.Fatalf("metadata:\n%s", meta)
	}
	out := run(t, ctx, "", kcat, "-b", b, "-t", "kcat", "-C", "-p", "0", "-o", "beginning", "-e", "-f", "%k=%s@%o\n")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 20 || lines[0] != "key0=value 0@0" || lines[19] != "key1=value 19@19" {
		t.Fatalf("consumed:\n%s", out)
	}
	// Compressed produce (librdkafka's codecs).
	for _, codec := range []string{"gzip", "snappy", "lz4", "zstd"} {
		run(t, ctx, "c:"+codec+"\n", kcat, "-b", b, "-t", "kcat", "-P", "-K", ":", "-p", "0", "-z", codec)
	}
	out = run(t, ctx, "", kcat, "-b", b, "-t", "kcat", "-C", "-p", "0", "-o", "20", "-e", "-f", "%s\n")
	if strings.Fields(out) == nil || !slices.Equal(strings.Fields(out), []string{"gzip", "snappy", "lz4", "zstd"}) {
		t.Fatalf("compressed records:\n%s", out)
	}
}

func TestConfluentKafkaPython(t *testing.T) {
	py := tool(t, "/usr/bin/python3", "-c", "import confluent_kafka")
	c := startCluster(t, 2)
	ctx := pgtest.Context(t, 2*time.Minute)
	script := `
import sys
from confluent_kafka import Producer, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
b = sys.argv[1]
admin = AdminClient({"bootstrap.servers": b})
for f in admin.create_topics([NewTopic("py", num_partitions=3, replication_factor=1)]).values():
    f.result()
p = Producer({"bootstrap.servers": b, "enable.idempotence": True, "linger.ms": 5})
errors = []
for i in range(300):
    p.produce("py", key="k%d" % (i % 7), value="v%d" % i, on_delivery=lambda err, msg: err and errors.append(err))
p.flush(30)
assert not errors, errors
c = Consumer({"bootstrap.servers": b, "group.id": "unused", "enable.auto.commit": False, "auto.offset.reset": "earliest"})
c.assign([TopicPartition("py", i, 0) for i in range(3)])
seen = set()
while len(seen) < 300:
    m = c.poll(10)
    assert m is not None, "no record within 10 s (%d seen)" % len(seen)
    assert m.error() is None, m.error()
    seen.add(m.value().decode())
c.close()
print("ok", len(seen))
`
	out := run(t, ctx, "", py, "-c", script, c.KafkaBootstrap())
	if strings.TrimSpace(out) != "ok 300" {
		t.Fatalf("python: %s", out)
	}
}

// kafkajsDir is where .ci/run installs kafkajs (npm install --prefix).
func kafkajsDir(t *testing.T) string {
	t.Helper()
	node := tool(t, "node", "--version")
	_ = node
	dir, err := filepath.Abs("testdata/js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "kafkajs")); err != nil {
		if os.Getenv("LOGQ_KAFKA_CLIENTS") == "required" || os.Getenv("CI") != "" {
			t.Fatalf("kafkajs is required here (npm install --prefix kafka/testdata/js): %v", err)
		}
		t.Skipf("kafkajs not installed in %s (npm install --prefix kafka/testdata/js)", dir)
	}
	return dir
}

func TestKafkaJS(t *testing.T) {
	dir := kafkajsDir(t)
	c := startCluster(t, 2)
	ctx := pgtest.Context(t, 2*time.Minute)
	script := `
const { Kafka, logLevel } = require("kafkajs");
(async () => {
  const kafka = new Kafka({ brokers: process.argv[1].split(","), logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: "js", numPartitions: 2 }] });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const messages = [];
  for (let i = 0; i < 100; i++) messages.push({ key: "k" + (i % 5), value: "v" + i });
  await producer.send({ topic: "js", messages });
  await producer.disconnect();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets("js");
  await admin.disconnect();
  const total = offsets.reduce((n, o) => n + Number(o.high), 0);
  console.log("ok " + total);
})().catch((e) => { console.error(e); process.exit(1); });
`
	cmd := exec.CommandContext(ctx, "node", "-e", script, c.KafkaBootstrap())
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok 100" {
		t.Fatalf("kafkajs: %v\n%s", err, out)
	}
}

func TestKgoGroupConsumer(t *testing.T) {
	c := startCluster(t, 2)
	ctx := pgtest.Context(t, 2*time.Minute)
	seeds := strings.Split(c.KafkaBootstrap(), ",")
	p, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic("grp"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	adm := kadm.NewClient(p)
	createTopic(t, ctx, adm, c, "grp", 3)
	for i := range 90 {
		p.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%d", i)}, nil)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	consume := func(n int) map[string]bool {
		g, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumerGroup("g1"), kgo.ConsumeTopics("grp"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		seen := map[string]bool{}
		for len(seen) < n {
			fs := g.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
		}
		if err := g.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatal(err)
		}
		return seen
	}
	if got := consume(90); len(got) != 90 {
		t.Fatalf("first run saw %d", len(got))
	}
	// Committed: the group resumes after them.
	for i := 90; i < 100; i++ {
		p.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%d", i)}, nil)
	}
	p.Flush(ctx)
	got := consume(10)
	for v := range got {
		if v < "90" && len(v) == 2 {
			t.Errorf("resumed group re-read %s", v)
		}
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil || !slices.Contains(groups.Groups(), "g1") {
		t.Fatalf("list groups: %v %v", groups, err)
	}
}

func TestConfluentKafkaGroupOfTwo(t *testing.T) {
	py := tool(t, "/usr/bin/python3", "-c", "import confluent_kafka")
	c := startCluster(t, 2)
	ctx := pgtest.Context(t, 3*time.Minute)
	script := `
import sys, threading
from confluent_kafka import Producer, Consumer
from confluent_kafka.admin import AdminClient, NewTopic
b = sys.argv[1]
a = AdminClient({"bootstrap.servers": b})  # kept: a dropped client cancels its futures
for f in a.create_topics([NewTopic("pyg", num_partitions=4, replication_factor=1)]).values():
    f.result()
p = Producer({"bootstrap.servers": b})
for i in range(200):
    p.produce("pyg", value="v%d" % i)
p.flush(30)
seen, lock = {}, threading.Lock()
def member(name):
    c = Consumer({"bootstrap.servers": b, "group.id": "pyg", "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe(["pyg"])
    idle = 0
    while idle < 5:
        m = c.poll(1)
        if m is None:
            idle += 1
            continue
        assert m.error() is None, m.error()
        with lock:
            seen.setdefault(m.value().decode(), set()).add(name)
        c.commit(m)
    c.close()
ts = [threading.Thread(target=member, args=(n,)) for n in ("a", "b")]
[t.start() for t in ts]
[t.join() for t in ts]
assert len(seen) == 200, len(seen)
# Restart: the group resumes after its commits (nothing left).
c = Consumer({"bootstrap.servers": b, "group.id": "pyg", "auto.offset.reset": "earliest"})
c.subscribe(["pyg"])
m = c.poll(5)
assert m is None or m.error() is not None, "re-read %s" % m.value()
c.close()
print("ok", len(set().union(*seen.values())))
`
	out := run(t, ctx, "", py, "-c", script, c.KafkaBootstrap())
	if !strings.HasPrefix(strings.TrimSpace(out), "ok") {
		t.Fatalf("python: %s", out)
	}
}

func TestKafkaJSGroupConsume(t *testing.T) {
	dir := kafkajsDir(t)
	c := startCluster(t, 2)
	ctx := pgtest.Context(t, 2*time.Minute)
	script := `
const { Kafka, logLevel } = require("kafkajs");
(async () => {
  const kafka = new Kafka({ brokers: process.argv[1].split(","), logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: "jsg", numPartitions: 2 }] });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const messages = [];
  for (let i = 0; i < 50; i++) messages.push({ value: "v" + i });
  await producer.send({ topic: "jsg", messages });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: "jsg" });
  await consumer.connect();
  await consumer.subscribe({ topic: "jsg", fromBeginning: true });
  const seen = new Set();
  await new Promise((resolve) => consumer.run({ eachMessage: async ({ message }) => {
    seen.add(message.value.toString());
    if (seen.size === 50) resolve();
  } }));
  await consumer.disconnect();
  console.log("ok " + seen.size);
})().catch((e) => { console.error(e); process.exit(1); });
`
	cmd := exec.CommandContext(ctx, "node", "-e", script, c.KafkaBootstrap())
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok 50" {
		t.Fatalf("kafkajs: %v\n%s", err, out)
	}
}

// TestTakeoverKgo: the broker owning a partition stops mid-stream; its
// partitions move to the other broker, the Kafka clients follow (they get
// NOT_LEADER_OR_FOLLOWER or a refused connection, refresh their metadata)
// and nothing acknowledged is lost. (The stop is graceful, in-process; the
// kill -9 fault tests are internal/harness/faulttest's.)
func TestTakeoverKgo(t *testing.T) {
	c := startCluster(t, 2)
	ctx := pgtest.Context(t, 2*time.Minute)
	seeds := strings.Split(c.KafkaBootstrap(), ",")
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic("tk"),
		kgo.DisableIdempotentWrite(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	createTopic(t, ctx, adm, c, "tk", 2)
	td, err := adm.ListTopics(ctx, "tk")
	if err != nil {
		t.Fatal(err)
	}
	victim := td["tk"].Partitions[0].Leader

	acked := map[string]bool{}
	produce := func(from, to int) {
		results := make(chan error, to-from)
		for i := from; i < to; i++ {
			v := fmt.Sprint(i)
			cl.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(_ *kgo.Record, err error) {
				if err == nil {
					acked[v] = true // callbacks run one at a time
				}
				results <- err
			})
		}
		for i := from; i < to; i++ {
			if err := <-results; err != nil {
				t.Errorf("produce: %v", err)
			}
		}
	}
	produce(0, 200)
	for _, b := range c.Brokers {
		if b.ID == int64(victim) {
			if err := b.Stop(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(200, 400) // waits for the takeover: kgo retries until a new leader acks
	if len(acked) != 400 {
		t.Fatalf("%d of 400 records acknowledged", len(acked))
	}

	var live string
	for _, b := range c.Brokers {
		if b.ID != int64(victim) {
			live = b.KafkaAddr
		}
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(live), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		"tk": {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]bool{}
	for len(seen) < len(acked) {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	for v := range acked {
		if !seen[v] {
			t.Errorf("acknowledged record %s lost", v)
		}
	}
}

// TestBinaryRecordsAndHeaders: keys, values and headers are bytes (NUL,
// invalid UTF-8), stored and fetched back as sent, with the producer's
// timestamp; and the record is the same one the HTTP API serves.
func TestBinaryRecordsAndHeaders(t *testing.T) {
	c := startCluster(t, 1)
	ctx := pgtest.Context(t, time.Minute)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.KafkaBootstrap()), kgo.DefaultProduceTopic("bin"),
		kgo.ConsumeTopics("bin"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	createTopic(t, ctx, kadm.NewClient(cl), c, "bin", 1)
	ts := time.UnixMilli(1_700_000_000_123)
	sent := &kgo.Record{Key: []byte{0, 0xfe}, Value: []byte{0xff, 0x00, 'v'}, Timestamp: ts,
		Headers: []kgo.RecordHeader{{Key: "h", Value: []byte{0x80}}, {Key: "empty", Value: nil}}}
	if err := cl.ProduceSync(ctx, sent).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var got *kgo.Record
	for got == nil {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = r })
	}
	if !bytes.Equal(got.Key, sent.Key) || !bytes.Equal(got.Value, sent.Value) || !got.Timestamp.Equal(ts) ||
		len(got.Headers) != 2 || got.Headers[0].Key != "h" || !bytes.Equal(got.Headers[0].Value, []byte{0x80}) ||
		got.Headers[1].Key != "empty" || len(got.Headers[1].Value) != 0 {
		t.Fatalf("fetched %+v, sent %+v", got, sent)
	}
}

func TestKcatHeaders(t *testing.T) {
	kcat := tool(t, "kcat", "-V")
	c := startCluster(t, 1)
	ctx := pgtest.Context(t, time.Minute)
	b := c.KafkaBootstrap()
	run(t, ctx, "k:v\n", kcat, "-b", b, "-t", "hdr", "-P", "-K", ":", "-H", "trace=abc", "-H", "n=1")
	out := run(t, ctx, "", kcat, "-b", b, "-t", "hdr", "-C", "-o", "beginning", "-e", "-f", "%k %s %h\n")
	if strings.TrimSpace(out) != "k v trace=abc,n=1" {
		t.Fatalf("consumed %q", out)
	}
}

// BenchmarkKafkaProduceUnbatched: 64 producers over the Kafka protocol,
// each sending one record per request and waiting for its ack (acks=all,
// linger 0), 100-byte values, 3 partitions on one broker. Reports
// records/s.
//
//	go test ./kafka -run '^$' -bench KafkaProduceUnbatched -benchtime 20000x
func BenchmarkKafkaProduceUnbatched(b *testing.B) {
	c := startCluster(b, 1)
	ctx := pgtest.Context(b, 5*time.Minute)
	admCl, err := kgo.NewClient(kgo.SeedBrokers(c.KafkaBootstrap()))
	if err != nil {
		b.Fatal(err)
	}
	defer admCl.Close()
	createTopic(b, ctx, kadm.NewClient(admCl), c, "bench", 3)
	const producers = 64
	clients := make([]*kgo.Client, producers)
	for i := range clients {
		if clients[i], err = kgo.NewClient(kgo.SeedBrokers(c.KafkaBootstrap()), kgo.DefaultProduceTopic("bench"),
			kgo.ProducerLinger(0), kgo.RequiredAcks(kgo.AllISRAcks())); err != nil {
			b.Fatal(err)
		}
		defer clients[i].Close()
		if err := clients[i].ProduceSync(ctx, &kgo.Record{Value: []byte("warm")}).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	value := []byte(strings.Repeat("x", 100))
	next := make(chan struct{}, b.N)
	for range b.N {
		next <- struct{}{}
	}
	close(next)
	b.ResetTimer()
	start := time.Now()
	errs := make(chan error, producers)
	for _, cl := range clients {
		go func() {
			for range next {
				if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range producers {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

// TestDeletedTopicRows: a deleted topic's records stay in PostgreSQL
// (partitions and messages rows), unserved: Kafka clients get
// UNKNOWN_TOPIC_OR_PARTITION, and its name cannot be created again.
func TestDeletedTopicRows(t *testing.T) {
	c := startCluster(t, 1)
	ctx := pgtest.Context(t, time.Minute)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.KafkaBootstrap()), kgo.DefaultProduceTopic("gone"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	createTopic(t, ctx, adm, c, "gone", 2)
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := adm.DeleteTopics(ctx, "gone"); err != nil || r.Error() != nil {
		t.Fatalf("delete: %v %v", err, r.Error())
	}
	waitTopic(t, ctx, c.Brokers[0].KafkaAddr, "gone", -1)

	db := pgtest.Pool(t, c.DSN, 2)
	var parts, msgs int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM partitions WHERE topic = 'gone'`).Scan(&parts); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE topic = 'gone'`).Scan(&msgs); err != nil {
		t.Fatal(err)
	}
	if parts != 2 || msgs != 10 {
		t.Fatalf("after the delete: %d partitions rows, %d messages rows; want them kept (2, 10)", parts, msgs)
	}
	// Not served any more.
	lreq := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "gone"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	lreq.Topics = append(lreq.Topics, lt)
	lresp, err := lreq.RequestWith(ctx, cl.SeedBrokers()[0])
	if err != nil {
		t.Fatal(err)
	}
	if code := lresp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("list offsets of a deleted topic: error %d", code)
	}
	if r, _ := adm.CreateTopic(ctx, 1, -1, nil, "gone"); r.Err == nil {
		t.Error("a deleted topic's name was created again over its kept rows")
	}
}

// TestGroupsOneDataPlane: a group made by a Kafka client is the manager's
// group: kadm lists, describes, deletes it and commits and fetches its
// offsets; the manager's HTTP API (the Go client) shows the same members,
// assignment and offsets, and offsets committed over HTTP are what Kafka
// fetches. The group calls also work through a reader manager, which
// forwards them (the join and sync long polls included) to the writer.
func TestGroupsOneDataPlane(t *testing.T) {
	ctx := pgtest.Context(t, 2*time.Minute)
	c, err := devcluster.Start(ctx, devcluster.Config{DSN: pgtest.NewDB(t), Readers: 1, Brokers: 2, Kafka: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, b := range c.Brokers {
		waitBrokers(t, ctx, b.KafkaAddr, 2)
	}
	seeds := strings.Split(c.KafkaBootstrap(), ",")
	p, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic("adm"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	adm := kadm.NewClient(p)
	createTopic(t, ctx, adm, c, "adm", 2)
	for i := range 20 {
		p.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "%d", i), Value: fmt.Appendf(nil, "%d", i)}, nil)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	hc, err := client.New(client.Config{Managers: c.ManagerURLs()})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()

	g, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumerGroup("ga"), kgo.ConsumeTopics("adm"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.ClientID("kgo-ga"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for n := 0; n < 20; {
		fs := g.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		n += fs.NumRecords()
	}
	if err := g.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}

	// Kafka's view of the live group.
	described, err := adm.DescribeGroups(ctx, "ga")
	if err != nil || described.Error() != nil {
		t.Fatalf("describe: %v %v", err, described.Error())
	}
	d := described["ga"]
	if d.State != "Stable" || d.ProtocolType != "consumer" || len(d.Members) != 1 {
		t.Fatalf("described %+v", d)
	}
	member := d.Members[0]
	if member.ClientID != "kgo-ga" {
		t.Errorf("member client id %q", member.ClientID)
	}
	if j, ok := member.Join.AsConsumer(); !ok || !slices.Equal(j.Topics, []string{"adm"}) {
		t.Errorf("member metadata %+v", member.Join)
	}
	if a, ok := member.Assigned.AsConsumer(); !ok || len(a.Topics) != 1 || len(a.Topics[0].Partitions) != 2 {
		t.Errorf("member assignment %+v", member.Assigned)
	}
	// The same group over HTTP.
	hd, err := hc.DescribeGroup(ctx, "ga")
	if err != nil {
		t.Fatal(err)
	}
	if hd.State != "Stable" || hd.ProtocolType != "consumer" || len(hd.Members) != 1 || hd.Members[0].MemberID != member.MemberID ||
		len(hd.Members[0].Assignment["adm"]) != 2 {
		t.Fatalf("HTTP describe %+v", hd)
	}
	sum := func(offs []api.CommittedOffset) (n int64) {
		for _, o := range offs {
			n += o.Offset
		}
		return n
	}
	if offs, err := hc.FetchOffsets(ctx, "ga", "adm"); err != nil || sum(offs) != 20 {
		t.Fatalf("HTTP offsets %v %v", offs, err)
	}
	fetched, err := adm.FetchOffsets(ctx, "ga")
	if err != nil || fetched.Error() != nil {
		t.Fatalf("fetch offsets: %v %v", err, fetched.Error())
	}
	var total int64
	fetched.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != 20 {
		t.Errorf("kadm: committed offsets sum to %d, want 20", total)
	}
	if del, err := adm.DeleteGroups(ctx, "ga"); err != nil || !errors.Is(del.Error(), kerr.NonEmptyGroup) {
		t.Errorf("deleting a live group: %v %v", err, del.Error())
	}

	// Empty, the group takes standalone commits from both sides.
	g.Close()
	listed, err := adm.ListGroups(ctx)
	if err != nil || listed["ga"].State != "Empty" {
		t.Fatalf("list groups: %+v %v", listed, err)
	}
	var set kadm.Offsets
	set.Add(kadm.Offset{Topic: "adm", Partition: 0, At: 3, LeaderEpoch: -1, Metadata: "by kadm"})
	if r, err := adm.CommitOffsets(ctx, "ga", set); err != nil || r.Error() != nil {
		t.Fatalf("kadm commit: %v %v", err, r.Error())
	}
	if _, err := hc.CommitOffsets(ctx, "ga", api.CommitOffsetsRequest{Generation: -1,
		Offsets: []api.CommittedOffset{{Topic: "adm", Partition: 1, Offset: 7, Metadata: "by http"}}}); err != nil {
		t.Fatal(err)
	}
	offs, err := hc.FetchOffsets(ctx, "ga", "adm")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range offs {
		if want := map[int]int64{0: 3, 1: 7}[o.Partition]; o.Offset != want {
			t.Errorf("HTTP: partition %d at %d, want %d", o.Partition, o.Offset, want)
		}
	}
	fetched, err = adm.FetchOffsets(ctx, "ga")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := fetched.Lookup("adm", 1); o.At != 7 || o.Metadata != "by http" {
		t.Errorf("kadm: partition 1 at %+v, want 7 by http", o)
	}
	if o, _ := fetched.Lookup("adm", 0); o.At != 3 || o.Metadata != "by kadm" {
		t.Errorf("kadm: partition 0 at %+v, want 3 by kadm", o)
	}
	if del, err := adm.DeleteGroups(ctx, "ga"); err != nil || del.Error() != nil {
		t.Fatalf("delete: %v %v", err, del.Error())
	}
	if _, err := hc.DescribeGroup(ctx, "ga"); logq.ErrorCode(err) != logq.EGroupNotFound {
		t.Errorf("HTTP describe of a deleted group: %v", err)
	}
	if d, _ := adm.DescribeGroups(ctx, "ga"); d["ga"].State != "Dead" {
		t.Errorf("deleted group described as %q", d["ga"].State)
	}

	// Through a reader: the routes are forwarded to the writer.
	viaReader, err := client.New(client.Config{Managers: []string{c.Managers[1].URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer viaReader.Close()
	join, err := viaReader.JoinGroup(ctx, "gr", api.JoinGroupRequest{ClientID: "raw", SessionTimeoutMS: 10000, RebalanceTimeoutMS: 10000,
		ProtocolType: "consumer", Protocols: []api.GroupProtocol{{Name: "range", Metadata: []byte{0, 1}}}})
	if err != nil || join.Generation != 1 || join.Leader != join.MemberID || join.ProtocolType != "consumer" || len(join.Members) != 1 {
		t.Fatalf("join via a reader: %+v %v", join, err)
	}
	sync, err := viaReader.SyncGroup(ctx, "gr", api.SyncGroupRequest{MemberID: join.MemberID, Generation: join.Generation,
		Assignments: []api.SyncAssignment{{MemberID: join.MemberID, Assignment: []byte{9, 9}}}})
	if err != nil || !bytes.Equal(sync.Assignment, []byte{9, 9}) || sync.Protocol != "range" {
		t.Fatalf("sync via a reader: %+v %v", sync, err)
	}
	if err := viaReader.HeartbeatGroup(ctx, "gr", join.MemberID, join.Generation); err != nil {
		t.Fatal(err)
	}
	if err := viaReader.HeartbeatGroup(ctx, "gr", join.MemberID, join.Generation+1); logq.ErrorCode(err) != logq.EIllegalGeneration {
		t.Errorf("heartbeat of a wrong generation: %v", err)
	}
	rd, err := viaReader.DescribeGroup(ctx, "gr")
	if err != nil || len(rd.Members) != 1 || !bytes.Equal(rd.Members[0].MemberMetadata, []byte{0, 1}) || !bytes.Equal(rd.Members[0].MemberAssignment, []byte{9, 9}) {
		t.Fatalf("describe via a reader: %+v %v", rd, err)
	}
	left, err := viaReader.LeaveGroup(ctx, "gr", join.MemberID, "nobody")
	if err != nil || len(left.Members) != 2 || left.Members[0].Code != "" || left.Members[1].Code != logq.EUnknownMemberID {
		t.Fatalf("leave via a reader: %+v %v", left, err)
	}
}

// TestKafkaTopicConfigs: a topic's retention.ms and retention.bytes are the
// topic's configuration in the control plane: set by CreateTopics, changed
// by IncrementalAlterConfigs and AlterConfigs (through the writer), read by
// DescribeConfigs on every broker and over HTTP; other configs are
// refused per resource.
func TestKafkaTopicConfigs(t *testing.T) {
	c := startCluster(t, 2)
	ctx := pgtest.Context(t, 2*time.Minute)
	seeds := strings.Split(c.KafkaBootstrap(), ",")
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	hc, err := client.New(client.Config{Managers: c.ManagerURLs()})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()

	hour := "3600000"
	r, err := adm.CreateTopic(ctx, 2, -1, map[string]*string{"retention.ms": &hour, "cleanup.policy": kmsg.StringPtr("delete")}, "cfg")
	if err != nil || r.Err != nil {
		t.Fatalf("create: %v %v %s", err, r.Err, r.ErrMessage)
	}
	for _, b := range c.Brokers {
		waitTopic(t, ctx, b.KafkaAddr, "cfg", 2)
	}
	// want checks the topic's retention on every broker's listener (each
	// learns of a change a moment after the one that made it, as in Kafka)
	// and over HTTP (own: the topic's own values, 0 the default).
	want := func(ms, bytes string, ownMs, ownBytes int64) {
		t.Helper()
		for {
			err := checkRetention(t, ctx, c, ms, bytes, ownMs, ownBytes)
			if err == nil {
				break
			}
			if !pollWait(ctx) {
				t.Fatal(err)
			}
		}
		ti, err := hc.DescribeTopic(ctx, "cfg")
		if err != nil || ti.Config.RetentionMs != ownMs || ti.Config.RetentionBytes != ownBytes {
			t.Errorf("HTTP: %+v %v, want %d %d", ti, err, ownMs, ownBytes)
		}
	}
	want(hour, "-1", 3600000, 0)
	// kadm describes through DescribeConfigs too.
	rc, err := adm.DescribeTopicConfigs(ctx, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	if cfg, _ := rc.On("cfg", nil); cfg.Err != nil {
		t.Fatalf("kadm describe: %v", cfg.Err)
	}

	mb := "1048576"
	alter := func(res kadm.AlterConfigsResponses, err error) error {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				return fmt.Errorf("%w: %s", r.Err, r.ErrMessage)
			}
		}
		return nil
	}
	if err := alter(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: &mb}}, "cfg")); err != nil {
		t.Fatal(err)
	}
	want(hour, mb, 3600000, 1048576)
	if err := alter(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "retention.ms"}}, "cfg")); err != nil {
		t.Fatal(err)
	}
	want("-1", mb, 0, 1048576)
	// AlterConfigs replaces the whole set: retention.bytes goes back to
	// the default.
	if err := alter(adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("-1")}}, "cfg")); err != nil {
		t.Fatal(err)
	}
	want("-1", "-1", -1, 0)
	// Validate only: nothing changes.
	if err := alter(adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: &hour}}, "cfg")); err != nil {
		t.Fatal(err)
	}
	want("-1", "-1", -1, 0)

	// Refused, each with a clear code; nothing is half applied.
	for _, bad := range []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kmsg.StringPtr("compact")},
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kmsg.StringPtr("soon")},
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kmsg.StringPtr("-2")},
		{Op: kadm.AppendConfig, Name: "retention.ms", Value: &hour},
	} {
		err := alter(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: &mb}, bad}, "cfg"))
		if !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("alter %s %v: %v, want INVALID_CONFIG", bad.Name, bad.Op, err)
		}
	}
	if err := alter(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: &hour}}, "nope")); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("alter of an unknown topic: %v", err)
	}
	if err := alter(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.ms", Value: &hour}})); !errors.Is(err, kerr.InvalidRequest) {
		t.Errorf("alter of broker configs: %v", err)
	}
	want("-1", "-1", -1, 0)
	r, err = adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": kmsg.StringPtr("compact")}, "compacted")
	if !errors.Is(err, kerr.InvalidConfig) || !errors.Is(r.Err, kerr.InvalidConfig) {
		t.Errorf("create with cleanup.policy=compact: %v %v", err, r.Err)
	}
}

// checkRetention compares topic cfg's retention on every broker's Kafka
// listener with ms and bytes (own: the topic's own values, 0 the default).
func checkRetention(t *testing.T, ctx context.Context, c *devcluster.Cluster, ms, bytes string, ownMs, ownBytes int64) error {
	for _, b := range c.Brokers {
		bc, err := kgo.NewClient(kgo.SeedBrokers(b.KafkaAddr))
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrDescribeConfigsRequest()
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "cfg"
		req.Resources = append(req.Resources, rr)
		resp, err := req.RequestWith(ctx, bc.SeedBrokers()[0])
		bc.Close()
		if err != nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
			return fmt.Errorf("describe configs on %s: %v %+v", b.KafkaAddr, err, resp)
		}
		got := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
		for _, c := range resp.Resources[0].Configs {
			got[c.Name] = c
		}
		for name, v := range map[string]string{"retention.ms": ms, "retention.bytes": bytes} {
			own := map[string]int64{"retention.ms": ownMs, "retention.bytes": ownBytes}[name] != 0
			g := got[name]
			if g.Value == nil || *g.Value != v || g.ReadOnly || (g.Source == kmsg.ConfigSourceDynamicTopicConfig) != own {
				return fmt.Errorf("broker %s: %s = %v (source %v), want %s (own %v)", b.KafkaAddr, name, g.Value, g.Source, v, own)
			}
		}
	}
	return nil
}

// TestKgoGroupJoinOutlastsManagerWait: the manager bounds a join's long
// poll (here 500 ms) below the clients' rebalance timeout (kgo's 60 s). A
// second member's join waits for the first to rejoin, which it does only
// at its next heartbeat (every 4 s here), so the join usually answers
// REBALANCE_IN_PROGRESS at the bound (kgo logs "join group failed" and
// backs off); the member stays in the group, rejoins, and the group
// settles with both members assigned partitions.
func TestKgoGroupJoinOutlastsManagerWait(t *testing.T) {
	ctx := pgtest.Context(t, 2*time.Minute)
	c, err := devcluster.Start(ctx, devcluster.Config{DSN: pgtest.NewDB(t), Readers: -1, Brokers: 2, Kafka: true, GroupMaxWait: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, b := range c.Brokers {
		waitBrokers(t, ctx, b.KafkaAddr, 2)
	}
	// The coordinator's side, deterministic: a first join that outlasts
	// the bound names the member it made, which rejoins as itself.
	hg, err := client.New(client.Config{Managers: c.ManagerURLs()})
	if err != nil {
		t.Fatal(err)
	}
	defer hg.Close()
	join := func(member string) (api.JoinGroupAnswer, error) {
		return hg.JoinGroup(ctx, "raw", api.JoinGroupRequest{MemberID: member, ClientID: "raw", SessionTimeoutMS: 30000, RebalanceTimeoutMS: 30000,
			ProtocolType: "consumer", Protocols: []api.GroupProtocol{{Name: "range", Metadata: []byte{1}}}})
	}
	first, err := join("")
	if err != nil || first.Generation != 1 {
		t.Fatalf("first member: %+v %v", first, err)
	}
	if _, err := hg.SyncGroup(ctx, "raw", api.SyncGroupRequest{MemberID: first.MemberID, Generation: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = join("") // waits for the first to rejoin, which it does not yet
	var second *client.Error
	if !errors.As(err, &second) || second.Code != logq.ERebalanceInProgress || second.MemberID == "" {
		t.Fatalf("a first join outlasting the bound: %v, want rebalance_in_progress naming the member", err)
	}
	rejoined := make(chan error, 1)
	go func() {
		_, err := join(first.MemberID)
		rejoined <- err
	}()
	again, err := join(second.MemberID)
	if err != nil || again.MemberID != second.MemberID || again.Generation != 2 {
		t.Fatalf("the second member rejoining as itself: %+v %v", again, err)
	}
	if err := <-rejoined; err != nil {
		t.Fatalf("the first member rejoining: %v", err)
	}
	if d, err := hg.DescribeGroup(ctx, "raw"); err != nil || len(d.Members) != 2 {
		t.Fatalf("described %+v %v, want 2 members", d, err)
	}
	// Over Kafka, the same first join is answered MEMBER_ID_REQUIRED with
	// the member id (KIP-394: the one error whose member id clients keep).
	rawCl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(c.KafkaBootstrap(), ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer rawCl.Close()
	kjoin := func(member string) *kmsg.JoinGroupResponse {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.MemberID, req.ProtocolType = "rawk", member, "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 30000, 30000
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{1}}}
		resp, err := req.RequestWith(ctx, rawCl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := kjoin(""); r.ErrorCode != 0 || r.Generation != 1 {
		t.Fatalf("first Kafka member: %+v", r)
	} else {
		sreq := kmsg.NewPtrSyncGroupRequest()
		sreq.Group, sreq.MemberID, sreq.Generation = "rawk", r.MemberID, 1
		if sr, err := sreq.RequestWith(ctx, rawCl); err != nil || sr.ErrorCode != 0 {
			t.Fatalf("sync: %+v %v", sr, err)
		}
	}
	if r := kjoin(""); r.ErrorCode != kerr.MemberIDRequired.Code || r.MemberID == "" {
		t.Fatalf("a first Kafka join outlasting the bound: code %d member %q, want MEMBER_ID_REQUIRED with the member id", r.ErrorCode, r.MemberID)
	}

	seeds := strings.Split(c.KafkaBootstrap(), ",")
	p, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic("slow"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	createTopic(t, ctx, kadm.NewClient(p), c, "slow", 4)
	for i := range 40 {
		p.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%d", i)}, nil)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	member := func(name string) *kgo.Client {
		g, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumerGroup("slow"), kgo.ConsumeTopics("slow"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ClientID(name), kgo.FetchMaxWait(200*time.Millisecond),
			kgo.HeartbeatInterval(4*time.Second), kgo.SessionTimeout(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	a := member("a")
	defer a.Close()
	for n := 0; n < 40; { // a alone has every partition
		fs := a.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		n += fs.NumRecords()
	}
	b := member("b")
	defer b.Close()
	hc, err := client.New(client.Config{Managers: c.ManagerURLs()})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	// Both members poll (a kgo member rejoins from its poll loop's
	// heartbeats) until the group is stable with both, each assigned
	// partitions.
	polls := make(chan struct{})
	done := make(chan struct{})
	for _, g := range []*kgo.Client{a, b} {
		go func() {
			defer func() { polls <- struct{}{} }()
			for {
				pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
				g.PollFetches(pctx)
				cancel()
				select {
				case <-done:
					return
				default:
				}
			}
		}()
	}
	defer func() {
		close(done)
		<-polls
		<-polls
	}()
	for {
		d, err := hc.DescribeGroup(ctx, "slow")
		if err == nil && d.State == "Stable" && len(d.Members) == 2 && len(d.Members[0].Assignment["slow"]) > 0 && len(d.Members[1].Assignment["slow"]) > 0 {
			return
		}
		if !pollWait(ctx) {
			t.Fatalf("the group did not settle with both members: %+v %v", d, err)
		}
	}
}

// TestKgoStaticMember: a static member (group.instance.id, KIP-345) joins
// through the manager, which keeps its instance id; restarted with the
// same instance id it takes its old place (no LeaveGroup on close, as
// static members do) and resumes after its commits.
func TestKgoStaticMember(t *testing.T) {
	c := startCluster(t, 2)
	ctx := pgtest.Context(t, 2*time.Minute)
	seeds := strings.Split(c.KafkaBootstrap(), ",")
	p, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic("static"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	adm := kadm.NewClient(p)
	createTopic(t, ctx, adm, c, "static", 2)
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			p.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%d", i)}, nil)
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	consume := func(n int) (map[string]bool, string) {
		g, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumerGroup("static"), kgo.ConsumeTopics("static"),
			kgo.InstanceID("s1"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		seen := map[string]bool{}
		for len(seen) < n {
			fs := g.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
		}
		if err := g.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatal(err)
		}
		d, err := adm.DescribeGroups(ctx, "static")
		if err != nil || len(d["static"].Members) != 1 {
			t.Fatalf("describe: %+v %v", d, err)
		}
		m := d["static"].Members[0]
		if m.InstanceID == nil || *m.InstanceID != "s1" {
			t.Errorf("member %+v without its instance id", m)
		}
		return seen, m.MemberID
	}
	produce(0, 10)
	if got, _ := consume(10); len(got) != 10 {
		t.Fatalf("first run saw %d", len(got))
	}
	produce(10, 15)
	got, _ := consume(5)
	for v := range got {
		if n, _ := strconv.Atoi(v); n < 10 {
			t.Errorf("restarted static member re-read %s", v)
		}
	}
}
