package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/internal/sleep"
)

// managerRequestTimeout bounds one registration or heartbeat request.
const managerRequestTimeout = 5 * time.Second

// heartbeatLoop registers the broker with a manager (unless it has an id
// already) and then heartbeats every HeartbeatInterval until ctx is done,
// moving to the next manager whenever one fails, so that heartbeats follow
// a writer failover. A broker_removed (410) answer ends the loop: the broker
// was decommissioned.
func (b *Broker) heartbeatLoop(ctx context.Context, advertise string) {
	defer close(b.heartbeatDone)
	hc := &http.Client{Timeout: managerRequestTimeout, Transport: http.DefaultTransport.(*http.Transport).Clone()}
	b.secureClient(hc) // its own credentials and TLS (auth.go)
	defer hc.CloseIdleConnections()
	managers := make([]string, len(b.cfg.Managers))
	for i, m := range b.cfg.Managers {
		managers[i], _ = managerURL(m) // validated by Config.Validate
	}
	cur := 0 // the manager that answered last
	// call tries every manager once, starting with the current one; it
	// returns the last error when none answered.
	call := func(path string, body, out any) error {
		var err error
		for i := range managers {
			m := managers[(cur+i)%len(managers)]
			err = postJSON(ctx, hc, m+path, body, out)
			if err == nil || isFinal(err) {
				cur = (cur + i) % len(managers)
				return err
			}
			b.log.Debug().Err(err).Str("manager", m).Str("path", path).Msg("manager request failed")
		}
		return err
	}

	const minBackoff = 100 * time.Millisecond
	backoff := minBackoff
	registered := b.ID() != 0
	wait := time.Duration(0)
	for {
		if wait > 0 && !sleep.For(ctx, wait) {
			return
		}
		if ctx.Err() != nil {
			return
		}
		var err error
		if !registered {
			err = b.register(call, advertise)
			registered = err == nil
		} else {
			var out api.BrokerAnswer
			err = call(fmt.Sprintf("/brokers/%d/heartbeat", b.ID()), api.HeartbeatRequest{Address: advertise}, &out)
			if errors.Is(err, logq.ErrBrokerNotFound) {
				// The manager does not know us (a fresh control plane?):
				// register again under the same id.
				registered = false
				wait = 0
				continue
			}
		}
		switch {
		case errors.Is(err, logq.ErrBrokerRemoved):
			// Decommissioned (or this address belongs to a removed
			// broker): the manager's message says what to do.
			b.log.Error().Err(err).Int64("broker_id", b.ID()).
				Msg("broker was removed from the cluster; heartbeats stop and it serves no partitions")
			return
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			b.log.Warn().Err(err).Dur("retry_in", backoff).Msg("no manager answered")
			wait = min(backoff, b.cfg.HeartbeatInterval)
			backoff = min(2*backoff, b.cfg.HeartbeatInterval)
		default:
			backoff = minBackoff
			wait = b.cfg.HeartbeatInterval
		}
	}
}

// register asks a manager for this broker's id (sending the configured or
// previously assigned id, if any) and starts acting on assignments.
func (b *Broker) register(call func(path string, body, out any) error, advertise string) error {
	req := api.RegisterBrokerRequest{Address: advertise, BrokerID: b.ID(), KafkaAddress: b.kafkaAdvertise, StorageCluster: b.cfg.StorageCluster}
	var out api.BrokerAnswer
	if err := call("/brokers", req, &out); err != nil {
		return err
	}
	if out.BrokerID <= 0 {
		return fmt.Errorf("register: manager answered broker_id %d", out.BrokerID)
	}
	if old := b.ID(); old != 0 && old != out.BrokerID {
		b.log.Warn().Int64("old_id", old).Int64("broker_id", out.BrokerID).Msg("manager assigned a new broker id")
	}
	b.id.Store(out.BrokerID)
	b.log.Info().Int64("broker_id", out.BrokerID).Str("address", advertise).Msg("registered")
	b.kickReconcile()
	select {
	case b.registered <- struct{}{}:
	default:
	}
	return nil
}

// sessionLockLoop holds the broker's session lock (eventlog.BrokerLock) on
// the control-plane database from its registration until ctx is done,
// under the id it registered with. The writer reads a lock that was held
// and is gone as the death of this process — PostgreSQL ends the session
// of a process that dies — and moves its partitions at once rather than
// after the heartbeat timeout; a hung process keeps its session and gets
// the heartbeat timeout.
func (b *Broker) sessionLockLoop(ctx context.Context) {
	var (
		held int64
		stop = func() {}
	)
	defer func() { stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.registered:
		}
		id := b.ID()
		if id == held {
			continue
		}
		stop()
		held = 0
		lock, err := eventlog.NewBrokerLock(b.cfg.DSN, id, b.log)
		if err != nil {
			b.log.Warn().Err(err).Msg("no session lock: this broker's death is noticed by its heartbeat timeout only")
			continue
		}
		lockCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			lock.Run(lockCtx)
		}()
		b.sessionLock.Store(lock)
		held = id
		stop = func() { cancel(); <-done }
	}
}

// SessionLock is the session lock this broker holds (nil before it
// registered): tests end its session to play the death of the process.
func (b *Broker) SessionLock() *eventlog.BrokerLock { return b.sessionLock.Load() }

// isFinal reports whether a manager's error answer holds for every manager
// (so trying the next one is pointless).
func isFinal(err error) bool {
	var le *logq.Error
	if !errors.As(err, &le) {
		return false
	}
	switch le.Code {
	case logq.EBrokerRemoved, logq.EBrokerNotFound, logq.EInvalid, logq.EConflict:
		return true
	}
	return false
}

// postJSON posts body to url and decodes a success answer into out. An
// error answer becomes a *logq.Error with the answer's code (or the most
// general code of its status).
func postJSON(ctx context.Context, hc *http.Client, url string, body, out any) error {
	data, err := api.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e api.ErrorBody
		api.Unmarshal(raw, &e)
		if e.Code == "" {
			e.Code = logq.CodeForStatus(resp.StatusCode)
		}
		if e.Message == "" {
			e.Message = fmt.Sprintf("HTTP %d", resp.StatusCode)
		}
		return logq.Errorf(e.Code, "%s", e.Message)
	}
	if err := api.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode answer of %s: %w", url, err)
	}
	return nil
}
