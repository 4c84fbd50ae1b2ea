package eventlog

import (
	"context"
	"strconv"
)

// notifyChannel is the channel the schema's trigger notifies with each new
// event's seq.
const notifyChannel = "logq_events"

// notify runs one notify-mode session: LISTEN, then catch up by seq
// whenever a notification arrives or SafetyTick passes, whichever is first.
// Notifications are only wake-ups: one lost while disconnected costs
// nothing, since every session starts with a catch-up. It returns when the
// connection fails, fn fails or ctx is done.
func (t *tailer) notify(ctx context.Context) error {
	conn, err := t.connect(ctx)
	if err != nil {
		return err
	}
	defer closeConn(conn)
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return dbError(ctx, err, "eventlog: listen")
	}
	t.log.Debug().Int64("last_seq", t.last).Msg("event log tail connected (notify)")
	for {
		if err := t.catchUp(ctx, conn); err != nil {
			return err
		}
		t.connected = true
		for {
			wctx, cancel := context.WithTimeout(ctx, t.cfg.SafetyTick)
			n, err := conn.WaitForNotification(wctx)
			timedOut := wctx.Err() != nil
			cancel()
			if err != nil {
				if ctx.Err() == nil && timedOut && !conn.IsClosed() {
					break // safety tick
				}
				return dbError(ctx, err, "eventlog: wait for notification")
			}
			// Skip wake-ups for events already delivered (they queue up
			// while a catch-up runs). The payload is only a hint: a
			// notification that does not parse always causes a catch-up.
			if seq, err := strconv.ParseInt(n.Payload, 10, 64); err != nil || seq > t.last {
				break
			}
		}
	}
}
