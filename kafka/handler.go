package kafka

import (
	"context"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logq/logq"
)

// versionRange is the versions of one API this server speaks.
type versionRange struct{ min, max int16 }

// versions is every API the server answers, at the versions it speaks
// (docs/kafka.md gives the reasons). An API not listed here closes the
// connection, as Kafka does for one it does not know; ApiVersions does not
// advertise it, so clients do not send it. Transactions
// (AddPartitionsToTxn, EndTxn, …) are not advertised, and InitProducerId
// with a transactional id answers TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
var versions = map[int16]versionRange{
	kmsg.Produce.Int16():          {3, 11}, // v3: record batches v2 (older message sets refused); v12+ topic ids
	kmsg.Fetch.Int16():            {4, 12}, // v4: record batches, v13+ topic ids
	kmsg.ListOffsets.Int16():      {1, 8},
	kmsg.Metadata.Int16():         {0, 12},
	kmsg.OffsetCommit.Int16():     {0, 8},
	kmsg.OffsetFetch.Int16():      {0, 8},
	kmsg.FindCoordinator.Int16():  {0, 4},
	kmsg.JoinGroup.Int16():        {0, 9},
	kmsg.Heartbeat.Int16():        {0, 4},
	kmsg.LeaveGroup.Int16():       {0, 5},
	kmsg.SyncGroup.Int16():        {0, 5},
	kmsg.DescribeGroups.Int16():   {0, 5},
	kmsg.ListGroups.Int16():       {0, 4},
	kmsg.ApiVersions.Int16():      {0, 4},
	kmsg.CreateTopics.Int16():     {0, 7},
	kmsg.DeleteTopics.Int16():     {0, 5},
	kmsg.InitProducerID.Int16():   {0, 4},
	kmsg.DescribeConfigs.Int16():  {0, 4},
	kmsg.CreatePartitions.Int16(): {0, 3},
	kmsg.DeleteGroups.Int16():     {0, 2},
	kmsg.DescribeCluster.Int16():  {0, 1},
	kmsg.SASLHandshake.Int16():    {0, 1}, // sasl.go
	kmsg.SASLAuthenticate.Int16(): {0, 2},
}

// handler serves the requests of one connection.
type handler struct {
	s          *Server
	clientHost string
	hdr        header
	sasl       saslState     // sasl.go
	throttle   time.Duration // authz.go: the quota's back-off after this answer
	tags       kbin.Reader   // handle's reader of a flexible header's tags
}

var errUnsupportedVersion = kerr.UnsupportedVersion

func (h *handler) ctx() context.Context { return h.s.ctx }

// dispatch answers one decoded request; nil: no answer (acks=0).
func (h *handler) dispatch(req kmsg.Request) kmsg.Response {
	switch req := req.(type) {
	case *kmsg.ApiVersionsRequest:
		return h.apiVersions(req, nil)
	case *kmsg.MetadataRequest:
		return h.metadata(req)
	case *kmsg.DescribeClusterRequest:
		return h.describeCluster(req)
	case *kmsg.DescribeConfigsRequest:
		return h.describeConfigs(req)
	case *kmsg.AlterConfigsRequest:
		return h.alterConfigs(req)
	case *kmsg.IncrementalAlterConfigsRequest:
		return h.incrementalAlterConfigs(req)
	case *kmsg.CreateTopicsRequest:
		return h.createTopics(req)
	case *kmsg.DeleteTopicsRequest:
		return h.deleteTopics(req)
	case *kmsg.CreatePartitionsRequest:
		return h.createPartitions(req)
	case *kmsg.InitProducerIDRequest:
		return h.initProducerID(req)
	case *kmsg.ProduceRequest:
		return h.produce(req)
	case *kmsg.FetchRequest:
		return h.fetch(req)
	case *kmsg.ListOffsetsRequest:
		return h.listOffsets(req)
	case *kmsg.FindCoordinatorRequest:
		return h.findCoordinator(req)
	case *kmsg.JoinGroupRequest:
		return h.joinGroup(req)
	case *kmsg.SyncGroupRequest:
		return h.syncGroup(req)
	case *kmsg.HeartbeatRequest:
		return h.heartbeat(req)
	case *kmsg.LeaveGroupRequest:
		return h.leaveGroup(req)
	case *kmsg.OffsetCommitRequest:
		return h.offsetCommit(req)
	case *kmsg.OffsetFetchRequest:
		return h.offsetFetch(req)
	case *kmsg.ListGroupsRequest:
		return h.listGroups(req)
	case *kmsg.DescribeGroupsRequest:
		return h.describeGroups(req)
	case *kmsg.DeleteGroupsRequest:
		return h.deleteGroups(req)
	}
	// Unreachable: versions lists only the types above.
	return nil
}

// errorCode maps a logq error to a Kafka error code.
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return kerr.RequestTimedOut.Code
	}
	if errors.Is(err, context.Canceled) {
		return kerr.NotLeaderForPartition.Code // shutting down: go elsewhere
	}
	switch logq.ErrorCode(err) {
	case logq.ETopicNotFound:
		return kerr.UnknownTopicOrPartition.Code
	case logq.EFenced, logq.EBrokerRemoved:
		return kerr.NotLeaderForPartition.Code
	case logq.EUnavailable:
		return kerr.LeaderNotAvailable.Code
	case logq.ETimeout:
		return kerr.RequestTimedOut.Code
	case logq.ETooLarge:
		return kerr.MessageTooLarge.Code
	case logq.ETopicExists:
		return kerr.TopicAlreadyExists.Code
	case logq.ENotWriter:
		return kerr.NotController.Code
	case logq.EInvalid:
		return kerr.InvalidRequest.Code
	case logq.EOutOfOrderSequence:
		return kerr.OutOfOrderSequenceNumber.Code
	case logq.EProducerFenced:
		return kerr.InvalidProducerEpoch.Code
	case logq.EOffsetOutOfRange:
		return kerr.OffsetOutOfRange.Code
	case logq.ERebalanceInProgress:
		return kerr.RebalanceInProgress.Code
	case logq.EIllegalGeneration:
		return kerr.IllegalGeneration.Code
	case logq.EUnknownMemberID:
		return kerr.UnknownMemberID.Code
	case logq.EGroupNotFound:
		return kerr.GroupIDNotFound.Code
	case logq.EGroupNotEmpty:
		return kerr.NonEmptyGroup.Code
	case logq.EInvalidSessionTimeout:
		return kerr.InvalidSessionTimeout.Code
	}
	return kerr.UnknownServerError.Code
}

// errorMessage is the message of err fit for a client (nil for none; an
// internal error's cause is never sent).
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return nil
	}
	m := logq.ErrorMessage(err)
	return &m
}

func (h *handler) apiVersions(_ *kmsg.ApiVersionsRequest, err *kerr.Error) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	if err != nil {
		resp.ErrorCode = err.Code
	}
	for _, k := range sortedKeys() {
		v := versions[k]
		resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MinVersion: v.min, MaxVersion: v.max})
	}
	return resp
}

func sortedKeys() []int16 {
	keys := make([]int16, 0, len(versions))
	for k := range versions {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

func (h *handler) metadata(req *kmsg.MetadataRequest) *kmsg.MetadataResponse {
	resp := kmsg.NewPtrMetadataResponse()
	view := h.s.cfg.Cluster.View()
	// Unknown topics a client may auto-create.
	if req.Topics != nil && h.s.cfg.AutoCreateTopics && (req.AllowAutoTopicCreation || req.Version < 4) {
		created := false
		for _, t := range req.Topics {
			if t.Topic == nil {
				continue
			}
			if _, ok := view.Topic(*t.Topic); !ok {
				err := h.s.cfg.Cluster.CreateTopic(h.ctx(), *t.Topic, h.s.cfg.AutoCreatePartitions)
				if err != nil && logq.ErrorCode(err) != logq.ETopicExists {
					h.s.log.Debug().Err(err).Str("topic", *t.Topic).Msg("auto-create failed")
				}
				created = true
			}
		}
		if created {
			view = h.s.cfg.Cluster.View()
		}
	}
	resp.ClusterID = &view.ClusterID
	resp.ControllerID = view.Self
	for _, b := range view.Brokers {
		resp.Brokers = append(resp.Brokers, kmsg.MetadataResponseBroker{NodeID: b.ID, Host: b.Host, Port: b.Port})
	}
	alive := map[int32]bool{}
	for _, b := range view.Brokers {
		alive[b.ID] = true
	}
	topic := func(t TopicInfo) kmsg.MetadataResponseTopic {
		rt := kmsg.NewMetadataResponseTopic()
		name := t.Name
		rt.Topic = &name
		rt.TopicID = topicID(t.Name)
		for _, p := range t.Partitions {
			rp := kmsg.NewMetadataResponseTopicPartition()
			rp.Partition = p.Partition
			rp.LeaderEpoch = p.Epoch
			if p.Leader >= 0 && alive[p.Leader] {
				rp.Leader = p.Leader
				rp.Replicas = []int32{p.Leader}
				rp.ISR = []int32{p.Leader}
			} else {
				rp.Leader = -1
				rp.ErrorCode = kerr.LeaderNotAvailable.Code
				rp.Replicas = []int32{}
				rp.ISR = []int32{}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt
	}
	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		for _, t := range view.Topics {
			resp.Topics = append(resp.Topics, topic(t))
		}
		return resp
	}
	for _, rq := range req.Topics {
		if rq.Topic == nil {
			rt := kmsg.NewMetadataResponseTopic()
			rt.TopicID = rq.TopicID
			rt.ErrorCode = kerr.UnknownTopicID.Code
			for _, t := range view.Topics {
				if topicID(t.Name) == rq.TopicID {
					rt = topic(t)
				}
			}
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		t, ok := view.Topic(*rq.Topic)
		if !ok {
			rt := kmsg.NewMetadataResponseTopic()
			rt.Topic = rq.Topic
			rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		resp.Topics = append(resp.Topics, topic(t))
	}
	return resp
}

// topicID is a topic's Kafka topic id: derived from its name (logq's
// topics are named, not numbered; a topic deleted and created again under
// the same name gets the same id).
func topicID(name string) [16]byte {
	var id [16]byte
	// FNV-1a, 128 bits folded from two 64-bit runs.
	h1, h2 := uint64(14695981039346656037), uint64(1099511628211)
	for i := 0; i < len(name); i++ {
		h1 ^= uint64(name[i])
		h1 *= 1099511628211
		h2 ^= uint64(name[i]) + 0x9e
		h2 *= 14695981039346656037 | 1
	}
	for i := 0; i < 8; i++ {
		id[i] = byte(h1 >> (8 * i))
		id[8+i] = byte(h2 >> (8 * i))
	}
	if id == [16]byte{} {
		id[0] = 1
	}
	return id
}

func (h *handler) describeCluster(req *kmsg.DescribeClusterRequest) *kmsg.DescribeClusterResponse {
	resp := kmsg.NewPtrDescribeClusterResponse()
	view := h.s.cfg.Cluster.View()
	resp.ClusterID = view.ClusterID
	resp.ControllerID = view.Self
	resp.EndpointType = 1
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		return resp
	}
	for _, b := range view.Brokers {
		resp.Brokers = append(resp.Brokers, kmsg.DescribeClusterResponseBroker{NodeID: b.ID, Host: b.Host, Port: b.Port})
	}
	resp.ClusterAuthorizedOperations = -2147483648
	return resp
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (h *handler) createTopics(req *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse {
	resp := kmsg.NewPtrCreateTopicsResponse()
	ctx, cancel := timeoutCtx(h.ctx(), req.TimeoutMillis)
	defer cancel()
	for _, t := range req.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		rt.TopicID = topicID(t.Topic)
		n := int(t.NumPartitions)
		if n == -1 {
			n = h.s.cfg.AutoCreatePartitions
		}
		var err error
		switch {
		case len(t.ReplicaAssignment) > 0:
			err = kerr.InvalidReplicaAssignment
		case t.ReplicationFactor != -1 && t.ReplicationFactor != 1:
			err = logq.Errorf(logq.EInvalid, "logq keeps one copy of each partition (PostgreSQL replicates it): replication factor must be 1 or -1, not %d", t.ReplicationFactor)
			rt.ErrorCode = kerr.InvalidReplicationFactor.Code
		case n < 1:
			err = kerr.InvalidPartitions
		}
		var cfg TopicConfig
		if err == nil {
			cfg, err = createConfigs(t.Configs)
			if err != nil {
				rt.ErrorCode = kerr.InvalidConfig.Code
			}
		}
		switch {
		case err != nil:
		case req.ValidateOnly:
			if _, ok := h.s.cfg.Cluster.View().Topic(t.Topic); ok {
				err = kerr.TopicAlreadyExists
			}
		case cfg != TopicConfig{}:
			err = h.s.cfg.Cluster.CreateTopicConfigured(ctx, t.Topic, n, cfg)
		default:
			err = h.s.cfg.Cluster.CreateTopic(ctx, t.Topic, n)
		}
		if rt.ErrorCode == 0 {
			rt.ErrorCode = errorCode(err)
			if logq.ErrorCode(err) == logq.EInvalid {
				rt.ErrorCode = kerr.InvalidTopicException.Code
			}
		}
		rt.ErrorMessage = errorMessage(err)
		if err == nil {
			rt.NumPartitions, rt.ReplicationFactor = int32(n), 1
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (h *handler) deleteTopics(req *kmsg.DeleteTopicsRequest) *kmsg.DeleteTopicsResponse {
	resp := kmsg.NewPtrDeleteTopicsResponse()
	ctx, cancel := timeoutCtx(h.ctx(), req.TimeoutMillis)
	defer cancel()
	names := req.TopicNames
	for _, t := range req.Topics {
		if req.Version < 6 {
			break // v0..v5 name topics in TopicNames
		}
		if t.Topic != nil {
			names = append(names, *t.Topic)
		} else {
			for _, vt := range h.s.cfg.Cluster.View().Topics {
				if topicID(vt.Name) == t.TopicID {
					names = append(names, vt.Name)
				}
			}
		}
	}
	for _, name := range names {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		n := name
		rt.Topic = &n
		rt.TopicID = topicID(name)
		err := h.s.cfg.Cluster.DeleteTopic(ctx, name)
		rt.ErrorCode, rt.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (h *handler) createPartitions(req *kmsg.CreatePartitionsRequest) *kmsg.CreatePartitionsResponse {
	resp := kmsg.NewPtrCreatePartitionsResponse()
	ctx, cancel := timeoutCtx(h.ctx(), req.TimeoutMillis)
	defer cancel()
	for _, t := range req.Topics {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		var err error
		cur, ok := h.s.cfg.Cluster.View().Topic(t.Topic)
		switch {
		case !ok:
			err = kerr.UnknownTopicOrPartition
		case len(t.Assignment) > 0:
			err = kerr.InvalidReplicaAssignment
		case int(t.Count) <= len(cur.Partitions):
			err = logq.Errorf(logq.EInvalid, "topic %q has %d partitions; the new count %d must be higher", t.Topic, len(cur.Partitions), t.Count)
		case req.ValidateOnly:
		default:
			err = h.s.cfg.Cluster.CreatePartitions(ctx, t.Topic, int(t.Count))
		}
		rt.ErrorCode, rt.ErrorMessage = errorCode(err), errorMessage(err)
		if logq.ErrorCode(err) == logq.EInvalid {
			rt.ErrorCode = kerr.InvalidPartitions.Code
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (h *handler) initProducerID(req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	resp := kmsg.NewPtrInitProducerIDResponse()
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		// Transactions are not supported: a clear refusal, not a hang.
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp
	}
	id, err := h.s.cfg.Cluster.InitProducerID(h.ctx())
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}

func (h *handler) findCoordinator(req *kmsg.FindCoordinatorRequest) *kmsg.FindCoordinatorResponse {
	resp := kmsg.NewPtrFindCoordinatorResponse()
	view := h.s.cfg.Cluster.View()
	var self BrokerInfo
	for _, b := range view.Brokers {
		if b.ID == view.Self {
			self = b
		}
	}
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, k := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = k
		switch {
		case req.CoordinatorType != 0:
			c.ErrorCode = kerr.CoordinatorNotAvailable.Code // transactions are not supported
		case h.s.cfg.Groups == nil || self.Host == "":
			c.ErrorCode = kerr.CoordinatorNotAvailable.Code
		default:
			// Every broker coordinates every group: it forwards group
			// calls to the manager, which holds the groups.
			c.NodeID, c.Host, c.Port = self.ID, self.Host, self.Port
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if req.Version < 4 && len(resp.Coordinators) == 1 {
		c := resp.Coordinators[0]
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.NodeID, c.Host, c.Port
	}
	return resp
}

// SplitHostPort splits a Kafka listener address into host and port.
func SplitHostPort(addr string) (string, int32, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, err
	}
	return host, int32(p), nil
}
