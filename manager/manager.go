package manager

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/logq/logq"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/pg"
	"github.com/logq/logq/projection"
)

// Manager is one broker manager: the projection of the event log, the
// writer role when it holds the lock, and the HTTP API.
type Manager struct {
	cfg     Config
	log     zerolog.Logger
	db      *pgxpool.Pool
	peers   *http.Client // brokers and the writer: one client, keep-alive
	metrics *metrics
	handler http.Handler

	// mu guards state and applied. state changes only in apply.
	mu      sync.RWMutex
	state   *projection.State
	applied chan struct{} // closed and replaced whenever state.Seq grows

	// wmu serialises the writer's decisions: decide from state, append,
	// apply. writer and heartbeats are guarded by wmu.
	wmu        sync.Mutex
	writer     *eventlog.Writer    // nil unless this manager is the writer
	heartbeats map[int64]time.Time // last heartbeat per broker (writer only)
	isWriter   atomic.Bool         // fast path for handlers; cleared at once on session loss
	epoch      atomic.Int64        // this manager's writer epoch while it leads
	deposed    chan struct{}       // signalled when the log names a newer writer

	// clients records when producers and consumers were last heard from
	// (clients.go). clientKick asks the writer's loop to run CheckLiveness
	// now (a client shown inactive was heard from); seenKick asks a
	// reader's flush loop to forward what it heard now. Both capacity 1.
	clients    clientTracker
	clientKick chan struct{}
	seenKick   chan struct{}

	snapSeq int64 // seq of the last snapshot taken or loaded; owned by New, then the role goroutine

	roleMu      sync.Mutex
	roleChanged chan struct{} // closed and replaced when isWriter changes

	rr    sync.Map // round-robin counters: "p/"+topic and "c/"+consumer id → *atomic.Uint64
	lanes sync.Map // appends waiting per partition (coalesce.go): laneKey → *appendLane

	served    atomic.Bool
	closeOnce sync.Once
}

// New validates cfg, connects to PostgreSQL, applies the schema and
// rebuilds the cluster state from the latest snapshot and the events after
// it. It starts nothing: Serve does. Call Serve once, or Close if Serve is
// never called.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger.With().Str("component", "manager").Logger()
	if cfg.Name != "" {
		log = log.With().Str("manager", cfg.Name).Logger()
	}
	db, err := pg.Connect(ctx, cfg.DSN, cfg.MaxConns)
	if err != nil {
		return nil, err
	}
	if err := pg.Migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	m := &Manager{
		cfg:         cfg,
		log:         log,
		db:          db,
		peers:       newPeerClient(),
		state:       projection.New(),
		applied:     make(chan struct{}),
		roleChanged: make(chan struct{}),
		deposed:     make(chan struct{}, 1),
		clientKick:  make(chan struct{}, 1),
		seenKick:    make(chan struct{}, 1),
	}
	m.metrics = newMetrics(m)
	m.handler = m.routes()
	if err := m.load(ctx); err != nil {
		db.Close()
		return nil, err
	}
	m.log.Info().Int64("seq", m.AppliedSeq()).Str("role", string(cfg.Role)).
		Str("tail_mode", string(cfg.TailMode)).Msg("manager state loaded")
	return m, nil
}

// load rebuilds the state from the latest snapshot, if any, and the events
// after it.
func (m *Manager) load(ctx context.Context) error {
	seq, data, err := eventlog.LatestSnapshot(ctx, m.db)
	switch {
	case err == nil:
		s, err := projection.DecodeState(data)
		if err != nil {
			// A snapshot we cannot read is not fatal: the log is the truth.
			m.log.Warn().Err(err).Int64("seq", seq).Msg("ignoring unreadable snapshot; replaying the whole log")
			break
		}
		m.mu.Lock()
		m.state = s
		m.mu.Unlock()
		m.snapSeq = s.Seq
	case logq.ErrorCode(err) == logq.ENotFound:
	default:
		return fmt.Errorf("manager: load snapshot: %w", err)
	}
	return m.catchUp(ctx, -1)
}

// catchUp reads and applies events until the state has applied target, or
// (target < 0) until the end of the log.
// Pages are read ahead while the previous one is applied (ReadPages).
func (m *Manager) catchUp(ctx context.Context, target int64) error {
	after := m.AppliedSeq()
	if target >= 0 && after >= target {
		return nil
	}
	err := eventlog.ReadPages(ctx, m.db, after, max(target, 0), 10000, func(events []logq.Event) error {
		return m.apply(events, false)
	})
	if err != nil {
		return fmt.Errorf("manager: catch up: %w", err)
	}
	if applied := m.AppliedSeq(); target >= 0 && applied < target {
		return logq.Errorf(logq.EUnavailable, "event log ends at seq %d, before %d", applied, target)
	}
	return nil
}

// apply folds events into the state, skipping those already applied, and
// wakes the waiters of WaitApplied. It is the only way the state changes:
// the writer calls it right after appending, the tailer for every event it
// receives (the writer's own are skipped there).
func (m *Manager) apply(events []logq.Event, fromTail bool) error {
	m.mu.Lock()
	before := m.state.Seq
	var err error
	for _, e := range events {
		if e.Seq <= m.state.Seq {
			continue
		}
		if err = projection.Apply(m.state, e); err != nil {
			break
		}
		if fromTail {
			m.metrics.observeLag(e.At)
		}
	}
	if m.state.Seq > before {
		close(m.applied)
		m.applied = make(chan struct{})
	}
	if m.isWriter.Load() && m.state.WriterEpoch > m.epoch.Load() {
		// Another manager was elected: this one's session is as good as
		// lost. Stop writing now; the role loop steps down.
		m.setWriter(false)
		select {
		case m.deposed <- struct{}{}:
		default:
		}
	}
	m.mu.Unlock()
	return err
}

// AppliedSeq is the seq of the last event this manager has applied.
func (m *Manager) AppliedSeq() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.state.Seq
}

// WaitApplied waits until this manager has applied seq, or ctx is done
// (then a logq ETimeout error).
func (m *Manager) WaitApplied(ctx context.Context, seq int64) error {
	for {
		m.mu.RLock()
		cur, ch := m.state.Seq, m.applied
		m.mu.RUnlock()
		if cur >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return logq.Errorf(logq.ETimeout, "seq %d is not applied yet on this manager (applied %d); retry", seq, cur)
		}
	}
}

// State returns a copy of the current cluster state.
func (m *Manager) State() *projection.State {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.state.Clone()
}

// IsWriter reports whether this manager is the writer now.
func (m *Manager) IsWriter() bool { return m.isWriter.Load() }

// WaitWriter waits until this manager is the writer, or ctx is done (then a
// logq ETimeout error).
func (m *Manager) WaitWriter(ctx context.Context) error {
	for {
		m.roleMu.Lock()
		ch := m.roleChanged
		m.roleMu.Unlock()
		if m.IsWriter() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return logq.Errorf(logq.ETimeout, "manager %s did not become the writer", m.cfg.Name)
		}
	}
}

// setWriter flips isWriter and wakes WaitWriter.
func (m *Manager) setWriter(v bool) {
	if m.isWriter.Swap(v) == v {
		return
	}
	m.roleMu.Lock()
	close(m.roleChanged)
	m.roleChanged = make(chan struct{})
	m.roleMu.Unlock()
}

// Serve runs the manager until ctx is done: the event log tail, the writer
// competition (roles write and auto), the liveness checks while writer, and
// the HTTP API on ln. On ctx done it shuts the HTTP server down gracefully,
// releases the writer lock, stops its goroutines, closes its database pool
// and returns nil. It returns an error only if ln fails.
func (m *Manager) Serve(ctx context.Context, ln net.Listener) error {
	if !m.served.CompareAndSwap(false, true) {
		return errors.New("manager: Serve called twice")
	}
	defer m.Close()
	if m.cfg.AdvertiseURL == "" {
		// Nothing runs yet that reads cfg: the tail, the role loop and the
		// HTTP server start below.
		m.cfg.AdvertiseURL = "http://" + advertiseAddr(ln.Addr())
		if m.cfg.Name == "" {
			m.cfg.Name = m.cfg.AdvertiseURL
			m.log = m.log.With().Str("manager", m.cfg.Name).Logger()
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	wg.Go(func() { m.runTail(ctx) })
	wg.Go(func() { m.runRole(ctx) })
	wg.Go(func() { m.runSeenFlush(ctx) })

	srv := &http.Server{
		Handler:           m.handler,
		ReadHeaderTimeout: m.cfg.ReadHeaderTimeout,
		ReadTimeout:       m.cfg.ReadTimeout,
		WriteTimeout:      m.cfg.WriteTimeout,
		IdleTimeout:       m.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          httpErrorLog(m.log),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	m.log.Info().Str("addr", ln.Addr().String()).Str("advertise", m.cfg.AdvertiseURL).Msg("manager serving")

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	cancel() // stops the tail and the role loop, which releases the writer lock
	sctx, scancel := context.WithTimeout(context.Background(), m.cfg.ShutdownTimeout)
	if err := srv.Shutdown(sctx); err != nil {
		m.log.Warn().Err(err).Msg("graceful shutdown incomplete; closing connections")
		srv.Close()
	}
	scancel()
	if serveErr == nil {
		serveErr = <-served
	}
	wg.Wait()
	m.peers.CloseIdleConnections()
	m.log.Info().Msg("manager stopped")
	if errors.Is(serveErr, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("manager: serve: %w", serveErr)
}

// Close releases the database pool and idle connections. Serve calls it;
// call it yourself only if Serve is never called.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		m.peers.CloseIdleConnections()
		m.db.Close()
	})
	return nil
}

// runTail follows the event log and applies every event, restarting the
// tail (from the applied seq) if it stops on an error.
func (m *Manager) runTail(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for {
		cfg := eventlog.TailConfig{
			DSN:             m.cfg.DSN,
			Mode:            m.cfg.TailMode,
			SafetyTick:      m.cfg.SafetyTick,
			Logger:          m.log,
			ApplicationName: "logq-manager-tail",
		}
		err := eventlog.Tail(ctx, cfg, m.AppliedSeq(), func(e logq.Event) error {
			return m.apply([]logq.Event{e}, true)
		})
		if ctx.Err() != nil {
			return
		}
		m.log.Error().Err(err).Int64("seq", m.AppliedSeq()).Dur("retry_in", backoff).Msg("event log tail stopped")
		if !wait(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// advertiseAddr is the address others reach a listener at: its own, or the
// host name with its port for a listener on all interfaces.
func advertiseAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	return net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}

// wait waits for d or ctx; it reports whether d passed.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
