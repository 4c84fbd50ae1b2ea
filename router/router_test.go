package router

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/projection"
)

// The data plane through real managers and brokers is tested in package
// manager (TestProduceConsumeThroughBrokers, TestBadInput, FuzzHandlers);
// these tests provoke what only a stand-in broker can.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTestRouter is a router over a replica fed by hand (no database): the
// writer's election, broker 1 at brokerURL owning every partition of topic
// t, then more events; MinSeqWait is 100 ms.
func newTestRouter(t *testing.T, brokerURL string, partitions int, more ...projection.Payload) *Router {
	rep := eventlog.NewReplica(eventlog.ReplicaConfig{})
	events := []projection.Payload{
		projection.WriterElected{Manager: "http://manager.invalid", Epoch: 1},
		projection.BrokerRegistered{BrokerID: 1, Address: strings.TrimPrefix(brokerURL, "http://")},
		projection.TopicCreated{Topic: "t", Partitions: partitions},
	}
	for i := range partitions {
		events = append(events, projection.PartitionAssigned{Topic: "t", Partition: i, BrokerID: 1, Epoch: 1})
	}
	for i, p := range append(events, more...) {
		e := projection.NewEvent(p)
		e.Seq = int64(i + 1)
		if err := rep.Apply([]logq.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	peers := NewPeerClient()
	t.Cleanup(peers.CloseIdleConnections)
	return New(Config{
		State: rep,
		Decode: func(r *http.Request, dst any) error {
			body, err := api.ReadBody(r)
			if err != nil {
				return err
			}
			return api.Decode(r, body, dst)
		},
		Peers:            peers,
		BrokerTimeout:    time.Second,
		MinSeqWait:       100 * time.Millisecond,
		MaxMessageBytes:  1 << 10,
		MaxBatchMessages: 100,
	})
}
