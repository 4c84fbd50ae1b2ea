package broker

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/internal/pgtest"
)

// fakeManager answers registration and heartbeats like a manager, and
// can be told to fail (as a dead writer would) or to say the broker was
// removed.
type fakeManager struct {
	*httptest.Server
	mu         sync.Mutex
	failing    bool
	removed    bool
	addresses  []string
	heartbeats chan int64
}

func newFakeManager(t *testing.T) *fakeManager {
	m := &fakeManager{heartbeats: make(chan int64, 1000)}
	m.Server = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.Close)
	return m
}

func (m *fakeManager) set(failing, removed bool) {
	m.mu.Lock()
	m.failing, m.removed = failing, removed
	m.mu.Unlock()
}

func (m *fakeManager) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	failing, removed := m.failing, m.removed
	m.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if failing {
		w.WriteHeader(503)
		fmt.Fprint(w, `{"status":"failure","code":"not_writer","message":"no writer"}`)
		return
	}
	var body struct {
		Address string `json:"address"`
	}
	json.NewDecoder(r.Body).Decode(&body)
	switch {
	case r.Method == "POST" && r.URL.Path == "/brokers":
		m.mu.Lock()
		m.addresses = append(m.addresses, body.Address)
		m.mu.Unlock()
		fmt.Fprint(w, `{"status":"success","broker_id":7,"seq":1}`)
	case r.Method == "POST" && r.URL.Path == "/brokers/7/heartbeat":
		if removed {
			w.WriteHeader(410)
			fmt.Fprint(w, `{"status":"failure","code":"broker_removed","message":"broker 7 was removed"}`)
			return
		}
		m.heartbeats <- 7
		fmt.Fprint(w, `{"status":"success","broker_id":7}`)
	default:
		w.WriteHeader(404)
		fmt.Fprint(w, `{"status":"failure","code":"not_found","message":"no route"}`)
	}
}

// The broker registers with the first manager that answers, heartbeats,
// moves to the next manager when one fails, and stops heartbeating when
// told it was removed.
func TestRegistrationAndHeartbeats(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	m1, m2 := newFakeManager(t), newFakeManager(t)
	m1.set(true, false) // m1 is down at first
	b := startBroker(t, Config{
		DSN: dsn, Managers: []string{m1.URL, strings.TrimPrefix(m2.URL, "http://")},
		AdvertiseAddr: "broker.example:9000", HeartbeatInterval: 5 * time.Millisecond,
	})
	await(t, m2.heartbeats)
	if b.ID() != 7 {
		t.Fatalf("ID() = %d after registration; want 7", b.ID())
	}
	m2.mu.Lock()
	if len(m2.addresses) != 1 || m2.addresses[0] != "broker.example:9000" {
		t.Fatalf("registered addresses %v", m2.addresses)
	}
	m2.mu.Unlock()
	// The manager the broker talks to dies; the other one takes over.
	m1.set(false, false)
	m2.set(true, false)
	await(t, m1.heartbeats)
	await(t, m1.heartbeats)
	// Decommissioned: the loop ends.
	m1.set(false, true)
	select {
	case <-b.heartbeatDone:
	case <-time.After(30 * time.Second):
		t.Fatal("heartbeats did not stop after broker_removed")
	}
	// The broker still answers (it owns nothing).
	if status, out := b.do("GET", "/healthz", nil); status != 200 || out["broker_id"].(float64) != 7 {
		t.Fatalf("healthz: %d %v", status, out)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := Config{DSN: "postgres://x@localhost/db", ID: 1}.WithDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if ok.DataDSN != ok.DSN || ok.MaxMessageBytes != 1<<20 || ok.HeartbeatInterval != 15*time.Second || ok.StorageCluster != "default" {
		t.Fatalf("defaults: %+v", ok)
	}
	for name, mutate := range map[string]func(*Config){
		"no DSN":               func(c *Config) { c.DSN = "" },
		"no ID and no manager": func(c *Config) { c.ID = 0 },
		"negative ID":          func(c *Config) { c.ID = -1 },
		"bad manager":          func(c *Config) { c.Managers = []string{"ftp://x"} },
		"bad tail mode":        func(c *Config) { c.TailMode = "carrier-pigeon" },
		"negative interval":    func(c *Config) { c.HeartbeatInterval = -time.Second },
		"negative batch":       func(c *Config) { c.MaxBatchMessages = -1 },
		"advertise with path":  func(c *Config) { c.AdvertiseAddr = "http://x:1/" },
		"bad storage cluster":  func(c *Config) { c.StorageCluster = "two words" },
	} {
		c := ok
		mutate(&c)
		if err := c.Validate(); logq.ErrorCode(err) != logq.EInvalid {
			t.Errorf("%s: Validate() = %v; want an invalid error", name, err)
		}
	}
}
