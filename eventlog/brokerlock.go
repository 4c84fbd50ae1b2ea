package eventlog

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/logq/logq/internal/sleep"
	"github.com/rs/zerolog"
)

// brokerLockClass is the first key of every broker's session lock, the
// two-int advisory lock (brokerLockClass, broker id)
// ("logq"). The writer's lock is a one-bigint lock, listed in pg_locks
// with objsubid 1, a two-int lock with objsubid 2: the two never collide.
const brokerLockClass int32 = 0x6c6f6771

// MaxLockedBrokerID is the largest broker id that has a session lock (the
// lock's second key is an int4); a broker with a larger id is watched by
// its heartbeats alone.
const MaxLockedBrokerID = math.MaxInt32

// BrokerLock holds a broker's session lock: a session-level advisory lock
// keyed by its id, on a dedicated connection to the control-plane
// database, for as long as the broker runs. PostgreSQL ends the session of
// a process that dies — at once on a Unix socket or loopback, within
// seconds over TCP thanks to the keepalives of the writer's lock
// connection — and so releases the lock, which the writer reads as the
// broker's death (BrokerSessions) without waiting for its heartbeat
// timeout. A process that hangs keeps its session, and its heartbeat
// timeout. Make one with NewBrokerLock and hold it with Run.
type BrokerLock struct {
	dsn string
	id  int64
	log zerolog.Logger

	mu   sync.Mutex
	pid  uint32        // backend pid of the session holding the lock; 0 while not held
	held chan struct{} // closed when the lock is taken; replaced when it is lost
}

// NewBrokerLock returns the session lock of broker id (1 to
// MaxLockedBrokerID) on the control-plane database dsn.
func NewBrokerLock(dsn string, id int64, log zerolog.Logger) (*BrokerLock, error) {
	if id < 1 || id > MaxLockedBrokerID {
		return nil, fmt.Errorf("eventlog: broker id %d has no session lock (1 to %d)", id, MaxLockedBrokerID)
	}
	return &BrokerLock{dsn: dsn, id: id, log: log, held: make(chan struct{})}, nil
}

// Run takes the lock (waiting while another session holds it: an earlier
// process of this broker whose session the server has not ended yet) and
// holds it until ctx is done, checking the session every pingInterval and
// taking the lock again on a new connection after a loss. It releases the
// lock, by closing its connection, before it returns.
func (l *BrokerLock) Run(ctx context.Context) {
	const minBackoff = 50 * time.Millisecond
	backoff := minBackoff
	for {
		heldFor, err := l.hold(ctx)
		if ctx.Err() != nil {
			return
		}
		if heldFor >= time.Second {
			backoff = minBackoff // it was held a while: take it again at once
		}
		l.log.Warn().Err(err).Int64("broker_id", l.id).Dur("retry_in", backoff).
			Msg("broker session lock lost; taking it again")
		if !sleep.For(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// hold takes the lock on a new connection and keeps it until the
// connection fails or ctx is done, returning how long it held it.
func (l *BrokerLock) hold(ctx context.Context) (time.Duration, error) {
	conn, err := connect(ctx, l.dsn, "logq-broker-lock", configureLockConn)
	if err != nil {
		return 0, err
	}
	defer closeConn(conn) // releases the lock
	if err := waitLock(ctx, conn, "SELECT pg_try_advisory_lock($1, $2)", brokerLockClass, int32(l.id)); err != nil {
		return 0, dbError(ctx, err, "eventlog: take broker session lock")
	}
	l.setHeld(conn.PgConn().PID())
	defer l.setHeld(0)
	l.log.Debug().Int64("broker_id", l.id).Uint32("backend_pid", conn.PgConn().PID()).Msg("holding broker session lock")
	since := time.Now()
	tick := time.NewTicker(pingInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return time.Since(since), nil
		case <-tick.C:
		}
		if err := ping(ctx, conn); err != nil {
			return time.Since(since), dbError(ctx, err, "eventlog: broker session lock")
		}
	}
}

func ping(ctx context.Context, conn *pgx.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	return conn.Ping(ctx)
}

func (l *BrokerLock) setHeld(pid uint32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case pid != 0 && l.pid == 0:
		close(l.held)
	case pid == 0 && l.pid != 0:
		l.held = make(chan struct{})
	}
	l.pid = pid
}

// Held returns the backend pid of the session holding the lock (0 while
// it is not held) and a channel closed once it is held.
func (l *BrokerLock) Held() (pid uint32, held <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pid, l.held
}

// brokerSessionsSQL lists the broker ids whose session lock is held in
// this database (advisory locks are per database; pg_locks shows all).
const brokerSessionsSQL = `
SELECT objid::bigint FROM pg_locks
WHERE locktype = 'advisory' AND classid::bigint = $1 AND objsubid = 2 AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`

// BrokerSessions returns the ids of the brokers holding their session lock
// now (BrokerLock), in one read of pg_locks on db, the control-plane
// database.
func BrokerSessions(ctx context.Context, db querier) (map[int64]bool, error) {
	rows, err := db.Query(ctx, brokerSessionsSQL, int64(brokerLockClass))
	if err != nil {
		return nil, dbError(ctx, err, "eventlog: read broker session locks")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, dbError(ctx, err, "eventlog: read broker session locks")
	}
	held := make(map[int64]bool, len(ids))
	for _, id := range ids {
		held[id] = true
	}
	return held, nil
}
