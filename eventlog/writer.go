package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/logq/logq"
	"github.com/logq/logq/internal/pg"
	"github.com/logq/logq/internal/sleep"
)

// writerLockKey is the session advisory lock whose holder is the writer
// ("logq" then 2). Advisory locks are scoped to one database.
const writerLockKey int64 = 0x6c6f67710002

const (
	pingInterval  = 500 * time.Millisecond // liveness check of the lock session
	pingTimeout   = 2 * time.Second
	appendTimeout = 10 * time.Second // bound on one append statement
	// sessionLease is the server's idle_session_timeout on the lock
	// session: the writer pings every pingInterval, so a session idle that
	// long belongs to a writer that stopped running (SIGSTOP, a hung
	// process, a paused VM) while its socket stays open. The server then
	// ends the session, which releases the lock to another manager; the
	// stopped writer, should it resume, finds its session gone and its
	// epoch superseded. (PostgreSQL 14 and later; older servers ignore it.)
	sessionLease = 10 * pingInterval
)

// appendSQL stores a batch of events in one statement (so one transaction)
// if and only if the lease still carries the writer's epoch. FOR SHARE
// orders it against a concurrent epoch bump: the bump waits for this
// append to commit, or this append sees the bumped epoch and stores
// nothing. RETURNING gives the data as stored (jsonb normalises it), so
// the writer hands its callers exactly what readers will see.
const appendSQL = `
WITH lease AS (
    SELECT 1 FROM writer_lease WHERE id = 1 AND epoch = $1 FOR SHARE
)
INSERT INTO events (seq, at, type, data, epoch)
SELECT $3::bigint + u.n - 1, $2, u.type, u.data::jsonb, $1
FROM unnest($4::text[], $5::text[]) WITH ORDINALITY AS u(type, data, n)
WHERE EXISTS (SELECT 1 FROM lease)
RETURNING seq, data`

// Writer is the single fenced appender of the control-plane log. It holds
// the writer advisory lock on one dedicated connection and appends through
// that connection only, so a writer that lost its session cannot append.
type Writer struct {
	epoch int64
	pid   uint32
	last  atomic.Int64

	// sem (capacity 1) serialises Append, the liveness check and Close; it
	// guards conn and err.
	sem  chan struct{}
	conn *pgx.Conn // nil once the writer is dead or closed
	err  error     // why the writer is dead; nil while it is alive

	done      chan struct{} // closed when err is set
	stop      chan struct{} // closed by Close to stop the liveness loop
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Acquire blocks until this process holds the writer advisory lock (a
// session-level advisory lock on a dedicated connection opened from dsn,
// tried every lockPollInterval: waitLock), then bumps writer_lease.epoch,
// recording holder, and reads the last seq. ctx cancels the wait.
func Acquire(ctx context.Context, dsn, holder string) (*Writer, error) {
	w, _, err := acquire(ctx, dsn, holder, true)
	return w, err
}

// lockPollInterval is how often a session waiting for an advisory lock
// (a standby manager for the writer's, a restarted broker for its session
// lock) tries it again.
const lockPollInterval = 50 * time.Millisecond

// waitLock takes an advisory lock on conn by running sql, a
// pg_try_advisory_lock call, every lockPollInterval until it answers
// true or ctx ends. It does not wait inside pg_advisory_lock: a statement
// blocked there keeps its snapshot for the whole wait, so a standby
// manager waiting for hours would pin the server's xmin horizon, and no
// dead row version in any table (the partition row every append updates,
// the producers' state, the consumers' offsets) could be pruned or
// vacuumed until the writer changed. Between two tries this session holds
// no snapshot.
func waitLock(ctx context.Context, conn *pgx.Conn, sql string, args ...any) error {
	for {
		var got bool
		if err := conn.QueryRow(ctx, sql, args...).Scan(&got); err != nil {
			return err
		}
		if got {
			return nil
		}
		if !sleep.For(ctx, lockPollInterval) {
			return ctx.Err()
		}
	}
}

// configureLockConn prepares the writer's lock connection. A cancelled
// context cancels the running statement on the server rather than
// breaking the connection. Server-side TCP keepalives (unless the DSN sets them) let the
// server notice a vanished writer and release its lock within seconds, not
// hours; they do not apply to Unix sockets, where a dead peer is seen at once.
func configureLockConn(cfg *pgx.ConnConfig) {
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: time.Second}
	}
	for k, v := range map[string]string{"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "1", "tcp_keepalives_count": "3"} {
		if cfg.RuntimeParams[k] == "" {
			cfg.RuntimeParams[k] = v
		}
	}
}

func acquire(ctx context.Context, dsn, holder string, wait bool) (w *Writer, ok bool, err error) {
	conn, err := connect(ctx, dsn, "logq-writer", configureLockConn)
	if err != nil {
		return nil, false, err
	}
	defer func() {
		if w == nil {
			closeConn(conn) // also releases the lock, if taken
		}
	}()

	if wait {
		if err := waitLock(ctx, conn, "SELECT pg_try_advisory_lock($1)", writerLockKey); err != nil {
			return nil, false, dbError(ctx, err, "eventlog: acquire writer lock")
		}
	} else {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", writerLockKey).Scan(&got); err != nil {
			return nil, false, dbError(ctx, err, "eventlog: acquire writer lock")
		}
		if !got {
			return nil, false, nil
		}
	}

	// Bump the epoch, then read the last seq in a fresh snapshot, after the
	// lease row lock: any append of an older writer is committed by then.
	var epoch, last int64
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO writer_lease (id, epoch, holder, since) VALUES (1, 1, $1, now())
			ON CONFLICT (id) DO UPDATE
			SET epoch = writer_lease.epoch + 1, holder = EXCLUDED.holder, since = EXCLUDED.since
			RETURNING epoch`, holder).Scan(&epoch)
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM events").Scan(&last)
	})
	if err != nil {
		return nil, false, dbError(ctx, err, "eventlog: bump writer epoch")
	}
	// Best effort: PostgreSQL 13 has no idle_session_timeout (the writer
	// works without it, but a stopped one then keeps the lock until it
	// resumes or its process dies).
	conn.Exec(ctx, "SELECT set_config('idle_session_timeout', $1, false)", strconv.FormatInt(sessionLease.Milliseconds(), 10))

	w = &Writer{
		epoch: epoch,
		pid:   conn.PgConn().PID(),
		sem:   make(chan struct{}, 1),
		conn:  conn,
		done:  make(chan struct{}),
		stop:  make(chan struct{}),
	}
	w.last.Store(last)
	w.wg.Add(1)
	go w.watch()
	return w, true, nil
}

// Epoch is the leadership epoch this writer bumped the lease to.
func (w *Writer) Epoch() int64 { return w.epoch }

// LastSeq is the seq of the last event appended, or present at acquisition.
func (w *Writer) LastSeq() int64 { return w.last.Load() }

// BackendPID is the PostgreSQL backend pid of the lock session (for
// operators, and for tests that terminate it).
func (w *Writer) BackendPID() uint32 { return w.pid }

// Done is closed once the writer is dead: it lost its session, was fenced
// by a newer epoch, or was closed. A dead writer never appends again.
func (w *Writer) Done() <-chan struct{} { return w.done }

// Append stores events in one transaction on the lock connection and
// returns them as stored. The caller sets Type and Data (empty Data means
// {}); Append sets Seq (gap-free, after LastSeq), At (now, UTC, to the
// microsecond) and Epoch.
//
// Appends are serialised, so seq order is commit order. The transaction
// checks that the lease still carries this writer's epoch; if not, nothing
// is stored and the error is logq.EFenced. If the session is lost (or the
// outcome of the append cannot be known), the writer dies: this and every
// later Append fail with EUnavailable or EFenced, and Done is closed.
// ctx bounds the wait for a preceding append; once sent, an append runs to
// completion, since abandoning it would leave its outcome unknown.
func (w *Writer) Append(ctx context.Context, events ...logq.Event) ([]logq.Event, error) {
	if len(events) == 0 {
		return nil, nil
	}
	types := make([]string, len(events))
	data := make([]string, len(events))
	for i, e := range events {
		if e.Type == "" {
			return nil, logq.Errorf(logq.EInvalid, "event %d has no type", i)
		}
		d := e.Data
		if len(d) == 0 {
			d = json.RawMessage("{}")
		}
		if !json.Valid(d) {
			return nil, logq.Errorf(logq.EInvalid, "event %d (%s): data is not valid JSON", i, e.Type)
		}
		types[i], data[i] = e.Type, string(d)
	}

	select {
	case w.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, dbError(ctx, ctx.Err(), "eventlog: append")
	}
	defer func() { <-w.sem }()
	if w.err != nil {
		return nil, w.err
	}

	at := time.Now().UTC().Truncate(time.Microsecond)
	first := w.last.Load() + 1
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
	defer cancel()
	rows, _ := w.conn.Query(actx, appendSQL, w.epoch, at, first, types, data)
	stored, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (logq.Event, error) {
		var e logq.Event
		var d []byte
		err := row.Scan(&e.Seq, &d)
		e.Data = d
		return e, err
	})
	if err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pg.IsConnectionError(err) {
			// The session is gone, or the answer is: the append may or may
			// not have committed. Only a new writer can know.
			return nil, w.kill(withCode(logq.EUnavailable, "eventlog: writer lost its session", err))
		}
		// The statement failed on a live session: nothing was stored.
		switch {
		case pg.IsUniqueViolation(err):
			// Another session appended this seq: this writer is not alone.
			return nil, w.kill(withCode(logq.EFenced, "eventlog: writer was fenced (seq already taken)", err))
		case pgErr.Code[:2] == "22": // data exception, e.g. JSON jsonb refuses
			return nil, withCode(logq.EInvalid, "eventlog: append: invalid event data", err)
		default:
			return nil, logq.Internal(err, "eventlog: append")
		}
	}
	if len(stored) == 0 {
		return nil, w.kill(logq.Errorf(logq.EFenced, "eventlog: writer epoch %d was superseded", w.epoch))
	}
	out := make([]logq.Event, len(events))
	for _, s := range stored {
		i := s.Seq - first
		if i < 0 || i >= int64(len(out)) {
			return nil, w.kill(logq.Errorf(logq.EInternal, "eventlog: append stored unexpected seq %d", s.Seq))
		}
		out[i] = logq.Event{Seq: s.Seq, At: at, Type: types[i], Data: s.Data, Epoch: w.epoch}
	}
	w.last.Store(first + int64(len(out)) - 1)
	return out, nil
}

// watch checks the lock session every pingInterval, so Done is closed soon
// after the session is lost even when nothing is being appended.
func (w *Writer) watch() {
	defer w.wg.Done()
	tick := time.NewTicker(pingInterval)
	defer tick.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-w.done:
			return
		case <-tick.C:
		}
		select {
		case w.sem <- struct{}{}:
		default:
			continue // an append is running: it will find out itself
		}
		w.check()
		<-w.sem
	}
}

// check verifies, holding sem, that the session is alive and the lease
// still carries this writer's epoch.
func (w *Writer) check() {
	if w.err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	var epoch int64
	err := w.conn.QueryRow(ctx, "SELECT epoch FROM writer_lease WHERE id = 1").Scan(&epoch)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || (err == nil && epoch != w.epoch):
		w.kill(logq.Errorf(logq.EFenced, "eventlog: writer epoch %d was superseded", w.epoch))
	case err != nil:
		w.kill(withCode(logq.EUnavailable, "eventlog: writer lost its session", err))
	}
}

// kill marks the writer dead with err, closes Done and drops the
// connection (releasing the lock, if the session still held it). The
// caller holds sem. It returns err.
func (w *Writer) kill(err error) error {
	if w.err == nil {
		w.err = err
		close(w.done)
		closeConn(w.conn)
		w.conn = nil
	}
	return w.err
}

// Close releases the writer lock and closes the connection. It is
// idempotent, and safe on a dead writer.
func (w *Writer) Close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		close(w.stop)
		w.wg.Wait()
		w.sem <- struct{}{} // waits for a running append, bounded by appendTimeout
		defer func() { <-w.sem }()
		if w.conn != nil {
			if _, err := w.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", writerLockKey); err != nil {
				w.closeErr = dbError(ctx, err, "eventlog: release writer lock")
			}
		}
		w.kill(logq.Errorf(logq.EUnavailable, "eventlog: writer closed"))
	})
	return w.closeErr
}
