package manager

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/logq/logq"
	"github.com/logq/logq/auth/httpauth"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/groups"
	"github.com/logq/logq/internal/advertise"
	"github.com/logq/logq/internal/pg"
	"github.com/logq/logq/projection"
	"github.com/logq/logq/router"
)

// Manager is one broker manager: the projection of the event log, the
// writer role when it holds the lock, and the HTTP API.
type Manager struct {
	cfg     Config
	log     zerolog.Logger
	db      *pgxpool.Pool
	peers   *http.Client   // brokers and the writer: one client, keep-alive
	router  *router.Router // the data plane
	metrics *metrics
	handler http.Handler

	// replica follows the event log into state; it changes state only
	// under mu (shared with it), in place. Read state under mu.RLock.
	replica *eventlog.Replica
	mu      sync.RWMutex
	state   *projection.State // replica.State()

	// wmu serialises the writer's decisions: decide from state, append,
	// apply. writer and heartbeats are guarded by wmu.
	wmu        sync.Mutex
	writer     *eventlog.Writer    // nil unless this manager is the writer
	heartbeats map[int64]time.Time // last heartbeat per broker (writer only)
	sessions   map[int64]time.Time // last time seen holding its session lock, per broker (writer only)
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

	served    atomic.Bool
	closeOnce sync.Once

	groups *groups.Coordinator // consumer groups (groups.go); nil without a database
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
	m := newManager(cfg, log)
	m.db = db
	m.groups = m.newGroups()
	m.newReplica(eventlog.NewDB(db, eventlog.TailConfig{
		DSN:             cfg.DSN,
		Mode:            cfg.TailMode,
		SafetyTick:      cfg.SafetyTick,
		Logger:          log,
		ApplicationName: "logq-manager-tail",
	}))
	if err := m.replica.Start(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("manager: %w", err)
	}
	m.snapSeq = m.replica.SnapshotSeq()
	m.log.Info().Int64("seq", m.AppliedSeq()).Str("role", string(cfg.Role)).
		Str("tail_mode", string(cfg.TailMode)).Msg("manager state loaded")
	return m, nil
}

// newManager is a Manager with its in-memory parts made and nothing
// started: no database, no replica, no goroutines.
func newManager(cfg Config, log zerolog.Logger) *Manager {
	m := &Manager{
		cfg:         cfg,
		log:         log,
		peers:       router.NewPeerClient(),
		roleChanged: make(chan struct{}),
		deposed:     make(chan struct{}, 1),
		clientKick:  make(chan struct{}, 1),
		seenKick:    make(chan struct{}, 1),
	}
	m.metrics = newMetrics(m)
	m.securePeers() // its own credentials and TLS on calls to the writer and brokers (security.go)
	return m
}

// newReplica makes the manager's follower of log, sharing mu, points
// state at its state, makes the router that routes by it and the routes
// that serve both.
func (m *Manager) newReplica(log eventlog.Log) {
	m.replica = eventlog.NewReplica(eventlog.ReplicaConfig{
		Log: log, Lock: &m.mu, OnApply: m.onApply, Logger: m.log, Name: "this manager",
	})
	m.state = m.replica.State()
	m.router = m.newRouter()
	m.handler = m.routes()
}

// catchUp applies events until the state has applied target (or, target
// <= 0, to the end of the log).
func (m *Manager) catchUp(ctx context.Context, target int64) error {
	return m.replica.CatchUp(ctx, target)
}

// apply folds events the writer has just appended into the state (the
// tail skips them). It is the only way the writer changes the state;
// readers apply through the replica's tail.
func (m *Manager) apply(events []logq.Event, _ bool) error { return m.replica.Apply(events) }

// onApply runs, under mu, after the replica applied events: it records the
// lag of tailed ones and steps down when the log names a newer writer.
func (m *Manager) onApply(s *projection.State, events []logq.Event, fromTail bool) {
	if fromTail {
		for _, e := range events {
			m.metrics.observeLag(e.At)
		}
	}
	if m.isWriter.Load() && s.WriterEpoch > m.epoch.Load() {
		// Another manager was elected: this one's session is as good as
		// lost. Stop writing now; the role loop steps down.
		m.setWriter(false)
		select {
		case m.deposed <- struct{}{}:
		default:
		}
	}
}

// AppliedSeq is the seq of the last event this manager has applied.
func (m *Manager) AppliedSeq() int64 { return m.replica.AppliedSeq() }

// WaitApplied waits until this manager has applied seq, or ctx is done
// (then a logq ETimeout error when its deadline passed).
func (m *Manager) WaitApplied(ctx context.Context, seq int64) error {
	return m.replica.WaitApplied(ctx, seq)
}

// State returns a copy of the current cluster state.
func (m *Manager) State() *projection.State { return m.replica.Clone() }

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
	if err := httpauth.CheckExposure(ln.Addr().String(), m.cfg.Auth, m.cfg.Insecure); err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	tlsCfg, err := m.cfg.TLS.ServerConfig()
	if err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	scheme := "http://"
	if tlsCfg != nil {
		scheme = "https://"
	}
	ln = httpauth.Listen(ln, tlsCfg) // TLS on the API and the status page alike
	if m.cfg.AdvertiseURL == "" {
		// Nothing runs yet that reads cfg: the tail, the role loop and the
		// HTTP server start below.
		m.cfg.AdvertiseURL = scheme + advertise.Addr(ln.Addr())
		if m.cfg.Name == "" {
			m.cfg.Name = m.cfg.AdvertiseURL
			m.log = m.log.With().Str("manager", m.cfg.Name).Logger()
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	wg.Go(func() { m.replica.Run(ctx) })
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
