// Package devclustertest starts a devcluster for a test: on random loopback
// ports over an isolated database from pgtest, stopped when the test ends.
// It is the one place the client's and the CLI's tests start their clusters.
package devclustertest

import (
	"context"
	"testing"
	"time"

	"github.com/logq/logq/internal/harness/devcluster"
	"github.com/logq/logq/internal/pgtest"
)

// Start runs a cluster for t, on a new database from pgtest.NewDB unless
// cfg.DSN names one. The test fails if the cluster does not start within a
// minute or does not stop cleanly when the test ends.
func Start(t testing.TB, cfg devcluster.Config) *devcluster.Cluster {
	t.Helper()
	if cfg.DSN == "" {
		cfg.DSN = pgtest.NewDB(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := devcluster.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close cluster: %v", err)
		}
	})
	return c
}
