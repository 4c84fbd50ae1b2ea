package client_test

import (
	"os"
	"testing"

	"github.com/logq/logq/internal/harness/devcluster/devclustertest"
	"github.com/logq/logq/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// startCluster runs a cluster on random loopback ports over an isolated
// database, stopped when the test ends.
var startCluster = devclustertest.Start
