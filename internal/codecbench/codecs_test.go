package codecbench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/bytedance/sonic"
	goccy "github.com/goccy/go-json"
	segjson "github.com/segmentio/encoding/json"
)

// codec is a general JSON library, as a wrapper would call it.
type codec struct {
	name      string
	marshal   func(any) ([]byte, error)
	unmarshal func([]byte, any) error
}

// libraries are the maintained codecs compared, encoding/json first (the
// baseline). sonic runs three times: ConfigStd (encoding/json's
// behaviour: HTML escaping, strings copied, control characters refused),
// ConfigDefault (its fastest: decoded strings alias the input, no HTML
// escaping, no UTF-8 check) and ConfigDefault with strings copied (no
// decoded string keeps a whole request or answer alive).
var libraries = []codec{
	{"encoding/json", json.Marshal, json.Unmarshal},
	{"goccy/go-json", goccy.Marshal, goccy.Unmarshal},
	{"segmentio/encoding", segjson.Marshal, segjson.Unmarshal},
	{"sonic-std", sonic.ConfigStd.Marshal, sonic.ConfigStd.Unmarshal},
	{"sonic-default", sonic.ConfigDefault.Marshal, sonic.ConfigDefault.Unmarshal},
	{"sonic-copy", sonicCopy.Marshal, sonicCopy.Unmarshal},
}

var sonicCopy = sonic.Config{CopyString: true}.Froze()

// handName names the hand codec (internal/fastjson as used today).
const handName = "hand"

// step is one piece of JSON work on the path: run does it once, on one
// batch.
type step struct {
	name string
	run  func() error
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// Step names, shared by every codec (the table's columns).
const (
	p1 = "P1-client-enc-produce_batch"
	p2 = "P2-manager-dec-produce_batch"
	p3 = "P3-manager-enc-append"
	p4 = "P4-broker-dec-append"
	p5 = "P5-broker-enc-append-answer"
	p6 = "P6-manager-dec-append-answer"
	p7 = "P7-manager-enc-produce-answer"
	p8 = "P8-client-dec-produce-answer"

	c1 = "C1-manager-enc-consume-req"
	c2 = "C2-broker-dec-consume-req"
	c3 = "C3-broker-enc-messages"
	c4 = "C4-manager-dec-messages"
	c5 = "C5-manager-enc-consume_batch"
	c6 = "C6-client-dec-consume_batch"
)

// libProduce is the batched produce's JSON through a library: each step
// decodes what the step before it encoded with the same library.
func libProduce(c codec, f *fixture) []step {
	body := must(c.marshal(f.produceBatch))
	appendBody := must(c.marshal(f.appendReq))
	appendAns := must(c.marshal(f.appendAns))
	produceAns := must(c.marshal(f.produceAns))
	return []step{
		{p1, func() error { _, err := c.marshal(f.produceBatch); return err }},
		{p2, func() error { var v produceBatchRequest; return c.unmarshal(body, &v) }},
		{p3, func() error { _, err := c.marshal(f.appendReq); return err }},
		{p4, func() error { var v appendRequest; return c.unmarshal(appendBody, &v) }},
		{p5, func() error { _, err := c.marshal(f.appendAns); return err }},
		{p6, func() error { var v appendAnswer; return c.unmarshal(appendAns, &v) }},
		{p7, func() error { _, err := c.marshal(f.produceAns); return err }},
		{p8, func() error { var v produceBatchAnswer; return c.unmarshal(produceAns, &v) }},
	}
}

// libConsume is the batched consume's JSON through a library (the
// consume_batch request is a query string).
func libConsume(c codec, f *fixture) []step {
	req := must(c.marshal(f.consumeReq))
	msgs := must(c.marshal(f.messagesAns))
	ans := must(c.marshal(f.consumeAns))
	return []step{
		{c1, func() error { _, err := c.marshal(f.consumeReq); return err }},
		{c2, func() error { var v consumeRequest; return c.unmarshal(req, &v) }},
		{c3, func() error { _, err := c.marshal(f.messagesAns); return err }},
		{c4, func() error { var v messagesAnswer; return c.unmarshal(msgs, &v) }},
		{c5, func() error { _, err := c.marshal(f.consumeAns); return err }},
		{c6, func() error { var v consumeBatchAnswer; return c.unmarshal(ans, &v) }},
	}
}

var errDeclined = errors.New("the hand decoder declined (it would fall back to encoding/json)")

// handProduce is the batched produce's JSON as logq does it today.
func handProduce(f *fixture) []step {
	client := hProduceBatchBody{Topic: f.produceBatch.Topic, ProducerID: int64(f.produceBatch.ProducerID)}
	for _, m := range f.produceBatch.Messages {
		it := hBatchItem{Message: m.Message}
		if m.Key != nil {
			it.Key = *m.Key
		}
		client.Messages = append(client.Messages, it)
	}
	app := hAppendRequest{Topic: f.appendReq.Topic, Partition: int(f.appendReq.Partition)}
	for _, m := range f.appendReq.Messages {
		app.Messages = append(app.Messages, hAppendMessage{ProducerID: int64(m.ProducerID), Key: m.Key, Message: m.Message})
	}
	body := client.appendJSON(nil)
	appendBody := app.appendJSON(nil)
	appendAns := must(json.Marshal(f.appendAns))
	produceAns := f.produceAns.appendJSON(nil)
	return []step{
		{p1, func() error { client.appendJSON(nil); return nil }},
		{p2, func() error {
			if _, _, _, _, ok := hDecodeProduceBatch(body); !ok {
				return errDeclined
			}
			return nil
		}},
		{p3, func() error { app.appendJSON(nil); return nil }},
		{p4, func() error {
			if _, _, _, ok := hDecodeAppend(appendBody); !ok {
				return errDeclined
			}
			return nil
		}},
		// broker/http.go's writeJSON: json.NewEncoder(w).Encode.
		{p5, func() error { var w bytes.Buffer; return json.NewEncoder(&w).Encode(f.appendAns) }},
		// manager/fastpath.go's decodeBrokerAnswer: json.NewDecoder for
		// an answer without decodeJSON.
		{p6, func() error { var v hAppendAnswer; return json.NewDecoder(bytes.NewReader(appendAns)).Decode(&v) }},
		{p7, func() error { f.produceAns.appendJSON(nil); return nil }},
		{p8, func() error {
			var v hProduceBatchAnswer
			if _, ok := v.decodeJSON(produceAns); !ok {
				return errDeclined
			}
			return nil
		}},
	}
}

// handConsume is the batched consume's JSON as logq does it today.
func handConsume(f *fixture) []step {
	req := hConsumeRequest{Topic: f.consumeReq.Topic, Partition: int(f.consumeReq.Partition), ConsumerID: int64(f.consumeReq.ConsumerID), Max: int(f.consumeReq.Max)}
	reqBody := must(json.Marshal(req))
	var stored []hStoredMessage
	for _, m := range f.messagesAns.Messages {
		stored = append(stored, hStoredMessage{Offset: m.Offset, ProducedAt: m.ProducedAt, ProducerID: m.ProducerID, Key: m.Key, Payload: m.Message})
	}
	msgs := hWriteMessages(f.messagesAns.Topic, f.messagesAns.Partition, stored, f.messagesAns.HighWatermark)
	var decoded hConsumeBrokerAnswer
	if !decoded.decodeJSON(msgs) {
		panic(errDeclined)
	}
	batch := hConsumeBatchAnswer{Status: "success"}
	for _, m := range decoded.Messages {
		batch.Messages = append(batch.Messages, hBatchMessage{Topic: topic, Partition: partition, Offset: m.Offset, Message: m.Message, Key: m.Key, raw: m.raw})
	}
	ans := batch.appendJSON(nil)
	return []step{
		{c1, func() error { _, err := json.Marshal(req); return err }},
		// broker/params.go's parse: the body as a map of raw values, then
		// each parameter decoded on its own.
		{c2, func() error {
			var obj map[string]json.RawMessage
			if err := json.NewDecoder(bytes.NewReader(reqBody)).Decode(&obj); err != nil {
				return err
			}
			for _, k := range []string{"topic", "partition", "consumer_id", "max"} {
				var v any
				if err := json.Unmarshal(obj[k], &v); err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
			}
			return nil
		}},
		{c3, func() error {
			hWriteMessages(f.messagesAns.Topic, f.messagesAns.Partition, stored, f.messagesAns.HighWatermark)
			return nil
		}},
		{c4, func() error {
			var v hConsumeBrokerAnswer
			if !v.decodeJSON(msgs) {
				return errDeclined
			}
			return nil
		}},
		{c5, func() error { batch.appendJSON(nil); return nil }},
		{c6, func() error {
			var v hPollAnswer
			if _, ok := v.decodeJSON(ans); !ok {
				return errDeclined
			}
			return nil
		}},
	}
}

// paths returns, for every codec (the hand codec last), its produce and
// consume steps.
func paths(f *fixture) (names []string, produce, consume map[string][]step) {
	produce, consume = map[string][]step{}, map[string][]step{}
	for _, c := range libraries {
		names = append(names, c.name)
		produce[c.name], consume[c.name] = libProduce(c, f), libConsume(c, f)
	}
	names = append(names, handName)
	produce[handName], consume[handName] = handProduce(f), handConsume(f)
	return names, produce, consume
}
