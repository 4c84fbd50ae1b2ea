package manager

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
	"github.com/logq/logq/decide"
)

// Producers' and consumers' liveness.
//
// The writer keeps in memory when it last heard from every producer and
// consumer, on its own clock (Config.Now). Any request of a client counts:
// produce, consume, size, and the explicit heartbeats (POST
// /producers/{id}/heartbeat, /consumers/{id}/heartbeat) that idle clients
// send. A data-plane request may reach any manager: a reader collects the
// ids it heard from and forwards them to the writer every ClientSeenFlush
// (POST /clients/seen), at once when one of them is shown inactive. The
// writer stamps them with its own clock on receipt, so clock skew between
// managers does not matter; the price is a delay of at most one flush
// interval, far below the timeout. Heartbeats are control-plane writes and
// are forwarded to the writer like any other.
//
// CheckLiveness turns silence past ClientTimeout into
// ClientStatusChanged{active: false} and a client heard from since into
// ClientStatusChanged{active: true}: only changes are events. A new writer
// starts every active client's timer afresh, as for brokers; an inactive
// client stays inactive until it is heard from.

// Client kinds, as in ClientStatusChanged.
const (
	kindProducer = decide.KindProducer
	kindConsumer = decide.KindConsumer
)

// maxLagQueries bounds the concurrent /v1/size requests of GET /consumers.
const maxLagQueries = 16

type clientKey = decide.Client

// clientTracker is the in-memory part of client liveness. The writer's
// part (seen, quiet) is the client half of its decide.Liveness, changed
// by set and by decisions' effects (applyEffects).
type clientTracker struct {
	mu   sync.Mutex
	seen map[clientKey]time.Time // writer: last heard from, on its clock
	// quiet (writer) holds the clients it decided to show inactive and has
	// not heard from since: only hearing from a client (set) revives it,
	// whatever else refreshes seen.
	quiet   map[clientKey]bool
	pending map[clientKey]struct{} // reader: heard from since the last flush
}

// set records that k was heard from at t.
func (c *clientTracker) set(k clientKey, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[clientKey]time.Time{}
	}
	c.seen[k] = t
	delete(c.quiet, k)
}

// lastSeen returns when k was last heard from, if known.
func (c *clientTracker) lastSeen(k clientKey) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.seen[k]
	return t, ok
}

// clear forgets the writer's times (the term ended).
func (c *clientTracker) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen, c.quiet = nil, nil
}

func (c *clientTracker) addPending(k clientKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		c.pending = map[clientKey]struct{}{}
	}
	c.pending[k] = struct{}{}
}

// takePending returns and forgets the pending ids.
func (c *clientTracker) takePending() map[clientKey]struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending
	c.pending = nil
	return p
}

// restorePending puts back ids whose forwarding failed.
func (c *clientTracker) restorePending(keys map[clientKey]struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		c.pending = map[clientKey]struct{}{}
	}
	for k := range keys {
		c.pending[k] = struct{}{}
	}
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// touch records that a producer or consumer was heard from now. inactive
// is its status in this manager's state: for a client shown inactive the
// writer checks liveness at once and a reader forwards at once, so that
// it is shown active again promptly.
func (m *Manager) touch(kind string, id int64, inactive bool) {
	k := clientKey{Kind: kind, ID: id}
	if m.IsWriter() {
		m.clients.set(k, m.cfg.Now())
		if inactive {
			kick(m.clientKick)
		}
		return
	}
	m.clients.addPending(k)
	if inactive {
		kick(m.seenKick)
	}
}

// recordSeen records, on the writer, that the clients in keys were heard
// from now (unknown ids are ignored) and checks liveness at once if one of
// them is shown inactive (decide.Seen).
func (m *Manager) recordSeen(keys map[clientKey]struct{}) {
	list := make([]clientKey, 0, len(keys))
	for k := range keys {
		list = append(list, k)
	}
	m.mu.RLock()
	e, wake := decide.Seen(m.state, list, m.cfg.Now())
	m.mu.RUnlock()
	for k, t := range e.ClientsHeard {
		m.clients.set(k, t)
	}
	if wake {
		kick(m.clientKick)
	}
}

// runSeenFlush forwards client activity heard by this manager to the
// writer every ClientSeenFlush, or at once when kicked, until ctx is done.
func (m *Manager) runSeenFlush(ctx context.Context) {
	t := time.NewTicker(m.cfg.ClientSeenFlush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.seenKick:
		}
		if err := m.flushSeen(ctx); err != nil && ctx.Err() == nil {
			m.log.Debug().Err(err).Msg("cannot forward client activity to the writer yet; kept for the next flush")
		}
	}
}

// seenRequest is the body of POST /clients/seen: ids heard from.
type seenRequest = api.ClientsSeenRequest

// flushSeen forwards the producers and consumers heard from since the last
// flush to the writer (on the writer itself, it records them). What cannot
// be forwarded is kept for the next flush.
func (m *Manager) flushSeen(ctx context.Context) error {
	keys := m.clients.takePending()
	if len(keys) == 0 {
		return nil
	}
	if m.IsWriter() {
		m.recordSeen(keys)
		return nil
	}
	var body seenRequest
	for k := range keys {
		if k.Kind == kindProducer {
			body.Producers = append(body.Producers, k.ID)
		} else {
			body.Consumers = append(body.Consumers, k.ID)
		}
	}
	if err := m.postToWriter(ctx, "/clients/seen", body); err != nil {
		m.clients.restorePending(keys)
		return err
	}
	return nil
}

// postToWriter sends a request of this manager's own to the writer named
// by the latest WriterElected, marked as forwarded (a manager that is not
// the writer refuses it rather than forward it again).
func (m *Manager) postToWriter(ctx context.Context, path string, body any) error {
	target := m.knownWriter()
	if target == "" || target == m.cfg.AdvertiseURL {
		return logq.Errorf(logq.ENotWriter, "no writer is known")
	}
	data, err := api.Marshal(body)
	if err != nil {
		return logq.Internal(err, "encode request to the writer")
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.BrokerTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target+path, bytes.NewReader(data))
	if err != nil {
		return logq.Internal(err, "build request to the writer")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(headerForwarded, m.cfg.Name)
	resp, err := m.peers.Do(req)
	if err != nil {
		return logq.Errorf(logq.EUnavailable, "the writer %s is unreachable", target)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return logq.Errorf(logq.EUnavailable, "the writer %s answered %d", target, resp.StatusCode)
	}
	return nil
}

// handleClientsSeen is POST /clients/seen, sent by readers to the writer.
func (m *Manager) handleClientsSeen(r *http.Request, _ httprouter.Params) (any, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	var req seenRequest
	if err := api.Unmarshal(body, &req); err != nil {
		return nil, logq.Errorf(logq.EInvalid, "body must be {\"producers\":[ids],\"consumers\":[ids]}")
	}
	keys := make(map[clientKey]struct{}, len(req.Producers)+len(req.Consumers))
	for _, id := range req.Producers {
		keys[clientKey{Kind: kindProducer, ID: id}] = struct{}{}
	}
	for _, id := range req.Consumers {
		keys[clientKey{Kind: kindConsumer, ID: id}] = struct{}{}
	}
	m.recordSeen(keys)
	return api.SeqStatusAnswer{Status: success, Seq: m.AppliedSeq()}, nil
}

// handleClientHeartbeat is POST /producers/{id}/heartbeat or
// /consumers/{id}/heartbeat (a write: readers forward it).
func (m *Manager) handleClientHeartbeat(kind string) apiFunc {
	return func(r *http.Request, ps httprouter.Params) (any, error) {
		id, err := pathID(ps, "id", kind)
		if err != nil {
			return nil, err
		}
		if err := m.checkClientOwner(r, kind, id); err != nil { // owners.go
			return nil, err
		}
		if _, err := readBody(r); err != nil { // any body is accepted and ignored
			return nil, err
		}
		seq, err := m.clientHeartbeat(r.Context(), kind, id)
		if err != nil {
			return nil, err
		}
		ans := api.ClientHeartbeatAnswer{Status: success, Active: true, Seq: seq}
		if kind == kindProducer {
			ans.ProducerID = &id
		} else {
			ans.ConsumerID = &id
		}
		return ans, nil
	}
}

// clientInfo is one producer or consumer in GET /producers, /consumers,
// with what computing its lag needs.
type clientInfo struct {
	api.ClientInfo
	parts []int // consumers: the partitions it reads
}

func clientInfos(in []clientInfo) []api.ClientInfo {
	out := make([]api.ClientInfo, len(in))
	for i := range in {
		out[i] = in[i].ClientInfo
	}
	return out
}

func (m *Manager) handleProducers(r *http.Request, ps httprouter.Params) (any, error) {
	return m.listClients(r, kindProducer)
}

func (m *Manager) handleConsumers(r *http.Request, ps httprouter.Params) (any, error) {
	return m.listClients(r, kindConsumer)
}

// listClients answers GET /producers or /consumers. Last-seen times live
// in the writer's memory, so a reader relays the request to the writer;
// when no writer answers, it answers from its own state, with last_seen
// null.
func (m *Manager) listClients(r *http.Request, kind string) (any, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	restore := func() { r.Body = io.NopCloser(bytes.NewReader(body)) }
	if !m.IsWriter() && r.Header.Get(headerForwarded) == "" {
		restore()
		ans, err := m.forward(r)
		if err == nil {
			if raw, ok := ans.(*rawResponse); !ok || raw.status != http.StatusServiceUnavailable {
				return ans, nil
			}
		}
	}
	restore()
	var p api.ListClientsParams
	if err := m.decode(r, &p); err != nil {
		return nil, err
	}
	topic, err := p.TopicOpt()
	if err != nil {
		return nil, err
	}
	withSeen := m.IsWriter()
	now := m.cfg.Now()

	m.mu.RLock()
	seq := m.state.Seq
	var out []clientInfo
	if kind == kindProducer {
		out = make([]clientInfo, 0, len(m.state.Producers))
		for id, c := range m.state.Producers {
			if topic == "" || c.Topic == topic {
				out = append(out, clientInfo{ClientInfo: api.ClientInfo{ProducerID: &id, Topic: c.Topic, Partition: c.Partition, Active: !c.Inactive, Principal: c.Principal}})
			}
		}
	} else {
		out = make([]clientInfo, 0, len(m.state.Consumers))
		for id, c := range m.state.Consumers {
			if topic == "" || c.Topic == topic {
				info := clientInfo{ClientInfo: api.ClientInfo{ConsumerID: &id, Topic: c.Topic, Partition: c.Partition, Active: !c.Inactive, Principal: c.Principal}}
				if c.Partition != nil {
					info.parts = []int{*c.Partition}
				} else if t, ok := m.state.Topics[c.Topic]; ok {
					for i := range t.Partitions {
						info.parts = append(info.parts, i)
					}
				}
				out = append(out, info)
			}
		}
	}
	m.mu.RUnlock()

	for i := range out {
		id := out[i].ProducerID
		if id == nil {
			id = out[i].ConsumerID
		}
		if !withSeen {
			continue
		}
		if last, ok := m.clients.lastSeen(clientKey{Kind: kind, ID: *id}); ok {
			idle := max(now.Sub(last), 0).Milliseconds()
			out[i].LastSeen, out[i].IdleMS = &last, &idle
		}
	}
	if kind == kindProducer {
		sort.Slice(out, func(i, j int) bool { return *out[i].ProducerID < *out[j].ProducerID })
		return api.ProducersAnswer{Status: success, Producers: clientInfos(out), Seq: seq}, nil
	}
	sort.Slice(out, func(i, j int) bool { return *out[i].ConsumerID < *out[j].ConsumerID })
	m.consumerLags(r.Context(), out)
	return api.ConsumersAnswer{Status: success, Consumers: clientInfos(out), Seq: seq}, nil
}

// consumerLags fills in each consumer's lag: the sum over its partitions
// of high watermark − position, asked of the owning brokers (/v1/size),
// concurrently and briefly. A consumer with a partition whose broker does
// not answer gets lag_known false and the sum of what was answered.
func (m *Manager) consumerLags(ctx context.Context, consumers []clientInfo) {
	ctx, cancel := context.WithTimeout(ctx, min(m.cfg.BrokerTimeout, 2*time.Second))
	defer cancel()
	type job struct {
		consumer  int // index in consumers
		partition int
	}
	var jobs []job
	for i, c := range consumers {
		for _, p := range c.parts {
			jobs = append(jobs, job{i, p})
		}
	}
	sizes := make([]int64, len(jobs))
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, maxLagQueries)
	var wg sync.WaitGroup
	for j, jb := range jobs {
		c := consumers[jb.consumer]
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			o, seq, err := m.router.OwnerOf(c.Topic, jb.partition)
			if err != nil {
				errs[j] = err
				return
			}
			q := api.BrokerConsumeRequest{Topic: c.Topic, Partition: jb.partition, ConsumerID: *c.ConsumerID}.Query()
			var ans api.BrokerSizeAnswer
			errs[j] = m.router.CallBroker(ctx, o, seq, "size", "GET", "/v1/size", q, nil, &ans, 0)
			sizes[j] = ans.Size
		})
	}
	wg.Wait()
	for i := range consumers {
		var lag int64
		known := true
		consumers[i].Lag, consumers[i].LagKnown = &lag, &known
	}
	for j, jb := range jobs {
		c := &consumers[jb.consumer]
		if errs[j] != nil {
			*c.LagKnown = false
			continue
		}
		*c.Lag += sizes[j]
	}
}
