package broker

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"

	"github.com/logq/logq"
)

// MinSeqHeader names the request header that makes the broker wait until
// it has applied a control-plane seq before serving the request.
const MinSeqHeader = "X-Logq-Min-Seq"

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
	r.GET("/v1/read", s.handle(s.handleRead))
	r.GET("/v1/size", s.handle(s.handleSize))
	r.GET("/v1/partitions", s.handle(s.handlePartitions))
	r.GET("/healthz", s.handle(s.handleHealth))
	r.Handler(http.MethodGet, "/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, logq.Errorf(logq.ENotFound, "no route %s %s", r.Method, r.URL.Path))
	})
	r.HandleMethodNotAllowed = true
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{
			Status: "failure", Code: logq.EInvalid,
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
	v := r.Header.Get(MinSeqHeader)
	if v == "" {
		return nil
	}
	seq, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || seq < 0 {
		return logq.Errorf(logq.EInvalid, "%s must be a non-negative integer", MinSeqHeader)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.MinSeqWait)
	defer cancel()
	return s.broker.WaitApplied(ctx, seq)
}

type errorBody struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Code    string `json:"code"`
}

// writeError is the one place errors become answers: the status from the
// error's code, a message safe for clients (never an internal error's
// text), and a log line for internal and unavailable errors.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := logq.ErrorCode(err)
	status := logq.HTTPStatus(code)
	switch code {
	case logq.EInternal:
		hlog.FromRequest(r).Error().Err(err).Str("path", r.URL.Path).Msg("internal error")
	case logq.EUnavailable, logq.ETimeout:
		hlog.FromRequest(r).Warn().Err(err).Str("path", r.URL.Path).Msg("request failed")
	}
	writeJSON(w, status, errorBody{Status: "failure", Message: logq.ErrorMessage(err), Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

type appendAnswer struct {
	Status     string `json:"status"`
	Topic      string `json:"topic"`
	Partition  int    `json:"partition"`
	BaseOffset int64  `json:"base_offset"`
	Count      int    `json:"count"`
}

// handleAppend: POST /v1/append.
func (s *server) handleAppend(w http.ResponseWriter, q *request) error {
	topic, part, msgs, ok := fastAppend(q)
	if ok {
		if err := checkAppend(topic, part, msgs, s.cfg.MaxMessageBytes); err != nil {
			return err
		}
	} else {
		p, err := q.params()
		if err != nil {
			return err
		}
		if topic, part, err = p.topicPartition(); err != nil {
			return err
		}
		if msgs, err = p.appendMessages(s.cfg.MaxMessageBytes); err != nil {
			return err
		}
	}
	if len(msgs) > s.cfg.MaxAppendMessages {
		return logq.Errorf(logq.EInvalid, "an append holds at most %d messages; got %d", s.cfg.MaxAppendMessages, len(msgs))
	}
	base, err := s.broker.append(q.Context(), topic, part, msgs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, appendAnswer{Status: "success", Topic: topic, Partition: part, BaseOffset: base, Count: len(msgs)})
	return nil
}

type messageAnswer struct {
	Offset     int64     `json:"offset"`
	Message    string    `json:"message"`
	Key        *string   `json:"key"`
	ProducerID int64     `json:"producer_id"`
	ProducedAt time.Time `json:"produced_at"`
}

type messagesAnswer struct {
	Status        string          `json:"status"`
	Topic         string          `json:"topic"`
	Partition     int             `json:"partition"`
	Messages      []messageAnswer `json:"messages"`
	HighWatermark *int64          `json:"high_watermark,omitempty"`
}

func toAnswer(msgs []storedMessage) []messageAnswer {
	out := make([]messageAnswer, len(msgs))
	for i, m := range msgs {
		out[i] = messageAnswer{Offset: m.Offset, Message: m.Payload, Key: m.Key, ProducerID: m.ProducerID, ProducedAt: m.ProducedAt}
	}
	return out
}

// consumerParams reads what consume and size address: a consumer's
// position in one partition.
func consumerParams(q *request) (p params, topic string, part int, consumer int64, err error) {
	if p, err = q.params(); err != nil {
		return nil, "", 0, 0, err
	}
	if topic, part, err = p.topicPartition(); err != nil {
		return nil, "", 0, 0, err
	}
	consumer, err = p.requiredInt(1, 1<<62, "consumer_id")
	return p, topic, part, consumer, err
}

// handleConsume: POST (or GET) /v1/consume.
func (s *server) handleConsume(w http.ResponseWriter, q *request) error {
	p, topic, part, consumer, err := consumerParams(q)
	if err != nil {
		return err
	}
	limit, err := p.optionalInt(1, 1, int64(s.cfg.MaxReadMessages), "max")
	if err != nil {
		return err
	}
	waitMS, err := p.optionalInt(0, 0, s.cfg.LongPollMax.Milliseconds(), "wait_ms")
	if err != nil {
		return err
	}
	msgs, err := s.broker.consume(q.Context(), consumer, topic, part, int(limit), time.Duration(waitMS)*time.Millisecond)
	if err != nil {
		return err
	}
	writeMessages(w, topic, part, msgs, nil)
	return nil
}

// handleRead: GET /v1/read, by offset, without a consumer position.
func (s *server) handleRead(w http.ResponseWriter, q *request) error {
	p, err := q.params()
	if err != nil {
		return err
	}
	topic, part, err := p.topicPartition()
	if err != nil {
		return err
	}
	from, err := p.optionalInt(0, 0, 1<<62, "offset")
	if err != nil {
		return err
	}
	limit, err := p.optionalInt(100, 1, int64(s.cfg.MaxReadMessages), "max")
	if err != nil {
		return err
	}
	msgs, hw, err := s.broker.read(q.Context(), topic, part, from, int(limit))
	if err != nil {
		return err
	}
	writeMessages(w, topic, part, msgs, &hw)
	return nil
}

// handleSize: GET /v1/size.
func (s *server) handleSize(w http.ResponseWriter, q *request) error {
	_, topic, part, consumer, err := consumerParams(q)
	if err != nil {
		return err
	}
	hw, pos, err := s.broker.size(q.Context(), consumer, topic, part)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"status": "success", "topic": topic, "partition": part,
		"size": max(hw-pos, 0), "high_watermark": hw, "position": pos,
	})
	return nil
}

type partitionAnswer struct {
	Topic         string `json:"topic"`
	Partition     int    `json:"partition"`
	Epoch         int64  `json:"epoch"`
	HighWatermark int64  `json:"high_watermark"`
}

// handlePartitions: GET /v1/partitions, the partitions served now.
func (s *server) handlePartitions(w http.ResponseWriter, q *request) error {
	parts := s.broker.servedPartitions()
	out := make([]partitionAnswer, len(parts))
	for i, pt := range parts {
		out[i] = partitionAnswer{Topic: pt.topic, Partition: pt.partition, Epoch: pt.epoch, HighWatermark: pt.hw.Load()}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "broker_id": s.broker.ID(), "partitions": out})
	return nil
}

// handleHealth: GET /healthz.
func (s *server) handleHealth(w http.ResponseWriter, q *request) error {
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "broker_id": s.broker.ID(), "seq": s.broker.AppliedSeq()})
	return nil
}
