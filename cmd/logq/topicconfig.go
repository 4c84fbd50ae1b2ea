package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/logq/logq/broker"
	"github.com/logq/logq/broker/storage/pgstore"
	"github.com/logq/logq/client"
	"github.com/logq/logq/projection"
)

// retentionFlags are --retention-ms and --retention-bytes of topics create
// and topics config.
type retentionFlags struct {
	ms, bytes optionalRetention
}

func addRetentionFlags(f *flags) *retentionFlags {
	r := &retentionFlags{}
	f.Var(&r.ms, "retention-ms", "keep records `MS` milliseconds after their timestamp (-1 forever, 0 the cluster default)")
	f.Var(&r.bytes, "retention-bytes", "keep the newest `BYTES` of each partition (-1 forever, 0 the cluster default)")
	return r
}

func (r *retentionFlags) change() client.TopicConfigChange {
	return client.TopicConfigChange{RetentionMs: r.ms.ptr(), RetentionBytes: r.bytes.ptr()}
}

// optionalRetention is a retention flag that knows whether it was given:
// -1, 0 or positive.
type optionalRetention struct {
	set bool
	v   int64
}

func (o *optionalRetention) String() string {
	if !o.set {
		return ""
	}
	return strconv.FormatInt(o.v, 10)
}

func (o *optionalRetention) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return errors.New("not an integer")
	}
	if n < -1 {
		return errors.New("must be -1 (forever), 0 (the cluster default) or positive")
	}
	o.set, o.v = true, n
	return nil
}

// Type is the value's name in pflag's messages.
func (o *optionalRetention) Type() string { return "int" }

func (o *optionalRetention) ptr() *int64 {
	if !o.set {
		return nil
	}
	v := o.v
	return &v
}

func topicsConfigCmd(e *env) *cobra.Command {
	cmd, f := newCommand("config NAME", "show or change a topic's retention",
		"Show a topic's configuration (retention by time and size; 0 is the cluster default,\n-1 forever), or change it with --retention-ms and/or --retention-bytes.", 1, 1)
	cl := addClientFlags(e, f)
	cl.jsonFlag("print JSON")
	ret := addRetentionFlags(f)
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		return cl.with(cmd.Context(), func(ctx context.Context, c *client.Client) error {
			ch := ret.change()
			if ch.RetentionMs == nil && ch.RetentionBytes == nil {
				info, err := c.DescribeTopic(ctx, pos[0])
				if err != nil {
					return err
				}
				return show(cl, info.Config, printTopicConfig)
			}
			cfg, _, err := c.SetTopicConfig(ctx, pos[0], ch)
			if err != nil {
				return err
			}
			return show(cl, cfg, printTopicConfig)
		})
	}
	return cmd
}

func printTopicConfig(w io.Writer, cfg client.TopicConfig) error {
	fmt.Fprintf(w, "retention.ms\t%s\nretention.bytes\t%s\n", retentionText(cfg.RetentionMs), retentionText(cfg.RetentionBytes))
	return nil
}

func retentionText(v int64) string {
	switch v {
	case -1:
		return "-1 (forever)"
	case 0:
		return "0 (cluster default)"
	}
	return strconv.FormatInt(v, 10)
}

// retentionServerFlags adds the broker's retention flags to f.
func retentionServerFlags(f *flags, cfg *broker.Config) {
	f.Int64Var(&cfg.RetentionMs, "retention-ms", projection.RetentionForever, "cluster default retention by time for topics without their own, `MS` (-1 forever)")
	f.Int64Var(&cfg.RetentionBytes, "retention-bytes", projection.RetentionForever, "cluster default retention by size of each partition's log, `BYTES` (-1 forever)")
	f.DurationVar(&cfg.RetentionCheckInterval, "retention-check-interval", broker.DefaultRetentionCheckInterval, "time between retention steps")
	f.IntVar(&cfg.RetentionMaxSegments, "retention-max-segments", broker.DefaultRetentionMaxSegments, "most segments one retention step drops (more follow in the next step at once)")
	f.Int64Var(&cfg.SegmentOffsets, "segment-offsets", pgstore.DefaultSegmentOffsets, "offsets per segment of a partition's log (retention drops whole segments)")
}
