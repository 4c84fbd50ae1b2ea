package manager

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/auth"
	"github.com/logq/logq/auth/httpauth"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/groups"
	"github.com/logq/logq/internal/defaults"
	"github.com/logq/logq/internal/httpguard"
)

// Role is what a manager does with control-plane writes.
type Role string

const (
	// RoleWrite: this manager is meant to be the writer. It takes the writer
	// lock when it starts (waiting while another session holds it) and takes
	// it again whenever it loses its database session.
	RoleWrite Role = "write"
	// RoleRead: this manager never writes; it forwards writes to the writer.
	RoleRead Role = "read"
	// RoleAuto: managers compete for the writer lock; the holder writes, the
	// others read, and a reader takes over when the writer dies. Mechanically
	// the same competition as RoleWrite, for a group of equal managers.
	RoleAuto Role = "auto"
)

// ParseRole parses a role name: "write", "read" or "auto".
func ParseRole(s string) (Role, error) {
	switch r := Role(strings.ToLower(strings.TrimSpace(s))); r {
	case RoleWrite, RoleRead, RoleAuto:
		return r, nil
	}
	return "", logq.Errorf(logq.EInvalid, "unknown manager role %q (want %q, %q or %q)", s, RoleWrite, RoleRead, RoleAuto)
}

// Defaults of Config. A zero field takes its default.
const (
	DefaultHeartbeatInterval = 15 * time.Second
	DefaultHeartbeatTimeout  = 60 * time.Second
	DefaultLivenessCheck     = time.Second
	DefaultSessionCheck      = 250 * time.Millisecond
	DefaultSessionGrace      = 500 * time.Millisecond
	DefaultMinSeqWait        = 2 * time.Second
	DefaultMaxBodyBytes      = 8 << 20
	DefaultMaxMessageBytes   = 1 << 20
	DefaultMaxBatchMessages  = 10000
	DefaultBrokerTimeout     = 10 * time.Second
	DefaultShutdownTimeout   = 10 * time.Second
	DefaultSnapshotEvery     = 10000
	DefaultMaxConns          = 8
	DefaultClientTimeout     = 60 * time.Second
	DefaultClientSeenFlush   = time.Second
)

// Config configures a Manager. Only DSN is required. Zero fields take the
// defaults above.
type Config struct {
	// Name identifies this manager in the writer lease and in logs.
	// Default: AdvertiseURL.
	Name string
	// AdvertiseURL is the base URL other managers and clients reach this
	// manager at, e.g. http://127.0.0.1:8080. A writer announces it in its
	// WriterElected event and readers forward writes to it. Default:
	// http:// and the listener's address given to Serve (the host name for
	// a listener on all interfaces).
	AdvertiseURL string
	// Role is write, read or auto (default auto).
	Role Role
	// DSN is the control plane's PostgreSQL URL.
	DSN string
	// TailMode is how this manager follows the event log: notify (default)
	// or logical.
	TailMode eventlog.Mode
	// SafetyTick is the notify-mode tail's periodic catch-up (0: the
	// eventlog default).
	SafetyTick time.Duration

	// HeartbeatInterval is how often brokers are expected to heartbeat
	// (informational: reported by /healthz); HeartbeatTimeout is how long
	// the writer waits without a heartbeat before declaring a broker dead.
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration
	// LivenessCheckInterval is how often the writer runs CheckLiveness.
	LivenessCheckInterval time.Duration
	// SessionCheckInterval is how often the writer reads which brokers
	// hold their session lock (CheckSessions); SessionGrace is how long a
	// broker seen holding it may go without it (reconnecting) before it is
	// declared dead, with no wait for the heartbeat timeout.
	SessionCheckInterval time.Duration
	SessionGrace         time.Duration
	// ClientTimeout is how long the writer waits without hearing from a
	// producer or consumer (any request of theirs, or a heartbeat) before
	// it shows the client inactive (a ClientStatusChanged event).
	ClientTimeout time.Duration
	// ClientSeenFlush is how often a reader forwards to the writer the ids
	// of the producers and consumers it has heard from (at once when one
	// of them is inactive).
	ClientSeenFlush time.Duration

	// MinSeqWait bounds the wait of a request carrying min_seq (and of a
	// re-route after a fenced answer).
	MinSeqWait time.Duration
	// MaxBodyBytes caps request bodies (413 beyond).
	MaxBodyBytes int64
	// AllowedHosts are the names this manager answers to in the Host
	// header besides loopback names, IP addresses, its host name and the
	// host of AdvertiseURL ("*": any); see internal/httpguard.
	AllowedHosts []string
	// MaxInflightBytes bounds the request-body bytes of the requests in
	// flight and MaxRequests the requests (health checks and metrics not
	// counted): 503 with Retry-After beyond. Defaults 256 MiB and 1024.
	MaxInflightBytes int64
	MaxRequests      int
	// MaxMessageBytes caps one produced message, key included (default
	// 1 MiB, as the brokers' own limit): a produce or produce_batch holding
	// a larger one is refused whole with 413, before anything is written.
	MaxMessageBytes int
	// MaxBatchMessages caps the messages of one produce_batch (default
	// 10000; 400 beyond).
	MaxBatchMessages int
	// BrokerTimeout bounds one request to a broker or to the writer, on top
	// of any long-poll wait the request asks for.
	BrokerTimeout time.Duration

	// HTTP server timeouts. WriteTimeout must exceed the longest long-poll
	// (30 s); defaults 5 s, 60 s, 60 s, 120 s.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// ShutdownTimeout bounds the graceful shutdown of Serve.
	ShutdownTimeout time.Duration

	// SnapshotEvery is how many events the writer lets pass between two
	// snapshots of its state (negative: never).
	SnapshotEvery int64
	// MaxConns is the size of the database pool (reads of the event log).
	MaxConns int32

	// Now is the clock for heartbeat timeouts and the session grace (default time.Now). Tests
	// inject a fake one.
	Now func() time.Time
	// Logger receives the access log and every internal error. The zero
	// value logs nothing.
	Logger zerolog.Logger

	// Security (security.go, docs/security.md). Auth turns authentication
	// and authorization on (the route table in authroutes.go); off, the API
	// is open and Serve refuses a non-loopback listener unless Insecure.
	Auth     bool
	Insecure bool
	// Credentials are this manager's own (a manager principal's token, or
	// user and password), sent on its calls to the writer and to brokers.
	Credentials httpauth.Credentials
	// Bootstrap principals are created by the writer when it is elected,
	// each one only if no principal of its name exists (hashes only: the
	// first admin, the managers' and brokers' own principals).
	Bootstrap []auth.Principal
	// TLS: the listener's certificate and key (and client CA for mutual
	// TLS); CA (and Cert/Key as a client certificate) for its own calls.
	TLS httpauth.TLSFiles
	// Per-principal byte rates of client principals (0: none): produce
	// counts request bodies, fetch the consume answers.
	QuotaProduceBytesPerSec float64
	QuotaFetchBytesPerSec   float64
	// Consumer groups (groups.go, docs/groups.md). The session timeouts a
	// member may ask for (defaults 6 s and 30 min, Kafka's); the delay of an
	// empty group's first generation (default 0); how often the writer
	// checks sessions and rebalance timeouts (default 100 ms); the bound of
	// one join or sync long poll (default the write timeout less 15 s);
	// and what resolves earliest/latest/datetime offset resets (nil: they
	// are refused; the lead wires the brokers' offsets here).
	GroupMinSessionTimeout     time.Duration
	GroupMaxSessionTimeout     time.Duration
	GroupInitialRebalanceDelay time.Duration
	GroupCheckInterval         time.Duration
	GroupMaxWait               time.Duration
	GroupOffsetResolver        groups.OffsetResolver
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	defaults.Set(&c.Role, RoleAuto)
	if r, err := ParseRole(string(c.Role)); err == nil {
		c.Role = r
	}
	defaults.Set(&c.TailMode, eventlog.ModeNotify)
	c.AdvertiseURL = strings.TrimRight(strings.TrimSpace(c.AdvertiseURL), "/")
	defaults.Set(&c.Name, c.AdvertiseURL) // Serve sets both when AdvertiseURL is derived
	defaults.Set(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	defaults.Set(&c.HeartbeatTimeout, DefaultHeartbeatTimeout)
	defaults.Set(&c.LivenessCheckInterval, DefaultLivenessCheck)
	defaults.Set(&c.SessionCheckInterval, DefaultSessionCheck)
	defaults.Set(&c.SessionGrace, DefaultSessionGrace)
	defaults.Set(&c.ClientTimeout, DefaultClientTimeout)
	defaults.Set(&c.ClientSeenFlush, DefaultClientSeenFlush)
	defaults.Set(&c.MinSeqWait, DefaultMinSeqWait)
	defaults.Set(&c.BrokerTimeout, DefaultBrokerTimeout)
	defaults.Set(&c.ReadHeaderTimeout, 5*time.Second)
	defaults.Set(&c.ReadTimeout, 60*time.Second)
	defaults.Set(&c.WriteTimeout, 60*time.Second)
	defaults.Set(&c.IdleTimeout, 120*time.Second)
	defaults.Set(&c.ShutdownTimeout, DefaultShutdownTimeout)
	defaults.Set(&c.MaxBodyBytes, DefaultMaxBodyBytes)
	defaults.Set(&c.MaxMessageBytes, DefaultMaxMessageBytes)
	defaults.Set(&c.MaxInflightBytes, httpguard.DefaultMaxInflightBytes)
	defaults.Set(&c.MaxRequests, httpguard.DefaultMaxRequests)
	defaults.Set(&c.MaxBatchMessages, DefaultMaxBatchMessages)
	defaults.Set(&c.SnapshotEvery, DefaultSnapshotEvery)
	defaults.Set(&c.MaxConns, DefaultMaxConns)
	defaults.Set(&c.GroupMinSessionTimeout, DefaultGroupMinSessionTimeout)
	defaults.Set(&c.GroupMaxSessionTimeout, DefaultGroupMaxSessionTimeout)
	defaults.Set(&c.GroupCheckInterval, DefaultGroupCheckInterval)
	if c.Now == nil { // a func: not comparable
		c.Now = time.Now
	}
	return c
}

// Validate reports the first problem with c (zero fields count as their
// defaults), as a logq EInvalid error.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.DSN == "" {
		return logq.Errorf(logq.EInvalid, "manager: a database url (DSN) is required")
	}
	if _, err := ParseRole(string(c.Role)); err != nil {
		return err
	}
	if _, err := eventlog.ParseMode(string(c.TailMode)); err != nil {
		return err
	}
	if c.AdvertiseURL != "" {
		if err := checkBaseURL(c.AdvertiseURL); err != nil {
			return logq.Errorf(logq.EInvalid, "manager: advertise URL: %v", err)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"heartbeat interval", c.HeartbeatInterval},
		{"heartbeat timeout", c.HeartbeatTimeout},
		{"liveness check interval", c.LivenessCheckInterval},
		{"session check interval", c.SessionCheckInterval},
		{"session grace", c.SessionGrace},
		{"client timeout", c.ClientTimeout},
		{"client seen flush interval", c.ClientSeenFlush},
		{"min_seq wait", c.MinSeqWait},
		{"broker timeout", c.BrokerTimeout},
		{"read header timeout", c.ReadHeaderTimeout},
		{"read timeout", c.ReadTimeout},
		{"write timeout", c.WriteTimeout},
		{"idle timeout", c.IdleTimeout},
		{"shutdown timeout", c.ShutdownTimeout},
	} {
		if d.v < 0 {
			return logq.Errorf(logq.EInvalid, "manager: %s %v is negative", d.name, d.v)
		}
	}
	if c.HeartbeatTimeout <= c.HeartbeatInterval {
		return logq.Errorf(logq.EInvalid, "manager: heartbeat timeout %v must exceed the heartbeat interval %v",
			c.HeartbeatTimeout, c.HeartbeatInterval)
	}
	if c.WriteTimeout <= api.MaxWaitMS*time.Millisecond {
		return logq.Errorf(logq.EInvalid, "manager: write timeout %v must exceed the longest long poll (%v)",
			c.WriteTimeout, api.MaxWaitMS*time.Millisecond)
	}
	if c.MaxBodyBytes < 1024 {
		return logq.Errorf(logq.EInvalid, "manager: max body bytes %d is below 1024", c.MaxBodyBytes)
	}
	if c.MaxInflightBytes < c.MaxBodyBytes {
		return logq.Errorf(logq.EInvalid, "manager: max in-flight bytes %d is below max body bytes %d", c.MaxInflightBytes, c.MaxBodyBytes)
	}
	if c.MaxRequests < 1 {
		return logq.Errorf(logq.EInvalid, "manager: max requests %d is not positive", c.MaxRequests)
	}
	if _, err := httpguard.ParseHosts(strings.Join(c.AllowedHosts, ",")); err != nil {
		return logq.Errorf(logq.EInvalid, "manager: %s", logq.ErrorMessage(err))
	}
	if c.MaxMessageBytes < 1 {
		return logq.Errorf(logq.EInvalid, "manager: max message bytes %d is not positive", c.MaxMessageBytes)
	}
	if c.MaxBatchMessages < 1 {
		return logq.Errorf(logq.EInvalid, "manager: max batch messages %d is not positive", c.MaxBatchMessages)
	}
	if c.MaxConns < 2 {
		return logq.Errorf(logq.EInvalid, "manager: max conns %d is below 2", c.MaxConns)
	}
	// Consumer groups (groups.go).
	if c.GroupMinSessionTimeout > c.GroupMaxSessionTimeout {
		return logq.Errorf(logq.EInvalid, "manager: group min session timeout %v exceeds the max %v", c.GroupMinSessionTimeout, c.GroupMaxSessionTimeout)
	}
	if c.GroupMaxWait < 0 || c.GroupInitialRebalanceDelay < 0 || c.GroupMaxWait >= c.WriteTimeout {
		return logq.Errorf(logq.EInvalid, "manager: group max wait %v must be below the write timeout %v, and group durations not negative", c.GroupMaxWait, c.WriteTimeout)
	}
	return c.validateSecurity() // security.go
}

// checkBaseURL accepts an absolute http(s) URL with a host.
func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q does not parse", s)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}
