package eventlog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logq/logq"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/pgtest"
)

// waitingLocks counts the sessions of application appName (logq-writer,
// logq-broker-lock) in the test's database that hold no advisory lock:
// those waiting to take one (each tries it every lockPollInterval).
func waitingLocks(t *testing.T, admin *pgx.Conn, appName string) int64 {
	return query[int64](t, admin, `
		SELECT count(*) FROM pg_stat_activity a
		WHERE a.datname = current_database() AND a.application_name = $1
		  AND NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted)`, appName)
}

func TestWriterLifecycle(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dsn := pgtest.NewDB(t)

	w, err := eventlog.Acquire(ctx, dsn, "first")
	if err != nil {
		t.Fatal(err)
	}
	if w.Epoch() != 1 || w.LastSeq() != 0 {
		t.Fatalf("first writer: epoch %d, last seq %d; want 1, 0", w.Epoch(), w.LastSeq())
	}
	if other, ok, err := eventlog.TryAcquire(ctx, dsn, "second"); ok || err != nil || other != nil {
		t.Fatalf("TryAcquire while held = %v, %v, %v; want nil, false, nil", other, ok, err)
	}
	stored := mustAppend(t, w, ev("A", `{"n": 1}`), ev("B", ""), ev("C", `[1, 2]`))
	checkSeqs(t, stored, 1, 3)
	if string(stored[0].Data) != `{"n": 1}` || string(stored[1].Data) != `{}` {
		t.Errorf("stored data %s, %s; want {\"n\": 1}, {}", stored[0].Data, stored[1].Data)
	}
	for _, e := range stored {
		if e.Epoch != 1 || e.At.IsZero() || e.At.Location() != time.UTC || e.At.Nanosecond()%1000 != 0 {
			t.Errorf("event %+v: want epoch 1, a UTC time in whole microseconds", e)
		}
	}
	if w.LastSeq() != 3 {
		t.Errorf("LastSeq = %d; want 3", w.LastSeq())
	}
	if got, err := w.Append(ctx); got != nil || err != nil {
		t.Errorf("Append() = %v, %v; want nil, nil", got, err)
	}

	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case <-w.Done():
	default:
		t.Error("Done not closed after Close")
	}
	if _, err := w.Append(ctx, ev("D", "{}")); !errors.Is(err, logq.ErrUnavailable) {
		t.Errorf("Append after Close: %v; want ErrUnavailable", err)
	}

	w2, ok, err := eventlog.TryAcquire(ctx, dsn, "second")
	if !ok || err != nil {
		t.Fatalf("TryAcquire after Close = %v, %v; want ok", ok, err)
	}
	defer w2.Close(ctx)
	if w2.Epoch() != 2 || w2.LastSeq() != 3 {
		t.Fatalf("second writer: epoch %d, last seq %d; want 2, 3", w2.Epoch(), w2.LastSeq())
	}
	if got := mustAppend(t, w2, ev("D", "{}")); got[0].Seq != 4 || got[0].Epoch != 2 {
		t.Errorf("second writer appended %+v; want seq 4, epoch 2", got[0])
	}
}

func TestAppendRejectsBadEvents(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dsn := pgtest.NewDB(t)
	w := acquire(t, dsn, "w")

	for name, e := range map[string]logq.Event{
		"no type":      ev("", "{}"),
		"invalid json": ev("A", "{"),
		"nul in jsonb": ev("A", `{"s": "\u0000"}`), // valid JSON, refused by jsonb
	} {
		if _, err := w.Append(ctx, ev("OK", "{}"), e); !errors.Is(err, logq.ErrInvalid) {
			t.Errorf("%s: Append = %v; want ErrInvalid", name, err)
		}
	}
	// Nothing was stored and the writer is still alive.
	select {
	case <-w.Done():
		t.Fatal("writer died on a bad event")
	default:
	}
	if got := mustAppend(t, w, ev("A", "{}")); got[0].Seq != 1 {
		t.Errorf("next append got seq %d; want 1", got[0].Seq)
	}
}

func TestWriterFencedBySessionLoss(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dsn := pgtest.NewDB(t)
	admin := adminConn(t, dsn)
	pool := pgtest.Pool(t, dsn, 4)

	a := acquire(t, dsn, "a")
	mustAppend(t, a, ev("A", `{"n": 1}`))

	if _, ok, err := eventlog.TryAcquire(ctx, dsn, "b"); ok || err != nil {
		t.Fatalf("TryAcquire while A holds the lock = %v, %v; want false, nil", ok, err)
	}
	type result struct {
		w   *eventlog.Writer
		err error
	}
	bc := make(chan result, 1)
	go func() {
		w, err := eventlog.Acquire(ctx, dsn, "b")
		bc <- result{w, err}
	}()
	waitFor(t, 10*time.Second, "B to wait for the lock", func() bool { return waitingLocks(t, admin, "logq-writer") == 1 })
	mustAppend(t, a, ev("A", `{"n": 2}`)) // A still writes while B waits
	select {
	case r := <-bc:
		t.Fatalf("B's Acquire returned while A holds the lock: %v", r.err)
	default:
	}
	aLast := a.LastSeq()

	if query[int64](t, admin, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND application_name = 'logq-writer'", a.BackendPID()) != 1 {
		t.Fatal("A's backend is not in pg_stat_activity as logq-writer")
	}
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", a.BackendPID()); err != nil {
		t.Fatal(err)
	}

	var b *eventlog.Writer
	select {
	case r := <-bc:
		if r.err != nil {
			t.Fatal(r.err)
		}
		b = r.w
		t.Cleanup(func() { b.Close(context.Background()) })
	case <-time.After(10 * time.Second):
		t.Fatal("B did not acquire after A's session was terminated")
	}
	if b.Epoch() <= a.Epoch() || b.LastSeq() != aLast {
		t.Fatalf("B: epoch %d, last seq %d; want epoch > %d, last seq %d", b.Epoch(), b.LastSeq(), a.Epoch(), aLast)
	}
	mustAppend(t, b, ev("B", `{"n": 1}`))

	if _, err := a.Append(ctx, ev("A", `{"late": true}`)); !errors.Is(err, logq.ErrFenced) && !errors.Is(err, logq.ErrUnavailable) {
		t.Fatalf("A's Append after losing its session: %v; want ErrFenced or ErrUnavailable", err)
	}
	select {
	case <-a.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("A's Done not closed")
	}
	if err := a.Close(ctx); err != nil {
		t.Errorf("Close of a dead writer: %v", err)
	}

	events, err := eventlog.Read(ctx, pool, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkSeqs(t, events, 1, aLast+1)
	for _, e := range events {
		if wantA := e.Seq <= aLast; (e.Epoch == a.Epoch()) != wantA || (e.Type == "A") != wantA {
			t.Errorf("event %d (%s) has epoch %d; A (epoch %d) wrote up to seq %d", e.Seq, e.Type, e.Epoch, a.Epoch(), aLast)
		}
	}
}

func TestWriterFencedByEpochBump(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dsn := pgtest.NewDB(t)
	admin := adminConn(t, dsn)

	w := acquire(t, dsn, "w")
	mustAppend(t, w, ev("A", "{}"))
	if _, err := admin.Exec(ctx, "UPDATE writer_lease SET epoch = epoch + 1"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := w.Append(ctx, ev("A", "{}"), ev("B", "{}")); !errors.Is(err, logq.ErrFenced) {
			t.Fatalf("Append after an epoch bump: %v; want ErrFenced", err)
		}
	}
	select {
	case <-w.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after fencing")
	}
	if n := query[int64](t, admin, "SELECT count(*) FROM events"); n != 1 {
		t.Fatalf("%d events stored; want 1", n)
	}
}

// TestAcquireHonoursContext: a wait for the writer lock holds no snapshot,
// and ends with its context.
func TestAcquireHonoursContext(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	admin := adminConn(t, dsn)
	acquire(t, dsn, "a")

	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() {
		w, err := eventlog.Acquire(ctx, dsn, "b")
		if w != nil {
			w.Close(context.Background())
		}
		errc <- err
	}()
	waitFor(t, 10*time.Second, "B to wait for the lock", func() bool { return waitingLocks(t, admin, "logq-writer") == 1 })
	// A manager waiting for the writer lock (a standby, for as long as the
	// writer lives) holds no snapshot while it waits. If it did (a
	// statement blocked in pg_advisory_lock does), the server's xmin
	// horizon would stay where the wait began, and no dead row version of
	// any table could be pruned or vacuumed: the partition rows that every
	// append updates would grow chains of dead versions that every append
	// walks.
	waitFor(t, 10*time.Second, "the waiting session to hold no snapshot", func() bool {
		return query[int64](t, admin, `
			SELECT count(*) FROM pg_stat_activity a
			WHERE a.datname = current_database() AND a.application_name = 'logq-writer' AND a.backend_xmin IS NULL
			  AND NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted)`) == 1
	})
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Acquire after cancel: %v; want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Acquire did not return after its context was cancelled")
	}
	waitFor(t, 10*time.Second, "the abandoned lock wait to end", func() bool { return waitingLocks(t, admin, "logq-writer") == 0 })
}
