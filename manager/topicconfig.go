package manager

// Topic configuration (retention): POST /topics/{topic}/config, the
// retention fields of POST /topics, and what GET /topics/{topic} shows of
// them (docs/retention.md).

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/decide"
	"github.com/logq/logq/projection"
	"github.com/logq/logq/router"
)

// handleTopicConfig: POST /topics/{topic}/config.
func (m *Manager) handleTopicConfig(r *http.Request, ps httprouter.Params) (any, error) {
	var p api.TopicConfigParams
	if err := m.decode(r, &p); err != nil {
		return nil, err
	}
	req, err := p.Request()
	if err != nil {
		return nil, err
	}
	topic := ps.ByName("topic")
	w, err := m.writeOp(r.Context(), func(s *projection.State) (decide.Decision, error) {
		return decide.ChangeTopicConfig(s, topic, req.RetentionMs, req.RetentionBytes)
	})
	if err != nil {
		return nil, err
	}
	cfg, ok := m.topicConfig(topic)
	if !ok {
		return nil, logq.Errorf(logq.ETopicNotFound, "topic %q not found", topic)
	}
	return api.TopicConfigAnswer{Status: success, Seq: w.seq, Topic: topic, Config: cfg}, nil
}

// createTopicConfigured creates a topic as createTopic, with its retention
// when the request gives one.
func (m *Manager) createTopicConfigured(ctx context.Context, req api.CreateTopicRequest) (int64, error) {
	if req.RetentionMs == nil && req.RetentionBytes == nil {
		return m.createTopic(ctx, req.TopicName, req.Partitions)
	}
	w, err := m.writeOp(ctx, func(s *projection.State) (decide.Decision, error) {
		return decide.CreateTopicConfigured(s, req.TopicName, req.Partitions, req.RetentionMs, req.RetentionBytes)
	})
	return w.seq, err
}

// topicConfig returns a topic's configuration as the state has it.
func (m *Manager) topicConfig(topic string) (api.TopicConfig, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	t, ok := m.state.Topics[topic]
	if !ok {
		return api.TopicConfig{}, false
	}
	return api.TopicConfig{RetentionMs: t.RetentionMs, RetentionBytes: t.RetentionBytes}, true
}

// servedPartitions asks each broker (concurrently, briefly) for the
// partitions it serves, with their high watermarks and log start offsets;
// a broker that does not answer leaves its partitions out.
func (m *Manager) servedPartitions(ctx context.Context, owners map[int64]router.Owner, seq int64) map[partKey]api.ServedPartition {
	ctx, cancel := context.WithTimeout(ctx, min(m.cfg.BrokerTimeout, 2*time.Second))
	defer cancel()
	var mu sync.Mutex
	out := map[partKey]api.ServedPartition{}
	var wg sync.WaitGroup
	for _, o := range owners {
		wg.Go(func() {
			var ans api.PartitionsAnswer
			if err := m.router.CallBroker(ctx, o, seq, "partitions", "GET", "/v1/partitions", nil, nil, &ans, 0); err != nil {
				return
			}
			mu.Lock()
			for _, p := range ans.Partitions {
				out[partKey{p.Topic, p.Partition, o.Broker}] = p
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}
