package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logq/logq"
	"github.com/logq/logq/api"
)

// The group APIs forward to Groups (the manager's coordinator); without
// one they answer COORDINATOR_NOT_AVAILABLE.

// codeError is an error with a logq (or group) code, as the manager sent.
func codeError(code string) error { return &logq.Error{Code: code, Message: code} }

// orEmpty is a Kafka nullable string (group instance id, offset metadata)
// as the manager has it: "" for null.
func orEmpty(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// nullable is a string of the manager as Kafka has it: null for "".
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (h *handler) groups() (Groups, int16) {
	if h.s.cfg.Groups == nil {
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	return h.s.cfg.Groups, 0
}

func (h *handler) joinGroup(req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Generation = -1
	g, code := h.groups()
	if g == nil {
		resp.ErrorCode = code
		return resp
	}
	jr := api.JoinGroupRequest{
		MemberID: req.MemberID, GroupInstanceID: orEmpty(req.InstanceID), ClientID: h.hdr.clientID,
		SessionTimeoutMS: int64(req.SessionTimeoutMillis), RebalanceTimeoutMS: int64(req.RebalanceTimeoutMillis),
		ProtocolType: req.ProtocolType,
	}
	if req.Version == 0 {
		jr.RebalanceTimeoutMS = jr.SessionTimeoutMS
	}
	for _, p := range req.Protocols {
		jr.Protocols = append(jr.Protocols, api.GroupProtocol{Name: p.Name, Metadata: p.Metadata})
	}
	out, err := g.JoinGroup(h.ctx(), req.Group, jr)
	resp.MemberID = out.MemberID
	if err != nil {
		resp.ErrorCode = errorCode(err)
		if req.MemberID == "" && out.MemberID != "" && req.Version >= 4 && resp.ErrorCode == kerr.RebalanceInProgress.Code {
			// A first join that outlasted the manager's long poll: the
			// member is in the group under out.MemberID, which the
			// client only keeps from MEMBER_ID_REQUIRED (KIP-394); it
			// rejoins with it at once and waits on as that member.
			resp.ErrorCode = kerr.MemberIDRequired.Code
		}
		return resp
	}
	resp.Generation, resp.LeaderID = int32(out.Generation), out.Leader
	proto, ptype := out.Protocol, out.ProtocolType
	if ptype == "" {
		ptype = req.ProtocolType
	}
	resp.Protocol, resp.ProtocolType = &proto, &ptype
	for _, m := range out.Members {
		resp.Members = append(resp.Members, kmsg.JoinGroupResponseMember{MemberID: m.MemberID, InstanceID: nullable(m.GroupInstanceID), ProtocolMetadata: m.Metadata})
	}
	return resp
}

func (h *handler) syncGroup(req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := kmsg.NewPtrSyncGroupResponse()
	g, code := h.groups()
	if g == nil {
		resp.ErrorCode = code
		return resp
	}
	sr := api.SyncGroupRequest{MemberID: req.MemberID, GroupInstanceID: orEmpty(req.InstanceID), Generation: int64(req.Generation)}
	for _, a := range req.GroupAssignment {
		sr.Assignments = append(sr.Assignments, api.SyncAssignment{MemberID: a.MemberID, Assignment: a.MemberAssignment})
	}
	out, err := g.SyncGroup(h.ctx(), req.Group, sr)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	proto := out.Protocol
	resp.Protocol, resp.ProtocolType = &proto, req.ProtocolType
	if out.ProtocolType != "" {
		ptype := out.ProtocolType
		resp.ProtocolType = &ptype
	}
	resp.MemberAssignment = out.Assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	return resp
}

func (h *handler) heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := kmsg.NewPtrHeartbeatResponse()
	g, code := h.groups()
	if g == nil {
		resp.ErrorCode = code
		return resp
	}
	resp.ErrorCode = errorCode(g.HeartbeatGroup(h.ctx(), req.Group, req.MemberID, int64(req.Generation)))
	return resp
}

func (h *handler) leaveGroup(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := kmsg.NewPtrLeaveGroupResponse()
	g, code := h.groups()
	if g == nil {
		resp.ErrorCode = code
		return resp
	}
	if req.Version < 3 {
		_, err := g.LeaveGroupMembers(h.ctx(), req.Group, api.LeaveGroupRequest{Members: []api.LeavingMember{{MemberID: req.MemberID}}})
		resp.ErrorCode = errorCode(err)
		return resp
	}
	var lr api.LeaveGroupRequest
	for _, m := range req.Members {
		lr.Members = append(lr.Members, api.LeavingMember{MemberID: m.MemberID, GroupInstanceID: orEmpty(m.InstanceID)})
	}
	out, err := g.LeaveGroupMembers(h.ctx(), req.Group, lr)
	left := out.Members
	switch {
	case err == nil:
	case len(lr.Members) == 1 && logq.ErrorCode(err) == logq.EUnknownMemberID:
		// The manager answers one unknown member as an error of the
		// call; Kafka as that member's result.
		left = []api.LeftMember{{Code: logq.EUnknownMemberID}}
	default:
		resp.ErrorCode = errorCode(err)
		return resp
	}
	for i, m := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = m.MemberID, m.InstanceID
		if i < len(left) {
			if left[i].MemberID != "" {
				rm.MemberID = left[i].MemberID
			}
			if left[i].Code != "" {
				rm.ErrorCode = errorCode(codeError(left[i].Code))
			}
		}
		resp.Members = append(resp.Members, rm)
	}
	return resp
}

func (h *handler) offsetCommit(req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := kmsg.NewPtrOffsetCommitResponse()
	g, code := h.groups()
	cr := api.CommitOffsetsRequest{MemberID: req.MemberID, GroupInstanceID: orEmpty(req.InstanceID), Generation: int64(req.Generation)}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			cr.Offsets = append(cr.Offsets, api.CommittedOffset{Topic: t.Topic, Partition: int(p.Partition), Offset: p.Offset, Metadata: orEmpty(p.Metadata)})
		}
	}
	var results map[[2]any]int16
	if g != nil && len(cr.Offsets) == 0 {
		g = nil // nothing to commit
	}
	if g != nil {
		out, err := g.CommitOffsets(h.ctx(), req.Group, cr)
		code = errorCode(err)
		if err == nil {
			results = map[[2]any]int16{}
			for _, r := range out {
				if r.Code != "" {
					results[[2]any{r.Topic, int32(r.Partition)}] = errorCode(codeError(r.Code))
				}
			}
		}
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = code
			if results != nil {
				rp.ErrorCode = results[[2]any{t.Topic, p.Partition}]
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (h *handler) offsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := kmsg.NewPtrOffsetFetchResponse()
	g, code := h.groups()
	type one struct {
		group  string
		topics []kmsg.OffsetFetchRequestTopic
		all    bool
	}
	var asks []one
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var ts []kmsg.OffsetFetchRequestTopic
			for _, t := range rg.Topics {
				ts = append(ts, kmsg.OffsetFetchRequestTopic{Topic: t.Topic, Partitions: t.Partitions})
			}
			asks = append(asks, one{rg.Group, ts, rg.Topics == nil})
		}
	} else {
		asks = append(asks, one{req.Group, req.Topics, req.Topics == nil})
	}
	answer := func(a one) ([]kmsg.OffsetFetchResponseTopic, int16) {
		if g == nil {
			return nil, code
		}
		var names []string
		for _, t := range a.topics {
			names = append(names, t.Topic)
		}
		got, err := g.FetchOffsets(h.ctx(), a.group, names...)
		if err != nil && errorCode(err) != kerr.GroupIDNotFound.Code {
			return nil, errorCode(err)
		}
		committed := map[[2]any]api.CommittedOffset{}
		var order []string
		byTopic := map[string][]int32{}
		for _, c := range got {
			committed[[2]any{c.Topic, int32(c.Partition)}] = c
			if _, ok := byTopic[c.Topic]; !ok {
				order = append(order, c.Topic)
			}
			byTopic[c.Topic] = append(byTopic[c.Topic], int32(c.Partition))
		}
		var topics []kmsg.OffsetFetchResponseTopic
		add := func(topic string, parts []int32) {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = topic
			for _, p := range parts {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch = p, -1, -1
				if c, ok := committed[[2]any{topic, p}]; ok {
					rp.Offset = c.Offset
					md := c.Metadata
					rp.Metadata = &md
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			topics = append(topics, rt)
		}
		if a.all {
			for _, t := range order {
				add(t, byTopic[t])
			}
		} else {
			for _, t := range a.topics {
				add(t.Topic, t.Partitions)
			}
		}
		return topics, 0
	}
	if req.Version >= 8 {
		for _, a := range asks {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group = a.group
			topics, code := answer(a)
			rg.ErrorCode = code
			for _, t := range topics {
				gt := kmsg.NewOffsetFetchResponseGroupTopic()
				gt.Topic = t.Topic
				for _, p := range t.Partitions {
					gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
					gt.Partitions = append(gt.Partitions, gp)
				}
				rg.Topics = append(rg.Topics, gt)
			}
			resp.Groups = append(resp.Groups, rg)
		}
		return resp
	}
	topics, code := answer(asks[0])
	resp.Topics, resp.ErrorCode = topics, code
	if code != 0 && req.Version < 2 {
		// v0/v1 have no top-level error code: put it on each partition.
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.ErrorCode = p, -1, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
	return resp
}

func (h *handler) listGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := kmsg.NewPtrListGroupsResponse()
	g, code := h.groups()
	if g == nil {
		resp.ErrorCode = code
		return resp
	}
	list, err := g.ListGroups(h.ctx())
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	for _, l := range list {
		if len(req.StatesFilter) > 0 && !contains(req.StatesFilter, l.State) {
			continue
		}
		resp.Groups = append(resp.Groups, kmsg.ListGroupsResponseGroup{Group: l.Group, ProtocolType: l.ProtocolType, GroupState: l.State})
	}
	return resp
}

func (h *handler) describeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := kmsg.NewPtrDescribeGroupsResponse()
	g, code := h.groups()
	for _, name := range req.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = name
		rg.AuthorizedOperations = -2147483648
		if g == nil {
			rg.ErrorCode = code
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		d, err := g.DescribeGroup(h.ctx(), name)
		switch {
		case errorCode(err) == kerr.GroupIDNotFound.Code:
			rg.State = "Dead" // Kafka describes an unknown group as dead
		case err != nil:
			rg.ErrorCode = errorCode(err)
		default:
			rg.State, rg.ProtocolType, rg.Protocol = d.State, d.ProtocolType, d.Protocol
			for _, m := range d.Members {
				rg.Members = append(rg.Members, describedMember(m))
			}
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

func (h *handler) deleteGroups(req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := kmsg.NewPtrDeleteGroupsResponse()
	g, code := h.groups()
	for _, name := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = name
		rg.ErrorCode = code
		if g != nil {
			rg.ErrorCode = errorCode(g.DeleteGroup(h.ctx(), name))
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// describedMember is a member of DescribeGroups: its metadata and
// assignment are the raw bytes the manager keeps; when it has none (a
// member restored after a writer failover that has not rejoined) the
// decoded assignment is encoded back as Kafka's ConsumerMemberAssignment.
func describedMember(m api.DescribedMember) kmsg.DescribeGroupsResponseGroupMember {
	dm := kmsg.DescribeGroupsResponseGroupMember{MemberID: m.MemberID, InstanceID: nullable(m.GroupInstanceID), ClientID: m.ClientID,
		ProtocolMetadata: m.MemberMetadata, MemberAssignment: m.MemberAssignment}
	if len(dm.MemberAssignment) == 0 && len(m.Assignment) > 0 {
		a := kmsg.NewConsumerMemberAssignment()
		for t, ps := range m.Assignment {
			cp := kmsg.ConsumerMemberAssignmentTopic{Topic: t}
			for _, p := range ps {
				cp.Partitions = append(cp.Partitions, int32(p))
			}
			a.Topics = append(a.Topics, cp)
		}
		dm.MemberAssignment = a.AppendTo(nil)
	}
	return dm
}
