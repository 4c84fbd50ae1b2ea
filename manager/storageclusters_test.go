package manager

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/logq/logq/internal/pgtest"
)

// TestStorageClustersHTTP: brokers register with their storage cluster
// (an unknown one is registered on the way), a topic spreads over the
// clusters, GET /topics/{topic} and GET /brokers show them, POST
// /storage-clusters registers one (idempotent) and refuses a bad name, and a
// broker that owns partitions cannot change cluster (409).
func TestStorageClustersHTTP(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDB(t)
	w := startManager(t, Config{Role: RoleWrite, DSN: dsn})
	waitWriter(t, w)
	a := newAPI(t)
	for i, sc := range []string{"", "pg2", "default", "pg2"} {
		body := map[string]any{"address": "127.0.0.1:" + []string{"9001", "9002", "9003", "9004"}[i]}
		if sc != "" {
			body["storage_cluster"] = sc
		}
		if ans := a.do("POST", w.url+"/brokers", body); ans.status != http.StatusOK {
			t.Fatalf("register %d: %d %s", i, ans.status, ans.raw)
		}
	}
	if ans := a.do("POST", w.url+"/brokers", map[string]any{"address": "127.0.0.1:9005", "storage_cluster": "no spaces"}); ans.status != http.StatusBadRequest {
		t.Fatalf("bad storage cluster: %d %s", ans.status, ans.raw)
	}
	if ans := a.do("POST", w.url+"/topics", map[string]any{"topic": "orders", "partitions": 4}); ans.status != http.StatusOK {
		t.Fatalf("create: %d %s", ans.status, ans.raw)
	}
	ans := a.do("GET", w.url+"/topics/orders", nil)
	parts, _ := ans.body["partitions"].([]any)
	per := map[string]int{}
	for _, p := range parts {
		per[p.(map[string]any)["storage_cluster"].(string)]++
	}
	if per["default"] != 2 || per["pg2"] != 2 {
		t.Fatalf("partitions over storage clusters %v: %s", per, ans.raw)
	}
	ans = a.do("GET", w.url+"/storage-clusters", nil)
	list, _ := ans.body["storage_clusters"].([]any)
	if ans.status != http.StatusOK || len(list) != 2 {
		t.Fatalf("GET /storage-clusters: %d %s", ans.status, ans.raw)
	}
	for _, body := range []map[string]any{{"name": "pg3"}, {"name": "pg3"}, {"name": "default"}} {
		if ans := a.do("POST", w.url+"/storage-clusters", body); ans.status != http.StatusOK {
			t.Fatalf("POST /storage-clusters %v: %d %s", body, ans.status, ans.raw)
		}
	}
	if ans := a.do("GET", w.url+"/storage-clusters", nil); len(ans.body["storage_clusters"].([]any)) != 3 {
		t.Fatalf("after registering pg3: %s", ans.raw)
	}
	for _, body := range []map[string]any{{"name": "a b"}, {}} {
		if ans := a.do("POST", w.url+"/storage-clusters", body); ans.status != http.StatusBadRequest {
			t.Fatalf("POST /storage-clusters %v: %d %s", body, ans.status, ans.raw)
		}
	}
	// Broker 2 (on pg2) owns a partition: it may not declare another cluster.
	if ans := a.do("POST", w.url+"/brokers", map[string]any{"address": "127.0.0.1:9002", "storage_cluster": "pg3"}); ans.status != http.StatusConflict {
		t.Fatalf("cluster change of a broker owning partitions: %d %s", ans.status, ans.raw)
	}
	ans = a.do("GET", w.url+"/brokers", nil)
	for _, b := range ans.body["brokers"].([]any) {
		b := b.(map[string]any)
		if id := fmt.Sprint(b["broker_id"]); (id == "2" || id == "4") != (b["storage_cluster"] == "pg2") {
			t.Errorf("broker %v on %v", id, b["storage_cluster"])
		}
	}
}
