package kafka

import (
	"os"
	"testing"

	"github.com/logq/logq/internal/pgtest"
)

// TestMain gives the cluster tests (cluster_test.go) a PostgreSQL and
// fails the run on leaked goroutines (pgtest.Main runs goleak).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
