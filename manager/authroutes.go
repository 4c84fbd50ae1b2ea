package manager

import (
	"strconv"

	"github.com/logq/logq/auth"
	"github.com/logq/logq/auth/httpauth"
)

// authTable is THE map of the manager's routes to the right each needs
// (docs/security.md has it as a table). Every registered route must have
// an entry: TestAuthTableCoversRoutes walks the routes and fails on one
// without; at run time a route without an entry is for admins only.
//
// Names come from the path (:topic), the query or body (topic), or the
// registered producer's or consumer's topic when only its id is given.
// The cluster is one resource, "cluster": describe reads it (the status
// page, /metrics, /events, /state, the lists), alter changes it.
func (m *Manager) authTable() httpauth.Table {
	topicField := func(q *httpauth.Request) string {
		if t := q.Field("topic", "topic_name", "name"); t != "" {
			return t
		}
		if id, err := strconv.ParseInt(q.Field("producer_id"), 10, 64); err == nil {
			return m.clientTopic(true, id)
		}
		if id, err := strconv.ParseInt(q.Field("consumer_id"), 10, 64); err == nil {
			return m.clientTopic(false, id)
		}
		return ""
	}
	producerTopic := func(q *httpauth.Request) string {
		id, _ := strconv.ParseInt(q.Param("id"), 10, 64)
		return m.clientTopic(true, id)
	}
	consumerTopic := func(q *httpauth.Request) string {
		id, _ := strconv.ParseInt(q.Param("id"), 10, 64)
		return m.clientTopic(false, id)
	}
	topicParam := httpauth.Param("topic")
	groupParam := httpauth.Param("group")
	const (
		T = auth.Topic
		G = auth.Group
		C = auth.Cluster
		P = httpauth.Public
	)
	all := []auth.Kind{auth.KindAdmin, auth.KindManager, auth.KindBroker, auth.KindClient}
	brokers := []auth.Kind{auth.KindBroker, auth.KindManager} // managers: a reader forwarding a broker's call
	managers := []auth.Kind{auth.KindManager}
	return httpauth.Table{
		// Public: liveness only.
		{Method: "GET", Path: "/healthz", Resource: P},
		{Method: "GET", Path: "/ui/assets/:name", Resource: P}, // the status page's static script and style

		// Topics.
		{Method: "POST", Path: "/topics", Resource: T, Name: topicField, Op: auth.OpCreate},
		{Method: "GET", Path: "/topics", Resource: C, Op: auth.OpDescribe},
		{Method: "GET", Path: "/topics/:topic", Resource: T, Name: topicParam, Op: auth.OpDescribe},
		{Method: "POST", Path: "/topics/:topic/partitions", Resource: T, Name: topicParam, Op: auth.OpAlter},
		{Method: "DELETE", Path: "/topics/:topic", Resource: T, Name: topicParam, Op: auth.OpDelete},       // topic deletion (kafka helper)
		{Method: "GET", Path: "/topics/:topic/config", Resource: T, Name: topicParam, Op: auth.OpDescribe}, // topic config (retention helper)
		{Method: "POST", Path: "/topics/:topic/config", Resource: T, Name: topicParam, Op: auth.OpAlter},   // "
		{Method: "PUT", Path: "/topics/:topic/config", Resource: T, Name: topicParam, Op: auth.OpAlter},    // "
		{Method: "PATCH", Path: "/topics/:topic/config", Resource: T, Name: topicParam, Op: auth.OpAlter},  // "
		{Method: "DELETE", Path: "/topics/:topic/config", Resource: T, Name: topicParam, Op: auth.OpAlter}, // "

		// Producers and consumers (registration of a producer creates an unknown topic: produce suffices).
		{Method: "POST", Path: "/producer/register", Resource: T, Name: topicField, Op: auth.OpProduce},
		{Method: "POST", Path: "/consumer/register", Resource: T, Name: topicField, Op: auth.OpConsume},
		{Method: "POST", Path: "/producers/:id/heartbeat", Resource: T, Name: producerTopic, Op: auth.OpProduce},
		{Method: "POST", Path: "/consumers/:id/heartbeat", Resource: T, Name: consumerTopic, Op: auth.OpConsume},
		{Method: "GET", Path: "/producers", Resource: C, Op: auth.OpDescribe},
		{Method: "GET", Path: "/consumers", Resource: C, Op: auth.OpDescribe},
		{Method: "POST", Path: "/clients/seen", Resource: C, Kinds: managers}, // a reader telling the writer

		// Data plane.
		{Method: "POST", Path: "/producer/produce", Resource: T, Name: topicField, Op: auth.OpProduce, Quota: httpauth.QuotaProduce},
		{Method: "POST", Path: "/producer/produce_batch", Resource: T, Name: topicField, Op: auth.OpProduce, Quota: httpauth.QuotaProduce},
		{Method: "GET", Path: "/consumer/consume", Resource: T, Name: topicField, Op: auth.OpConsume, Quota: httpauth.QuotaFetch},
		{Method: "POST", Path: "/consumer/consume", Resource: T, Name: topicField, Op: auth.OpConsume, Quota: httpauth.QuotaFetch},
		{Method: "GET", Path: "/consumer/consume_batch", Resource: T, Name: topicField, Op: auth.OpConsume, Quota: httpauth.QuotaFetch},
		{Method: "POST", Path: "/consumer/consume_batch", Resource: T, Name: topicField, Op: auth.OpConsume, Quota: httpauth.QuotaFetch},
		{Method: "GET", Path: "/consumer/fetch", Resource: T, Name: topicField, Op: auth.OpConsume, Quota: httpauth.QuotaFetch},  // records helper
		{Method: "POST", Path: "/consumer/fetch", Resource: T, Name: topicField, Op: auth.OpConsume, Quota: httpauth.QuotaFetch}, // "
		{Method: "GET", Path: "/offsets", Resource: T, Name: topicField, Op: auth.OpDescribe},                                    // "
		{Method: "POST", Path: "/offsets", Resource: T, Name: topicField, Op: auth.OpConsume},                                    // "
		{Method: "GET", Path: "/size", Resource: T, Name: topicField, Op: auth.OpDescribe},

		// Consumer groups (groups helper, GROUPS_API.md).
		{Method: "GET", Path: "/groups", Resource: C, Op: auth.OpDescribe},
		{Method: "GET", Path: "/groups/:group", Resource: G, Name: groupParam, Op: auth.OpDescribe},
		{Method: "DELETE", Path: "/groups/:group", Resource: G, Name: groupParam, Op: auth.OpDelete},
		{Method: "GET", Path: "/groups/:group/offsets", Resource: G, Name: groupParam, Op: auth.OpDescribe},
		{Method: "POST", Path: "/groups/:group/*rest", Resource: G, Name: groupParam, Op: auth.OpConsume}, // join, sync, heartbeat, leave, offsets (commit)
		{Method: "GET", Path: "/groups/:group/*rest", Resource: G, Name: groupParam, Op: auth.OpDescribe},

		// Brokers: only a broker principal registers or heartbeats one.
		{Method: "POST", Path: "/brokers", Resource: C, Kinds: brokers},
		{Method: "POST", Path: "/brokers/:id/heartbeat", Resource: C, Kinds: brokers},
		{Method: "GET", Path: "/brokers", Resource: C, Op: auth.OpDescribe},
		{Method: "DELETE", Path: "/brokers/:id", Resource: C, Op: auth.OpAlter},
		{Method: "POST", Path: "/rebalance", Resource: C, Op: auth.OpAlter},
		{Method: "GET", Path: "/storage-clusters", Resource: C, Op: auth.OpDescribe}, // storageclusters.go
		{Method: "POST", Path: "/storage-clusters", Resource: C, Op: auth.OpAlter},

		// Inspection: the event log, the state, metrics, the status page.
		{Method: "GET", Path: "/events", Resource: C, Op: auth.OpDescribe},
		{Method: "GET", Path: "/state", Resource: C, Op: auth.OpDescribe},
		{Method: "GET", Path: "/metrics", Resource: C, Op: auth.OpDescribe},
		{Method: "GET", Path: "/ui", Resource: C, Op: auth.OpDescribe},
		{Method: "GET", Path: "/ui/heartbeats", Resource: C, Op: auth.OpDescribe},

		// Security (security.go).
		{Method: "GET", Path: "/principals", Resource: C, Op: auth.OpDescribe},
		{Method: "POST", Path: "/principals", Resource: C, Op: auth.OpAlter},
		{Method: "DELETE", Path: "/principals/:name", Resource: C, Op: auth.OpAlter},
		{Method: "POST", Path: "/principals/:name/tokens", Resource: C, Op: auth.OpAlter},
		{Method: "DELETE", Path: "/principals/:name/tokens/:id", Resource: C, Op: auth.OpAlter},
		{Method: "GET", Path: "/acls", Resource: C, Op: auth.OpDescribe},
		{Method: "POST", Path: "/acls", Resource: C, Op: auth.OpAlter},
		{Method: "DELETE", Path: "/acls", Resource: C, Op: auth.OpAlter},
		{Method: "GET", Path: "/whoami", Resource: C, Kinds: all},
	}
}

// clientTopic is the topic of a registered producer (or consumer), "" if
// unknown.
func (m *Manager) clientTopic(producer bool, id int64) string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if producer {
		if p, ok := m.state.Producers[id]; ok {
			return p.Topic
		}
		return ""
	}
	if c, ok := m.state.Consumers[id]; ok {
		return c.Topic
	}
	return ""
}
