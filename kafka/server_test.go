package kafka

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startFake serves a fake cluster on a loopback port.
func startFake(t testing.TB, opts ...func(*Config)) (*fakeCluster, *fakeLog, string) {
	t.Helper()
	c, l, _, addr := startFakeServer(t, opts...)
	return c, l, addr
}

// startFakeServer is startFake, with the server.
func startFakeServer(t testing.TB, opts ...func(*Config)) (*fakeCluster, *fakeLog, *Server, string) {
	t.Helper()
	c, l := newFake()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	c.self = BrokerInfo{ID: 1, Host: host, Port: int32(p)}
	cfg := Config{Cluster: c, Log: l, AutoCreateTopics: true}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	})
	return c, l, s, ln.Addr().String()
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestKgoProduceFetchCompressions(t *testing.T) {
	_, l, addr := startFake(t)
	ctx := testCtx(t)
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := kadm.NewClient(adm).CreateTopic(ctx, 2, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	want := 0
	for name, codec := range codecs {
		for _, idem := range []bool{true, false} {
			opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ProducerBatchCompression(codec), kgo.RecordPartitioner(kgo.ManualPartitioner())}
			if !idem {
				opts = append(opts, kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.LeaderAck()))
			}
			p, err := kgo.NewClient(opts...)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 50 {
				r := &kgo.Record{Topic: "t", Partition: int32(i % 2), Key: []byte("k"), Value: fmt.Appendf(nil, "%s-%t-%d", name, idem, i),
					Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}}
				p.Produce(ctx, r, nil)
			}
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			p.Close()
			want += 50
		}
	}
	idem := 0
	for _, pr := range l.producers {
		if pr.ID > 0 {
			idem++
		}
	}
	if idem == 0 {
		t.Error("no idempotent batch reached the log")
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		"t": {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := 0
	for got < want {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			if string(r.Key) != "k" || len(r.Headers) != 1 || r.Headers[0].Key != "h" {
				t.Errorf("record %+v", r)
			}
		})
	}
	if got != want {
		t.Fatalf("consumed %d, want %d", got, want)
	}
}

func TestLongPollWakesOnProduce(t *testing.T) {
	c, _, addr := startFake(t)
	ctx := testCtx(t)
	c.CreateTopic(ctx, "lp", 1)
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.FetchMaxWait(20*time.Second),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"lp": {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	got := make(chan string, 1)
	go func() {
		fs := cons.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { got <- string(r.Value) })
		close(got)
	}()
	start := time.Now()
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "lp", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if v := <-got; v != "x" {
		t.Fatalf("got %q", v)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("long poll answered after %v, not on the append", d)
	}
}

func TestAdminTopics(t *testing.T) {
	_, _, addr := startFake(t)
	ctx := testCtx(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, -1, nil, "a"); err != nil {
		t.Fatal(err)
	}
	if r, _ := adm.CreateTopic(ctx, 3, -1, nil, "a"); r.Err == nil {
		t.Fatal("second create of a succeeded")
	}
	if r, _ := adm.CreateTopic(ctx, 3, 3, nil, "rf3"); r.Err == nil {
		t.Fatal("replication factor 3 accepted")
	}
	if _, err := adm.CreatePartitions(ctx, 2, "a"); err != nil {
		t.Fatal(err)
	}
	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(td["a"].Partitions); n != 5 {
		t.Fatalf("a has %d partitions, want 5", n)
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := cfgs.On("a", nil); err != nil || len(c.Configs) == 0 {
		t.Fatalf("configs %+v %v", c, err)
	}
	if r, err := adm.DeleteTopics(ctx, "a"); err != nil || r.Error() != nil || len(r) != 1 {
		t.Log(r)
		t.Fatal(err, r.Error())
	}
	// A new client: kgo caches metadata for a moment.
	cl2, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	td, err = kadm.NewClient(cl2).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if td.Has("a") {
		t.Fatalf("a still listed after delete: %+v", td["a"])
	}
	if _, err := adm.BrokerMetadata(ctx); err != nil {
		t.Fatal(err)
	}
	offs, err := adm.ListEndOffsets(ctx, "rf3")
	if err != nil {
		t.Fatal(err)
	}
	_ = offs
}

func TestMaxRequestBytesClosesConnection(t *testing.T) {
	_, _, addr := startFake(t)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte{0x7f, 0xff, 0xff, 0xff}) // 2 GiB
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	if _, err := nc.Read(b[:]); err == nil {
		t.Fatal("server answered an oversized request")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("server kept the connection open")
	}
}

func TestUnknownPartitions(t *testing.T) {
	c, _, addr := startFake(t)
	ctx := testCtx(t)
	c.CreateTopic(ctx, "one", 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Raw requests: clients would retry these errors.
	lreq := kmsg.NewPtrListOffsetsRequest()
	for _, tp := range []struct {
		topic string
		part  int32
	}{{"one", 1}, {"none", 0}} {
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = tp.topic
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition, lp.Timestamp = tp.part, -1
		lt.Partitions = append(lt.Partitions, lp)
		lreq.Topics = append(lreq.Topics, lt)
	}
	lresp, err := lreq.RequestWith(ctx, cl.Broker(1)) // not sharded by kgo
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range lresp.Topics {
		if code := rt.Partitions[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("list offsets %s/%d: error %d", rt.Topic, rt.Partitions[0].Partition, code)
		}
	}
	freq := kmsg.NewPtrFetchRequest()
	freq.MaxWaitMillis, freq.MinBytes, freq.MaxBytes = 100, 1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "one"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.PartitionMaxBytes = 5, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	freq.Topics = append(freq.Topics, ft)
	fresp, err := freq.RequestWith(ctx, cl.Broker(1))
	if err != nil {
		t.Fatal(err)
	}
	if code := fresp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("fetch one/5: error %d", code)
	}
}

// rawConn sends hand-framed requests (kmsg-encoded) and reads answers.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	f  *kmsg.RequestFormatter
}

func dialRaw(t *testing.T, addr string) *rawConn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{t: t, nc: nc, f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw"))}
}

func (c *rawConn) send(req kmsg.Request, corr int32) {
	if _, err := c.nc.Write(c.f.AppendRequest(nil, req, corr)); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next answer's correlation id and body (after the
// header; flexible: the header's tag byte is left in body[0]).
func (c *rawConn) read() (int32, []byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return 0, nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.nc, buf); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(buf)), buf[4:], nil
}

func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	c, _, addr := startFake(t)
	c.CreateTopic(testCtx(t), "p", 1)
	rc := dialRaw(t, addr)
	// A long poll first: the metadata behind it waits its turn.
	f := kmsg.NewPtrFetchRequest()
	f.SetVersion(11)
	f.MaxWaitMillis, f.MinBytes, f.MaxBytes = 200, 1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "p"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	f.Topics = append(f.Topics, ft)
	rc.send(f, 1)
	for i := int32(2); i <= 5; i++ {
		m := kmsg.NewPtrMetadataRequest()
		m.SetVersion(int16(i)) // v2..v5, not flexible
		rc.send(m, i)
	}
	for want := int32(1); want <= 5; want++ {
		corr, body, err := rc.read()
		if err != nil {
			t.Fatal(err)
		}
		if corr != want {
			t.Fatalf("answer %d came as the %dth", corr, want)
		}
		if want == 1 {
			resp := kmsg.NewPtrFetchResponse()
			resp.SetVersion(11)
			if err := resp.ReadFrom(body); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
				t.Fatalf("fetch answer: %v %+v", err, resp)
			}
		}
	}
}

func TestApiVersionsNegotiation(t *testing.T) {
	_, _, addr := startFake(t)
	rc := dialRaw(t, addr)
	// A version past ours: answered at v0 with UNSUPPORTED_VERSION and our
	// versions (KIP-511), so the client retries within them.
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(99)
	// Encode as v3 (flexible) but claim v99 in the header.
	av.SetVersion(3)
	av.ClientSoftwareName, av.ClientSoftwareVersion = "raw", "1"
	msg := rc.f.AppendRequest(nil, av, 7)
	binary.BigEndian.PutUint16(msg[6:8], 99)
	rc.nc.Write(msg)
	corr, body, err := rc.read()
	if err != nil || corr != 7 {
		t.Fatal(corr, err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) != len(versions) {
		t.Fatalf("answer %+v", resp)
	}
	// v3, flexible: answered with header v0 (no tag byte) at v3.
	av = kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	av.ClientSoftwareName, av.ClientSoftwareVersion = "raw", "1"
	rc.send(av, 8)
	corr, body, err = rc.read()
	if err != nil || corr != 8 {
		t.Fatal(corr, err)
	}
	resp = kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(3)
	if err := resp.ReadFrom(body); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("v3 answer %v %+v", err, resp)
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == kmsg.AddPartitionsToTxn.Int16() || k.ApiKey == kmsg.EndTxn.Int16() {
			t.Errorf("transactions API %d advertised", k.ApiKey)
		}
	}
	// Another API past its versions closes the connection.
	m := kmsg.NewPtrMetadataRequest()
	m.SetVersion(13)
	rc.send(m, 9)
	if _, _, err := rc.read(); err == nil {
		t.Fatal("Metadata v13 answered; want the connection closed")
	}
}

func TestCloseEndsLongPolls(t *testing.T) {
	c, l := newFake()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	c.self = BrokerInfo{ID: 1, Host: host, Port: int32(p)}
	c.CreateTopic(context.Background(), "lp", 1)
	l.waiting = make(chan struct{}, 1)
	s, err := New(Config{Cluster: c, Log: l})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	rc := dialRaw(t, ln.Addr().String())
	idle := dialRaw(t, ln.Addr().String()) // an idle connection is closed too
	f := kmsg.NewPtrFetchRequest()
	f.SetVersion(11)
	f.MaxWaitMillis, f.MinBytes, f.MaxBytes = 60000, 1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "lp"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	f.Topics = append(f.Topics, ft)
	rc.send(f, 1)
	<-l.waiting // the fetch is in its long poll
	start := time.Now()
	s.Close()
	if err := <-done; err != ErrServerClosed {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Close took %v with a long poll in flight", d)
	}
	if corr, _, err := rc.read(); err != nil || corr != 1 {
		t.Fatalf("the long poll was not answered before the close: %d %v", corr, err)
	}
	if _, _, err := idle.read(); err == nil {
		t.Fatal("idle connection still open")
	}
}

func TestConnectionLimits(t *testing.T) {
	_, _, addr := startFake(t, func(c *Config) { c.MaxConnections = 1; c.IdleTimeout = 200 * time.Millisecond })
	first := dialRaw(t, addr)
	first.send(kmsg.NewPtrApiVersionsRequest(), 1)
	if _, _, err := first.read(); err != nil {
		t.Fatal(err)
	}
	second := dialRaw(t, addr)
	if _, _, err := second.read(); err == nil {
		t.Fatal("a connection past MaxConnections was served")
	}
	// The idle first one is closed after IdleTimeout (read returns once
	// the server closes it; the 30 s deadline of dialRaw bounds the wait).
	if _, _, err := first.read(); err == nil {
		t.Fatal("idle connection answered")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("idle connection kept open")
	}
}

func TestRetentionConfigSource(t *testing.T) {
	for _, c := range []struct {
		own, def int64
		value    string
		source   kmsg.ConfigSource
	}{
		{0, -1, "-1", kmsg.ConfigSourceDefaultConfig},
		{0, 0, "-1", kmsg.ConfigSourceDefaultConfig},
		{0, 5000, "5000", kmsg.ConfigSourceStaticBrokerConfig},
		{7, 5000, "7", kmsg.ConfigSourceDynamicTopicConfig},
		{-1, 5000, "-1", kmsg.ConfigSourceDynamicTopicConfig},
	} {
		got := retentionConfig("retention.ms", c.own, c.def)
		if got.value != c.value || got.source != c.source || got.readOnly {
			t.Errorf("own %d default %d: %+v, want %s from %v", c.own, c.def, got, c.value, c.source)
		}
	}
}
