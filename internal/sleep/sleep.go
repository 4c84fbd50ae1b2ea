// Package sleep waits for a duration or the end of a context, whichever
// comes first: the pause of every retry and backoff loop in logq (the
// broker's registration, the writer's election, the replica's tail, the
// broker's session lock, the Go client's retries).
package sleep

import (
	"context"
	"time"
)

// For waits for d or the end of ctx; it reports whether d passed (false:
// ctx ended first).
func For(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
