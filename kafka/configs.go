package kafka

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logq/logq"
)

// Configs (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs, the
// configs of CreateTopics). A topic's retention.ms and retention.bytes are
// its own retention (docs/retention.md), changed through the writer as
// TopicConfigChanged events; the broker's --retention-ms and
// --retention-bytes are the defaults of topics without their own. Every
// other config is a fixed description of what logq does: describable, not
// alterable.

// The config APIs' versions, in the server's table.
func init() {
	versions[kmsg.AlterConfigs.Int16()] = versionRange{0, 2}
	versions[kmsg.IncrementalAlterConfigs.Int16()] = versionRange{0, 1}
}

// Configs that are a topic's own.
const (
	configRetentionMs    = "retention.ms"
	configRetentionBytes = "retention.bytes"
)

// TopicConfig is a change of a topic's configuration: the fields not nil
// change (0: back to the cluster default, -1: forever).
type TopicConfig struct {
	RetentionMs    *int64
	RetentionBytes *int64
}

// topicConfigs are the topic configs DescribeConfigs reports besides the
// retention: fixed values describing what logq does.
var topicConfigs = [][2]string{
	{"cleanup.policy", "delete"},
	{"compression.type", "producer"},
	{"max.message.bytes", "1048576"},
	{"message.timestamp.type", "LogAppendTime"},
	{"min.insync.replicas", "1"},
	{"segment.bytes", "1073741824"},
}

var brokerConfigs = [][2]string{
	{"auto.create.topics.enable", "true"},
	{"default.replication.factor", "1"},
	{"message.max.bytes", "1048576"},
	{"min.insync.replicas", "1"},
	{"num.partitions", "1"},
}

// retentionValue is the retention in force for a topic's own value v (0:
// the cluster default def, itself 0 or -1 for forever).
func retentionValue(v, def int64) int64 {
	if v != 0 {
		return v
	}
	if def == 0 {
		return -1
	}
	return def
}

// describedConfig is one config of a DescribeConfigs answer.
type describedConfig struct {
	name, value string
	source      kmsg.ConfigSource
	readOnly    bool
}

func fixedConfigs(list [][2]string) []describedConfig {
	out := make([]describedConfig, 0, len(list))
	for _, c := range list {
		out = append(out, describedConfig{name: c[0], value: c[1], source: kmsg.ConfigSourceDefaultConfig, readOnly: true})
	}
	return out
}

// retentionConfig describes retention config name: the topic's own value
// own (0: none) or the cluster default def.
func retentionConfig(name string, own, def int64) describedConfig {
	c := describedConfig{name: name, value: strconv.FormatInt(retentionValue(own, def), 10), source: kmsg.ConfigSourceDefaultConfig}
	switch {
	case own != 0:
		c.source = kmsg.ConfigSourceDynamicTopicConfig
	case def != 0 && def != -1:
		c.source = kmsg.ConfigSourceStaticBrokerConfig
	}
	return c
}

func (h *handler) describeConfigs(req *kmsg.DescribeConfigsRequest) *kmsg.DescribeConfigsResponse {
	resp := kmsg.NewPtrDescribeConfigsResponse()
	view := h.s.cfg.Cluster.View()
	for _, r := range req.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		var configs []describedConfig
		switch r.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t, ok := view.Topic(r.ResourceName)
			if !ok {
				rr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				resp.Resources = append(resp.Resources, rr)
				continue
			}
			configs = append(fixedConfigs(topicConfigs),
				retentionConfig(configRetentionBytes, t.RetentionBytes, view.RetentionBytes),
				retentionConfig(configRetentionMs, t.RetentionMs, view.RetentionMs))
		case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
			if r.ResourceName != "" && r.ResourceName != strconv.Itoa(int(view.Self)) {
				rr.ErrorCode = kerr.InvalidRequest.Code
				msg := "describe configs of broker " + strconv.Itoa(int(view.Self)) + " on its own listener"
				rr.ErrorMessage = &msg
				resp.Resources = append(resp.Resources, rr)
				continue
			}
			configs = fixedConfigs(brokerConfigs)
			for _, c := range []describedConfig{
				retentionConfig("log.retention.bytes", 0, view.RetentionBytes),
				retentionConfig("log.retention.ms", 0, view.RetentionMs),
			} {
				c.readOnly = true
				configs = append(configs, c)
			}
		default:
			rr.ErrorCode = kerr.InvalidRequest.Code
			resp.Resources = append(resp.Resources, rr)
			continue
		}
		for _, c := range configs {
			if r.ConfigNames != nil && !contains(r.ConfigNames, c.name) {
				continue
			}
			rc := kmsg.NewDescribeConfigsResponseResourceConfig()
			v := c.value
			rc.Name, rc.Value, rc.ReadOnly = c.name, &v, c.readOnly
			rc.Source = c.source
			rc.IsDefault = c.source == kmsg.ConfigSourceDefaultConfig
			rr.Configs = append(rr.Configs, rc)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

// configError is a refused config: Kafka's code and a message.
type configError struct {
	code int16
	msg  string
}

func (e *configError) Error() string { return e.msg }

func invalidConfig(format string, args ...any) *configError {
	return &configError{kerr.InvalidConfig.Code, fmt.Sprintf(format, args...)}
}

// parseRetention reads a retention config's value: an integer, -1 or more.
func parseRetention(name string, value *string) (int64, *configError) {
	if value == nil {
		return 0, nil // null: back to the default
	}
	n, err := strconv.ParseInt(*value, 10, 64)
	if err != nil || n < -1 {
		return 0, invalidConfig("%s must be an integer, -1 (forever) or more; got %q", name, *value)
	}
	return n, nil
}

// setConfig sets config name of cfg to value (nil: the default). A config
// that is not a topic's own is refused.
func setConfig(cfg *TopicConfig, name string, value *string) *configError {
	var dst **int64
	switch name {
	case configRetentionMs:
		dst = &cfg.RetentionMs
	case configRetentionBytes:
		dst = &cfg.RetentionBytes
	default:
		return invalidConfig("config %q cannot be changed: logq topics have only %s and %s of their own", name, configRetentionMs, configRetentionBytes)
	}
	n, err := parseRetention(name, value)
	if err != nil {
		return err
	}
	*dst = &n
	return nil
}

// createConfigs reads the configs of a topic to create: the retention, and
// the fixed configs at the value logq has (a client may send them
// explicitly); anything else is refused.
func createConfigs(configs []kmsg.CreateTopicsRequestTopicConfig) (TopicConfig, error) {
	var cfg TopicConfig
	for _, c := range configs {
		if c.Name == configRetentionMs || c.Name == configRetentionBytes {
			if err := setConfig(&cfg, c.Name, c.Value); err != nil {
				return TopicConfig{}, logq.Errorf(logq.EInvalid, "%s", err.msg)
			}
			continue
		}
		fixed := false
		for _, f := range topicConfigs {
			if f[0] == c.Name && (c.Value == nil || *c.Value == f[1]) {
				fixed = true
			}
		}
		if !fixed {
			return TopicConfig{}, logq.Errorf(logq.EInvalid, "config %q cannot be set: logq topics have only %s and %s of their own (the others are fixed, as DescribeConfigs shows)", c.Name, configRetentionMs, configRetentionBytes)
		}
	}
	// A retention given as the default (0) changes nothing at creation.
	for _, p := range []**int64{&cfg.RetentionMs, &cfg.RetentionBytes} {
		if *p != nil && **p == 0 {
			*p = nil
		}
	}
	return cfg, nil
}

// alterTopic checks a topic resource of an alter and applies cfg (unless
// validateOnly).
func (h *handler) alterTopic(ctx context.Context, resourceType kmsg.ConfigResourceType, name string, cfg TopicConfig, validateOnly bool) (int16, *string) {
	switch resourceType {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		msg := "broker configs are fixed at the broker's start (its flags); only topics' retention.ms and retention.bytes change at run time"
		return kerr.InvalidRequest.Code, &msg
	default:
		msg := "only topic configs can be changed"
		return kerr.InvalidRequest.Code, &msg
	}
	if _, ok := h.s.cfg.Cluster.View().Topic(name); !ok {
		return kerr.UnknownTopicOrPartition.Code, nil
	}
	if validateOnly || cfg == (TopicConfig{}) {
		return 0, nil
	}
	err := h.s.cfg.Cluster.SetTopicConfig(ctx, name, cfg)
	code := errorCode(err)
	if logq.ErrorCode(err) == logq.EInvalid {
		code = kerr.InvalidConfig.Code
	}
	return code, errorMessage(err)
}

// alterConfigs is AlterConfigs: the resource's configs are replaced, so a
// retention not listed goes back to the cluster default, as in Kafka.
func (h *handler) alterConfigs(req *kmsg.AlterConfigsRequest) *kmsg.AlterConfigsResponse {
	resp := kmsg.NewPtrAlterConfigsResponse()
	for _, r := range req.Resources {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		zero := int64(0)
		cfg := TopicConfig{RetentionMs: &zero, RetentionBytes: &zero}
		var bad *configError
		for _, c := range r.Configs {
			if bad = setConfig(&cfg, c.Name, c.Value); bad != nil {
				break
			}
		}
		if bad != nil && r.ResourceType == kmsg.ConfigResourceTypeTopic {
			rr.ErrorCode, rr.ErrorMessage = bad.code, &bad.msg
		} else {
			rr.ErrorCode, rr.ErrorMessage = h.alterTopic(h.ctx(), r.ResourceType, r.ResourceName, cfg, req.ValidateOnly)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

// incrementalAlterConfigs is IncrementalAlterConfigs: SET and DELETE (back
// to the default) of retention.ms and retention.bytes; APPEND and SUBTRACT
// are for list configs, which logq topics have none of.
func (h *handler) incrementalAlterConfigs(req *kmsg.IncrementalAlterConfigsRequest) *kmsg.IncrementalAlterConfigsResponse {
	resp := kmsg.NewPtrIncrementalAlterConfigsResponse()
	for _, r := range req.Resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		var cfg TopicConfig
		var bad *configError
		for _, c := range r.Configs {
			switch c.Op {
			case kmsg.IncrementalAlterConfigOpSet:
				bad = setConfig(&cfg, c.Name, c.Value)
			case kmsg.IncrementalAlterConfigOpDelete:
				bad = setConfig(&cfg, c.Name, nil)
			default:
				bad = invalidConfig("config %q: operation %v is for list configs; use SET or DELETE", c.Name, c.Op)
			}
			if bad != nil {
				break
			}
		}
		if bad != nil && r.ResourceType == kmsg.ConfigResourceTypeTopic {
			rr.ErrorCode, rr.ErrorMessage = bad.code, &bad.msg
		} else {
			rr.ErrorCode, rr.ErrorMessage = h.alterTopic(h.ctx(), r.ResourceType, r.ResourceName, cfg, req.ValidateOnly)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}
