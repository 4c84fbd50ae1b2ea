package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logq/logq/auth"
	"github.com/logq/logq/auth/httpauth"
)

// Defaults for Config.
const (
	DefaultMaxRequestBytes      = 16 << 20
	DefaultMaxFetchWait         = 30 * time.Second
	DefaultShutdownTimeout      = 10 * time.Second
	DefaultMaxFetchBytes        = 8 << 20
	DefaultAutoCreatePartitions = 1
	DefaultIdleTimeout          = 10 * time.Minute
	DefaultIOTimeout            = time.Minute
	DefaultMaxConnections       = 1024
)

// Config configures a Server. Cluster and Log are required; without Groups
// the group APIs answer COORDINATOR_NOT_AVAILABLE.
type Config struct {
	Cluster Cluster
	Log     Log
	Groups  Groups
	// MaxRequestBytes bounds one request (size prefix); a bigger one closes
	// the connection, as Kafka's socket.request.max.bytes does.
	MaxRequestBytes int
	// MaxFetchWait bounds a fetch's MaxWaitMillis; MaxFetchBytes its
	// answer's record bytes.
	MaxFetchWait  time.Duration
	MaxFetchBytes int
	// AutoCreateTopics: a Metadata request that allows it creates unknown
	// topics with AutoCreatePartitions partitions (Kafka's
	// auto.create.topics.enable, default on).
	AutoCreateTopics     bool
	AutoCreatePartitions int
	// ShutdownTimeout bounds Close's wait for requests in flight.
	ShutdownTimeout time.Duration
	// IdleTimeout closes a connection that sends no request for that long
	// (Kafka's connections.max.idle.ms; default 10 min); IOTimeout bounds
	// reading one request once its size arrived, and writing one answer
	// (default 1 min). Either may fire up to a 64th of itself early (a
	// connection moves its deadlines only once they are that old).
	IdleTimeout time.Duration
	IOTimeout   time.Duration
	// MaxConnections bounds the open connections (default 1024): one
	// beyond is closed at once. With MaxRequestBytes it bounds the memory
	// requests in flight take (each connection serves one at a time).
	MaxConnections int
	Logger         zerolog.Logger
	// Auth turns SASL authentication and ACLs on (sasl.go, authz.go);
	// nil: the listener is open (every request is answered, as today).
	Auth *auth.Authenticator
	// Quotas are the per-principal produce and fetch byte rates (authz.go);
	// nil or zero rates: none.
	Quotas *httpauth.Quotas
}

// Server serves the Kafka protocol on listeners. Make one with New, run it
// with Serve, stop it with Close.
type Server struct {
	cfg Config
	log zerolog.Logger

	// ctx bounds every request: canceled when Close gives up waiting for
	// them. pollCtx bounds fetch long polls: canceled as Close starts, so
	// they answer at once.
	ctx        context.Context
	cancel     context.CancelFunc
	pollCtx    context.Context
	pollCancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	lns     map[net.Listener]struct{}
	conns   map[*conn]struct{}
	wg      sync.WaitGroup
	closeMu sync.Once
}

// New returns a server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Cluster == nil || cfg.Log == nil {
		return nil, errors.New("kafka: Cluster and Log are required")
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.MaxFetchWait <= 0 {
		cfg.MaxFetchWait = DefaultMaxFetchWait
	}
	if cfg.MaxFetchBytes <= 0 {
		cfg.MaxFetchBytes = DefaultMaxFetchBytes
	}
	if cfg.AutoCreatePartitions <= 0 {
		cfg.AutoCreatePartitions = DefaultAutoCreatePartitions
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.IOTimeout <= 0 {
		cfg.IOTimeout = DefaultIOTimeout
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	ctx, cancel := context.WithCancel(context.Background())
	pollCtx, pollCancel := context.WithCancel(ctx)
	return &Server{
		cfg: cfg, log: cfg.Logger.With().Str("component", "kafka").Logger(),
		ctx: ctx, cancel: cancel, pollCtx: pollCtx, pollCancel: pollCancel,
		lns: map[net.Listener]struct{}{}, conns: map[*conn]struct{}{},
	}, nil
}

// ErrServerClosed is Serve's answer after Close.
var ErrServerClosed = errors.New("kafka: server closed")

// Serve accepts connections on ln until Close (ErrServerClosed) or until
// ln fails. Each connection gets one goroutine.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	s.log.Info().Str("addr", ln.Addr().String()).Msg("kafka listener serving")
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(backoff):
				case <-s.pollCtx.Done():
				}
				continue
			}
			return fmt.Errorf("kafka: accept: %w", err)
		}
		backoff = 0
		c := &conn{s: s, nc: nc}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		if len(s.conns) >= s.cfg.MaxConnections {
			s.mu.Unlock()
			s.log.Warn().Int("max_connections", s.cfg.MaxConnections).Str("remote", nc.RemoteAddr().String()).Msg("kafka connection refused: too many open")
			nc.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

// Close stops accepting, lets each connection finish the request it is
// serving (long polls return at once), closes every connection and waits
// for their goroutines, forcing them after ShutdownTimeout.
func (s *Server) Close() error {
	s.closeMu.Do(func() {
		s.mu.Lock()
		s.closed = true
		for ln := range s.lns {
			ln.Close()
		}
		for c := range s.conns {
			c.stop()
		}
		s.mu.Unlock()
		s.pollCancel()
		defer s.cancel()
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		t := time.NewTimer(s.cfg.ShutdownTimeout)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			s.cancel() // requests still running give up
			s.mu.Lock()
			for c := range s.conns {
				c.nc.Close()
			}
			s.mu.Unlock()
			<-done
		}
	})
	return nil
}

// conn is one client connection.
type conn struct {
	s  *Server
	nc net.Conn

	mu       sync.Mutex
	stopping bool
	busy     bool

	// When the deadlines were last set (serve's goroutine only): a
	// deadline is moved once it is a 64th of its timeout old, not on
	// every request (each move is a call into the runtime's poller), so
	// one fires up to a 64th of its timeout early. idleArmed: the read
	// deadline is the idle one.
	idleSetAt, writeSetAt time.Time
	idleArmed             bool
	deadlineMoves         atomic.Int64 // for tests
}

// stop asks the connection to end after the request it is serving: an idle
// read is interrupted now.
func (c *conn) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopping = true
	if !c.busy {
		c.nc.SetReadDeadline(time.Now())
	}
}

// setBusy marks the connection as serving a request (true) or idle; it
// returns false when the connection must end. Idle, the connection waits
// for the next request up to IdleTimeout.
func (c *conn) setBusy(busy bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busy = busy
	if !busy && !c.stopping {
		if now := time.Now(); !c.idleArmed || now.Sub(c.idleSetAt) > c.s.cfg.IdleTimeout/64 {
			c.nc.SetReadDeadline(now.Add(c.s.cfg.IdleTimeout))
			c.idleSetAt, c.idleArmed = now, true
			c.deadlineMoves.Add(1)
		}
	}
	return !c.stopping
}

// readBody reads a request's body of size bytes from r: bounded by
// IOTimeout when it is not all buffered yet (when it is, no read waits).
func (c *conn) readBody(r *bufio.Reader, size int) ([]byte, error) {
	if r.Buffered() < size {
		c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IOTimeout))
		c.idleArmed = false
		c.deadlineMoves.Add(1)
	}
	buf := make([]byte, size)
	_, err := io.ReadFull(r, buf)
	return buf, err
}

// armWrite bounds the writes of the next answer by IOTimeout.
func (c *conn) armWrite() {
	if now := time.Now(); now.Sub(c.writeSetAt) > c.s.cfg.IOTimeout/64 {
		c.nc.SetWriteDeadline(now.Add(c.s.cfg.IOTimeout))
		c.writeSetAt = now
		c.deadlineMoves.Add(1)
	}
}

func (c *conn) serve() {
	defer c.s.wg.Done()
	defer func() {
		c.nc.Close()
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	}()
	r := bufio.NewReaderSize(c.nc, 64<<10)
	w := bufio.NewWriterSize(c.nc, 64<<10)
	h := &handler{s: c.s, clientHost: hostOf(c.nc.RemoteAddr())}
	var sizeBuf [4]byte
	var err error
	if !c.setBusy(false) {
		return
	}
	for {
		if _, err = io.ReadFull(r, sizeBuf[:]); err != nil {
			return // EOF, closed, or stopped while idle
		}
		if !c.setBusy(true) {
			return
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		minSize := int32(8)
		if h.sasl.raw {
			minSize = 0 // a raw SASL token (sasl.go)
		}
		if size < minSize || int(size) > c.s.cfg.MaxRequestBytes {
			c.s.log.Warn().Int32("size", size).Str("remote", c.nc.RemoteAddr().String()).Msg("kafka request size out of bounds; closing the connection")
			return
		}
		buf, err := c.readBody(r, int(size))
		if err != nil {
			return
		}
		var resp []byte
		if h.sasl.raw {
			resp, err = h.rawSASL(buf) // sasl.go
		} else {
			resp, err = h.handle(buf)
		}
		closeAfter := errors.Is(err, errCloseAfter)
		if err != nil && !closeAfter {
			c.s.log.Debug().Err(err).Str("remote", c.nc.RemoteAddr().String()).Msg("kafka request refused; closing the connection")
			return
		}
		if resp != nil {
			c.armWrite()
			if _, err := w.Write(resp); err != nil {
				return
			}
			// Flush unless the next request is already here (pipelining):
			// its answer goes out with this one.
			if r.Buffered() == 0 || closeAfter {
				if err := w.Flush(); err != nil {
					return
				}
			}
		}
		if closeAfter {
			return // a failed SASL authentication (sasl.go)
		}
		if h.throttle > 0 && !c.throttle(h.throttle) { // authz.go: quotas
			return
		}
		if !c.setBusy(false) {
			w.Flush()
			return
		}
	}
}

// throttle holds the connection's next request back for d (a quota's
// back-off, as Kafka mutes a throttled channel); false when the server is
// closing meanwhile.
func (c *conn) throttle(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.s.pollCtx.Done():
		return false
	}
}

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	return a.String()
}

// header is a request header (v1, or v2 for flexible requests).
type header struct {
	key, version  int16
	correlationID int32
	clientID      string
}

// handle decodes one request and returns its size-prefixed answer (nil:
// none, for acks=0 produces). An error closes the connection.
func (h *handler) handle(buf []byte) ([]byte, error) {
	rd := kbin.Reader{Src: buf}
	var hd header
	hd.key = rd.Int16()
	hd.version = rd.Int16()
	hd.correlationID = rd.Int32()
	// The client id is the same request after request: the connection's
	// string is kept, not made again.
	if n := rd.Int16(); n >= 0 {
		if id := rd.Span(int(n)); string(id) == h.hdr.clientID {
			hd.clientID = h.hdr.clientID
		} else {
			hd.clientID = string(id)
		}
	}
	if !rd.Ok() {
		return nil, fmt.Errorf("short request header")
	}
	req := kmsg.RequestForKey(hd.key)
	supported, ok := versions[hd.key]
	if req == nil || !ok {
		return nil, fmt.Errorf("unsupported api key %d", hd.key)
	}
	if !h.authenticated() && !preAuth(hd.key) {
		// As Kafka's SASL listeners: nothing but the handshake before
		// authentication (sasl.go).
		return nil, fmt.Errorf("api %s before SASL authentication", kmsg.NameForKey(hd.key))
	}
	if hd.version < supported.min || hd.version > supported.max {
		if hd.key == kmsg.ApiVersions.Int16() {
			// KIP-511: answer at v0 with our versions, the client retries.
			resp := h.apiVersions(nil, errUnsupportedVersion)
			resp.SetVersion(0)
			return frame(hd, resp, false), nil
		}
		return nil, fmt.Errorf("api %s version %d outside %d..%d", kmsg.NameForKey(hd.key), hd.version, supported.min, supported.max)
	}
	req.SetVersion(hd.version)
	body := rd.Src
	if req.IsFlexible() {
		// In the handler: SkipTags takes a pointer, which would move a
		// reader of each request to the heap.
		h.tags = rd
		kmsg.SkipTags(&h.tags)
		body, rd = h.tags.Src, h.tags
		h.tags = kbin.Reader{}
	}
	if !rd.Ok() {
		return nil, fmt.Errorf("short request header")
	}
	if err := req.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode %s v%d: %w", kmsg.NameForKey(hd.key), hd.version, err)
	}
	h.hdr = hd
	h.throttle = 0
	resp, err := h.serveRequest(req) // authz.go: SASL, ACLs and quotas around dispatch
	if resp == nil {
		return nil, err
	}
	resp.SetVersion(hd.version)
	// ApiVersions answers always use header v0 (KIP-511).
	flexHeader := req.IsFlexible() && hd.key != kmsg.ApiVersions.Int16()
	return frame(hd, resp, flexHeader), err
}

// frame encodes resp with its header and size prefix.
func frame(hd header, resp kmsg.Response, flexHeader bool) []byte {
	out := make([]byte, 8, 256+answerBytes(resp))
	binary.BigEndian.PutUint32(out[4:], uint32(hd.correlationID))
	if flexHeader {
		out = append(out, 0) // no tagged fields
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}

// answerBytes is the size of resp's record data: a fetch answer is framed
// into one buffer of about its size, not grown to it by doubling.
func answerBytes(resp kmsg.Response) int {
	f, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return 0
	}
	n := 0
	for i := range f.Topics {
		t := &f.Topics[i]
		n += 32 + len(t.Topic) + 64*len(t.Partitions)
		for j := range t.Partitions {
			n += len(t.Partitions[j].RecordBatches)
		}
	}
	return n
}
