package eventlog

import "context"

// TryAcquire is Acquire without waiting: ok is false (with a nil error) when
// another session holds the lock. The tests use it to see who holds the
// lock; the servers always wait (Acquire).
func TryAcquire(ctx context.Context, dsn, holder string) (w *Writer, ok bool, err error) {
	return acquire(ctx, dsn, holder, false)
}
