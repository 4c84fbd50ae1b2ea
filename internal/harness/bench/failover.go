package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/logq/logq/client"
)

// failover stops the writer manager (role auto) and measures the time
// until the other manager accepts a write (creates a topic). It runs last:
// the cluster keeps one manager.
func (e *env) failover(ctx context.Context) error {
	if len(e.cluster.Managers) < 2 {
		return fmt.Errorf("failover needs two managers")
	}
	writer, survivor := e.cluster.Managers[0], e.cluster.Managers[1]
	c, err := client.New(client.Config{Managers: []string{survivor.URL}, RetryTimeout: -1, RequestTimeout: 2 * time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	// The survivor forwards writes to the writer now.
	if _, err := c.CreateTopic(ctx, "failover-0", 1); err != nil {
		return fmt.Errorf("write through the reader before failover: %w", err)
	}
	e.progress("writer failover: stopping the writer")
	start := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- writer.Stop() }()
	deadline := start.Add(30 * time.Second)
	var lastErr error
	for i := 1; ; i++ {
		if time.Now().After(deadline) {
			return fmt.Errorf("no manager accepted a write within 30 s of the writer's death: %v", lastErr)
		}
		_, lastErr = c.CreateTopic(ctx, fmt.Sprintf("failover-%d", i), 1)
		if lastErr == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(5 * time.Millisecond)
	}
	d := time.Since(start)
	<-stopped
	e.report.add(Row{
		ID: "writer_failover", Title: "writer failover (role auto)", Value: d.Seconds(), Unit: "s",
		Target: "< 3 s", Pass: pass(d < 3*time.Second),
		Note: "the writer manager stops (its database sessions close, as when its process dies) → the other manager, role auto, accepts a write (POST /topics, polled every 5 ms)",
	})
	return nil
}
