package statuspage_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/logq/logq/internal/harness/devcluster"
	"github.com/logq/logq/internal/harness/devcluster/devclustertest"
)

// TestStatusPageStorageClusters: a dev cluster over two storage clusters
// (two PostgreSQL servers for data, brokers spread over them): a topic
// spreads over both, and the status page and GET /topics/{topic} show each
// partition's storage cluster.
func TestStatusPageStorageClusters(t *testing.T) {
	t.Parallel()
	c := devclustertest.Start(t, devcluster.Config{Brokers: 2, Readers: -1, StorageClusters: 2})
	if len(c.DataDSNs) != 2 || c.Brokers[0].StorageCluster != "default" || c.Brokers[1].StorageCluster != "pg2" || c.Brokers[1].DataDSN == c.DSN {
		t.Fatalf("brokers not spread over the storage clusters: %+v %+v", c.Brokers[0], c.Brokers[1])
	}
	w := c.WriterURL()
	devclustertest.Call(t, "POST", w+"/topics", map[string]any{"topic": "spread", "partitions": 4})
	ans := devclustertest.Call(t, "GET", w+"/topics/spread", nil)
	per := map[string]int{}
	for _, p := range ans["partitions"].([]any) {
		per[fmt.Sprint(p.(map[string]any)["storage_cluster"])]++
	}
	if per["default"] != 2 || per["pg2"] != 2 {
		t.Fatalf("partitions over storage clusters: %v", ans)
	}
	_, body := get(t, w+"/ui")
	if strings.Count(body, "storage default") != 2 || strings.Count(body, "storage pg2") != 2 {
		t.Errorf("the status page does not show each partition's storage cluster:\n%s", tail(body, 3000))
	}
}
