package broker

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/logq/logq/broker/storage"
	"github.com/logq/logq/internal/prom"
)

// Consumer lag, per consumer and partition, is computed when /metrics is
// scraped: for every partition this broker serves, each consumer reading it
// lags by high watermark − its position. Consumers × partitions can be
// large, so the series are bounded: the maxLagSeries largest lags are
// reported, and logq_broker_consumer_lag_omitted counts the rest. Sum over
// brokers (sum by (consumer) (logq_broker_consumer_lag)) for a consumer's
// whole lag, as GET /size reports it.
const (
	maxLagSeries = 500   // lag series per scrape
	maxLagPairs  = 20000 // consumer × partition pairs looked up per scrape
	lagTimeout   = 2 * time.Second
)

type lagCollector struct {
	b            *Broker
	lag, omitted *prometheus.Desc
}

func newLagCollector(b *Broker) prometheus.Collector {
	c := &lagCollector{b: b}
	g := prom.NewGauges(c.collect)
	c.lag = g.Gauge("logq_broker_consumer_lag",
		"Messages a consumer has yet to read in a partition this broker serves (high watermark - position); the largest ones only, see logq_broker_consumer_lag_omitted.",
		"topic", "partition", "consumer")
	c.omitted = g.Gauge("logq_broker_consumer_lag_omitted",
		"Consumer/partition pairs served here whose lag was not reported in this scrape (beyond the series bound, or storage did not answer).")
	return g
}

// lagPair is one consumer's position in one served partition.
type lagPair struct {
	storage.ConsumerKey
	hw, lag int64
}

func (c *lagCollector) collect(ch prom.Sink) {
	served := map[partKey]int64{}
	for _, p := range c.b.servedPartitions() {
		served[p.partKey] = p.hw.Load()
	}
	var pairs []lagPair
	total := 0 // pairs, including those beyond maxLagPairs
	add := func(id int64, k partKey) {
		hw, ok := served[k]
		if !ok {
			return
		}
		total++
		if len(pairs) < maxLagPairs {
			pairs = append(pairs, lagPair{ConsumerKey: storage.ConsumerKey{Consumer: id, Topic: k.topic, Partition: k.partition}, hw: hw})
		}
	}
	if len(served) > 0 {
		c.b.mu.Lock()
		for id, cs := range c.b.state.Consumers {
			t, ok := c.b.state.Topics[cs.Topic]
			switch {
			case !ok:
			case cs.Partition != nil:
				add(id, partKey{cs.Topic, *cs.Partition})
			default:
				for i := range t.Partitions {
					add(id, partKey{cs.Topic, i})
				}
			}
		}
		c.b.mu.Unlock()
	}
	if len(pairs) == 0 {
		ch.Set(c.omitted, float64(total))
		return
	}
	keys := make([]storage.ConsumerKey, len(pairs))
	for i, p := range pairs {
		keys[i] = p.ConsumerKey
	}
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	positions, err := c.b.store.Positions(ctx, keys)
	if err != nil {
		c.b.log.Warn().Err(err).Msg("metrics: cannot read consumer positions")
		ch.Set(c.omitted, float64(total))
		return
	}
	for i := range pairs {
		pairs[i].lag = max(0, pairs[i].hw-positions[i])
	}
	slices.SortFunc(pairs, func(a, b lagPair) int {
		return cmp.Or(cmp.Compare(b.lag, a.lag), cmp.Compare(a.Topic, b.Topic),
			cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Consumer, b.Consumer))
	})
	shown := pairs[:min(len(pairs), maxLagSeries)]
	for _, p := range shown {
		ch.Set(c.lag, float64(p.lag), p.Topic, strconv.Itoa(p.Partition), strconv.FormatInt(p.Consumer, 10))
	}
	ch.Set(c.omitted, float64(total-len(shown)))
}
