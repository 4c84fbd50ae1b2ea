// Package statuspage is the status page of a logq manager: GET /ui,
// server-rendered with html/template from the manager's state, refreshed in
// place by a few lines of plain JavaScript (assets/ui.js polls the same URL
// and swaps the content). No build step, no CDN: the assets are embedded
// and served at GET /ui/assets/{name}, under a Content-Security-Policy
// that keeps the page to them.
//
// GET /ui?at=SEQ shows the state as of SEQ: the latest snapshot at or
// before SEQ plus the events after it, folded by projection.Apply, the
// same replay `logq state --at SEQ` does. Live values (high watermarks,
// consumer lag, heartbeat ages) exist only for now and are not shown then.
//
// The page knows nothing of the manager: it asks a Source (which the
// manager implements) for the state, the events and the live values, and
// its handlers return their failures as logq errors for the manager's one
// error writer (a browser gets the page with the error on it instead).
package statuspage

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
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/projection"
)

//go:embed assets
var assets embed.FS

var pageTemplate = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"atLink": func(seq int64) string { return "ui?at=" + strconv.FormatInt(seq, 10) },
}).ParseFS(assets, "assets/page.html"))

// Bounds of the page, so that a large cluster renders quickly.
const (
	maxRows       = 200 // brokers, partitions, consumers, producers
	defaultEvents = 25
	maxEvents     = 500
	refresh       = 2 * time.Second
)

// HeartbeatWait bounds the wait for the writer's heartbeat ages, here and
// at GET /ui/heartbeats (the writer's decision lock may be busy): a page
// must not hang on a slow database.
const HeartbeatWait = 500 * time.Millisecond

// csp keeps the page to its own assets.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Config is what the page says about the manager serving it.
type Config struct {
	Name, AdvertiseURL string
	Role, TailMode     string // as configured
	// HeartbeatInterval and HeartbeatTimeout are the brokers' (they color
	// the heartbeat ages).
	HeartbeatInterval, HeartbeatTimeout time.Duration
	// Client asks the writer for its heartbeat ages (GET /ui/heartbeats).
	Client *http.Client
}

// Partition names one partition at the broker that answered for it.
type Partition struct {
	Topic  string
	Index  int
	Broker int64
}

// Consumer names the partitions of a topic one consumer reads.
type Consumer struct {
	ID         int64
	Topic      string
	Partitions []int
}

// Lag is a consumer's lag: Messages summed over its partitions; Known is
// false when some partition's owner did not answer (Messages then counts
// the others).
type Lag struct {
	Messages int64
	Known    bool
}

// Source is what the page shows, as the manager knows it.
type Source interface {
	// IsWriter reports whether this manager is the writer.
	IsWriter() bool
	// State returns the current state; the page does not change it.
	State() *projection.State
	// StateAt returns the state as of seq, replayed from the log.
	StateAt(ctx context.Context, seq int64) (*projection.State, error)
	// Events returns up to limit events with seq > from, oldest first.
	Events(ctx context.Context, from int64, limit int) ([]logq.Event, error)
	// HighWatermarks asks the brokers (id → address) for the high
	// watermarks of the partitions they own; a broker that does not
	// answer leaves its partitions out.
	HighWatermarks(ctx context.Context, seq int64, brokers map[int64]string) map[Partition]int64
	// ConsumerLags returns each consumer's lag (one per consumer, in
	// order): how many messages of its partitions it has not consumed
	// yet, as their owners answer.
	ConsumerLags(ctx context.Context, consumers []Consumer) []Lag
	// HeartbeatAges returns, on the writer, the time since each broker's
	// last heartbeat; ok is false on a reader or when the writer does not
	// tell within wait.
	HeartbeatAges(wait time.Duration) (ages map[int64]time.Duration, ok bool)
	// KnownWriter is the URL of the writer named by the log, "" if none.
	KnownWriter() string
}

// Page serves the status page of one manager.
type Page struct {
	cfg Config
	src Source
}

// New returns the page of the manager described by cfg, showing src.
func New(cfg Config, src Source) *Page {
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	return &Page{cfg: cfg, src: src}
}

// ServeAsset is GET /ui/assets/{name}: the page's script, style sheet and
// images; an unknown name (the template included) is ENotFound.
func ServeAsset(w http.ResponseWriter, name string) error {
	file := name
	if path.Ext(file) == ".html" {
		file = "" // templates are not assets
	}
	data, err := assets.ReadFile("assets/" + file)
	if err != nil || file == "" {
		return logq.Errorf(logq.ENotFound, "no asset %q", name)
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(file)))
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(data)
	return nil
}

// The page's data.
type (
	page struct {
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

		Brokers   []brokerRow
		Topics    []topicTable
		Consumers []clientRow
		Producers []clientRow
		Events    []eventRow
		EventsErr string
		// More counts rows left out by maxRows, per table.
		MoreBrokers, MorePartitions, MoreConsumers, MoreProducers int
		Groups                                                    []groupRow // consumer groups (groups.go)
		MoreGroups                                                int
	}
	brokerRow struct {
		ID           int64
		Address      string
		Alive        bool
		Removed      bool
		Partitions   int
		HeartbeatAge string
		AgeClass     string // ok, warn, bad or ""
	}
	topicTable struct {
		Name       string
		Partitions []partitionRow
	}
	partitionRow struct {
		Index         int
		Broker        int64
		Address       string
		Epoch         int64
		HighWatermark string
		Writable      bool
		Storage       string // its storage cluster, shown when there are several
	}
	clientRow struct {
		ID        int64
		Topic     string
		Partition string
		Active    bool
		Lag       string
		LagClass  string

		parts []int
	}
	eventRow struct {
		Seq     int64
		At      string
		Type    string
		Epoch   int64
		Data    string
		Current bool
	}
)

// Serve is GET /ui: it renders the page. A bad ?at= or ?events= renders
// the live page with the error and status 400 for a browser, and is a logq
// error (EInvalid; EUnavailable when the replay fails) for an API client.
func (sp *Page) Serve(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	status := http.StatusOK
	p := page{
		Name: sp.cfg.Name, Advertise: sp.cfg.AdvertiseURL, ConfiguredRole: sp.cfg.Role,
		TailMode: sp.cfg.TailMode, Role: "reader", RefreshMS: refresh.Milliseconds(),
		HeartbeatInterval: sp.cfg.HeartbeatInterval.String(), HeartbeatTimeout: sp.cfg.HeartbeatTimeout.String(),
		Now: time.Now().UTC().Format("2006-01-02 15:04:05 UTC"),
	}
	if sp.src.IsWriter() {
		p.Role = "writer"
	}
	q := r.URL.Query()
	nEvents := defaultEvents
	if v := q.Get("events"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxEvents {
			p.Error, status = fmt.Sprintf("events=%q: want a number of events from 0 to %d", v, maxEvents), http.StatusBadRequest
		} else {
			nEvents = n
		}
	}
	s := sp.src.State()
	p.AppliedSeq = s.Seq
	if v := q.Get("at"); v != "" {
		at, err := strconv.ParseInt(v, 10, 64)
		switch {
		case err != nil || at < 0:
			p.Error, status = fmt.Sprintf("at=%q: want a seq, a whole number from 0 to %d", v, s.Seq), http.StatusBadRequest
		case at > s.Seq:
			p.Error, status = fmt.Sprintf("seq %d is beyond this manager's applied seq %d; showing the live state", at, s.Seq), http.StatusBadRequest
		case at < s.Seq:
			past, err := sp.src.StateAt(ctx, at)
			if err != nil {
				p.Error, status = fmt.Sprintf("cannot replay to seq %d: %s", at, logq.ErrorMessage(err)), http.StatusServiceUnavailable
				break
			}
			s, p.Replay = past, true
		}
	}
	p.Seq, p.Writer, p.WriterEpoch = s.Seq, s.Writer, s.WriterEpoch
	p.PrevSeq, p.NextSeq = max(0, s.Seq-1), min(p.AppliedSeq, s.Seq+1)
	sp.fill(ctx, &p, s)
	p.Events, p.EventsErr = sp.events(ctx, s.Seq, nEvents, p.Replay)

	if status != http.StatusOK && !acceptsHTML(r) {
		// An API client (curl, a script) gets the API's JSON failure; a
		// browser gets the page with the error on it.
		code := logq.EInvalid
		if status == http.StatusServiceUnavailable {
			code = logq.EUnavailable
		}
		return &logq.Error{Code: code, Message: p.Error}
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, &p); err != nil {
		return logq.Internal(err, "render the status page")
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	return nil
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

// fill fills the tables from s, plus, for the live state, the values
// only the brokers and the writer have.
func (sp *Page) fill(ctx context.Context, p *page, s *projection.State) {
	live := map[int64]string{} // broker id → address
	for _, id := range s.BrokerIDs() {
		b := s.Brokers[id]
		p.BrokersTotal++
		if b.Alive && !b.Removed {
			p.BrokersAlive++
			live[id] = b.Address
		}
		if len(p.Brokers) == maxRows {
			p.MoreBrokers++
			continue
		}
		p.Brokers = append(p.Brokers, brokerRow{ID: id, Address: b.Address, Alive: b.Alive, Removed: b.Removed,
			Partitions: len(s.PartitionsOf(id)), HeartbeatAge: "—"})
	}
	rows := 0
	for _, name := range s.TopicNames() {
		t := s.Topics[name]
		ut := topicTable{Name: name}
		for _, part := range t.Partitions {
			p.PartitionCount++
			writable := s.Writable(name, part.Index)
			if !writable {
				p.Unwritable++
			}
			if rows == maxRows {
				p.MorePartitions++
				continue
			}
			rows++
			up := partitionRow{Index: part.Index, Broker: part.Broker, Epoch: part.Epoch, Writable: writable, HighWatermark: "—"}
			if len(s.StorageClusters) > 0 { // storage clusters (issue 17)
				up.Storage = projection.StorageClusterName(part.StorageCluster)
			}
			if b, ok := s.Brokers[part.Broker]; ok {
				up.Address = b.Address
			}
			ut.Partitions = append(ut.Partitions, up)
		}
		p.Topics = append(p.Topics, ut)
	}
	p.Consumers, p.MoreConsumers, p.ActiveConsumers = clientRows(s, false)
	p.Producers, p.MoreProducers, p.ActiveProducers = clientRows(s, true)
	p.Groups, p.MoreGroups = groupRows(s) // consumer groups (groups.go)
	if p.Replay {
		p.HeartbeatNote = "High watermarks, lags and heartbeat ages are live values: shown for the current seq only."
		return
	}

	// Live values, concurrently and bounded: high watermarks (one call per
	// broker), lags (one per consumer and partition), heartbeat ages (the
	// writer's memory).
	var wg sync.WaitGroup
	var hwm map[Partition]int64
	wg.Go(func() { hwm = sp.src.HighWatermarks(ctx, s.Seq, live) })
	wg.Go(func() { sp.lags(ctx, p.Consumers) })
	var ages map[int64]time.Duration
	var agesOK bool
	wg.Go(func() { ages, agesOK, p.HeartbeatNote = sp.heartbeatAges(ctx) })
	wg.Wait()
	for i := range p.Topics {
		t := &p.Topics[i]
		for j := range t.Partitions {
			pt := &t.Partitions[j]
			if v, ok := hwm[Partition{t.Name, pt.Index, pt.Broker}]; ok {
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
			case age < sp.cfg.HeartbeatInterval*3/2:
				b.AgeClass = "ok"
			case age < sp.cfg.HeartbeatTimeout:
				b.AgeClass = "warn"
			default:
				b.AgeClass = "bad"
			}
		}
	}
}

// uiClients lists the producers or consumers of s, by id, at most
// maxRows, with how many were left out and how many are active.
func clientRows(s *projection.State, producers bool) (out []clientRow, more, active int) {
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
		if len(out) == maxRows {
			more++
			continue
		}
		u := clientRow{ID: c.id, Topic: c.topic, Partition: "all", Active: !c.inactive, Lag: "—"}
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

// lags fills in the consumers' lags; a lag some broker did not answer for
// is shown as "≥ N?".
func (sp *Page) lags(ctx context.Context, consumers []clientRow) {
	var ask []Consumer
	var rows []*clientRow
	for i := range consumers {
		if c := &consumers[i]; len(c.parts) > 0 {
			ask = append(ask, Consumer{ID: c.ID, Topic: c.Topic, Partitions: c.parts})
			rows = append(rows, c)
		}
	}
	if len(ask) == 0 {
		return
	}
	for i, lag := range sp.src.ConsumerLags(ctx, ask) {
		c := rows[i]
		c.Lag = strconv.FormatInt(lag.Messages, 10)
		switch {
		case !lag.Known:
			c.Lag, c.LagClass = "≥ "+c.Lag+"?", "warn"
		case lag.Messages == 0:
			c.LagClass = "ok"
		}
	}
}

// heartbeatAges returns the brokers' heartbeat ages and a note on them:
// this manager's own on the writer, the writer's (GET /ui/heartbeats) on
// a reader.
func (sp *Page) heartbeatAges(ctx context.Context) (map[int64]time.Duration, bool, string) {
	if sp.src.IsWriter() {
		ages, ok := sp.src.HeartbeatAges(HeartbeatWait)
		if !ok {
			return nil, false, "Heartbeat ages are unavailable: the writer is busy; they return with the next refresh."
		}
		return ages, true, ""
	}
	target := sp.src.KnownWriter()
	if target == "" || target == sp.cfg.AdvertiseURL {
		return nil, false, "Heartbeat ages are known to the writer only, and no writer is known."
	}
	ctx, cancel := context.WithTimeout(ctx, HeartbeatWait)
	defer cancel()
	unavailable := "Heartbeat ages are known to the writer only, and the writer (" + target + ") did not answer."
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+"/ui/heartbeats", nil)
	if err != nil {
		return nil, false, unavailable
	}
	req.Header.Set(api.HeaderForwarded, sp.cfg.Name)
	resp, err := sp.cfg.Client.Do(req)
	if err != nil {
		return nil, false, unavailable
	}
	defer resp.Body.Close()
	var ans api.HeartbeatsAnswer
	if err := api.DecodeReader(io.LimitReader(resp.Body, 1<<20), &ans); err != nil || resp.StatusCode != http.StatusOK {
		return nil, false, unavailable
	}
	ages := make(map[int64]time.Duration, len(ans.Heartbeats))
	for _, h := range ans.Heartbeats {
		ages[h.BrokerID] = time.Duration(h.AgeMS) * time.Millisecond
	}
	return ages, true, "Heartbeat ages as the writer (" + target + ") sees them."
}

// events returns the n events up to seq, newest first; mark highlights
// the one at seq (the replay target).
func (sp *Page) events(ctx context.Context, seq int64, n int, mark bool) ([]eventRow, string) {
	if n == 0 || seq == 0 {
		return nil, ""
	}
	from := max(0, seq-int64(n))
	events, err := sp.src.Events(ctx, from, int(seq-from))
	if err != nil {
		return nil, "cannot read the event log: " + logq.ErrorMessage(err)
	}
	out := make([]eventRow, 0, len(events))
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
		out = append(out, eventRow{Seq: e.Seq, At: e.At.UTC().Format("2006-01-02 15:04:05.000"), Type: e.Type,
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
