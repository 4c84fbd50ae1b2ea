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
