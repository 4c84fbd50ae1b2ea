package api

import (
	"net/http"
	"testing"

	"github.com/logq/logq"
	"github.com/logq/logq/internal/httpfuzz"
)

func TestGroupRequests(t *testing.T) {
	var j JoinGroupParams
	body := `{"member_id":"","client_id":"c","session_timeout_ms":"10000","protocol_type":"logq",
		"protocols":[{"name":"range","metadata":"eyJ0b3BpY3MiOlsidCJdfQ=="},{"name":"roundrobin","metadata":"eyJ0b3BpY3MiOlsidCJdfQ"}]}`
	if err := Decode(req("POST", "/x", "", body), []byte(body), &j); err != nil {
		t.Fatal(err)
	}
	jr, err := j.Request()
	if err != nil || jr.SessionTimeoutMS != 10000 || jr.RebalanceTimeoutMS != 10000 || len(jr.Protocols) != 2 ||
		string(jr.Protocols[0].Metadata) != `{"topics":["t"]}` || string(jr.Protocols[1].Metadata) != `{"topics":["t"]}` {
		t.Fatalf("join = %+v, %v", jr, err)
	}
	for _, bad := range []string{
		`{"session_timeout_ms":10000,"protocol_type":"logq","protocols":[{"name":"a"},{"name":"a"}]}`,
		`{"session_timeout_ms":1.5,"protocol_type":"logq","protocols":[{"name":"a"}]}`,
		`{"session_timeout_ms":10000,"protocols":[{"name":"a"}]}`,
		`{"session_timeout_ms":10000,"protocol_type":"logq","protocols":[{"name":""}]}`,
	} {
		var p JoinGroupParams
		if err := Decode(req("POST", "/x", "", bad), []byte(bad), &p); err == nil {
			_, err = p.Request()
			if logq.ErrorCode(err) != logq.EInvalid {
				t.Errorf("%s: %v", bad, err)
			}
		}
	}
	var c CommitOffsetsParams
	body = `{"member_id":"m","generation":"3","offsets":[{"topic_name":"t","partition_id":"1","offset":5}]}`
	if err := Decode(req("POST", "/x", "", body), []byte(body), &c); err != nil {
		t.Fatal(err)
	}
	cr, err := c.Request()
	if err != nil || cr.Generation != 3 || cr.Offsets[0] != (CommittedOffset{Topic: "t", Partition: 1, Offset: 5}) {
		t.Fatalf("commit = %+v, %v", cr, err)
	}
	var s CommitOffsetsParams
	body = `{"offsets":[{"topic":"t","partition":0,"offset":5}]}`
	Decode(req("POST", "/x", "", body), []byte(body), &s)
	if sr, err := s.Request(); err != nil || sr.Generation != -1 {
		t.Fatalf("standalone commit = %+v, %v", sr, err)
	}
	var l LeaveGroupParams
	body = `{"members":[{"member_id":"a"},{"group_instance_id":"i"}]}`
	Decode(req("POST", "/x", "", body), []byte(body), &l)
	if lr, err := l.Request(); err != nil || len(lr.Members) != 2 {
		t.Fatalf("leave = %+v, %v", lr, err)
	}
}

func FuzzDecodeGroups(f *testing.F) {
	f.Add(uint8(1), []byte(`{"member_id":"","session_timeout_ms":10000,"protocol_type":"logq","protocols":[{"name":"range","metadata":"e30="}]}`))
	f.Add(uint8(1), []byte(`{"member_id":"m","generation":1,"assignments":[{"member_id":"m","assignment":"AAA="}]}`))
	f.Add(uint8(1), []byte(`{"generation":-1,"offsets":[{"topic":"t","partition":0,"offset":1,"metadata":"x"}]}`))
	f.Add(uint8(1), []byte(`{"topic":"t","to":"offset","offset":3,"partitions":[0,"1"]}`))
	f.Add(uint8(2), []byte(`member_id=m&generation=2`))
	f.Fuzz(func(t *testing.T, ct uint8, body []byte) {
		r := httpfuzz.Request(http.MethodPost, "/x", "", httpfuzz.ContentType(ct), body)
		check := func(what string, err error) {
			if !httpfuzz.ClientError(err) {
				t.Fatalf("%s: %v (code %s)", what, err, logq.ErrorCode(err))
			}
		}
		var (
			j  JoinGroupParams
			s  SyncGroupParams
			h  GroupHeartbeatParams
			l  LeaveGroupParams
			c  CommitOffsetsParams
			rs ResetOffsetsParams
		)
		for _, p := range []any{&j, &s, &h, &l, &c, &rs} {
			err := Decode(r, body, p)
			check("decode", err)
			if err != nil {
				return
			}
		}
		if jr, err := j.Request(); err == nil && (jr.SessionTimeoutMS < 1 || len(jr.Protocols) == 0 || jr.ProtocolType == "") {
			t.Fatalf("accepted join %+v", jr)
		} else {
			check("join", err)
		}
		_, err := s.Request()
		check("sync", err)
		_, err = h.Request()
		check("heartbeat", err)
		_, err = l.Request()
		check("leave", err)
		if cr, err := c.Request(); err == nil && (len(cr.Offsets) == 0 || cr.Generation < -1) {
			t.Fatalf("accepted commit %+v", cr)
		} else {
			check("commit", err)
		}
		_, err = rs.Request()
		check("reset", err)
	})
}
