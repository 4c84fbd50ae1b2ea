package manager

import (
	"context"
	"fmt"
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/logq/logq/api"
	"github.com/logq/logq/decide"
	"github.com/logq/logq/projection"
)

// handleDeleteTopic is DELETE /topics/{topic}: a TopicDeleted event (the
// partitions stop being served, the topic's producers and consumers are
// gone; the stored records stay, so the name cannot be used again).
func (m *Manager) handleDeleteTopic(r *http.Request, ps httprouter.Params) (any, error) {
	topic := ps.ByName("topic")
	if err := api.ValidateTopic(topic); err != nil {
		return nil, err
	}
	if _, err := readBody(r); err != nil { // any body is accepted and ignored, as for /rebalance
		return nil, err
	}
	seq, err := m.deleteTopic(r.Context(), topic)
	if err != nil {
		return nil, err
	}
	return api.DeleteTopicAnswer{Status: success, Message: fmt.Sprintf("topic %q deleted", topic), Seq: seq, Topic: topic}, nil
}

// deleteTopic deletes a topic (decide.DeleteTopic).
func (m *Manager) deleteTopic(ctx context.Context, topic string) (int64, error) {
	w, err := m.writeOp(ctx, func(s *projection.State) (decide.Decision, error) {
		return decide.DeleteTopic(s, topic)
	})
	return w.seq, err
}
