package kafka_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/logq/logq/api"
	"github.com/logq/logq/auth"
	"github.com/logq/logq/auth/httpauth"
	"github.com/logq/logq/client"
	"github.com/logq/logq/internal/harness/devcluster"
	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/internal/tlstest"
)

// The tests here run real Kafka clients over SASL (SCRAM, PLAIN) and
// mutual TLS against a cluster with auth on, with principals and ACLs
// made through the manager's API.

const (
	appUser, appPassword = "app", "app-Secret-1"
	otherUser, otherPass = "other", "other-Secret-1"
)

type secureCluster struct {
	*devcluster.Cluster
	tls    tlstest.Files
	tlsCfg *tls.Config
}

// startSecureCluster starts brokers with SASL_SSL Kafka listeners (mutual
// TLS: clients need the test CA's client certificate) and creates, as
// admin through the manager: "app" (every right on topics and groups
// named sec*) and "other" (no ACL).
func startSecureCluster(t *testing.T, brokers int, opts ...func(*devcluster.Config)) *secureCluster {
	t.Helper()
	files := tlstest.New(t)
	ctx := pgtest.Context(t, time.Minute)
	cfg := devcluster.Config{DSN: pgtest.NewDB(t), Readers: -1, Brokers: brokers, Kafka: true, Auth: true,
		KafkaTLS: httpauth.TLSFiles{Cert: files.Cert, Key: files.Key, ClientCA: files.CA}}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := devcluster.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	admin, err := client.New(client.Config{Managers: []string{c.Managers[0].URL}, Token: c.AdminToken, NoEnv: true})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, p := range [][2]string{{appUser, appPassword}, {otherUser, otherPass}} {
		if _, err := admin.CreatePrincipal(ctx, p[0], auth.KindClient, p[1], false); err != nil {
			t.Fatalf("create principal %s: %v", p[0], err)
		}
	}
	for _, res := range []string{"topic", "group"} {
		if _, err := admin.AddACL(ctx, api.ACLRequest{Principal: appUser, Resource: res, Pattern: "prefix", Name: "sec", Operation: "all"}); err != nil {
			t.Fatal(err)
		}
	}
	sc := &secureCluster{Cluster: c, tls: files}
	sc.tlsCfg = sc.tlsConfig(t)
	// Every broker must have applied the principals and ACLs.
	for _, b := range c.Brokers {
		sc.waitAuthorized(t, ctx, b.KafkaAddr)
	}
	return sc
}

// waitAuthorized waits until the broker at addr lets app log in and
// describe topics named sec*.
func (c *secureCluster) waitAuthorized(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	for {
		cl, err := kgo.NewClient(c.opts(scram.Auth{User: appUser, Pass: appPassword}.AsSha256Mechanism(), addr)...)
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("sec-probe")
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
		cl.Close()
		if err == nil && len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == kerr.UnknownTopicOrPartition.Code {
			return
		}
		if !pollWait(ctx) {
			t.Fatalf("broker %s does not authorize %s: %v", addr, appUser, err)
		}
	}
}

// waitTopic waits until the broker at addr shows topic with n led
// partitions to app.
func (c *secureCluster) waitTopic(t *testing.T, ctx context.Context, addr, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(c.opts(scram.Auth{User: appUser, Pass: appPassword}.AsSha256Mechanism(), addr)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	for {
		resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
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

// tlsConfig is a client's: the test CA and its client certificate.
func (c *secureCluster) tlsConfig(t *testing.T) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(c.tls.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cert, err := tls.LoadX509KeyPair(c.tls.ClientCert, c.tls.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

func (c *secureCluster) opts(m sasl.Mechanism, seeds ...string) []kgo.Opt {
	if len(seeds) == 0 {
		seeds = strings.Split(c.KafkaBootstrap(), ",")
	}
	return []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.SASL(m), kgo.DialTLSConfig(c.tlsCfg), kgo.RetryTimeout(5 * time.Second)}
}

func TestSecureClients(t *testing.T) {
	c := startSecureCluster(t, 2)
	ctx := pgtest.Context(t, 3*time.Minute)
	t.Run("franz-go", func(t *testing.T) { secureFranzGo(t, ctx, c) })
	t.Run("kcat", func(t *testing.T) { secureKcat(t, ctx, c) })
	t.Run("confluent-kafka-python", func(t *testing.T) { securePython(t, ctx, c) })
}

func secureFranzGo(t *testing.T, ctx context.Context, c *secureCluster) {
	for _, m := range []sasl.Mechanism{
		scram.Auth{User: appUser, Pass: appPassword}.AsSha256Mechanism(),
		scram.Auth{User: appUser, Pass: appPassword}.AsSha512Mechanism(),
		plain.Auth{User: appUser, Pass: appPassword}.AsMechanism(),
	} {
		topic := "sec-" + strings.ToLower(strings.ReplaceAll(m.Name(), "-", ""))
		cl, err := kgo.NewClient(append(c.opts(m), kgo.DefaultProduceTopic(topic))...)
		if err != nil {
			t.Fatal(err)
		}
		adm := kadm.NewClient(cl)
		if r, err := adm.CreateTopic(ctx, 2, -1, nil, topic); err != nil || r.Err != nil {
			t.Fatalf("%s create %s: %v %v", m.Name(), topic, err, r.Err)
		}
		for _, b := range c.Brokers {
			c.waitTopic(t, ctx, b.KafkaAddr, topic, 2)
		}
		// The idempotent producer (InitProducerId) is allowed: app may
		// produce to some topic.
		for i := range 20 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%3), Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
				t.Fatalf("%s produce: %v", m.Name(), err)
			}
		}
		cons, err := kgo.NewClient(append(c.opts(m), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for seen < 20 {
			fs := cons.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				t.Fatalf("%s fetch: %v", m.Name(), err)
			}
			seen += fs.NumRecords()
		}
		cons.Close()
		// Refused: a topic outside app's ACLs.
		r, err := adm.CreateTopic(ctx, 1, -1, nil, "forbidden")
		if err == nil {
			err = r.Err
		}
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("%s create forbidden: %v", m.Name(), err)
		}
		cl.Close()
	}
	// "other" may log in but not produce (InitProducerId is refused
	// first: it may produce nowhere) and sees no topic.
	other, err := kgo.NewClient(append(c.opts(scram.Auth{User: otherUser, Pass: otherPass}.AsSha256Mechanism()), kgo.DefaultProduceTopic("sec-scramsha256"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	err = other.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.ClusterAuthorizationFailed) && !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("other produce: %v", err)
	}
	topics, err := kadm.NewClient(other).ListTopics(ctx)
	if err != nil || len(topics.Names()) != 0 {
		t.Fatalf("other lists %v (%v), want none", topics.Names(), err)
	}
	// A wrong password fails the SASL exchange.
	bad, err := kgo.NewClient(c.opts(scram.Auth{User: appUser, Pass: "wrong"}.AsSha256Mechanism())...)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := kadm.NewClient(bad).ListTopics(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("wrong password: %v", err)
	}
	// Without SASL the listener answers nothing but the handshake.
	noSASL, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(c.KafkaBootstrap(), ",")...), kgo.DialTLSConfig(c.tlsCfg), kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer noSASL.Close()
	if _, err := kadm.NewClient(noSASL).ListTopics(ctx); err == nil {
		t.Fatal("listed topics without SASL")
	}
}

// kcatSecurity is kcat's (librdkafka's) settings for the secure cluster.
func (c *secureCluster) rdkafkaConf(mech, user, password string) map[string]string {
	return map[string]string{
		"security.protocol": "SASL_SSL", "sasl.mechanisms": mech,
		"sasl.username": user, "sasl.password": password,
		"ssl.ca.location":          c.tls.CA,
		"ssl.certificate.location": c.tls.ClientCert, "ssl.key.location": c.tls.ClientKey,
	}
}

func secureKcat(t *testing.T, ctx context.Context, c *secureCluster) {
	kcat := tool(t, "kcat", "-V")
	b := c.KafkaBootstrap()
	args := func(extra ...string) []string {
		a := []string{"-b", b}
		for k, v := range c.rdkafkaConf("SCRAM-SHA-256", appUser, appPassword) {
			a = append(a, "-X", k+"="+v)
		}
		return append(a, extra...)
	}
	var in strings.Builder
	for i := range 10 {
		fmt.Fprintf(&in, "k%d:secure %d\n", i%2, i)
	}
	// Auto-created on first use: app may create sec* topics.
	run(t, ctx, in.String(), kcat, args("-t", "sec-kcat", "-P", "-K", ":", "-p", "0")...)
	out := run(t, ctx, "", kcat, args("-t", "sec-kcat", "-C", "-p", "0", "-o", "beginning", "-e", "-f", "%k=%s\n")...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 10 || lines[0] != "k0=secure 0" || lines[9] != "k1=secure 9" {
		t.Fatalf("kcat consumed:\n%s", out)
	}
	meta := run(t, ctx, "", kcat, args("-L")...)
	if !strings.Contains(meta, `topic "sec-kcat"`) {
		t.Fatalf("kcat metadata:\n%s", meta)
	}
}

func securePython(t *testing.T, ctx context.Context, c *secureCluster) {
	py := tool(t, "/usr/bin/python3", "-c", "import confluent_kafka")
	conf := c.rdkafkaConf("SCRAM-SHA-512", appUser, appPassword)
	conf["bootstrap.servers"] = c.KafkaBootstrap()
	var pyConf strings.Builder
	pyConf.WriteString("{")
	for k, v := range conf {
		fmt.Fprintf(&pyConf, "%q: %q, ", k, v)
	}
	pyConf.WriteString("}")
	script := `
import sys
from confluent_kafka import Producer, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
conf = ` + pyConf.String() + `
admin = AdminClient(conf)
for f in admin.create_topics([NewTopic("sec-py", num_partitions=2, replication_factor=1)]).values():
    f.result()
p = Producer(dict(conf, **{"enable.idempotence": True, "linger.ms": 5}))
errors = []
for i in range(100):
    p.produce("sec-py", key="k%d" % (i % 5), value="v%d" % i, on_delivery=lambda err, msg: err and errors.append(err))
p.flush(30)
assert not errors, errors
c = Consumer(dict(conf, **{"group.id": "sec-unused", "enable.auto.commit": False, "auto.offset.reset": "earliest"}))
c.assign([TopicPartition("sec-py", i, 0) for i in range(2)])
seen = set()
while len(seen) < 100:
    m = c.poll(10)
    assert m is not None, "no record within 10 s (%d seen)" % len(seen)
    assert m.error() is None, m.error()
    seen.add(m.value().decode())
c.close()
print("ok", len(seen))
`
	out := run(t, ctx, "", py, "-c", script)
	if strings.TrimSpace(out) != "ok 100" {
		t.Fatalf("python: %s", out)
	}
}

// TestKafkaQuotaThrottlesKgo: a broker's produce quota reaches franz-go as
// throttle_time_ms (its throttle hook sees it) and the records still land.
func TestKafkaQuotaThrottlesKgo(t *testing.T) {
	c := startSecureCluster(t, 1, func(cfg *devcluster.Config) { cfg.KafkaQuotaProduceBytes = 20000 })
	ctx := pgtest.Context(t, 2*time.Minute)
	var throttled atomic.Int64
	hook := throttleHook(func(d time.Duration) { throttled.Add(int64(d)) })
	cl, err := kgo.NewClient(append(c.opts(scram.Auth{User: appUser, Pass: appPassword}.AsSha256Mechanism()),
		kgo.DefaultProduceTopic("sec-quota"), kgo.AllowAutoTopicCreation(), kgo.WithHooks(hook))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	value := make([]byte, 10000)
	rand.Read(value) // incompressible: the quota counts the bytes sent
	for range 8 {    // 80 kB against 20 kB/s with 20 kB of burst
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if throttled.Load() == 0 {
		t.Fatal("80 kB at a 20 kB/s quota was never throttled")
	}
	t.Logf("throttled for %v in all", time.Duration(throttled.Load()))
}

type throttleHook func(time.Duration)

func (h throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) { h(d) }
