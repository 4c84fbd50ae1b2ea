package client_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/logq/logq/api"
	"github.com/logq/logq/client"
	"github.com/logq/logq/internal/harness/devcluster"
	"github.com/logq/logq/internal/pgtest"
)

// TestPinnedProducerInBothModes: a producer registered for partition 1
// writes its keyed records to partition 1, through the managers and
// directly to the brokers (the partitioner's one order: registered,
// explicit, key, round robin), also when reused by ID (the client does not
// know the pin; the broker refuses hash(key) and the managers route); an
// explicit other partition is refused in both modes; and a raw append to
// another partition is refused by the broker.
func TestPinnedProducerInBothModes(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Config{Readers: -1})
	ctx := pgtest.Context(t, 60*time.Second)
	c := clientWithTopic(ctx, t, client.Config{Managers: cl.ManagerURLs()}, "pinned")
	// Keys whose hash is not partition 1.
	var keys []string
	for i := 0; len(keys) < 20; i++ {
		if k := fmt.Sprint("key-", i); api.KeyPartition(k, 3) != 1 {
			keys = append(keys, k)
		}
	}
	first, err := c.NewProducer(ctx, "pinned", client.ProducerConfig{Partition: client.Partition(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	for _, mode := range []struct {
		name string
		cfg  client.ProducerConfig
	}{
		{"via manager", client.ProducerConfig{Partition: client.Partition(1)}},
		{"direct", client.ProducerConfig{Partition: client.Partition(1), Direct: true}},
		{"direct, reused by ID", client.ProducerConfig{ID: first.ID(), Direct: true}},
		{"via manager, reused by ID", client.ProducerConfig{ID: first.ID()}},
	} {
		p, err := c.NewProducer(ctx, "pinned", mode.cfg)
		if err != nil {
			t.Fatal(err)
		}
		var futs []*client.Future
		for _, k := range keys {
			futs = append(futs, p.Send(ctx, client.Record{Key: k, Value: k}))
		}
		for i, f := range futs {
			ack, err := f.Wait(ctx)
			if err != nil || ack.Partition != 1 {
				t.Fatalf("%s: record %d (key %s): %+v %v; want partition 1", mode.name, i, keys[i], ack, err)
			}
		}
		if _, err := p.Produce(ctx, client.Record{Value: "x", Partition: client.Partition(0)}); !errors.Is(err, client.ErrInvalid) {
			t.Fatalf("%s: explicit partition 0 for a producer pinned to 1: %v; want ErrInvalid", mode.name, err)
		}
		p.Close()
	}

	info, err := c.DescribeTopic(ctx, "pinned")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(api.AppendRequest{Topic: "pinned", Partition: 0, Messages: []api.AppendMessage{{ProducerID: first.ID(), Message: "raw"}}})
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+strings.TrimPrefix(info.Partitions[0].Address, "http://")+"/v1/append", bytes.NewReader(body))
	req.Header.Set(api.HeaderMinSeq, fmt.Sprint(c.Seq()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var eb api.ErrorBody
	json.NewDecoder(resp.Body).Decode(&eb)
	resp.Body.Close()
	if resp.StatusCode != 400 || eb.Code != "invalid" {
		t.Fatalf("raw append to partition 0 by a producer pinned to 1: %d %+v", resp.StatusCode, eb)
	}
}

// TestPartitionFieldsHonoured: consume and size with a partition read that
// partition only; size answers per-partition sizes; registration answers
// carry a message; the aliases of the other implementations are honoured.
func TestPartitionFieldsHonoured(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, devcluster.Config{Readers: -1})
	base := cl.ManagerURLs()[0]
	// do sends a request to the first manager and returns its JSON answer,
	// which must be a 200.
	do := func(method, path string, body any) map[string]any {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
		}
		return out
	}
	post := func(path string, body any) map[string]any { return do("POST", path, body) }
	get := func(path string) map[string]any { return do("GET", path, nil) }
	created := post("/topics", map[string]any{"name": "fields", "number_of_partitions": 3})
	if created["partitions"] != 3.0 {
		t.Fatalf("number_of_partitions ignored: %v", created)
	}
	prod := post("/producer/register", map[string]any{"topic": "fields"})
	if prod["message"] == "" || prod["message"] == nil {
		t.Fatalf("producer registration without a message: %v", prod)
	}
	pid := prod["producer_id"]
	for part, n := range []int{1, 2, 3} {
		for i := range n {
			post("/producer/produce", map[string]any{"producer_id": pid, "value": fmt.Sprint(part, "-", i), "partition_number": part})
		}
	}
	cons := post("/consumer/register", map[string]any{"topic": "fields"})
	if cons["message"] == "" || cons["message"] == nil {
		t.Fatalf("consumer registration without a message: %v", cons)
	}
	cid := cons["consumer_id"]
	seq := cons["seq"]
	size := get(fmt.Sprintf("/size?consumer_id=%v&min_seq=%v", cid, seq))
	if size["size"] != 6.0 || fmt.Sprint(size["sizes"]) != "[map[partition:0 size:1] map[partition:1 size:2] map[partition:2 size:3]]" {
		t.Fatalf("size: %v", size)
	}
	if one := get(fmt.Sprintf("/size?consumer_id=%v&partition_index=2", cid)); one["size"] != 3.0 {
		t.Fatalf("size of partition 2: %v", one)
	}
	for i := range 3 {
		got := get(fmt.Sprintf("/consumer/consume?consumer_id=%v&partition=2", cid))
		if got["partition"] != 2.0 || got["message"] != fmt.Sprint("2-", i) {
			t.Fatalf("consume from partition 2, #%d: %v", i, got)
		}
	}
	if got := get(fmt.Sprintf("/consumer/consume?consumer_id=%v&partition_id=2", cid)); got["message"] != nil {
		t.Fatalf("partition 2 drained, yet: %v", got)
	}
	if batch := get(fmt.Sprintf("/consumer/consume_batch?consumer_id=%v&partition=1&max=10", cid)); fmt.Sprint(len(batch["messages"].([]any))) != "2" {
		t.Fatalf("consume_batch of partition 1: %v", batch)
	}
	if size := get(fmt.Sprintf("/size?consumer_id=%v", cid)); size["size"] != 1.0 {
		t.Fatalf("size after consuming partitions 1 and 2: %v", size)
	}
	reg := post("/consumer/register", map[string]any{"topic": "fields", "part": 1})
	if reg["partition"] != 1.0 {
		t.Fatalf("part ignored on register: %v", reg)
	}
}
