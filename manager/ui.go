package manager

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/eventlog"
	"github.com/logq/logq/projection"
)

// The status page: GET /ui on every manager, server-rendered with
// html/template from this manager's state, refreshed in place by a few
// lines of plain JavaScript (ui/ui.js polls the same URL and swaps the
// content). No build step, no CDN: the assets are embedded.
//
// GET /ui?at=SEQ shows the state as of SEQ: the latest snapshot at or
// before SEQ plus the events after it, folded by projection.Apply, the
// same replay `logq state --at SEQ` does. Live values (high watermarks,
// consumer lag, heartbeat ages) exist only for now and are not shown then.

//go:embed ui
var uiFS embed.FS

var uiTemplate = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"atLink": func(seq int64) string { return "ui?at=" + strconv.FormatInt(seq, 10) },
}).ParseFS(uiFS, "ui/page.html"))

// Bounds of the page, so that a large cluster renders quickly.
const (
	uiMaxRows          = 200 // brokers, partitions, consumers, producers
	uiDefaultEvents    = 25
	uiMaxEvents        = 500
	uiRefresh          = 2 * time.Second
	uiLagConcurrency   = 16
	uiHeartbeatTimeout = 500 * time.Millisecond
)

// uiCSP keeps the page to its own assets.
const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// uiRoutes registers the status page, its assets and the writer's
// heartbeat ages (read by the readers' pages).
func (m *Manager) uiRoutes(r *httprouter.Router) {
	r.Handle("GET", "/ui", m.uiObserved("/ui", m.serveUI))
	r.Handle("GET", "/ui/assets/:name", m.uiObserved("/ui/assets/:name", serveUIAsset))
	m.handle(r, "GET", "/ui/heartbeats", m.handleUIHeartbeats)
}

// uiObserved records metrics for a handler that writes its own answer.
func (m *Manager) uiObserved(route string, h func(w http.ResponseWriter, r *http.Request, ps httprouter.Params)) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h(sw, r, ps)
		m.metrics.observeRequest(route, r.Method, sw.code(), time.Since(start))
	}
}

func serveUIAsset(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	name := ps.ByName("name")
	if path.Ext(name) == ".html" {
		name = "" // templates are not assets
	}
	data, err := uiFS.ReadFile("ui/" + name)
	if err != nil || name == "" {
		writeFailure(w, http.StatusNotFound, logq.ENotFound, fmt.Sprintf("no asset %q", ps.ByName("name")))
		return
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(data)
}

// The page's data.
type (
	uiPage struct {
		Name, Advertise, Role, ConfiguredRole, TailMode string
		AppliedSeq                                      int64 // live
		Seq                                             int64 // of the state shown
		Replay                                          bool  // Seq is a past seq (?at=)
		PrevSeq, NextSeq                                int64
		Writer                                          string
		WriterEpoch                                     int64
		Error                                           string
		Now                                             string
		RefreshMS                                       int64
		HeartbeatInterval, HeartbeatTimeout             string
		HeartbeatNote                                   string

		BrokersAlive, BrokersTotal, PartitionCount, Unwritable int
		ActiveConsumers, ActiveProducers                       int

		Brokers   []uiBroker
		Topics    []uiTopic
		Consumers []uiClient
		Producers []uiClient
		Events    []uiEvent
		EventsErr string
		// More counts rows left out by uiMaxRows, per table.
		MoreBrokers, MorePartitions, MoreConsumers, MoreProducers int
	}
	uiBroker struct {
		ID           int64
		Address      string
		Alive        bool
		Removed      bool
		Partitions   int
		HeartbeatAge string
		AgeClass     string // ok, warn, bad or ""
	}
	uiTopic struct {
		Name       string
		Partitions []uiPartition
	}
	uiPartition struct {
		Index         int
		Broker        int64
		Address       string
		Epoch         int64
		HighWatermark string
		Writable      bool
	}
	uiClient struct {
		ID        int64
		Topic     string
		Partition string
		Active    bool
		Lag       string
		LagClass  string

		parts []int
	}
	uiEvent struct {
		Seq     int64
		At      string
		Type    string
		Epoch   int64
		Data    string
		Current bool
	}
)

// serveUI renders the page; a bad ?at= renders the live page with the
// error and status 400.
func (m *Manager) serveUI(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	status := http.StatusOK
	p := uiPage{
		Name: m.cfg.Name, Advertise: m.cfg.AdvertiseURL, ConfiguredRole: string(m.cfg.Role),
		TailMode: string(m.cfg.TailMode), Role: "reader", RefreshMS: uiRefresh.Milliseconds(),
		HeartbeatInterval: m.cfg.HeartbeatInterval.String(), HeartbeatTimeout: m.cfg.HeartbeatTimeout.String(),
		Now: time.Now().UTC().Format("2006-01-02 15:04:05 UTC"),
	}
	if m.IsWriter() {
		p.Role = "writer"
	}
	q := r.URL.Query()
	nEvents := uiDefaultEvents
	if v := q.Get("events"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > uiMaxEvents {
			p.Error, status = fmt.Sprintf("events=%q: want a number of events from 0 to %d", v, uiMaxEvents), http.StatusBadRequest
		} else {
			nEvents = n
		}
	}
	s := m.State()
	p.AppliedSeq = s.Seq
	if v := q.Get("at"); v != "" {
		at, err := strconv.ParseInt(v, 10, 64)
		switch {
		case err != nil || at < 0:
			p.Error, status = fmt.Sprintf("at=%q: want a seq, a whole number from 0 to %d", v, s.Seq), http.StatusBadRequest
		case at > s.Seq:
			p.Error, status = fmt.Sprintf("seq %d is beyond this manager's applied seq %d; showing the live state", at, s.Seq), http.StatusBadRequest
		case at < s.Seq:
			past, err := m.replica.StateAt(ctx, at)
			if err != nil {
				p.Error, status = fmt.Sprintf("cannot replay to seq %d: %s", at, logq.ErrorMessage(err)), http.StatusServiceUnavailable
				break
			}
			s, p.Replay = past, true
		}
	}
	p.Seq, p.Writer, p.WriterEpoch = s.Seq, s.Writer, s.WriterEpoch
	p.PrevSeq, p.NextSeq = max(0, s.Seq-1), min(p.AppliedSeq, s.Seq+1)
	m.uiFill(ctx, &p, s)
	p.Events, p.EventsErr = m.uiEvents(ctx, s.Seq, nEvents, p.Replay)

	if status != http.StatusOK && !acceptsHTML(r) {
		// An API client (curl, a script) gets the API's JSON failure; a
		// browser gets the page with the error on it.
		code := logq.EInvalid
		if status == http.StatusServiceUnavailable {
			code = logq.EUnavailable
		}
		writeFailure(w, status, code, p.Error)
		return
	}
	var buf bytes.Buffer
	if err := uiTemplate.Execute(&buf, &p); err != nil {
		m.writeError(w, r, logq.Internal(err, "render the status page"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", uiCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// acceptsHTML reports whether the request asks for HTML by name, as
// browsers do (curl's */* does not count).
func acceptsHTML(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if mt == "text/html" || mt == "application/xhtml+xml" {
			return true
		}
	}
	return false
}

// uiFill fills the tables from s, plus, for the live state, the values
// only the brokers and the writer have.
func (m *Manager) uiFill(ctx context.Context, p *uiPage, s *projection.State) {
	owners := map[int64]owner{}
	for _, id := range s.BrokerIDs() {
		b := s.Brokers[id]
		p.BrokersTotal++
		if b.Alive && !b.Removed {
			p.BrokersAlive++
			owners[id] = owner{broker: id, address: b.Address}
		}
		if len(p.Brokers) == uiMaxRows {
			p.MoreBrokers++
			continue
		}
		p.Brokers = append(p.Brokers, uiBroker{ID: id, Address: b.Address, Alive: b.Alive, Removed: b.Removed,
			Partitions: len(s.PartitionsOf(id)), HeartbeatAge: "—"})
	}
	rows := 0
	for _, name := range s.TopicNames() {
		t := s.Topics[name]
		ut := uiTopic{Name: name}
		for _, part := range t.Partitions {
			p.PartitionCount++
			writable := s.Writable(name, part.Index)
			if !writable {
				p.Unwritable++
			}
			if rows == uiMaxRows {
				p.MorePartitions++
				continue
			}
			rows++
			up := uiPartition{Index: part.Index, Broker: part.Broker, Epoch: part.Epoch, Writable: writable, HighWatermark: "—"}
			if b, ok := s.Brokers[part.Broker]; ok {
				up.Address = b.Address
			}
			ut.Partitions = append(ut.Partitions, up)
		}
		p.Topics = append(p.Topics, ut)
	}
	p.Consumers, p.MoreConsumers, p.ActiveConsumers = uiClients(s, false)
	p.Producers, p.MoreProducers, p.ActiveProducers = uiClients(s, true)
	if p.Replay {
		p.HeartbeatNote = "High watermarks, lags and heartbeat ages are live values: shown for the current seq only."
		return
	}

	// Live values, concurrently and bounded: high watermarks (one call per
	// broker), lags (one per consumer and partition), heartbeat ages (the
	// writer's memory).
	var wg sync.WaitGroup
	var hwm map[partKey]int64
	wg.Go(func() { hwm = m.highWatermarks(ctx, owners, s.Seq) })
	wg.Go(func() { m.uiLags(ctx, p.Consumers, s.Seq) })
	var ages map[int64]time.Duration
	var agesOK bool
	wg.Go(func() { ages, agesOK, p.HeartbeatNote = m.uiHeartbeatAges(ctx) })
	wg.Wait()
	for i := range p.Topics {
		t := &p.Topics[i]
		for j := range t.Partitions {
			pt := &t.Partitions[j]
			if v, ok := hwm[partKey{t.Name, pt.Index, pt.Broker}]; ok {
				pt.HighWatermark = strconv.FormatInt(v, 10)
			} else if pt.Writable {
				pt.HighWatermark = "?"
			}
		}
	}
	if agesOK {
		for i := range p.Brokers {
			b := &p.Brokers[i]
			age, ok := ages[b.ID]
			if !ok || b.Removed {
				continue
			}
			b.HeartbeatAge = formatAge(age)
			switch {
			case age < m.cfg.HeartbeatInterval*3/2:
				b.AgeClass = "ok"
			case age < m.cfg.HeartbeatTimeout:
				b.AgeClass = "warn"
			default:
				b.AgeClass = "bad"
			}
		}
	}
}

// uiClients lists the producers or consumers of s, by id, at most
// uiMaxRows, with how many were left out and how many are active.
func uiClients(s *projection.State, producers bool) (out []uiClient, more, active int) {
	type row struct {
		id        int64
		topic     string
		partition *int
		inactive  bool
	}
	var all []row
	if producers {
		for id, c := range s.Producers {
			all = append(all, row{id, c.Topic, c.Partition, c.Inactive})
		}
	} else {
		for id, c := range s.Consumers {
			all = append(all, row{id, c.Topic, c.Partition, c.Inactive})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].id < all[j].id })
	for _, c := range all {
		if !c.inactive {
			active++
		}
		if len(out) == uiMaxRows {
			more++
			continue
		}
		u := uiClient{ID: c.id, Topic: c.topic, Partition: "all", Active: !c.inactive, Lag: "—"}
		switch t, ok := s.Topics[c.topic]; {
		case c.partition != nil:
			u.Partition = strconv.Itoa(*c.partition)
			u.parts = []int{*c.partition}
		case ok:
			for i := range t.Partitions {
				u.parts = append(u.parts, i)
			}
		}
		out = append(out, u)
	}
	return out, more, active
}

// uiLags asks the owning brokers each consumer's lag (GET /v1/size per
// partition), with bounded concurrency; a lag some broker did not answer
// for is shown as "≥ N?".
func (m *Manager) uiLags(ctx context.Context, consumers []uiClient, seq int64) {
	ctx, cancel := context.WithTimeout(ctx, min(m.cfg.BrokerTimeout, 2*time.Second))
	defer cancel()
	type job struct{ c, partition int }
	var jobs []job
	for i, c := range consumers {
		for _, pt := range c.parts {
			jobs = append(jobs, job{i, pt})
		}
	}
	sizes := make([]int64, len(jobs))
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, uiLagConcurrency)
	var wg sync.WaitGroup
	for j, jb := range jobs {
		c := consumers[jb.c]
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			o, _, err := m.ownerOf(c.Topic, jb.partition)
			if err != nil {
				errs[j] = err
				return
			}
			q := url.Values{"topic": {c.Topic}, "partition": {strconv.Itoa(jb.partition)}, "consumer_id": {strconv.FormatInt(c.ID, 10)}}
			var ans api.BrokerSizeAnswer
			errs[j] = m.callBroker(ctx, o, seq, "size", "GET", "/v1/size", q, nil, &ans, 0)
			sizes[j] = ans.Size
		})
	}
	wg.Wait()
	lags := make([]int64, len(consumers))
	unknown := make([]bool, len(consumers))
	for j, jb := range jobs {
		if errs[j] != nil {
			unknown[jb.c] = true
			continue
		}
		lags[jb.c] += sizes[j]
	}
	for i := range consumers {
		c := &consumers[i]
		if len(c.parts) == 0 {
			continue
		}
		c.Lag = strconv.FormatInt(lags[i], 10)
		switch {
		case unknown[i]:
			c.Lag, c.LagClass = "≥ "+c.Lag+"?", "warn"
		case lags[i] == 0:
			c.LagClass = "ok"
		}
	}
}

// uiHeartbeatAges returns the brokers' heartbeat ages: this manager's own
// on the writer, the writer's (GET /ui/heartbeats) on a reader.
func (m *Manager) uiHeartbeatAges(ctx context.Context) (map[int64]time.Duration, bool, string) {
	if m.IsWriter() {
		ages, ok := m.heartbeatAges(uiHeartbeatTimeout)
		if !ok {
			return nil, false, "Heartbeat ages are unavailable: the writer is busy; they return with the next refresh."
		}
		return ages, true, ""
	}
	target := m.knownWriter()
	if target == "" || target == m.cfg.AdvertiseURL {
		return nil, false, "Heartbeat ages are known to the writer only, and no writer is known."
	}
	ctx, cancel := context.WithTimeout(ctx, uiHeartbeatTimeout)
	defer cancel()
	unavailable := "Heartbeat ages are known to the writer only, and the writer (" + target + ") did not answer."
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+"/ui/heartbeats", nil)
	if err != nil {
		return nil, false, unavailable
	}
	req.Header.Set(headerForwarded, m.cfg.Name)
	resp, err := m.peers.Do(req)
	if err != nil {
		return nil, false, unavailable
	}
	defer resp.Body.Close()
	var ans uiHeartbeatsAnswer
	if err := api.DecodeReader(io.LimitReader(resp.Body, 1<<20), &ans); err != nil || resp.StatusCode != http.StatusOK {
		return nil, false, unavailable
	}
	ages := make(map[int64]time.Duration, len(ans.Heartbeats))
	for _, h := range ans.Heartbeats {
		ages[h.BrokerID] = time.Duration(h.AgeMS) * time.Millisecond
	}
	return ages, true, "Heartbeat ages as the writer (" + target + ") sees them."
}

type uiHeartbeatsAnswer = api.HeartbeatsAnswer

// handleUIHeartbeats is GET /ui/heartbeats: on the writer, the time since
// each broker's last heartbeat (on its clock); elsewhere not_writer.
func (m *Manager) handleUIHeartbeats(r *http.Request, _ httprouter.Params) (any, error) {
	ages, ok := m.heartbeatAges(uiHeartbeatTimeout)
	if !ok {
		if !m.IsWriter() {
			return nil, logq.Errorf(logq.ENotWriter, "heartbeat ages are known to the writer only; this manager is not the writer")
		}
		return nil, logq.Errorf(logq.EUnavailable, "the writer is busy; retry")
	}
	var ans uiHeartbeatsAnswer
	ans.Status, ans.Seq = success, m.AppliedSeq()
	ids := make([]int64, 0, len(ages))
	for id := range ages {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		ans.Heartbeats = append(ans.Heartbeats, api.BrokerHeartbeat{BrokerID: id, AgeMS: ages[id].Milliseconds()})
	}
	return ans, nil
}

// uiEvents returns the n events up to seq, newest first; mark highlights
// the one at seq (the replay target).
func (m *Manager) uiEvents(ctx context.Context, seq int64, n int, mark bool) ([]uiEvent, string) {
	if n == 0 || seq == 0 {
		return nil, ""
	}
	from := max(0, seq-int64(n))
	events, err := eventlog.Read(ctx, m.db, from, int(seq-from))
	if err != nil {
		return nil, "cannot read the event log: " + logq.ErrorMessage(err)
	}
	out := make([]uiEvent, 0, len(events))
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		var data bytes.Buffer
		if err := json.Compact(&data, e.Data); err != nil {
			data.Reset()
			data.Write(e.Data)
		}
		d := data.String()
		if len(d) > 300 {
			d = d[:300] + "…"
		}
		out = append(out, uiEvent{Seq: e.Seq, At: e.At.UTC().Format("2006-01-02 15:04:05.000"), Type: e.Type,
			Epoch: e.Epoch, Data: d, Current: mark && e.Seq == seq})
	}
	return out, ""
}

// formatAge prints a duration the way a status page should: 0.4s, 12s,
// 3m05s, 2h07m.
func formatAge(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}
