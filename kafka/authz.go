package kafka

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logq/logq/auth"
	"github.com/logq/logq/auth/httpauth"
)

// Authorization on the listener (docs/kafka.md, "Security"): authzTable is
// THE decision of every API the server answers; TestAuthzTableCoversAPIs
// fails on an API in versions without an entry. A refused part of a
// request is answered with Kafka's error for it (TOPIC_AUTHORIZATION_FAILED
// per topic or partition, GROUP_AUTHORIZATION_FAILED,
// CLUSTER_AUTHORIZATION_FAILED) and never reaches the handler, so nothing
// is changed for it; the allowed rest is served as usual.

// need is what an API needs before its ACLs.
type need int

const (
	needPreAuth       need = iota // answered before authentication (the handshake)
	needAuthenticated             // any authenticated principal, no ACL
	needACL                       // an ACL: Resource, Op on the names Name says
)

// rule is one API's decision.
type rule struct {
	Need     need
	Resource auth.ResourceType
	Op       auth.Operation
	// Name says how the resource names are taken from the request (docs).
	Name string
	// enforce applies the rule to a request: a whole refusal (the request
	// is not served), or the request narrowed in place to what the
	// principal may do and a merge that adds the refused parts to the
	// answer (nil merge: nothing to add).
	enforce func(z *authz, req kmsg.Request) (refusal kmsg.Response, merge func(kmsg.Response))
}

// authzTable is every API's decision (logq's produce is Kafka's WRITE,
// consume is READ). An API added to versions needs an entry here and a
// request in authz_test.go's sampleRequest, or the tests fail.
var authzTable = map[int16]rule{
	kmsg.ApiVersions.Int16():      {Need: needPreAuth, Name: "-"},
	kmsg.SASLHandshake.Int16():    {Need: needPreAuth, Name: "-"},
	kmsg.SASLAuthenticate.Int16(): {Need: needPreAuth, Name: "-"},
	kmsg.DescribeCluster.Int16():  {Need: needAuthenticated, Name: "-"},
	kmsg.Metadata.Int16(): {Need: needACL, Resource: auth.Topic, Op: auth.OpDescribe,
		Name: "each topic listed or asked for (auto-creating one also needs topic create)", enforce: authzMetadata},
	kmsg.CreateTopics.Int16():     {Need: needACL, Resource: auth.Topic, Op: auth.OpCreate, Name: "each topic", enforce: authzCreateTopics},
	kmsg.DeleteTopics.Int16():     {Need: needACL, Resource: auth.Topic, Op: auth.OpDelete, Name: "each topic (by name or id)", enforce: authzDeleteTopics},
	kmsg.CreatePartitions.Int16(): {Need: needACL, Resource: auth.Topic, Op: auth.OpAlter, Name: "each topic", enforce: authzCreatePartitions},
	kmsg.DescribeConfigs.Int16(): {Need: needACL, Resource: auth.Topic, Op: auth.OpDescribe,
		Name: "each topic resource; a broker resource needs cluster describe", enforce: authzDescribeConfigs},
	kmsg.Produce.Int16():     {Need: needACL, Resource: auth.Topic, Op: auth.OpProduce, Name: "each topic", enforce: authzProduce},
	kmsg.Fetch.Int16():       {Need: needACL, Resource: auth.Topic, Op: auth.OpConsume, Name: "each topic", enforce: authzFetch},
	kmsg.ListOffsets.Int16(): {Need: needACL, Resource: auth.Topic, Op: auth.OpDescribe, Name: "each topic", enforce: authzListOffsets},
	kmsg.InitProducerID.Int16(): {Need: needACL, Resource: auth.Topic, Op: auth.OpProduce,
		Name: "any topic (KIP-679: produce on some topic allows an idempotent producer id)", enforce: authzInitProducerID},
	kmsg.FindCoordinator.Int16(): {Need: needACL, Resource: auth.Group, Op: auth.OpDescribe, Name: "each coordinator key (group id)", enforce: authzFindCoordinator},
	kmsg.JoinGroup.Int16():       {Need: needACL, Resource: auth.Group, Op: auth.OpConsume, Name: "the group id", enforce: authzGroupOnly},
	kmsg.SyncGroup.Int16():       {Need: needACL, Resource: auth.Group, Op: auth.OpConsume, Name: "the group id", enforce: authzGroupOnly},
	kmsg.Heartbeat.Int16():       {Need: needACL, Resource: auth.Group, Op: auth.OpConsume, Name: "the group id", enforce: authzGroupOnly},
	kmsg.LeaveGroup.Int16():      {Need: needACL, Resource: auth.Group, Op: auth.OpConsume, Name: "the group id", enforce: authzGroupOnly},
	kmsg.OffsetCommit.Int16(): {Need: needACL, Resource: auth.Group, Op: auth.OpConsume,
		Name: "the group id, then each topic (topic consume)", enforce: authzOffsetCommit},
	kmsg.OffsetFetch.Int16(): {Need: needACL, Resource: auth.Group, Op: auth.OpDescribe,
		Name: "each group id, then each topic (topic describe; all topics: those it may describe)", enforce: authzOffsetFetch},
	kmsg.ListGroups.Int16():     {Need: needACL, Resource: auth.Group, Op: auth.OpDescribe, Name: "each group listed (the others are left out)", enforce: authzListGroups},
	kmsg.DescribeGroups.Int16(): {Need: needACL, Resource: auth.Group, Op: auth.OpDescribe, Name: "each group id", enforce: authzDescribeGroups},
	kmsg.DeleteGroups.Int16():   {Need: needACL, Resource: auth.Group, Op: auth.OpDelete, Name: "each group id", enforce: authzDeleteGroups},
}

// authz decides for one request of one authenticated principal.
type authz struct {
	h *handler
	p auth.Principal
}

func (z *authz) may(rt auth.ResourceType, name string, op auth.Operation) bool {
	return z.h.s.cfg.Auth.Authorize(z.p, auth.Resource{Type: rt, Name: name}, op)
}

// serveRequest answers req: the SASL APIs, then (with Config.Auth) the
// authorization rule around dispatch, then the quota.
func (h *handler) serveRequest(req kmsg.Request) (kmsg.Response, error) {
	switch r := req.(type) {
	case *kmsg.SASLHandshakeRequest:
		return h.saslHandshake(r), nil
	case *kmsg.SASLAuthenticateRequest:
		return h.saslAuthenticate(r)
	}
	if h.s.cfg.Auth == nil {
		return h.dispatch(req), nil
	}
	rl, ok := authzTable[req.Key()]
	if !ok { // TestAuthzTableCoversAPIs keeps this from happening
		return nil, fmt.Errorf("api %s has no authorization rule", kmsg.NameForKey(req.Key()))
	}
	if rl.Need == needPreAuth {
		return h.dispatch(req), nil
	}
	// The principal as of now: deleted since it logged in, the connection
	// ends; its kind and ACLs count from this request on.
	p, ok := h.s.cfg.Auth.Directory().Principal(h.sasl.principal.Name)
	if !ok {
		return nil, fmt.Errorf("principal %q no longer exists", h.sasl.principal.Name)
	}
	z := &authz{h: h, p: p}
	var merge func(kmsg.Response)
	if rl.enforce != nil {
		refusal, m := rl.enforce(z, req)
		if refusal != nil {
			return refusal, nil
		}
		merge = m
	}
	resp := h.dispatch(req)
	if resp != nil && merge != nil {
		merge(resp)
	}
	h.charge(z.p, req, resp)
	return resp, nil
}

// charge counts a produce's record bytes or a fetch answer's against the
// principal's quota (client principals only, as on HTTP); in debt, the
// answer says how long to back off (throttle_time_ms) and the connection
// reads nothing more for that long (Kafka's KIP-219 behaviour: the broker
// answers at once, then mutes the channel).
func (h *handler) charge(p auth.Principal, req kmsg.Request, resp kmsg.Response) {
	q := h.s.cfg.Quotas
	if q == nil || p.Kind != auth.KindClient {
		return
	}
	var kind httpauth.QuotaKind
	var n int64
	switch r := req.(type) {
	case *kmsg.ProduceRequest:
		kind = httpauth.QuotaProduce
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				n += int64(len(p.Records))
			}
		}
	case *kmsg.FetchRequest:
		kind = httpauth.QuotaFetch
		if fr, ok := resp.(*kmsg.FetchResponse); ok {
			for _, t := range fr.Topics {
				for _, p := range t.Partitions {
					n += int64(len(p.RecordBatches))
				}
			}
		}
	default:
		return
	}
	q.Charge(p.Name, kind, n)
	wait, ok := q.Admit(p.Name, kind)
	if ok || wait <= 0 {
		return
	}
	wait = min(wait, maxThrottle)
	h.throttle = wait
	if tr, ok := resp.(interface{ SetThrottle(int32) }); ok && resp != nil {
		tr.SetThrottle(int32(wait.Milliseconds()))
	}
}

// maxThrottle bounds one back-off (Kafka's quota.window.size.seconds ×
// num: the debt of one huge request is spread over several answers).
const maxThrottle = 30 * time.Second

// split splits items into those keep allows and the rest.
func split[T any](items []T, keep func(T) bool) (kept, refused []T) {
	for _, it := range items {
		if keep(it) {
			kept = append(kept, it)
		} else {
			refused = append(refused, it)
		}
	}
	return kept, refused
}

// splitNames splits items into those whose name keep allows and the rest.
func splitNames[T any](items []T, name func(T) string, keep func(string) bool) (kept, refused []T) {
	return split(items, func(it T) bool { return keep(name(it)) })
}

func authzProduce(z *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.(*kmsg.ProduceRequest)
	kept, refused := splitNames(r.Topics, func(t kmsg.ProduceRequestTopic) string { return t.Topic },
		func(n string) bool { return z.may(auth.Topic, n, auth.OpProduce) })
	if len(refused) == 0 {
		return nil, nil
	}
	r.Topics = kept
	return nil, func(resp kmsg.Response) {
		pr := resp.(*kmsg.ProduceResponse)
		for _, t := range refused {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
				rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = -1, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			pr.Topics = append(pr.Topics, rt)
		}
	}
}

func authzFetch(z *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.(*kmsg.FetchRequest)
	kept, refused := splitNames(r.Topics, func(t kmsg.FetchRequestTopic) string { return t.Topic },
		func(n string) bool { return z.may(auth.Topic, n, auth.OpConsume) })
	if len(refused) == 0 {
		return nil, nil
	}
	r.Topics = kept
	r.MaxWaitMillis = 0 // a partition's error is answered at once, as in data.go
	return nil, func(resp kmsg.Response) {
		fr := resp.(*kmsg.FetchResponse)
		for _, t := range refused {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
				rp.RecordBatches = []byte{} // librdkafka refuses a null record set
				rt.Partitions = append(rt.Partitions, rp)
			}
			fr.Topics = append(fr.Topics, rt)
		}
	}
}

func authzListOffsets(z *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.(*kmsg.ListOffsetsRequest)
	kept, refused := splitNames(r.Topics, func(t kmsg.ListOffsetsRequestTopic) string { return t.Topic },
		func(n string) bool { return z.may(auth.Topic, n, auth.OpDescribe) })
	if len(refused) == 0 {
		return nil, nil
	}
	r.Topics = kept
	return nil, func(resp kmsg.Response) {
		lr := resp.(*kmsg.ListOffsetsResponse)
		for _, t := range refused {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
				rp.Timestamp, rp.Offset = -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			lr.Topics = append(lr.Topics, rt)
		}
	}
}

// authzMetadata: topics the principal may not describe are left out of
// an all-topics answer and answered TOPIC_AUTHORIZATION_FAILED when asked
// for by name; an unknown topic it may not create is not auto-created.
func authzMetadata(z *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.(*kmsg.MetadataRequest)
	all := r.Topics == nil || (r.Version == 0 && len(r.Topics) == 0)
	var refused []string
	if !all {
		view := z.h.s.cfg.Cluster.View()
		autoCreate := z.h.s.cfg.AutoCreateTopics && (r.AllowAutoTopicCreation || r.Version < 4)
		kept := r.Topics[:0:0]
		for _, t := range r.Topics {
			if t.Topic == nil { // by id: decided on the answer's name below
				kept = append(kept, t)
				continue
			}
			_, exists := view.Topic(*t.Topic)
			if !z.may(auth.Topic, *t.Topic, auth.OpDescribe) ||
				(!exists && autoCreate && !z.may(auth.Topic, *t.Topic, auth.OpCreate)) {
				refused = append(refused, *t.Topic)
				continue
			}
			kept = append(kept, t)
		}
		r.Topics = kept
		if len(kept) == 0 && r.Version == 0 {
			r.Version = 1 // an empty list asks for no topic from v1 on (the answer keeps v0)
		}
	}
	return nil, func(resp kmsg.Response) {
		mr := resp.(*kmsg.MetadataResponse)
		out := mr.Topics[:0]
		for _, t := range mr.Topics {
			if t.Topic != nil && t.ErrorCode == 0 && !z.may(auth.Topic, *t.Topic, auth.OpDescribe) {
				if all {
					continue
				}
				t.ErrorCode, t.Partitions = kerr.TopicAuthorizationFailed.Code, []kmsg.MetadataResponseTopicPartition{}
			}
			out = append(out, t)
		}
		mr.Topics = out
		for _, name := range refused {
			rt := kmsg.NewMetadataResponseTopic()
			n := name
			rt.Topic, rt.ErrorCode = &n, kerr.TopicAuthorizationFailed.Code
			mr.Topics = append(mr.Topics, rt)
		}
	}
}

func authzCreateTopics(z *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.(*kmsg.CreateTopicsRequest)
	kept, refused := splitNames(r.Topics, func(t kmsg.CreateTopicsRequestTopic) string { return t.Topic },
		func(n string) bool { return z.may(auth.Topic, n, auth.OpCreate) })
	if len(refused) == 0 {
		return nil, nil
	}
	r.Topics = kept
	return nil, func(resp kmsg.Response) {
		cr := resp.(*kmsg.CreateTopicsResponse)
		for _, t := range refused {
			rt := kmsg.NewCreateTopicsResponseTopic()
			rt.Topic, rt.ErrorCode = t.Topic, kerr.TopicAuthorizationFailed.Code
			rt.NumPartitions, rt.ReplicationFactor = -1, -1
			cr.Topics = append(cr.Topics, rt)
		}
	}
}

func authzDeleteTopics(z *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.(*kmsg.DeleteTopicsRequest)
	var refused []string
	keep := func(n string) bool {
		if z.may(auth.Topic, n, auth.OpDelete) {
			return true
		}
		refused = append(refused, n)
		return false
	}
	r.TopicNames, _ = splitNames(r.TopicNames, func(s string) string { return s }, keep)
	if r.Version >= 6 {
		byID := map[[16]byte]string{}
		for _, t := range z.h.s.cfg.Cluster.View().Topics {
			byID[topicID(t.Name)] = t.Name
		}
		r.Topics, _ = splitNames(r.Topics, func(t kmsg.DeleteTopicsRequestTopic) string {
			if t.Topic != nil {
				return *t.Topic
			}
			return byID[t.TopicID] // unknown id: "", which no ACL names; refused
		}, keep)
	}
	if len(refused) == 0 {
		return nil, nil
	}
	return nil, func(resp kmsg.Response) {
		dr := resp.(*kmsg.DeleteTopicsResponse)
		for _, name := range refused {
			rt := kmsg.NewDeleteTopicsResponseTopic()
			n := name
			rt.Topic, rt.TopicID, rt.ErrorCode = &n, topicID(name), kerr.TopicAuthorizationFailed.Code
			dr.Topics = append(dr.Topics, rt)
		}
	}
}

func authzCreatePartitions(z *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.(*kmsg.CreatePartitionsRequest)
	kept, refused := splitNames(r.Topics, func(t kmsg.CreatePartitionsRequestTopic) string { return t.Topic },
		func(n string) bool { return z.may(auth.Topic, n, auth.OpAlter) })
	if len(refused) == 0 {
		return nil, nil
	}
	r.Topics = kept
	return nil, func(resp kmsg.Response) {
		cr := resp.(*kmsg.CreatePartitionsResponse)
		for _, t := range refused {
			rt := kmsg.NewCreatePartitionsResponseTopic()
			rt.Topic, rt.ErrorCode = t.Topic, kerr.TopicAuthorizationFailed.Code
			cr.Topics = append(cr.Topics, rt)
		}
	}
}

func authzDescribeConfigs(z *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.(*kmsg.DescribeConfigsRequest)
	kept, refused := split(r.Resources, func(res kmsg.DescribeConfigsRequestResource) bool {
		switch res.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			return z.may(auth.Topic, res.ResourceName, auth.OpDescribe)
		case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
			return z.may(auth.Cluster, auth.ClusterName, auth.OpDescribe)
		}
		return true
	})
	if len(refused) == 0 {
		return nil, nil
	}
	r.Resources = kept
	return nil, func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeConfigsResponse)
		for _, res := range refused {
			rr := kmsg.NewDescribeConfigsResponseResource()
			rr.ResourceType, rr.ResourceName, rr.ErrorCode = res.ResourceType, res.ResourceName, configRefusal(res.ResourceType)
			dr.Resources = append(dr.Resources, rr)
		}
	}
}

// authzInitProducerID: an idempotent producer id needs produce on some
// topic (Kafka's KIP-679 rule; logq's ACLs have no cluster
// IDEMPOTENT_WRITE): the principal's kind allows it, an existing topic
// allows it, or an allow ACL gives it (or everyone) produce on topics by
// some name or prefix. A transactional id goes to the handler, which
// refuses it (transactions are not supported).
func authzInitProducerID(z *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.(*kmsg.InitProducerIDRequest)
	if r.TransactionalID != nil || mayProduceSomewhere(z) {
		return nil, nil
	}
	resp := kmsg.NewPtrInitProducerIDResponse()
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	return resp, nil
}

func mayProduceSomewhere(z *authz) bool {
	dir := z.h.s.cfg.Auth.Directory()
	if auth.AuthorizeAll(dir, z.p, auth.Topic, auth.OpProduce) {
		return true
	}
	for _, t := range z.h.s.cfg.Cluster.View().Topics {
		if z.may(auth.Topic, t.Name, auth.OpProduce) {
			return true
		}
	}
	for _, a := range dir.ACLs() {
		if a.Effect == auth.Allow && a.Resource == auth.Topic && (a.Principal == "*" || a.Principal == z.p.Name) &&
			(a.Operation == auth.OpProduce || a.Operation == auth.OpAll) {
			return true
		}
	}
	return false
}

func authzFindCoordinator(z *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.(*kmsg.FindCoordinatorRequest)
	if r.CoordinatorType != 0 {
		return nil, nil // transactions: the handler refuses
	}
	keep := func(n string) bool { return z.may(auth.Group, n, auth.OpDescribe) }
	if r.Version < 4 {
		if keep(r.CoordinatorKey) {
			return nil, nil
		}
		resp := kmsg.NewPtrFindCoordinatorResponse()
		resp.ErrorCode, resp.NodeID, resp.Port = kerr.GroupAuthorizationFailed.Code, -1, -1
		return resp, nil
	}
	kept, refused := splitNames(r.CoordinatorKeys, func(s string) string { return s }, keep)
	if len(refused) == 0 {
		return nil, nil
	}
	r.CoordinatorKeys = kept
	return nil, func(resp kmsg.Response) {
		fr := resp.(*kmsg.FindCoordinatorResponse)
		for _, k := range refused {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.ErrorCode, c.NodeID, c.Port = k, kerr.GroupAuthorizationFailed.Code, -1, -1
			fr.Coordinators = append(fr.Coordinators, c)
		}
	}
}

// authzGroupOnly: JoinGroup, SyncGroup, Heartbeat and LeaveGroup need
// consume (Kafka's READ) on their group; refused, the whole answer is
// GROUP_AUTHORIZATION_FAILED.
func authzGroupOnly(z *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	var group string
	var resp kmsg.Response
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		group = r.Group
		jr := kmsg.NewPtrJoinGroupResponse()
		jr.Generation, jr.ErrorCode = -1, kerr.GroupAuthorizationFailed.Code
		resp = jr
	case *kmsg.SyncGroupRequest:
		group = r.Group
		sr := kmsg.NewPtrSyncGroupResponse()
		sr.ErrorCode = kerr.GroupAuthorizationFailed.Code
		resp = sr
	case *kmsg.HeartbeatRequest:
		group = r.Group
		hr := kmsg.NewPtrHeartbeatResponse()
		hr.ErrorCode = kerr.GroupAuthorizationFailed.Code
		resp = hr
	case *kmsg.LeaveGroupRequest:
		group = r.Group
		lr := kmsg.NewPtrLeaveGroupResponse()
		lr.ErrorCode = kerr.GroupAuthorizationFailed.Code
		resp = lr
	default:
		return nil, nil
	}
	if z.may(auth.Group, group, auth.OpConsume) {
		return nil, nil
	}
	return resp, nil
}

func authzOffsetCommit(z *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.(*kmsg.OffsetCommitRequest)
	answer := func(topics []kmsg.OffsetCommitRequestTopic, code int16, resp *kmsg.OffsetCommitResponse) {
		for _, t := range topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
	if !z.may(auth.Group, r.Group, auth.OpConsume) {
		resp := kmsg.NewPtrOffsetCommitResponse()
		answer(r.Topics, kerr.GroupAuthorizationFailed.Code, resp)
		return resp, nil
	}
	kept, refused := splitNames(r.Topics, func(t kmsg.OffsetCommitRequestTopic) string { return t.Topic },
		func(n string) bool { return z.may(auth.Topic, n, auth.OpConsume) })
	if len(refused) == 0 {
		return nil, nil
	}
	r.Topics = kept
	return nil, func(resp kmsg.Response) {
		answer(refused, kerr.TopicAuthorizationFailed.Code, resp.(*kmsg.OffsetCommitResponse))
	}
}

// authzOffsetFetch: describe on the group, then on each topic asked for
// (TOPIC_AUTHORIZATION_FAILED per partition); asked for all topics, the
// answer leaves out those the principal may not describe.
func authzOffsetFetch(z *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.(*kmsg.OffsetFetchRequest)
	mayTopic := func(n string) bool { return z.may(auth.Topic, n, auth.OpDescribe) }
	mayGroup := func(n string) bool { return z.may(auth.Group, n, auth.OpDescribe) }
	type refusedTopic struct {
		topic string
		parts []int32
	}
	v0Topics := func(ts []refusedTopic, code int16) []kmsg.OffsetFetchResponseTopic {
		var out []kmsg.OffsetFetchResponseTopic
		for _, t := range ts {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.topic
			for _, p := range t.parts {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			out = append(out, rt)
		}
		return out
	}
	filterAnswer := func(ts []kmsg.OffsetFetchResponseTopic) []kmsg.OffsetFetchResponseTopic {
		out := ts[:0]
		for _, t := range ts {
			if mayTopic(t.Topic) {
				out = append(out, t)
			}
		}
		return out
	}
	if r.Version < 8 {
		var asked []refusedTopic
		for _, t := range r.Topics {
			asked = append(asked, refusedTopic{t.Topic, t.Partitions})
		}
		if !mayGroup(r.Group) {
			resp := kmsg.NewPtrOffsetFetchResponse()
			resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Topics = v0Topics(asked, kerr.GroupAuthorizationFailed.Code)
			return resp, nil
		}
		if r.Topics == nil {
			return nil, func(resp kmsg.Response) {
				or := resp.(*kmsg.OffsetFetchResponse)
				or.Topics = filterAnswer(or.Topics)
			}
		}
		var refused []refusedTopic
		kept := r.Topics[:0:0]
		for _, t := range r.Topics {
			if mayTopic(t.Topic) {
				kept = append(kept, t)
			} else {
				refused = append(refused, refusedTopic{t.Topic, t.Partitions})
			}
		}
		if len(refused) == 0 {
			return nil, nil
		}
		r.Topics = kept
		return nil, func(resp kmsg.Response) {
			or := resp.(*kmsg.OffsetFetchResponse)
			or.Topics = append(or.Topics, v0Topics(refused, kerr.TopicAuthorizationFailed.Code)...)
		}
	}
	// v8+: several groups.
	var refusedGroups []string
	refusedTopics := map[string][]refusedTopic{}
	allTopics := map[string]bool{}
	kept := r.Groups[:0:0]
	for _, g := range r.Groups {
		if !mayGroup(g.Group) {
			refusedGroups = append(refusedGroups, g.Group)
			continue
		}
		if g.Topics == nil {
			allTopics[g.Group] = true
		} else {
			kt := g.Topics[:0:0]
			for _, t := range g.Topics {
				if mayTopic(t.Topic) {
					kt = append(kt, t)
				} else {
					refusedTopics[g.Group] = append(refusedTopics[g.Group], refusedTopic{t.Topic, t.Partitions})
				}
			}
			g.Topics = kt
		}
		kept = append(kept, g)
	}
	r.Groups = kept
	return nil, func(resp kmsg.Response) {
		or := resp.(*kmsg.OffsetFetchResponse)
		for i := range or.Groups {
			g := &or.Groups[i]
			if allTopics[g.Group] {
				var ts []kmsg.OffsetFetchResponseGroupTopic
				for _, t := range g.Topics {
					if mayTopic(t.Topic) {
						ts = append(ts, t)
					}
				}
				g.Topics = ts
			}
			for _, t := range v0Topics(refusedTopics[g.Group], kerr.TopicAuthorizationFailed.Code) {
				rt := kmsg.NewOffsetFetchResponseGroupTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p.Partition, -1, -1, p.ErrorCode
					rt.Partitions = append(rt.Partitions, rp)
				}
				g.Topics = append(g.Topics, rt)
			}
		}
		for _, name := range refusedGroups {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = name, kerr.GroupAuthorizationFailed.Code
			or.Groups = append(or.Groups, rg)
		}
	}
}

func authzListGroups(z *authz, _ kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	return nil, func(resp kmsg.Response) {
		lr := resp.(*kmsg.ListGroupsResponse)
		out := lr.Groups[:0]
		for _, g := range lr.Groups {
			if z.may(auth.Group, g.Group, auth.OpDescribe) {
				out = append(out, g)
			}
		}
		lr.Groups = out
	}
}

func authzDescribeGroups(z *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.(*kmsg.DescribeGroupsRequest)
	kept, refused := splitNames(r.Groups, func(s string) string { return s },
		func(n string) bool { return z.may(auth.Group, n, auth.OpDescribe) })
	if len(refused) == 0 {
		return nil, nil
	}
	r.Groups = kept
	return nil, func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeGroupsResponse)
		for _, g := range refused {
			rg := kmsg.NewDescribeGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			dr.Groups = append(dr.Groups, rg)
		}
	}
}

func authzDeleteGroups(z *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.(*kmsg.DeleteGroupsRequest)
	kept, refused := splitNames(r.Groups, func(s string) string { return s },
		func(n string) bool { return z.may(auth.Group, n, auth.OpDelete) })
	if len(refused) == 0 {
		return nil, nil
	}
	r.Groups = kept
	return nil, func(resp kmsg.Response) {
		dr := resp.(*kmsg.DeleteGroupsResponse)
		for _, g := range refused {
			rg := kmsg.NewDeleteGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			dr.Groups = append(dr.Groups, rg)
		}
	}
}
