package manager

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/logq/logq"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := Config{DSN: "postgres://localhost/logq"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	for name, c := range map[string]Config{
		"no dsn":             {},
		"bad role":           {DSN: "x", Role: "boss"},
		"bad tail mode":      {DSN: "x", TailMode: "carrier-pigeon"},
		"relative advertise": {DSN: "x", AdvertiseURL: "localhost:8080"},
		"timeout <= beat":    {DSN: "x", HeartbeatInterval: 10e9, HeartbeatTimeout: 10e9},
		"negative wait":      {DSN: "x", MinSeqWait: -1},
		"tiny body":          {DSN: "x", MaxBodyBytes: 10},
	} {
		if err := c.Validate(); logq.ErrorCode(err) != logq.EInvalid {
			t.Errorf("%s: Validate() = %v, want an invalid error", name, err)
		}
	}
	if r, err := ParseRole(" Auto "); err != nil || r != RoleAuto {
		t.Fatalf("ParseRole: %v %v", r, err)
	}
}

func TestKeyPartitionIsFNV1a(t *testing.T) {
	t.Parallel()
	// FNV-1a 32 of "" is 0x811c9dc5, of "a" 0xe40c292c.
	if got := KeyPartition("", 1000); got != 0x811c9dc5%1000 {
		t.Fatalf("KeyPartition(\"\") = %d", got)
	}
	if got := KeyPartition("a", 7); got != 0xe40c292c%7 {
		t.Fatalf("KeyPartition(a) = %d", got)
	}
}

func TestParams(t *testing.T) {
	t.Parallel()
	req := func(method, target, ct, body string) *http.Request {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		return r
	}
	// JSON body wins over the query; aliases; numeric strings.
	p, err := parseParams(req("POST", "/x?topic=q&partition=1", "", `{"name":"b","partition_index":"3"}`))
	if err != nil {
		t.Fatal(err)
	}
	if topic, _ := p.requiredStr(pTopic); topic != "b" {
		t.Fatalf("topic %q", topic)
	}
	if part, err := p.optPartition(); err != nil || *part != 3 {
		t.Fatalf("partition %v %v", part, err)
	}
	// A form body, and JSON sent with a form content type (curl -d).
	p, _ = parseParams(req("POST", "/x", "application/x-www-form-urlencoded", `topic_name=f&partition_id=2`))
	if topic, _ := p.requiredStr(pTopic); topic != "f" {
		t.Fatalf("form topic %q", topic)
	}
	p, err = parseParams(req("POST", "/x", "application/x-www-form-urlencoded", `{"topic":"j"}`))
	if topic, _ := p.requiredStr(pTopic); err != nil || topic != "j" {
		t.Fatalf("curl -d JSON: %q %v", topic, err)
	}
	// Integers: 1e3 is an integer, 1.5 and 1e30 are not.
	p, _ = parseParams(req("POST", "/x", "", `{"a":1e3,"b":1.5,"c":1e30,"d":null}`))
	if n, _, err := p.integer([]string{"a"}, 0, 5000); err != nil || n != 1000 {
		t.Fatalf("1e3: %v %v", n, err)
	}
	for _, k := range []string{"b", "c"} {
		if _, _, err := p.integer([]string{k}, 0, 1<<62); logq.ErrorCode(err) != logq.EInvalid {
			t.Fatalf("%s: %v", k, err)
		}
	}
	if _, ok, err := p.integer([]string{"d"}, 0, 1); ok || err != nil {
		t.Fatalf("null counts as absent: %v %v", ok, err)
	}
	// Oversized bodies are too_large.
	r := req("POST", "/x", "", `{"a":"`+strings.Repeat("x", 100)+`"}`)
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 10)
	if _, err := parseParams(r); logq.ErrorCode(err) != logq.ETooLarge {
		t.Fatalf("oversized: %v", err)
	}
}

// TestPanicsAndInternalErrors: a panic is a JSON 500 and an internal
// error's text never reaches the client.
func TestPanicsAndInternalErrors(t *testing.T) {
	t.Parallel()
	m := &Manager{cfg: Config{MaxBodyBytes: 1 << 10}, log: zerolog.Nop()}
	h := m.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"status":"failure"`) || strings.Contains(rec.Body.String(), "boom") {
		t.Fatalf("panic answer: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	m.writeError(rec, httptest.NewRequest("GET", "/", nil), logq.Internal(errAssert("password=hunter2"), "query failed"))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "hunter2") || strings.Contains(rec.Body.String(), "query failed") {
		t.Fatalf("internal answer: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	m.writeError(rec, httptest.NewRequest("GET", "/", nil), logq.Errorf(logq.ENotWriter, "no writer"))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), `"code":"not_writer"`) {
		t.Fatalf("not_writer answer: %d %s", rec.Code, rec.Body)
	}
}

type errAssert string

func (e errAssert) Error() string { return string(e) }
