package kafka

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/xdg-go/scram"

	"github.com/logq/logq/auth"
	"github.com/logq/logq/auth/httpauth"
)

// TestAuthzTableCoversAPIs fails when the server answers an API (it is in
// versions, so ApiVersions advertises it) that has no authorization rule,
// or when a rule names an API the server does not answer.
func TestAuthzTableCoversAPIs(t *testing.T) {
	for _, k := range sortedKeys() {
		r, ok := authzTable[k]
		if !ok {
			t.Errorf("api %s (key %d) has no entry in authzTable (kafka/authz.go)", kmsg.NameForKey(k), k)
			continue
		}
		if r.Name == "" {
			t.Errorf("api %s: the rule does not say how the resource name is taken", kmsg.NameForKey(k))
		}
		if r.Need == needACL && (r.enforce == nil || !r.Resource.Valid() || r.Op == "") {
			t.Errorf("api %s: an ACL rule needs a resource type, an operation and an enforce function", kmsg.NameForKey(k))
		}
	}
	for k := range authzTable {
		if _, ok := versions[k]; !ok {
			t.Errorf("authzTable has %s, which the server does not answer", kmsg.NameForKey(k))
		}
	}
}

// secDirectory: "app" (password "right") may do everything on topic "t"
// and group "g" and describe the cluster; "nobody" (password "pw") has no
// ACL.
func secDirectory(t testing.TB) *auth.Directory {
	t.Helper()
	var d *auth.Directory
	for name, pw := range map[string]string{"app": "right", "nobody": "pw"} {
		creds, err := auth.NewCredentials(pw)
		if err != nil {
			t.Fatal(err)
		}
		d = d.WithPrincipal(auth.Principal{Name: name, Kind: auth.KindClient, SCRAM: creds})
	}
	for _, a := range []auth.ACL{
		{Principal: "app", Resource: auth.Topic, Pattern: auth.Literal, Name: "t", Operation: auth.OpAll, Effect: auth.Allow},
		{Principal: "app", Resource: auth.Topic, Pattern: auth.Literal, Name: "new", Operation: auth.OpAll, Effect: auth.Allow},
		{Principal: "app", Resource: auth.Topic, Pattern: auth.Literal, Name: "t2", Operation: auth.OpAll, Effect: auth.Allow},
		{Principal: "app", Resource: auth.Group, Pattern: auth.Literal, Name: "g", Operation: auth.OpAll, Effect: auth.Allow},
		{Principal: "app", Resource: auth.Cluster, Pattern: auth.Literal, Name: auth.ClusterName, Operation: auth.OpDescribe, Effect: auth.Allow},
	} {
		d = d.WithACL(a)
	}
	return d
}

func withAuth(d *auth.Directory) func(*Config) {
	return func(c *Config) { c.Auth = auth.NewAuthenticator(func() *auth.Directory { return d }) }
}

// do sends req and decodes its answer (err: the connection closed).
func (c *rawConn) do(req kmsg.Request) (kmsg.Response, error) {
	c.send(req, 7)
	corr, body, err := c.read()
	if err != nil {
		return nil, err
	}
	if corr != 7 {
		c.t.Fatalf("correlation id %d", corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		rd := kbin.Reader{Src: body}
		kmsg.SkipTags(&rd)
		body = rd.Src
	}
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatalf("decode %s answer: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}

// closed reports whether the server closed the connection.
func (c *rawConn) closed() bool {
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	_, err := c.nc.Read(b[:])
	return errors.Is(err, io.EOF) || err != nil && strings.Contains(err.Error(), "reset")
}

// login runs SaslHandshake v1 and SaslAuthenticate with PLAIN; it returns
// SaslAuthenticate's error code.
func (c *rawConn) login(user, password string) int16 {
	c.t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "PLAIN"
	resp, err := c.do(hs)
	if err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != 0 {
		c.t.Fatalf("handshake: %v %+v", err, resp)
	}
	a := kmsg.NewPtrSASLAuthenticateRequest()
	a.Version, a.SASLAuthBytes = 2, []byte("\x00"+user+"\x00"+password)
	resp, err = c.do(a)
	if err != nil {
		c.t.Fatalf("authenticate: %v", err)
	}
	return resp.(*kmsg.SASLAuthenticateResponse).ErrorCode
}

// errorCodes collects every ErrorCode field of an answer.
func errorCodes(resp kmsg.Response) []int16 {
	var out []int16
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				f := v.Type().Field(i)
				if f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16 {
					out = append(out, int16(v.Field(i).Int()))
					continue
				}
				walk(v.Field(i))
			}
		case reflect.Slice:
			if v.Type().Elem().Kind() == reflect.Uint8 {
				return
			}
			for i := range v.Len() {
				walk(v.Index(i))
			}
		}
	}
	walk(reflect.ValueOf(resp))
	return out
}

var authzCodes = []int16{kerr.TopicAuthorizationFailed.Code, kerr.GroupAuthorizationFailed.Code, kerr.ClusterAuthorizationFailed.Code}

func authFailure(codes []int16) bool {
	for _, c := range codes {
		for _, a := range authzCodes {
			if c == a {
				return true
			}
		}
	}
	return false
}

// sampleRequest is one request of each API, at the newest version the
// server speaks, naming topic "t" (partition 0) and group "g".
func sampleRequest(t *testing.T, key int16) kmsg.Request {
	t.Helper()
	var req kmsg.Request
	switch key {
	case kmsg.ApiVersions.Int16():
		r := kmsg.NewPtrApiVersionsRequest()
		r.ClientSoftwareName, r.ClientSoftwareVersion = "raw", "1"
		req = r
	case kmsg.SASLHandshake.Int16():
		r := kmsg.NewPtrSASLHandshakeRequest()
		r.Mechanism = "PLAIN"
		req = r
	case kmsg.SASLAuthenticate.Int16():
		r := kmsg.NewPtrSASLAuthenticateRequest()
		r.SASLAuthBytes = []byte("\x00app\x00right")
		req = r
	case kmsg.DescribeCluster.Int16():
		r := kmsg.NewPtrDescribeClusterRequest()
		r.EndpointType = 1
		req = r
	case kmsg.Metadata.Int16():
		r := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("t")
		r.Topics = append(r.Topics, rt)
		req = r
	case kmsg.CreateTopics.Int16():
		r := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "new", 1, -1
		r.Topics = append(r.Topics, rt)
		req = r
	case kmsg.DeleteTopics.Int16():
		r := kmsg.NewPtrDeleteTopicsRequest()
		r.TopicNames = []string{"t2"}
		req = r
	case kmsg.CreatePartitions.Int16():
		r := kmsg.NewPtrCreatePartitionsRequest()
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = "t", 3
		r.Topics = append(r.Topics, rt)
		req = r
	case kmsg.DescribeConfigs.Int16():
		r := kmsg.NewPtrDescribeConfigsRequest()
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "t"
		r.Resources = append(r.Resources, rr)
		req = r
	case kmsg.AlterConfigs.Int16():
		r := kmsg.NewPtrAlterConfigsRequest()
		rr := kmsg.NewAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "t"
		rr.Configs = []kmsg.AlterConfigsRequestResourceConfig{{Name: "retention.ms", Value: kmsg.StringPtr("3600000")}}
		r.Resources = append(r.Resources, rr)
		req = r
	case kmsg.IncrementalAlterConfigs.Int16():
		r := kmsg.NewPtrIncrementalAlterConfigsRequest()
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "t"
		rr.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "retention.bytes", Op: kmsg.IncrementalAlterConfigOpSet, Value: kmsg.StringPtr("1048576")}}
		r.Resources = append(r.Resources, rr)
		req = r
	case kmsg.Produce.Int16():
		r := kmsg.NewPtrProduceRequest()
		r.Acks, r.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = appendBatch(nil, []StoredRecord{{Value: []byte("v"), Timestamp: time.Now()}}, false)
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		req = r
	case kmsg.Fetch.Int16():
		r := kmsg.NewPtrFetchRequest()
		r.MaxBytes, r.MaxWaitMillis = 1<<20, 0
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		req = r
	case kmsg.ListOffsets.Int16():
		r := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -1
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		req = r
	case kmsg.InitProducerID.Int16():
		r := kmsg.NewPtrInitProducerIDRequest()
		r.TransactionTimeoutMillis = 60000
		req = r
	case kmsg.FindCoordinator.Int16():
		r := kmsg.NewPtrFindCoordinatorRequest()
		r.CoordinatorKey, r.CoordinatorKeys = "g", []string{"g"}
		req = r
	case kmsg.JoinGroup.Int16():
		r := kmsg.NewPtrJoinGroupRequest()
		r.Group, r.SessionTimeoutMillis, r.RebalanceTimeoutMillis, r.ProtocolType = "g", 10000, 10000, "consumer"
		r.Protocols = append(r.Protocols, kmsg.JoinGroupRequestProtocol{Name: "range"})
		req = r
	case kmsg.SyncGroup.Int16():
		r := kmsg.NewPtrSyncGroupRequest()
		r.Group, r.MemberID = "g", "m"
		req = r
	case kmsg.Heartbeat.Int16():
		r := kmsg.NewPtrHeartbeatRequest()
		r.Group, r.MemberID = "g", "m"
		req = r
	case kmsg.LeaveGroup.Int16():
		r := kmsg.NewPtrLeaveGroupRequest()
		r.Group, r.MemberID = "g", "m"
		r.Members = append(r.Members, kmsg.LeaveGroupRequestMember{MemberID: "m"})
		req = r
	case kmsg.OffsetCommit.Int16():
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Group, r.Generation, r.MemberID = "g", -1, ""
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset = 1
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		req = r
	case kmsg.OffsetFetch.Int16():
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Group = "g"
		r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = "g"
		g.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}
		r.Groups = append(r.Groups, g)
		req = r
	case kmsg.ListGroups.Int16():
		req = kmsg.NewPtrListGroupsRequest()
	case kmsg.DescribeGroups.Int16():
		r := kmsg.NewPtrDescribeGroupsRequest()
		r.Groups = []string{"g"}
		req = r
	case kmsg.DeleteGroups.Int16():
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Groups = []string{"g"}
		req = r
	default:
		t.Fatalf("no sample request for api %s (key %d): add one to sampleRequest", kmsg.NameForKey(key), key)
	}
	req.SetVersion(versions[key].max)
	return req
}

// TestAuthzEveryAPI sends every API the server answers with no, wrong,
// insufficient and right credentials.
func TestAuthzEveryAPI(t *testing.T) {
	dir := secDirectory(t)
	c, l, addr := startFake(t, withAuth(dir))
	ctx := testCtx(t)
	c.CreateTopic(ctx, "t", 1)
	c.CreateTopic(ctx, "t2", 1)
	for _, key := range sortedKeys() {
		name := kmsg.NameForKey(key)
		rl := authzTable[key]
		t.Run(name+"/none", func(t *testing.T) {
			rc := dialRaw(t, addr)
			resp, err := rc.do(sampleRequest(t, key))
			if rl.Need == needPreAuth {
				if err != nil {
					t.Fatalf("not answered before authentication: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("answered before authentication: %+v", resp)
			}
		})
		t.Run(name+"/wrong", func(t *testing.T) {
			rc := dialRaw(t, addr)
			if code := rc.login("app", "wrong"); code != kerr.SaslAuthenticationFailed.Code {
				t.Fatalf("wrong password: code %d", code)
			}
			if !rc.closed() {
				t.Fatal("connection open after a failed authentication")
			}
		})
		t.Run(name+"/insufficient", func(t *testing.T) {
			rc := dialRaw(t, addr)
			if code := rc.login("nobody", "pw"); code != 0 {
				t.Fatalf("login: %d", code)
			}
			resp, err := rc.do(sampleRequest(t, key))
			if err != nil {
				if key == kmsg.SASLAuthenticate.Int16() {
					return // a second authentication: ILLEGAL_SASL_STATE, closed
				}
				t.Fatalf("closed: %v", err)
			}
			refused := authFailure(errorCodes(resp))
			switch {
			case key == kmsg.ListGroups.Int16():
				// No error: the groups it may not describe are left out.
			case rl.Need == needACL && !refused:
				t.Fatalf("not refused: %+v", resp)
			case rl.Need != needACL && refused:
				t.Fatalf("refused: %+v", resp)
			}
		})
		t.Run(name+"/right", func(t *testing.T) {
			rc := dialRaw(t, addr)
			if code := rc.login("app", "right"); code != 0 {
				t.Fatalf("login: %d", code)
			}
			resp, err := rc.do(sampleRequest(t, key))
			if err != nil {
				if key == kmsg.SASLAuthenticate.Int16() {
					return
				}
				t.Fatalf("closed: %v", err)
			}
			if codes := errorCodes(resp); authFailure(codes) {
				t.Fatalf("refused: %v %+v", codes, resp)
			}
		})
		if t.Failed() {
			break
		}
	}
	// Refused requests changed nothing; allowed ones did.
	if n := c.Partitions("t"); n != 3 {
		t.Errorf("topic t has %d partitions, want 3 (only app's CreatePartitions)", n)
	}
	if c.Partitions("t2") != 0 || c.Partitions("new") != 1 {
		t.Errorf("t2: %d partitions (deleted by app only), new: %d", c.Partitions("t2"), c.Partitions("new"))
	}
	l.mu.Lock()
	n := len(l.parts[[2]any{"t", int32(0)}])
	l.mu.Unlock()
	if n != 1 {
		t.Errorf("topic t has %d records, want 1 (app's produce only)", n)
	}
}

// TestMetadataListsDescribableTopics: an all-topics Metadata shows only
// the topics the principal may describe; one asked for by name that it
// may not is TOPIC_AUTHORIZATION_FAILED and is not auto-created.
func TestMetadataListsDescribableTopics(t *testing.T) {
	c, _, addr := startFake(t, withAuth(secDirectory(t)))
	ctx := testCtx(t)
	for _, n := range []string{"t", "secret", "other"} {
		c.CreateTopic(ctx, n, 1)
	}
	rc := dialRaw(t, addr)
	if code := rc.login("app", "right"); code != 0 {
		t.Fatal(code)
	}
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	resp, err := rc.do(req)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, t := range resp.(*kmsg.MetadataResponse).Topics {
		names = append(names, *t.Topic)
	}
	if strings.Join(names, ",") != "t" {
		t.Fatalf("all topics: %v, want only t", names)
	}
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("secret")}, {Topic: kmsg.StringPtr("unknown")}, {Topic: kmsg.StringPtr("t")}}
	req.AllowAutoTopicCreation = true
	resp, err = rc.do(req)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int16{}
	for _, t := range resp.(*kmsg.MetadataResponse).Topics {
		got[*t.Topic] = t.ErrorCode
	}
	want := map[string]int16{"secret": kerr.TopicAuthorizationFailed.Code, "unknown": kerr.TopicAuthorizationFailed.Code, "t": 0}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("named topics: %v, want %v", got, want)
	}
	if c.Partitions("unknown") != 0 {
		t.Fatal("a topic it may not create was auto-created")
	}
}

// TestSASLSCRAMRaw runs SCRAM-SHA-256 and -512 over SaslAuthenticate, and
// PLAIN over handshake v0's raw tokens.
func TestSASLSCRAMRaw(t *testing.T) {
	_, _, addr := startFake(t, withAuth(secDirectory(t)))
	for _, mech := range []struct {
		name string
		fcn  scram.HashGeneratorFcn
	}{{"SCRAM-SHA-256", scram.SHA256}, {"SCRAM-SHA-512", scram.SHA512}} {
		for _, pw := range []string{"right", "wrong"} {
			rc := dialRaw(t, addr)
			hs := kmsg.NewPtrSASLHandshakeRequest()
			hs.Version, hs.Mechanism = 1, mech.name
			if resp, err := rc.do(hs); err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != 0 {
				t.Fatalf("%s handshake: %v", mech.name, err)
			}
			cl, _ := mech.fcn.NewClient("app", pw, "")
			conv := cl.NewConversation()
			msg, _ := conv.Step("")
			var code int16
			for i := 0; i < 2; i++ {
				a := kmsg.NewPtrSASLAuthenticateRequest()
				a.Version, a.SASLAuthBytes = 1, []byte(msg)
				resp, err := rc.do(a)
				if err != nil {
					t.Fatalf("%s step %d: %v", mech.name, i, err)
				}
				ar := resp.(*kmsg.SASLAuthenticateResponse)
				if code = ar.ErrorCode; code != 0 {
					break
				}
				msg, err = conv.Step(string(ar.SASLAuthBytes))
				if err != nil && i == 0 {
					t.Fatalf("%s client step: %v", mech.name, err)
				}
			}
			if pw == "right" {
				if code != 0 || !conv.Valid() {
					t.Fatalf("%s: code %d, server signature valid %v", mech.name, code, conv.Valid())
				}
				resp, err := rc.do(sampleRequest(t, kmsg.Metadata.Int16()))
				if err != nil || resp.(*kmsg.MetadataResponse).Topics[0].ErrorCode == kerr.TopicAuthorizationFailed.Code {
					t.Fatalf("%s: after login: %v", mech.name, err)
				}
			} else if code != kerr.SaslAuthenticationFailed.Code || !rc.closed() {
				t.Fatalf("%s wrong password: code %d (or the connection stayed open)", mech.name, code)
			}
		}
	}
	// Handshake v0: raw tokens.
	rc := dialRaw(t, addr)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 0, "PLAIN"
	if resp, err := rc.do(hs); err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != 0 {
		t.Fatalf("v0 handshake: %v", err)
	}
	tok := []byte("\x00app\x00right")
	if _, err := rc.nc.Write(append([]byte{0, 0, 0, byte(len(tok))}, tok...)); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(rc.nc, size[:]); err != nil || size != [4]byte{} {
		t.Fatalf("raw PLAIN answer %v %v", size, err)
	}
	if _, err := rc.do(sampleRequest(t, kmsg.Metadata.Int16())); err != nil {
		t.Fatalf("after raw PLAIN: %v", err)
	}
	// An unknown mechanism.
	rc = dialRaw(t, addr)
	hs.Version, hs.Mechanism = 1, "GSSAPI"
	resp, err := rc.do(hs)
	if err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != kerr.UnsupportedSaslMechanism.Code {
		t.Fatalf("GSSAPI: %v %+v", err, resp)
	}
}

// TestSASLOnOpenListener: without Config.Auth the SASL APIs answer
// ILLEGAL_SASL_STATE (as a Kafka PLAINTEXT listener) and everything else
// is served.
func TestSASLOnOpenListener(t *testing.T) {
	_, _, addr := startFake(t)
	rc := dialRaw(t, addr)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "PLAIN"
	resp, err := rc.do(hs)
	if err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("%v %+v", err, resp)
	}
	if _, err := rc.do(sampleRequest(t, kmsg.Metadata.Int16())); err != nil {
		t.Fatal(err)
	}
}

// TestQuotaThrottle: a client principal over its produce rate gets
// throttle_time_ms in the answer, and the connection's next request waits
// that long.
func TestQuotaThrottle(t *testing.T) {
	q := &httpauth.Quotas{ProduceBytesPerSec: 1000, FetchBytesPerSec: 1000}
	c, _, addr := startFake(t, withAuth(secDirectory(t)), func(cfg *Config) { cfg.Quotas = q })
	c.CreateTopic(testCtx(t), "t", 1)
	rc := dialRaw(t, addr)
	if code := rc.login("app", "right"); code != 0 {
		t.Fatal(code)
	}
	req := sampleRequest(t, kmsg.Produce.Int16()).(*kmsg.ProduceRequest)
	big := make([]byte, 1400)
	req.Topics[0].Partitions[0].Records = appendBatch(nil, []StoredRecord{{Value: big, Timestamp: time.Now()}}, false)
	resp, err := rc.do(req)
	if err != nil {
		t.Fatal(err)
	}
	pr := resp.(*kmsg.ProduceResponse)
	if pr.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("produce: %+v", pr)
	}
	// ~1450 bytes against a 1000 B/s bucket holding 1000: ~450 ms of debt.
	if pr.ThrottleMillis < 300 || pr.ThrottleMillis > 1000 {
		t.Fatalf("throttle_time_ms %d, want about 450", pr.ThrottleMillis)
	}
	start := time.Now()
	if _, err := rc.do(sampleRequest(t, kmsg.ApiVersions.Int16())); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Duration(pr.ThrottleMillis)*time.Millisecond*9/10 {
		t.Fatalf("the next request was answered after %v, before the throttle of %d ms", d, pr.ThrottleMillis)
	}
}

// TestDeletedPrincipalLosesConnection: a principal deleted after it
// logged in is refused from its connection's next request on.
func TestDeletedPrincipalLosesConnection(t *testing.T) {
	dir := secDirectory(t)
	cur := dir
	var mu sync.Mutex
	_, _, addr := startFake(t, func(c *Config) {
		c.Auth = auth.NewAuthenticator(func() *auth.Directory { mu.Lock(); defer mu.Unlock(); return cur })
	})
	rc := dialRaw(t, addr)
	if code := rc.login("app", "right"); code != 0 {
		t.Fatal(code)
	}
	if _, err := rc.do(sampleRequest(t, kmsg.Metadata.Int16())); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	cur = dir.WithoutPrincipal("app")
	mu.Unlock()
	if _, err := rc.do(sampleRequest(t, kmsg.Metadata.Int16())); err == nil {
		t.Fatal("a deleted principal's connection was still served")
	}
}

// TestSCRAMLegacyNonce: librdkafka before 2.6.1 doubles the client nonce
// in its final message; that one form is accepted with the right proof
// and refused with a wrong one, any other nonce is refused.
func TestSCRAMLegacyNonce(t *testing.T) {
	_, _, addr := startFake(t, withAuth(secDirectory(t)))
	for _, tc := range []struct {
		name, password string
		nonce          func(cn, sn string) string
		ok             bool
	}{
		{"doubled", "right", func(cn, sn string) string { return cn + sn }, true},
		{"doubled wrong password", "wrong", func(cn, sn string) string { return cn + sn }, false},
		{"other nonce", "right", func(cn, sn string) string { return "x" + sn }, false},
	} {
		rc := dialRaw(t, addr)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, "SCRAM-SHA-256"
		if _, err := rc.do(hs); err != nil {
			t.Fatal(err)
		}
		cn := "fixedclientnonce0123456789"
		bare := "n=app,r=" + cn
		step := func(msg string) *kmsg.SASLAuthenticateResponse {
			a := kmsg.NewPtrSASLAuthenticateRequest()
			a.Version, a.SASLAuthBytes = 1, []byte(msg)
			resp, err := rc.do(a)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			return resp.(*kmsg.SASLAuthenticateResponse)
		}
		first := step("n,," + bare)
		serverFirst := string(first.SASLAuthBytes)
		var sn, salt string
		var iters int
		for _, f := range strings.Split(serverFirst, ",") {
			switch {
			case strings.HasPrefix(f, "r="):
				sn = f[2:]
			case strings.HasPrefix(f, "s="):
				salt = f[2:]
			case strings.HasPrefix(f, "i="):
				fmt.Sscan(f[2:], &iters)
			}
		}
		rawSalt, _ := base64.StdEncoding.DecodeString(salt)
		salted, err := pbkdf2.Key(sha256.New, tc.password, rawSalt, iters, sha256.Size)
		if err != nil {
			t.Fatal(err)
		}
		mac := func(key []byte, msg string) []byte {
			m := hmac.New(sha256.New, key)
			m.Write([]byte(msg))
			return m.Sum(nil)
		}
		clientKey := mac(salted, "Client Key")
		stored := sha256.Sum256(clientKey)
		withoutProof := "c=biws,r=" + tc.nonce(cn, sn)
		sig := mac(stored[:], bare+","+serverFirst+","+withoutProof)
		proof := make([]byte, len(sig))
		for i := range sig {
			proof[i] = clientKey[i] ^ sig[i]
		}
		final := step(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof))
		if tc.ok {
			want := "v=" + base64.StdEncoding.EncodeToString(mac(mac(salted, "Server Key"), bare+","+serverFirst+","+withoutProof))
			if final.ErrorCode != 0 || string(final.SASLAuthBytes) != want {
				t.Fatalf("%s: code %d, server final %q", tc.name, final.ErrorCode, final.SASLAuthBytes)
			}
			if _, err := rc.do(sampleRequest(t, kmsg.Metadata.Int16())); err != nil {
				t.Fatalf("%s: after login: %v", tc.name, err)
			}
		} else if final.ErrorCode != kerr.SaslAuthenticationFailed.Code || !rc.closed() {
			t.Fatalf("%s: code %d (or the connection stayed open)", tc.name, final.ErrorCode)
		}
	}
}
