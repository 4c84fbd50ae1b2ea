package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/logq/logq/api"
)

// TopicConfig is a topic's configuration: its retention by time
// (milliseconds after a record's timestamp) and by size (bytes of each
// partition's log). 0 means the cluster default, -1 forever.
type TopicConfig struct {
	RetentionMs    int64 `json:"retention_ms"`
	RetentionBytes int64 `json:"retention_bytes"`
}

// TopicConfigChange is a change of a topic's configuration: the fields
// not nil change.
type TopicConfigChange struct {
	RetentionMs    *int64
	RetentionBytes *int64
}

// CreateTopicConfigured is CreateTopic with the topic's retention (nil
// fields: the cluster default).
func (c *Client) CreateTopicConfigured(ctx context.Context, name string, partitions int, cfg TopicConfigChange) (int64, error) {
	body := api.CreateTopicRequest{TopicName: name, Partitions: max(partitions, 0),
		TopicConfigRequest: api.TopicConfigRequest{RetentionMs: cfg.RetentionMs, RetentionBytes: cfg.RetentionBytes}}
	var out api.CreateTopicAnswer
	if err := c.do(ctx, call{method: http.MethodPost, path: "/topics", body: body, noMinSeq: true}, &out); err != nil {
		return 0, err
	}
	c.observeSeq(out.Seq)
	return out.Seq, nil
}

// SetTopicConfig changes a topic's configuration and returns it as it is
// now, with the seq of the change (the last event's when nothing changed).
// errors.Is(err, ErrTopicNotFound) for an unknown topic, ErrInvalid for a
// value below -1 or an empty change.
func (c *Client) SetTopicConfig(ctx context.Context, name string, change TopicConfigChange) (TopicConfig, int64, error) {
	body := api.TopicConfigRequest{RetentionMs: change.RetentionMs, RetentionBytes: change.RetentionBytes}
	var out api.TopicConfigAnswer
	if err := c.do(ctx, call{method: http.MethodPost, path: "/topics/" + url.PathEscape(name) + "/config", body: body, noMinSeq: true}, &out); err != nil {
		return TopicConfig{}, 0, err
	}
	c.observeSeq(out.Seq)
	return TopicConfig{RetentionMs: out.Config.RetentionMs, RetentionBytes: out.Config.RetentionBytes}, out.Seq, nil
}
