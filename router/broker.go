package router

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/projection"
)

// maxBrokerAnswer bounds a broker's answer.
const maxBrokerAnswer = 256 << 20

// NewPeerClient is the one HTTP client to brokers (and, for the manager, to
// the writer): keep-alive, many idle connections per host, no proxy, no
// overall timeout (each call sets its own deadline, long-polls included).
func NewPeerClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     false,
	}}
}

// Owner is the broker a request for a partition goes to.
type Owner struct {
	Broker  int64
	Address string
}

// brokerURL turns a registered address (host:port or a URL) into a base URL.
func brokerURL(addr string) string {
	if strings.Contains(addr, "://") {
		return strings.TrimRight(addr, "/")
	}
	return "http://" + addr
}

// CallBroker sends one request to a broker, carrying minSeq, and decodes a
// 200 answer into out; op names it in Config.Observe, extra lengthens
// BrokerTimeout (a long poll). An error answer becomes the broker's logq
// error (its internal errors as EUnavailable, without their text); a
// broker that cannot be reached is EUnavailable.
func (rt *Router) CallBroker(ctx context.Context, o Owner, minSeq int64, op, method, path string, query url.Values, in, out any, extra time.Duration) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, rt.cfg.BrokerTimeout+extra)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := api.Marshal(in)
		if err != nil {
			return logq.Internal(err, "encode broker request")
		}
		body = bytes.NewReader(b)
	}
	u := brokerURL(o.Address) + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		rt.cfg.Observe(op, logq.EInvalid)
		return logq.Errorf(logq.EUnavailable, "broker %d has an unusable address %q", o.Broker, o.Address)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(api.HeaderMinSeq, strconv.FormatInt(minSeq, 10))
	resp, err := rt.cfg.Peers.Do(req)
	if err != nil {
		if parent.Err() != nil {
			rt.cfg.Observe(op, logq.ETimeout)
			return logq.Errorf(logq.ETimeout, "request cancelled")
		}
		rt.cfg.Observe(op, logq.EUnavailable)
		return logq.Errorf(logq.EUnavailable, "broker %d at %s is unreachable; retry", o.Broker, o.Address)
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // keep the connection reusable
		resp.Body.Close()
	}()
	if raw, ok := out.(*rawAnswer); ok && resp.StatusCode == http.StatusOK {
		if raw.body, err = readAnswer(resp); err != nil {
			rt.cfg.Observe(op, logq.EUnavailable)
			return logq.Errorf(logq.EUnavailable, "broker %d sent a malformed answer; retry", o.Broker)
		}
		rt.cfg.Observe(op, "ok")
		return nil
	}
	if resp.StatusCode == http.StatusOK {
		if err := api.DecodeReader(io.LimitReader(resp.Body, maxBrokerAnswer), out); err != nil {
			rt.cfg.Observe(op, logq.EUnavailable)
			return logq.Errorf(logq.EUnavailable, "broker %d sent a malformed answer; retry", o.Broker)
		}
		rt.cfg.Observe(op, "ok")
		return nil
	}
	var eb api.ErrorBody
	api.DecodeReader(io.LimitReader(resp.Body, 64<<10), &eb)
	code := eb.Code
	if code == "" || logq.HTTPStatus(code) == http.StatusInternalServerError && code != logq.EInternal {
		code = logq.CodeForStatus(resp.StatusCode)
	}
	rt.cfg.Observe(op, code)
	if code == logq.EInternal {
		return logq.Errorf(logq.EUnavailable, "broker %d failed; retry", o.Broker)
	}
	msg := eb.Message
	if msg == "" {
		msg = fmt.Sprintf("broker %d answered %d", o.Broker, resp.StatusCode)
	}
	return &logq.Error{Code: code, Message: msg}
}

// rawAnswer, as CallBroker's out, takes a 200 answer's bytes undecoded.
type rawAnswer struct{ body []byte }

// readAnswer reads a broker's answer whole, into one buffer of its
// Content-Length when it has one (bounded by maxBrokerAnswer).
func readAnswer(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 {
		if n > maxBrokerAnswer {
			return nil, fmt.Errorf("answer of %d bytes", n)
		}
		var b []byte
		if p, ok := answerBuffers.Get().(*[]byte); ok && int64(cap(*p)) >= n {
			b = (*p)[:n]
		} else {
			b = make([]byte, n)
		}
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			releaseAnswer(b)
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxBrokerAnswer))
}

// answerBuffers are buffers of brokers' raw answers (readAnswer), used
// again once nothing refers to them (releaseAnswer): a poll's answer is a
// megabyte or two.
var answerBuffers sync.Pool

// maxPooledAnswer bounds the buffers kept.
const maxPooledAnswer = 8 << 20

// releaseAnswer gives b, read by readAnswer, back: nothing may use it
// after.
func releaseAnswer(b []byte) {
	if b != nil && cap(b) <= maxPooledAnswer {
		answerBuffers.Put(&b)
	}
}

// OwnerOf returns the live owner of a partition and the applied seq.
func (rt *Router) OwnerOf(topic string, partition int) (o Owner, seq int64, err error) {
	rt.cfg.State.View(func(s *projection.State) {
		t, ok := s.Topics[topic]
		if !ok {
			err = logq.Errorf(logq.ETopicNotFound, "topic %q not found", topic)
			return
		}
		if partition < 0 || partition >= len(t.Partitions) {
			err = logq.Errorf(logq.EInvalid, "topic %q has partitions 0..%d; no partition %d", topic, len(t.Partitions)-1, partition)
			return
		}
		b, ok := s.Brokers[t.Partitions[partition].Broker]
		if !ok || !b.Alive || b.Removed {
			err = logq.Errorf(logq.EUnavailable, "partition %d of topic %q has no live broker (reassignment pending); retry", partition, topic)
			return
		}
		o, seq = Owner{Broker: b.ID, Address: b.Address}, s.Seq
	})
	return o, seq, err
}

// onPartition runs call against a partition's owner. On a fenced answer
// (this manager's view is older than the broker's) it waits, bounded, for
// a newer event, re-resolves the owner and tries once more.
func (rt *Router) onPartition(ctx context.Context, topic string, partition int, call func(o Owner, seq int64) error) error {
	o, seq, err := rt.OwnerOf(topic, partition)
	if err != nil {
		return err
	}
	err = call(o, seq)
	if logq.ErrorCode(err) != logq.EFenced {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, rt.cfg.MinSeqWait)
	rt.cfg.State.WaitApplied(wctx, seq+1) // best effort: retry even without news
	cancel()
	if o, seq, err = rt.OwnerOf(topic, partition); err != nil {
		return err
	}
	return call(o, seq)
}
