package api

import (
	"math"

	"github.com/logq/logq/projection"
)

// Topic configuration (retention; docs/retention.md): POST /topics takes
// these fields too, POST /topics/{topic}/config changes them.

// RetentionFields are a topic's retention parameters: -1 forever, 0 the
// cluster default, a positive limit otherwise.
type RetentionFields struct {
	RetentionMs    Int `json:"retention_ms"`
	RetentionBytes Int `json:"retention_bytes"`
}

// Retention returns the retention values given (nil when absent), refusing
// a value below -1 or not an integer.
func (f *RetentionFields) Retention() (ms, bytes *int64, err error) {
	for _, c := range []struct {
		name string
		v    *Int
		out  **int64
	}{{"retention_ms", &f.RetentionMs, &ms}, {"retention_bytes", &f.RetentionBytes, &bytes}} {
		n, ok, err := integer([]string{c.name}, projection.RetentionForever, math.MaxInt64, c.v)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			*c.out = &n
		}
	}
	return ms, bytes, nil
}

// TopicConfigParams is what POST /topics/{topic}/config accepts.
type TopicConfigParams struct {
	RetentionFields
}

// TopicConfigRequest is the body of POST /topics/{topic}/config: the
// fields to change (absent: unchanged), and of the retention in POST
// /topics.
type TopicConfigRequest struct {
	RetentionMs    *int64 `json:"retention_ms,omitempty"`
	RetentionBytes *int64 `json:"retention_bytes,omitempty"`
}

// Request checks the parameters.
func (p *TopicConfigParams) Request() (TopicConfigRequest, error) {
	ms, bytes, err := p.Retention()
	return TopicConfigRequest{RetentionMs: ms, RetentionBytes: bytes}, err
}

// TopicConfig is a topic's configuration as GET /topics/{topic} and POST
// /topics/{topic}/config answer it: the topic's own values (0 the cluster
// default, -1 forever).
type TopicConfig struct {
	RetentionMs    int64 `json:"retention_ms"`
	RetentionBytes int64 `json:"retention_bytes"`
}

// TopicConfigAnswer is the answer of POST /topics/{topic}/config.
type TopicConfigAnswer struct {
	Status string      `json:"status"`
	Seq    int64       `json:"seq"`
	Topic  string      `json:"topic"`
	Config TopicConfig `json:"config"`
}
