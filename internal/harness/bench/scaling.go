package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/logq/logq/internal/harness/bench/curves"
	"github.com/logq/logq/internal/harness/bench/peer"
)

// Curves of the scaling section and the files they are drawn to.
const (
	curvePartitions = "partitions"
	curveProducers  = "producers"
)

// PlotFiles are the files the scaling curves are drawn to, in Config.PlotDir.
var PlotFiles = map[string]string{curvePartitions: "scaling-partitions.svg", curveProducers: "scaling-producers.svg"}

// scaling measures, for each point of the two curves (partitions with a
// fixed number of producers; producers on a fixed number of partitions),
// a closed-loop load of unbatched producers — each sends one message,
// waits for its acknowledgement, sends the next — for ScalingFor: the
// rate acknowledged and the p50/p99 of send → ack; then the same load on
// JetStream (synchronous publishers, one connection each). It draws the
// curves when PlotDir is set.
func (e *env) scaling(ctx context.Context) error {
	cfg := e.cfg
	type point struct {
		curve                 string
		partitions, producers int
	}
	var points []point
	for _, p := range cfg.ScalingPartitions {
		points = append(points, point{curvePartitions, p, cfg.ScalingFixedProducers})
	}
	for _, n := range cfg.ScalingProducers {
		points = append(points, point{curveProducers, cfg.Partitions, n})
	}
	e.report.ScalingNote = fmt.Sprintf("unbatched produce, closed loop: each producer sends one %d-byte message and waits for its ack before the next, for %s per point; "+
		"throughput is the messages acknowledged per second, p99 that of send → ack; the partitions curve with %d producers, the producers curve on %d partitions",
		cfg.MessageSize, cfg.ScalingFor, cfg.ScalingFixedProducers, cfg.Partitions)
	if e.peer != nil {
		e.report.ScalingNote += "; JetStream: as many synchronous publishers, one connection each, on one stream per partition"
	}

	measured := map[[2]int][]ScalingPoint{} // a point both curves share is measured once
	for _, pt := range points {
		key := [2]int{pt.partitions, pt.producers}
		if prev, ok := measured[key]; ok {
			for _, sp := range prev {
				sp.Curve = pt.curve
				e.report.Scaling = append(e.report.Scaling, sp)
			}
			continue
		}
		topic := fmt.Sprintf("scale-%d", pt.partitions)
		if err := e.scalingTopic(ctx, topic, pt.partitions); err != nil {
			return err
		}
		e.progress("scaling: %d partitions, %d producers, %s through logq", pt.partitions, pt.producers, cfg.ScalingFor)
		sp, err := e.scalingLogq(ctx, topic, pt.producers)
		if err != nil {
			return err
		}
		sp.Curve, sp.Partitions = pt.curve, pt.partitions
		got := []ScalingPoint{sp}
		if e.peer != nil {
			jsTopic, err := e.scalingPeerTopic(ctx, topic, pt.partitions)
			if err != nil {
				return err
			}
			e.progress("scaling: %d partitions, %d producers, %s through JetStream", pt.partitions, pt.producers, cfg.ScalingFor)
			res, err := e.peer.PublishSync(ctx, peer.SyncLoad{Topic: jsTopic, Publishers: pt.producers, For: cfg.ScalingFor, Body: e.body})
			if err != nil {
				return err
			}
			got = append(got, scalingPoint(pt.curve, "jetstream", pt.partitions, pt.producers, res.Messages, res.Duration, res.Latencies))
		}
		measured[key] = got
		e.report.Scaling = append(e.report.Scaling, got...)
	}
	if cfg.PlotDir != "" {
		return e.plotScaling()
	}
	return nil
}

// scalingTopic creates topic with the given partitions unless it exists.
func (e *env) scalingTopic(ctx context.Context, topic string, partitions int) error {
	if e.scalingTopics == nil {
		e.scalingTopics = map[string]bool{}
	}
	if e.scalingTopics[topic] {
		return nil
	}
	if err := e.topicOf(ctx, topic, partitions); err != nil {
		return err
	}
	e.scalingTopics[topic] = true
	return nil
}

// scalingPeerTopic creates JetStream's topic with the given partitions
// unless it exists.
func (e *env) scalingPeerTopic(ctx context.Context, topic string, partitions int) (peer.Topic, error) {
	if e.scalingPeerTopics == nil {
		e.scalingPeerTopics = map[string]peer.Topic{}
	}
	if t, ok := e.scalingPeerTopics[topic]; ok {
		return t, nil
	}
	t, err := e.peer.CreateTopic(ctx, topic, partitions)
	if err != nil {
		return t, err
	}
	e.scalingPeerTopics[topic] = t
	return t, nil
}

// scalingLogq runs the closed-loop load of n producers on topic.
func (e *env) scalingLogq(ctx context.Context, topic string, n int) (ScalingPoint, error) {
	producers, err := e.load.producers(ctx, topic, n, false)
	if err != nil {
		return ScalingPoint{}, err
	}
	defer producers.close()
	res, err := producers.each(ctx, 0, time.Now().Add(e.cfg.ScalingFor))
	if err != nil {
		return ScalingPoint{}, err
	}
	return scalingPoint("", "logq", 0, n, res.messages, res.d, res.latencies), nil
}

func scalingPoint(curve, system string, partitions, producers, n int, d time.Duration, lat []time.Duration) ScalingPoint {
	figs := latencyFigures(lat, 0.5, 0.99)
	return ScalingPoint{
		Curve: curve, System: system, Partitions: partitions, Producers: producers, Messages: n,
		Rate: float64(n) / d.Seconds(), P50: figs[0].Value, P99: figs[1].Value,
	}
}

// plotScaling draws the two curves into PlotDir.
func (e *env) plotScaling() error {
	for _, curve := range []string{curvePartitions, curveProducers} {
		chart := curves.Chart{
			Title:  "logq bench: unbatched produce, closed loop, " + curve,
			XLabel: curve + " (log scale)",
		}
		switch curve {
		case curvePartitions:
			chart.Caption = fmt.Sprintf("%d producers, each waiting for its ack; %s per point", e.cfg.ScalingFixedProducers, e.cfg.ScalingFor)
		case curveProducers:
			chart.Caption = fmt.Sprintf("%d partitions, each producer waiting for its ack; %s per point", e.cfg.Partitions, e.cfg.ScalingFor)
		}
		chart.Caption += fmt.Sprintf("; %d cores, load average %.1f at the start", e.report.Cores, e.report.LoadAvg[0])
		for _, system := range []string{"logq", "jetstream"} {
			s := curves.Series{Name: system}
			if system == "jetstream" {
				s.Name = "NATS JetStream (no fsync per message)"
			} else {
				s.Name = "logq (fsync on)"
			}
			for _, pt := range e.report.Scaling {
				if pt.Curve != curve || pt.System != system {
					continue
				}
				x := pt.Partitions
				if curve == curveProducers {
					x = pt.Producers
				}
				s.X = append(s.X, float64(x))
				s.Rate = append(s.Rate, pt.Rate)
				s.P99 = append(s.P99, pt.P99)
			}
			if len(s.X) > 0 {
				chart.Series = append(chart.Series, s)
			}
		}
		if len(chart.Series) == 0 {
			continue
		}
		path := filepath.Join(e.cfg.PlotDir, PlotFiles[curve])
		if err := curves.WriteSVG(path, chart); err != nil {
			return err
		}
		e.report.Plots = append(e.report.Plots, path)
	}
	return nil
}
