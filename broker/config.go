package broker

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/logq/logq"
	"github.com/logq/logq/auth/httpauth"
	"github.com/logq/logq/broker/storage/pgstore"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/defaults"
	"github.com/logq/logq/internal/httpguard"
	"github.com/logq/logq/projection"
)

// Defaults for Config.
const (
	DefaultListenAddr        = "127.0.0.1:8090"
	DefaultHeartbeatInterval = 15 * time.Second
	DefaultMaxBatchMessages  = 10000
	DefaultMaxBatchBytes     = 8 << 20
	DefaultCommitLanes       = 4
	DefaultMaxMessageBytes   = 1 << 20
	DefaultMaxRequestBytes   = 16 << 20
	DefaultMaxReadMessages   = 10000
	DefaultMaxReadBytes      = 4 << 20
	DefaultMaxAppendMessages = 10000
	DefaultLongPollMax       = 30 * time.Second
	DefaultMinSeqWait        = 2 * time.Second
	DefaultShutdownTimeout   = 15 * time.Second
	DefaultMaxConns          = 32
)

// Config configures a Broker. DSN is required, and either Managers (the
// broker registers itself) or ID (it does not); everything else has a
// default (see WithDefaults).
type Config struct {
	// ID is the broker's id. Zero: the broker registers with a manager on
	// start and gets one (the same address gets its old id back). Set with no
	// Managers, the broker skips registration and heartbeats (tests, and
	// setups where the id was registered by other means).
	ID int64
	// ListenAddr is where the command listens (host:port). Serve takes its
	// listener from the caller; New does not use it.
	ListenAddr string
	// AdvertiseAddr is the host:port managers and clients reach this broker
	// at. Empty: the listener's address (the host name when the listener is
	// on all interfaces).
	AdvertiseAddr string
	// Managers are base URLs of managers ("http://host:port"; a bare
	// host:port gets http://). Registration and heartbeats go to the first
	// that answers; a reader manager forwards them to the writer.
	Managers []string
	// DSN is the control-plane database (the event log).
	DSN string
	// DataDSN is the data-plane database (partitions, messages, consumer
	// positions). Default: DSN.
	DataDSN string
	// TailMode is how the broker tails the event log (default notify).
	TailMode eventlog.Mode
	// HeartbeatInterval is the time between heartbeats (default 15 s).
	HeartbeatInterval time.Duration
	// MaxBatchMessages and MaxBatchBytes bound one group-commit transaction
	// (one request larger than that is committed alone).
	MaxBatchMessages int
	MaxBatchBytes    int
	// CommitLanes is the number of group-commit pipelines (default 4).
	// Each partition is pinned to one (the least loaded, on takeover); a lane
	// commits the appends of all its partitions together, one transaction
	// at a time, gathering the next batch meanwhile. Fewer lanes: bigger
	// batches; more: more transactions in flight (which PostgreSQL's own
	// WAL flushing can merge).
	CommitLanes int
	// MaxMessageBytes bounds one message's payload (default 1 MiB).
	MaxMessageBytes int
	// MaxRequestBytes bounds a request body (default 16 MiB).
	MaxRequestBytes int64
	// AllowedHosts are the names this broker answers to in the Host header
	// besides loopback names, IP addresses, its host name and the hosts of
	// AdvertiseAddr and ListenAddr ("*": any); see internal/httpguard.
	AllowedHosts []string
	// MaxInflightBytes bounds the request-body bytes of the requests in
	// flight and MaxRequests the requests (health checks and metrics not
	// counted): 503 with Retry-After beyond. Defaults 256 MiB and 1024.
	MaxInflightBytes int64
	MaxRequests      int
	// MaxAppendMessages bounds the messages of one append request (default
	// 10000, as the managers' produce_batch; 400 beyond).
	MaxAppendMessages int
	// MaxReadMessages and MaxReadBytes bound one read or consume answer
	// (which always carries at least one message when there is one).
	MaxReadMessages int
	MaxReadBytes    int
	// LongPollMax bounds a consume's wait_ms (default 30 s).
	LongPollMax time.Duration
	// MinSeqWait bounds the wait for X-Logq-Min-Seq (default 2 s).
	MinSeqWait time.Duration
	// ShutdownTimeout bounds the graceful shutdown (default 15 s).
	ShutdownTimeout time.Duration
	// HTTP server timeouts: reading a request's headers (default 10 s),
	// reading a whole request (default 1 min), writing the answer, counted
	// from the end of the request's headers (default LongPollMax + 1 min:
	// it must outlast a long poll), and keeping an idle connection (default
	// 2 min).
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// MaxConns bounds the data-plane connection pool (default 32).
	MaxConns int32
	// Logger receives the broker's logs; the zero value logs nothing.
	Logger zerolog.Logger

	// Security (auth.go, docs/security.md). Auth turns authentication and
	// authorization on (the route table in auth.go); off, the API is open
	// and Serve refuses a non-loopback listener unless Insecure.
	Auth     bool
	Insecure bool
	// Credentials are the broker's own (a broker principal's), sent on its
	// registration and heartbeats.
	Credentials httpauth.Credentials
	// TLS: the listener's certificate and key (and client CA for mutual
	// TLS); CA (and Cert/Key as a client certificate) for calls to managers.
	TLS httpauth.TLSFiles
	// Retention (retention.go, docs/retention.md). RetentionMs and
	// RetentionBytes are the cluster defaults for topics without their own
	// (-1 forever, the default; 0 also means the default); the topic's
	// values win. RetentionCheckInterval is the time between retention
	// steps (default 5 min), RetentionMaxSegments the most segments one
	// step drops (default 16), SegmentOffsets the offsets per new segment
	// of the messages table (default pgstore.DefaultSegmentOffsets).
	RetentionMs            int64
	RetentionBytes         int64
	RetentionCheckInterval time.Duration
	RetentionMaxSegments   int
	SegmentOffsets         int64
	// KafkaAddr is where the broker's Kafka protocol listener listens
	// (host:port; port 0 picks a free one); empty: no Kafka listener.
	KafkaAddr string
	// KafkaAdvertiseAddr is the host:port Kafka clients reach this broker
	// at (in Metadata answers, and in the ledger). Empty: the listener's
	// address.
	KafkaAdvertiseAddr string
	// QuotaProduceBytesPerSec and QuotaFetchBytesPerSec are per-principal
	// byte rates of client principals on the Kafka listener (with Auth; 0:
	// none): beyond them an answer carries throttle_time_ms and the
	// connection waits that long (docs/kafka.md, "Quotas"), as the
	// managers' --quota-produce-bytes/--quota-fetch-bytes on HTTP.
	QuotaProduceBytesPerSec float64
	QuotaFetchBytesPerSec   float64
	// KafkaTLS is the Kafka listener's certificate, key and client CA when
	// they differ from TLS's (empty Cert: TLS's, so --tls-cert/--tls-key
	// serve both listeners; SSL, or SASL_SSL with Auth).
	KafkaTLS httpauth.TLSFiles
	// StorageCluster names the storage cluster (the PostgreSQL behind
	// DataDSN) this broker writes to, declared on its registration; only
	// brokers of the same storage cluster take over each other's
	// partitions. Default: projection.DefaultStorageCluster.
	StorageCluster string
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	defaults.Set(&c.ListenAddr, DefaultListenAddr)
	defaults.Set(&c.DataDSN, c.DSN)
	defaults.Set(&c.StorageCluster, projection.DefaultStorageCluster)
	defaults.Set(&c.TailMode, eventlog.ModeNotify)
	defaults.Set(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	defaults.Set(&c.LongPollMax, DefaultLongPollMax)
	defaults.Set(&c.MinSeqWait, DefaultMinSeqWait)
	defaults.Set(&c.ShutdownTimeout, DefaultShutdownTimeout)
	defaults.Set(&c.ReadHeaderTimeout, 10*time.Second)
	defaults.Set(&c.ReadTimeout, time.Minute)
	defaults.Set(&c.WriteTimeout, c.LongPollMax+time.Minute)
	defaults.Set(&c.IdleTimeout, 2*time.Minute)
	defaults.Set(&c.MaxAppendMessages, DefaultMaxAppendMessages)
	defaults.Set(&c.MaxBatchMessages, DefaultMaxBatchMessages)
	defaults.Set(&c.MaxBatchBytes, DefaultMaxBatchBytes)
	defaults.Set(&c.MaxMessageBytes, DefaultMaxMessageBytes)
	defaults.Set(&c.CommitLanes, DefaultCommitLanes)
	defaults.Set(&c.MaxReadMessages, DefaultMaxReadMessages)
	defaults.Set(&c.MaxReadBytes, DefaultMaxReadBytes)
	defaults.Set(&c.MaxRequestBytes, DefaultMaxRequestBytes)
	defaults.Set(&c.MaxConns, DefaultMaxConns)
	defaults.Set(&c.MaxInflightBytes, httpguard.DefaultMaxInflightBytes)
	defaults.Set(&c.MaxRequests, httpguard.DefaultMaxRequests)
	defaults.Set(&c.RetentionMs, projection.RetentionForever)
	defaults.Set(&c.RetentionBytes, projection.RetentionForever)
	defaults.Set(&c.RetentionCheckInterval, DefaultRetentionCheckInterval)
	defaults.Set(&c.RetentionMaxSegments, DefaultRetentionMaxSegments)
	defaults.Set(&c.SegmentOffsets, pgstore.DefaultSegmentOffsets)
	return c
}

// Validate reports the first problem with c (after WithDefaults) as an
// EInvalid error.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return logq.Errorf(logq.EInvalid, "broker config: "+format, args...)
	}
	if c.DSN == "" {
		return bad("a control-plane database URL (DSN) is required")
	}
	if c.ID < 0 {
		return bad("ID %d is negative", c.ID)
	}
	if c.ID == 0 && len(c.Managers) == 0 {
		return bad("either Managers (to register) or ID is required")
	}
	for _, m := range c.Managers {
		if _, err := managerURL(m); err != nil {
			return bad("manager %q: %v", m, err)
		}
	}
	if c.AdvertiseAddr != "" && strings.Contains(c.AdvertiseAddr, "/") {
		return bad("AdvertiseAddr %q must be host:port", c.AdvertiseAddr)
	}
	if c.KafkaAdvertiseAddr != "" && strings.Contains(c.KafkaAdvertiseAddr, "/") {
		return bad("KafkaAdvertiseAddr %q must be host:port", c.KafkaAdvertiseAddr)
	}
	if c.QuotaProduceBytesPerSec < 0 || c.QuotaFetchBytesPerSec < 0 {
		return bad("quotas must not be negative")
	}
	if c.KafkaAdvertiseAddr != "" && c.KafkaAddr == "" {
		return bad("KafkaAdvertiseAddr needs KafkaAddr (the Kafka listener)")
	}
	if err := projection.ValidateStorageClusterName(c.StorageCluster); err != nil {
		return bad("StorageCluster: %v", err)
	}
	if c.TailMode != eventlog.ModeNotify && c.TailMode != eventlog.ModeLogical {
		return bad("unknown tail mode %q", c.TailMode)
	}
	for name, d := range map[string]time.Duration{
		"HeartbeatInterval": c.HeartbeatInterval, "LongPollMax": c.LongPollMax,
		"MinSeqWait": c.MinSeqWait, "ShutdownTimeout": c.ShutdownTimeout,
		"ReadHeaderTimeout": c.ReadHeaderTimeout, "ReadTimeout": c.ReadTimeout,
		"WriteTimeout": c.WriteTimeout, "IdleTimeout": c.IdleTimeout,
	} {
		if d <= 0 {
			return bad("%s must be positive", name)
		}
	}
	for name, n := range map[string]int64{
		"MaxBatchMessages": int64(c.MaxBatchMessages), "MaxBatchBytes": int64(c.MaxBatchBytes),
		"MaxMessageBytes": int64(c.MaxMessageBytes), "MaxRequestBytes": c.MaxRequestBytes,
		"MaxReadMessages": int64(c.MaxReadMessages), "MaxReadBytes": int64(c.MaxReadBytes),
		"MaxConns": int64(c.MaxConns), "CommitLanes": int64(c.CommitLanes),
		"MaxAppendMessages": int64(c.MaxAppendMessages), "MaxRequests": int64(c.MaxRequests),
	} {
		if n <= 0 {
			return bad("%s must be positive", name)
		}
	}
	if c.MaxConns < 2 {
		return bad("MaxConns must be at least 2")
	}
	if c.MaxInflightBytes < c.MaxRequestBytes {
		return bad("MaxInflightBytes %d is below MaxRequestBytes %d", c.MaxInflightBytes, c.MaxRequestBytes)
	}
	if _, err := httpguard.ParseHosts(strings.Join(c.AllowedHosts, ",")); err != nil {
		return bad("%s", logq.ErrorMessage(err))
	}
	if err := projection.ValidateRetention("RetentionMs", c.RetentionMs); err != nil {
		return bad("%v", err)
	}
	if err := projection.ValidateRetention("RetentionBytes", c.RetentionBytes); err != nil {
		return bad("%v", err)
	}
	if c.RetentionCheckInterval <= 0 || c.RetentionMaxSegments <= 0 || c.SegmentOffsets <= 0 {
		return bad("RetentionCheckInterval, RetentionMaxSegments and SegmentOffsets must be positive")
	}
	if c.WriteTimeout <= c.LongPollMax {
		return bad("WriteTimeout %v must exceed LongPollMax %v (a long poll answers after its wait)", c.WriteTimeout, c.LongPollMax)
	}
	if _, err := c.TLS.ServerConfig(); err != nil { // auth.go
		return bad("%v", err)
	}
	if _, err := c.KafkaTLS.ServerConfig(); err != nil {
		return bad("kafka TLS: %v", err)
	}
	if _, err := c.TLS.ClientConfig(); err != nil {
		return bad("%v", err)
	}
	return nil
}

// managerURL normalises a manager address to a base URL without a trailing
// slash.
func managerURL(s string) (string, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "/")
	if s == "" {
		return "", fmt.Errorf("empty")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("want http://host:port")
	}
	return s, nil
}
