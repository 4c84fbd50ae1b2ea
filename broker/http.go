package broker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/auth"
	"github.com/logq/logq/auth/httpauth"
	"github.com/logq/logq/broker/storage"
	"github.com/logq/logq/internal/httpguard"
)

// server is the broker's HTTP API: handlers that parse and answer, the
// broker doing the work.
type server struct {
	broker  *Broker
	cfg     Config
	log     zerolog.Logger
	metrics *metrics
}

// handlerFunc is a handler that returns its error for writeError.
type handlerFunc func(w http.ResponseWriter, q *request) error

// request is an incoming request with its body, read once (capped).
type request struct {
	*http.Request
	body []byte
}

// decode fills dst, a pointer to an api XxxParams, from the request
// (api.Decode: the one decoder).
func (q *request) decode(dst any) error { return api.Decode(q.Request, q.body, dst) }

// readRequest reads r's body, capped at limit bytes.
func readRequest(w http.ResponseWriter, r *http.Request, limit int64) (*request, error) {
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	body, err := api.ReadBody(r)
	if err != nil {
		return nil, err
	}
	return &request{Request: r, body: body}, nil
}

func newServer(b *Broker) *server {
	return &server{broker: b, cfg: b.cfg, log: b.log, metrics: b.metrics}
}

// handler returns the API with its middleware: request ids, access log,
// JSON 404/405 and panic recovery.
func (s *server) handler() http.Handler {
	r := httprouter.New()
	r.POST("/v1/append", s.handle(s.handleAppend))
	r.POST("/v1/consume", s.handle(s.handleConsume))
	r.GET("/v1/consume", s.handle(s.handleConsume))
	r.GET("/v1/read", s.handle(s.handleFetch)) // the older name of /v1/fetch
	r.GET("/v1/fetch", s.handle(s.handleFetch))
	r.GET("/v1/offsets", s.handle(s.handleOffsets))
	r.GET("/v1/size", s.handle(s.handleSize))
	r.GET("/v1/partitions", s.handle(s.handlePartitions))
	r.GET("/healthz", s.handle(s.handleHealth))
	r.Handler(http.MethodGet, "/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, logq.Errorf(logq.ENotFound, "no route %s %s", r.Method, r.URL.Path))
	})
	r.HandleMethodNotAllowed = true
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, api.ErrorBody{
			Status: api.StatusFailure, Code: logq.EInvalid,
			Message: "method " + r.Method + " not allowed on " + r.URL.Path + " (allowed: " + w.Header().Get("Allow") + ")",
		})
	})
	r.PanicHandler = func(w http.ResponseWriter, r *http.Request, v any) {
		if v == http.ErrAbortHandler {
			panic(v)
		}
		hlog.FromRequest(r).Error().Interface("panic", v).Msg("handler panicked")
		s.writeError(w, r, logq.Errorf(logq.EInternal, "internal error"))
	}
	var h http.Handler = r
	h = s.authenticate(h)                         // 401/403 by the route table (auth.go), before any handler
	h = httpguard.New(s.guardConfig()).Handler(h) // Host, cross-site and in-flight limits, before any body is read
	h = hlog.AccessHandler(func(r *http.Request, status, size int, d time.Duration) {
		hlog.FromRequest(r).Debug().Str("method", r.Method).Str("path", r.URL.Path).
			Int("status", status).Int("size", size).Dur("duration", d).Msg("request")
	})(h)
	h = hlog.RequestIDHandler("req_id", "X-Request-Id")(h)
	h = hlog.NewHandler(s.log)(h)
	return h
}

// handle adapts a handlerFunc: it waits for X-Logq-Min-Seq, reads the
// parameters and writes the handler's error, if any.
func (s *server) handle(h handlerFunc) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
		if err := s.waitMinSeq(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		q, err := readRequest(w, r, s.cfg.MaxRequestBytes)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := h(w, q); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// waitMinSeq waits (up to MinSeqWait) until the broker has applied the
// seq the request names in X-Logq-Min-Seq.
func (s *server) waitMinSeq(r *http.Request) error {
	v := r.Header.Get(api.HeaderMinSeq)
	if v == "" {
		return nil
	}
	seq, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || seq < 0 {
		return logq.Errorf(logq.EInvalid, "%s must be a non-negative integer", api.HeaderMinSeq)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.MinSeqWait)
	defer cancel()
	return s.broker.WaitApplied(ctx, seq)
}

// writeError is the one place errors become answers: the status from the
// error's code, a message safe for clients (never an internal error's
// text), and a log line for internal and unavailable errors.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := s.failure(r, err)
	writeJSON(w, logq.HTTPStatus(code), api.ErrorBody{Status: api.StatusFailure, Message: msg, Code: code})
}

// failure is an error's code and client-safe message, logged when it is
// internal or unavailable.
func (s *server) failure(r *http.Request, err error) (code, msg string) {
	code = logq.ErrorCode(err)
	switch code {
	case logq.EInternal:
		hlog.FromRequest(r).Error().Err(err).Str("path", r.URL.Path).Msg("internal error")
	case logq.EUnavailable, logq.ETimeout:
		hlog.FromRequest(r).Warn().Err(err).Str("path", r.URL.Path).Msg("request failed")
	}
	msg = logq.ErrorMessage(err)
	if errors.Is(err, storage.ErrUnavailable) { // storage clusters (issue 17): say which one
		msg = fmt.Sprintf("storage unavailable: storage cluster %q (this broker's data PostgreSQL) does not answer; retry", s.cfg.StorageCluster)
	}
	return code, msg
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := api.Marshal(v)
	if err != nil {
		b, status = []byte(`{"status":"failure","message":"internal error","code":"internal"}`), http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// handleAppend: POST /v1/append.
func (s *server) handleAppend(w http.ResponseWriter, q *request) error {
	var p api.AppendParams
	if err := q.decode(&p); err != nil {
		return err
	}
	req, err := p.Request(s.cfg.MaxAppendMessages, s.cfg.MaxMessageBytes)
	if err != nil {
		return err
	}
	if req.Runs != nil {
		return s.appendRuns(w, q, req)
	}
	if err := s.broker.checkProducers(idUserOf(q.Request), req.Topic, req.Partition, req.Messages); err != nil {
		return err
	}
	msgs, err := toMessages(req.Messages)
	if err != nil {
		return err
	}
	var idem *storage.Idempotence
	if req.Sequence != nil {
		idem = &storage.Idempotence{ProducerID: msgs[0].ProducerID, Epoch: *req.ProducerEpoch, BaseSequence: *req.Sequence}
	}
	base, dup, err := s.broker.appendIdem(q.Context(), req.Topic, req.Partition, msgs, idem)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.AppendAnswer{Status: api.StatusSuccess, Topic: req.Topic, Partition: req.Partition, BaseOffset: base, Count: len(msgs), Duplicate: dup})
	return nil
}

// appendRuns answers the runs form of an append: each run is checked and
// submitted as an append of its own (together, so that they share a
// transaction) and answered on its own, its failure failing only itself.
// What concerns the whole request (the partition is not served here) is
// the request's error.
func (s *server) appendRuns(w http.ResponseWriter, q *request, req api.AppendRequest) error {
	ans := api.AppendAnswer{Status: api.StatusSuccess, Topic: req.Topic, Partition: req.Partition, Runs: make([]api.AppendRunAnswer, len(req.Runs))}
	who := idUserOf(q.Request)
	runs := make([]commitRun, 0, len(req.Runs))
	at := make([]int, 0, len(req.Runs)) // the run of each of runs
	for i, run := range req.Runs {
		msgs, err := s.runMessages(who, req.Topic, req.Partition, run.Messages)
		if err != nil {
			ans.Runs[i].Error = s.runFailure(q.Request, err)
			continue
		}
		var idem *storage.Idempotence
		if run.Sequence != nil {
			idem = &storage.Idempotence{ProducerID: msgs[0].ProducerID, Epoch: *run.ProducerEpoch, BaseSequence: *run.Sequence}
		}
		runs = append(runs, commitRun{msgs: msgs, idem: idem})
		at = append(at, i)
	}
	if len(runs) > 0 {
		res, err := s.broker.appendRuns(q.Context(), req.Topic, req.Partition, runs)
		if err != nil {
			return err
		}
		for j, r := range res {
			a := &ans.Runs[at[j]]
			if r.err != nil {
				a.Error = s.runFailure(q.Request, r.err)
				continue
			}
			a.BaseOffset, a.Count, a.Duplicate = r.base, len(runs[j].msgs), r.dup
			if !r.dup {
				ans.Count += a.Count
			}
		}
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// runFailure is writeError for one run: the same code, safe message and
// log line, as the run's failure.
func (s *server) runFailure(r *http.Request, err error) *api.ItemFailure {
	code, msg := s.failure(r, err)
	return &api.ItemFailure{Code: code, Message: msg}
}

// runMessages checks one run's producers and decodes its messages.
func (s *server) runMessages(who idUser, topic string, partition int, in []api.AppendMessage) ([]message, error) {
	if err := s.broker.checkProducers(who, topic, partition, in); err != nil {
		return nil, err
	}
	return toMessages(in)
}

// toMessages decodes an append's messages into records of bytes. The
// bytes of the text records' values and keys are copied into one slab,
// not one allocation each (TestToMessagesSlab).
func toMessages(in []api.AppendMessage) ([]message, error) {
	msgs := make([]message, len(in))
	n := 0
	for _, m := range in {
		if m.Encoding != api.EncodingBase64 {
			n += len(m.Message)
			if m.Key != nil {
				n += len(*m.Key)
			}
		}
	}
	slab := make([]byte, 0, n)
	bytesOf := func(s string) []byte {
		slab = append(slab, s...)
		return slab[len(slab)-len(s) : len(slab) : len(slab)]
	}
	for i, m := range in {
		if m.Encoding != api.EncodingBase64 && len(m.Headers) == 0 {
			msgs[i] = message{ProducerID: m.ProducerID, Value: bytesOf(m.Message)}
			if m.Key != nil {
				msgs[i].Key = bytesOf(*m.Key)
			}
			if m.Timestamp != nil {
				msgs[i].Timestamp = time.UnixMilli(*m.Timestamp)
			}
			continue
		}
		k, v, hs, err := api.DecodeRecord(m.Encoding, m.Message, m.Key, m.Headers)
		if err != nil {
			return nil, api.ItemError(i, err)
		}
		msgs[i] = message{ProducerID: m.ProducerID, Key: k, Value: v}
		if len(hs) > 0 {
			msgs[i].Headers = make([]storage.Header, len(hs))
			for j, h := range hs {
				msgs[i].Headers[j] = storage.Header{Key: h.Key, Value: h.Value}
			}
		}
		if m.Timestamp != nil {
			msgs[i].Timestamp = time.UnixMilli(*m.Timestamp)
		}
	}
	return msgs, nil
}

// checkProducers refuses an append by a producer the state does not know
// (404 producer_not_found), or registers for another topic or pins to
// another partition (api.CheckProducer): the partition a manager or a
// direct client picks is checked here too. The state may lag a
// registration made a moment ago: callers send the seq of that
// registration in X-Logq-Min-Seq (the manager's router and the Go client
// do), and the broker waits for it before this check.
//
// With auth on, a producer registered by another principal is refused
// (403 forbidden) as by the managers' router, so that a client calling
// brokers directly cannot use another principal's id either.
func (b *Broker) checkProducers(who idUser, topic string, partition int, msgs []api.AppendMessage) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	last := int64(0)
	for _, m := range msgs {
		if m.ProducerID == last {
			continue
		}
		last = m.ProducerID
		p, ok := b.state.Producers[m.ProducerID]
		if !ok {
			return logq.Errorf(logq.EProducerNotFound, "producer %d not found; register it first (or send %s)", m.ProducerID, api.HeaderMinSeq)
		}
		if err := who.mayUse("producer", m.ProducerID, p.Principal); err != nil {
			return err
		}
		if err := api.CheckProducer(m.ProducerID, p.Topic, p.Partition, topic, partition); err != nil {
			return err
		}
	}
	return nil
}

// checkConsumer refuses a consume or size for a consumer the state does
// not know (404 consumer_not_found), or registers for another topic or
// pins to another partition (400), before any SQL: no consumer_offsets row
// is made for an id nobody registered. X-Logq-Min-Seq covers a
// registration the state has not applied yet, as for checkProducers.
// With auth on, one registered by another principal is refused (403), as
// for checkProducers.
func (b *Broker) checkConsumer(who idUser, consumer int64, topic string, partition int) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	c, ok := b.state.Consumers[consumer]
	switch {
	case !ok:
		return logq.Errorf(logq.EConsumerNotFound, "consumer %d not found; register it first (or send %s)", consumer, api.HeaderMinSeq)
	case !who.owns(c.Principal):
		return who.mayUse("consumer", consumer, c.Principal)
	case c.Topic != topic:
		return logq.Errorf(logq.EInvalid, "consumer %d is registered for topic %q, not %q", consumer, c.Topic, topic)
	case c.Partition != nil && *c.Partition != partition:
		return logq.Errorf(logq.EInvalid, "consumer %d is registered for partition %d, not %d", consumer, *c.Partition, partition)
	}
	return nil
}

// idUser is who a request acts as for the ownership of producer and
// consumer ids (docs/security.md, "Producer and consumer ids are owned"):
// not checked in open mode, nor for admins and managers (the managers'
// router calls brokers for every client).
type idUser struct {
	name  string
	check bool
}

func idUserOf(r *http.Request) idUser {
	p, ok := httpauth.PrincipalFrom(r.Context())
	if !ok || p.Kind == auth.KindAdmin || p.Kind == auth.KindManager {
		return idUser{}
	}
	return idUser{p.Name, true}
}

// owns reports whether u may use an id owned by owner ("": nobody).
func (u idUser) owns(owner string) bool { return !u.check || owner == "" || owner == u.name }

// mayUse refuses the id owned by owner, if another principal's.
func (u idUser) mayUse(kind string, id int64, owner string) error {
	if u.owns(owner) {
		return nil
	}
	return logq.Errorf(logq.EForbidden, "%s %d was registered by another principal; %q may not use it", kind, id, u.name)
}

// writeMessages writes a consume or fetch answer: as Marshal of an
// api.MessagesAnswer would, each message appended by
// api.AppendStoredMessage.
func writeMessages(w http.ResponseWriter, topic string, partition int, msgs []storedMessage, encoding string, hw, logStart *int64) {
	b := answerBuffer(answerSize(topic, msgs))
	b = append(b, `{"status":"success","topic":`...)
	b = api.AppendJSONString(b, topic)
	b = append(b, `,"partition":`...)
	b = strconv.AppendInt(b, int64(partition), 10)
	b = append(b, `,"messages":[`...)
	b = appendMessages(b, msgs, encoding, func(b []byte, r *api.StoredRecord, base64 bool) []byte {
		return api.AppendStoredMessage(b, r, base64)
	})
	b = append(b, ']')
	if hw != nil {
		b = append(b, `,"high_watermark":`...)
		b = strconv.AppendInt(b, *hw, 10)
	}
	if logStart != nil {
		b = append(b, `,"log_start_offset":`...)
		b = strconv.AppendInt(b, *logStart, 10)
	}
	writeEncoded(w, append(b, '}', '\n'))
}

// writeBatchMessages writes a consume answer of shape=batch (an
// api.BatchMessagesAnswer): the messages as a manager's consume_batch
// answers them, last, for api.SplitBatchAnswer.
// next is the offset after the last message (nil: none, for consume),
// hw and logStart fetch's marks.
func writeBatchMessages(w http.ResponseWriter, topic string, partition int, msgs []storedMessage, encoding string, next, hw, logStart *int64) {
	b := answerBuffer(answerSize(topic, msgs) + len(msgs)*(len(topic)+32))
	b = append(b, `{"status":"success","topic":`...)
	b = api.AppendJSONString(b, topic)
	b = append(b, `,"partition":`...)
	b = strconv.AppendInt(b, int64(partition), 10)
	b = append(b, `,"shape":"batch","count":`...)
	b = strconv.AppendInt(b, int64(len(msgs)), 10)
	if len(msgs) > 0 {
		n := msgs[len(msgs)-1].Offset + 1
		next = &n
	}
	for _, f := range []struct {
		name string
		v    *int64
	}{{`,"next_offset":`, next}, {`,"high_watermark":`, hw}, {`,"log_start_offset":`, logStart}} {
		if f.v != nil {
			b = append(b, f.name...)
			b = strconv.AppendInt(b, *f.v, 10)
		}
	}
	b = append(b, `,"messages":[`...)
	b = appendMessages(b, msgs, encoding, func(b []byte, r *api.StoredRecord, base64 bool) []byte {
		return api.AppendBatchMessage(b, topic, partition, r, base64)
	})
	writeEncoded(w, append(b, ']', '}', '\n'))
}

// appendMessages appends msgs, comma-separated, each by one.
func appendMessages(b []byte, msgs []storedMessage, encoding string, one func([]byte, *api.StoredRecord, bool) []byte) []byte {
	base64 := encoding == api.EncodingBase64
	var hs []api.BinHeader
	r := new(api.StoredRecord) // one for all: one cannot be seen not to keep it
	for i := range msgs {
		m := &msgs[i]
		if i > 0 {
			b = append(b, ',')
		}
		hs = hs[:0]
		for _, h := range m.Headers {
			hs = append(hs, api.BinHeader{Key: h.Key, Value: h.Value})
		}
		*r = api.StoredRecord{Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: hs, Timestamp: m.Timestamp.UnixMilli(),
			ProducerID: m.ProducerID, ProducedAt: m.ProducedAt}
		b = one(b, r, base64)
	}
	return b
}

// answerSize is about the bytes of an answer of msgs (text, few escapes):
// its buffer's first size.
func answerSize(topic string, msgs []storedMessage) int {
	n := 128 + len(topic)
	for i := range msgs {
		m := &msgs[i]
		n += 128 + len(m.Value) + len(m.Key)
		for _, h := range m.Headers {
			n += 32 + len(h.Key) + len(h.Value)
		}
	}
	return n
}

// writeEncoded writes a 200 answer already encoded as JSON, and gives its
// buffer back (answerBuffer).
func writeEncoded(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b) // which keeps nothing of b
	if cap(b) <= maxPooledAnswer {
		answerBuffers.Put(&b)
	}
}

// answerBuffers are the buffers of consume and fetch answers, used again:
// a poll of 10,000 messages writes a megabyte or two, and allocating it
// each time costs the collector more than the writing.
var answerBuffers sync.Pool

// maxPooledAnswer bounds the buffers kept (the largest answers are let go).
const maxPooledAnswer = 8 << 20

// answerBuffer is an empty buffer of at least size bytes.
func answerBuffer(size int) []byte {
	if p, ok := answerBuffers.Get().(*[]byte); ok && cap(*p) >= size {
		return (*p)[:0]
	}
	return make([]byte, 0, size)
}

// consumeRequest reads what consume and size address: a consumer's
// position in one partition (and, for consume, how much and how long).
func (s *server) consumeRequest(q *request, size bool) (api.BrokerConsumeRequest, error) {
	var p api.BrokerConsumeParams
	if err := q.decode(&p); err != nil {
		return api.BrokerConsumeRequest{}, err
	}
	if size {
		return p.SizeRequest()
	}
	return p.Request(s.cfg.MaxReadMessages, s.cfg.LongPollMax)
}

// handleConsume: POST (or GET) /v1/consume.
func (s *server) handleConsume(w http.ResponseWriter, q *request) error {
	req, err := s.consumeRequest(q, false)
	if err != nil {
		return err
	}
	if err := s.broker.checkConsumer(idUserOf(q.Request), req.ConsumerID, req.Topic, req.Partition); err != nil {
		return err
	}
	var deadline time.Time
	if req.DeadlineMS > 0 {
		deadline = time.UnixMilli(req.DeadlineMS)
	}
	msgs, err := s.broker.consume(q.Context(), req.ConsumerID, req.Topic, req.Partition, req.Max, time.Duration(req.WaitMS)*time.Millisecond, deadline)
	if err != nil {
		return err
	}
	if req.Shape == api.ShapeBatch {
		writeBatchMessages(w, req.Topic, req.Partition, msgs, req.Encoding, nil, nil, nil)
		return nil
	}
	writeMessages(w, req.Topic, req.Partition, msgs, req.Encoding, nil, nil)
	return nil
}

// handleFetch: GET /v1/fetch (and /v1/read), by offset, moving nothing.
func (s *server) handleFetch(w http.ResponseWriter, q *request) error {
	var p api.BrokerReadParams
	if err := q.decode(&p); err != nil {
		return err
	}
	req, err := p.Request(s.cfg.MaxReadMessages, s.cfg.MaxReadBytes, s.cfg.LongPollMax)
	if err != nil {
		return err
	}
	f, err := s.broker.fetch(q.Context(), req.Topic, req.Partition, req.Offset, req.Max, req.MaxBytes, time.Duration(req.WaitMS)*time.Millisecond)
	if err != nil {
		return err
	}
	if req.Shape == api.ShapeBatch {
		writeBatchMessages(w, req.Topic, req.Partition, f.Messages, req.Encoding, &req.Offset, &f.HighWatermark, &f.LogStartOffset)
		return nil
	}
	writeMessages(w, req.Topic, req.Partition, f.Messages, req.Encoding, &f.HighWatermark, &f.LogStartOffset)
	return nil
}

// handleOffsets: GET /v1/offsets, a partition's earliest, latest or first
// offset at a time.
func (s *server) handleOffsets(w http.ResponseWriter, q *request) error {
	var p api.OffsetsParams
	if err := q.decode(&p); err != nil {
		return err
	}
	req, err := p.Request()
	if err != nil {
		return err
	}
	if req.Partition == nil {
		return logq.Errorf(logq.EInvalid, "partition is required")
	}
	o, err := s.broker.listOffsets(q.Context(), req.Topic, *req.Partition, req.At)
	if err != nil {
		return err
	}
	ans := api.BrokerOffsetsAnswer{Status: api.StatusSuccess, Topic: req.Topic, PartitionOffset: api.PartitionOffset{
		Partition: *req.Partition, Offset: o.Offset, LogStartOffset: o.LogStartOffset, HighWatermark: o.HighWatermark}}
	if !o.Timestamp.IsZero() {
		ms := o.Timestamp.UnixMilli()
		ans.Timestamp = &ms
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// handleSize: GET /v1/size.
func (s *server) handleSize(w http.ResponseWriter, q *request) error {
	req, err := s.consumeRequest(q, true)
	if err != nil {
		return err
	}
	if err := s.broker.checkConsumer(idUserOf(q.Request), req.ConsumerID, req.Topic, req.Partition); err != nil {
		return err
	}
	hw, pos, err := s.broker.size(q.Context(), req.ConsumerID, req.Topic, req.Partition)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.BrokerSizeAnswer{Status: api.StatusSuccess, Topic: req.Topic, Partition: req.Partition,
		Size: max(hw-pos, 0), HighWatermark: hw, Position: pos})
	return nil
}

// handlePartitions: GET /v1/partitions, the partitions served now.
func (s *server) handlePartitions(w http.ResponseWriter, q *request) error {
	parts := s.broker.servedPartitions()
	out := make([]api.ServedPartition, len(parts))
	for i, pt := range parts {
		out[i] = api.ServedPartition{Topic: pt.topic, Partition: pt.partition, Epoch: pt.epoch, HighWatermark: pt.hw.Load()}
		if start, ok := s.broker.logStartOf(pt.partKey); ok { // retention
			out[i].LogStartOffset = &start
		}
	}
	writeJSON(w, http.StatusOK, api.PartitionsAnswer{Status: api.StatusSuccess, BrokerID: s.broker.ID(), Partitions: out})
	return nil
}

// handleHealth: GET /healthz.
func (s *server) handleHealth(w http.ResponseWriter, q *request) error {
	writeJSON(w, http.StatusOK, api.BrokerHealthAnswer{Status: api.StatusSuccess, BrokerID: s.broker.ID(), Seq: s.broker.AppliedSeq()})
	return nil
}
