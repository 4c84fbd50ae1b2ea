package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/logq/logq/api"
)

// DeleteTopic deletes a topic (DELETE /topics/{topic}) and returns the seq
// of its TopicDeleted event. Its partitions are no longer served; their
// stored records stay in PostgreSQL (docs/events.md, TopicDeleted).
func (c *Client) DeleteTopic(ctx context.Context, name string) (int64, error) {
	var out api.DeleteTopicAnswer
	path := "/topics/" + url.PathEscape(name)
	if err := c.do(ctx, call{method: http.MethodDelete, path: path, noMinSeq: true}, &out); err != nil {
		return 0, err
	}
	c.observeSeq(out.Seq)
	return out.Seq, nil
}
