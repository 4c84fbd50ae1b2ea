package decide

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

// t0 is the tests' "now".
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fold returns the state after the payloads, in order.
func fold(t testing.TB, payloads ...projection.Payload) *projection.State {
	t.Helper()
	s := projection.New()
	apply(t, s, payloads)
	return s
}

func apply(t testing.TB, s *projection.State, payloads []projection.Payload) {
	t.Helper()
	for _, p := range payloads {
		e := projection.NewEvent(p)
		e.Seq = s.Seq + 1
		if err := projection.Apply(s, e); err != nil {
			t.Fatalf("apply %T %+v: %v", p, p, err)
		}
	}
}

// cat concatenates payload lists.
func cat(lists ...[]projection.Payload) []projection.Payload {
	var out []projection.Payload
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// brokers registers brokers at hN:9000.
func brokers(ids ...int64) []projection.Payload {
	var out []projection.Payload
	for _, id := range ids {
		out = append(out, projection.BrokerRegistered{BrokerID: id, Address: addr(id)})
	}
	return out
}

func addr(id int64) string { return fmt.Sprintf("h%d:9000", id) }

// topic creates a topic with one partition per owner, at epoch 1.
func topic(name string, owners ...int64) []projection.Payload {
	out := []projection.Payload{projection.TopicCreated{Topic: name, Partitions: len(owners)}}
	for i, id := range owners {
		out = append(out, projection.PartitionAssigned{Topic: name, Partition: i, BrokerID: id, Epoch: 1})
	}
	return out
}

func dead(id int64) []projection.Payload {
	return []projection.Payload{projection.BrokerStatusChanged{BrokerID: id, Alive: false}}
}

func ev(p ...projection.Payload) []projection.Payload { return p }

// pa is a PartitionAssigned.
func pa(topic string, partition int, broker, epoch int64) projection.PartitionAssigned {
	return projection.PartitionAssigned{Topic: topic, Partition: partition, BrokerID: broker, Epoch: epoch}
}

func intp(v int) *int { return &v }

// decisionCase is one row of a decision's table: the state before (as
// events), the decision run on it, and what it must decide: a Decision,
// or an error of kind code.
type decisionCase struct {
	name   string
	before []projection.Payload
	run    func(s *projection.State) (Decision, error)
	want   Decision
	code   string // logq error kind; "" for success
}

// runCases runs a table. Every decision must leave the state as it was,
// and its events must apply to it.
func runCases(t *testing.T, cases []decisionCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := fold(t, c.before...)
			orig := s.Clone()
			got, err := c.run(s)
			if !reflect.DeepEqual(s, orig) {
				t.Fatalf("the decision changed its input state")
			}
			if c.code != "" {
				if logq.ErrorCode(err) != c.code {
					t.Fatalf("error %v (kind %q); want kind %q", err, logq.ErrorCode(err), c.code)
				}
				if !reflect.DeepEqual(got, Decision{}) {
					t.Fatalf("a refused decision decided %s", show(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("decided\n%s\nwant\n%s", show(got), show(c.want))
			}
			apply(t, s, got.Events)
		})
	}
}

func show(d Decision) string {
	var b strings.Builder
	for _, e := range d.Events {
		fmt.Fprintf(&b, "  %T%+v\n", e, e)
	}
	fmt.Fprintf(&b, "  id %d, effects %+v", d.ID, d.Effects)
	if d.Effects.Reset != nil {
		fmt.Fprintf(&b, ", reset %+v", *d.Effects.Reset)
	}
	return b.String()
}

// spread returns, per topic, the partitions each broker owns in s.
func spread(s *projection.State) map[string]map[int64]int {
	out := map[string]map[int64]int{}
	for name, t := range s.Topics {
		out[name] = map[int64]int{}
		for _, p := range t.Partitions {
			out[name][p.Broker]++
		}
	}
	return out
}

// balanced reports why s is not balanced over its live brokers: every
// partition on a live broker, every topic and the total load within one.
func balanced(s *projection.State) error {
	live := s.LiveBrokers()
	isLive := map[int64]bool{}
	for _, id := range live {
		isLive[id] = true
	}
	load := map[int64]int{}
	for name, counts := range spread(s) {
		lo, hi := 1<<30, -1
		for _, id := range live {
			lo, hi = min(lo, counts[id]), max(hi, counts[id])
			load[id] += counts[id]
		}
		if hi-lo > 1 {
			return fmt.Errorf("topic %s spread %v over %v", name, counts, live)
		}
		for id := range counts {
			if !isLive[id] {
				return fmt.Errorf("topic %s has partitions on broker %d, not live", name, id)
			}
		}
	}
	lo, hi := 1<<30, -1
	for _, id := range live {
		lo, hi = min(lo, load[id]), max(hi, load[id])
	}
	if hi-lo > 1 {
		return fmt.Errorf("loads %v", load)
	}
	return nil
}
