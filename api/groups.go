package api

import (
	"encoding/base64"
	"fmt"
	"math"

	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

// Consumer groups (docs/groups.md): the member protocol, offsets and the
// admin of groups, on the manager. Each XxxParams is decoded once (Decode)
// and checked by its Request method into the XxxRequest the Go client
// sends; answers are plain. Binary fields (protocol metadata, assignments)
// travel as base64, as encoding/json encodes []byte.

// Protocol types of groups.
const (
	ProtocolTypeConsumer = "consumer" // Kafka clients: the leader assigns (kmsg.ConsumerMemberAssignment)
	ProtocolTypeLogq     = "logq"     // logq-native clients: the coordinator assigns
)

// Limits of the group requests.
const (
	MaxGroupProtocols    = 16
	MaxGroupMetadata     = 64 << 10 // bytes of one protocol's metadata or one assignment
	MaxOffsetMetadata    = 4096     // Kafka's offset.metadata.max.bytes
	MaxOffsetsPerRequest = 10000
)

// GroupMemberFields name a member and its generation.
type GroupMemberFields struct {
	MemberID        Str `json:"member_id"`
	GroupInstanceID Str `json:"group_instance_id"`
}

func (f *GroupMemberFields) member() (id, instance string, err error) {
	if id, _, err = str([]string{"member_id"}, &f.MemberID); err != nil {
		return
	}
	instance, _, err = str([]string{"group_instance_id"}, &f.GroupInstanceID)
	if err == nil && (len(id) > projection.MaxMemberIDLen || len(instance) > projection.MaxMemberIDLen) {
		err = logq.Errorf(logq.EInvalid, "member_id and group_instance_id are at most %d bytes", projection.MaxMemberIDLen)
	}
	return
}

// base64Field decodes a base64 field (standard encoding, padded or not).
func base64Field(name string, s *Str) ([]byte, error) {
	v, _, err := str([]string{name}, s)
	if err != nil || v == "" {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(v); err != nil {
			return nil, logq.Errorf(logq.EInvalid, "%s must be base64", name)
		}
	}
	if len(b) > MaxGroupMetadata {
		return nil, logq.Errorf(logq.ETooLarge, "%s over %d bytes", name, MaxGroupMetadata)
	}
	return b, nil
}

// ValidateGroup refuses (400) an invalid group name.
func ValidateGroup(name string) error {
	if err := projection.ValidateGroupName(name); err != nil {
		return logq.Errorf(logq.EInvalid, "%v", err)
	}
	return nil
}

// GroupProtocolParams is one protocol a joining member supports.
type GroupProtocolParams struct {
	Name     Str `json:"name"`
	Metadata Str `json:"metadata"` // base64
}

// JoinGroupParams is what POST /groups/{group}/join accepts.
type JoinGroupParams struct {
	GroupMemberFields
	ClientID           Str                   `json:"client_id"`
	SessionTimeoutMS   Int                   `json:"session_timeout_ms"`
	RebalanceTimeoutMS Int                   `json:"rebalance_timeout_ms"`
	ProtocolType       Str                   `json:"protocol_type"`
	Protocols          []GroupProtocolParams `json:"protocols"`
}

// GroupProtocol is one protocol of a join: its name (for protocol type
// "logq", an assignor) and metadata (for "logq", JSON {"topics":[…]}).
type GroupProtocol struct {
	Name     string `json:"name"`
	Metadata []byte `json:"metadata"`
}

// JoinGroupRequest is the body of POST /groups/{group}/join. MemberID ""
// on a first join: the coordinator assigns one.
type JoinGroupRequest struct {
	MemberID           string          `json:"member_id"`
	GroupInstanceID    string          `json:"group_instance_id,omitempty"`
	ClientID           string          `json:"client_id,omitempty"`
	SessionTimeoutMS   int64           `json:"session_timeout_ms"`
	RebalanceTimeoutMS int64           `json:"rebalance_timeout_ms,omitempty"` // 0: the session timeout
	ProtocolType       string          `json:"protocol_type"`
	Protocols          []GroupProtocol `json:"protocols"`
}

// Request checks the parameters.
func (p *JoinGroupParams) Request() (JoinGroupRequest, error) {
	var req JoinGroupRequest
	var err error
	if req.MemberID, req.GroupInstanceID, err = p.member(); err != nil {
		return req, err
	}
	if req.ClientID, _, err = str([]string{"client_id"}, &p.ClientID); err != nil {
		return req, err
	}
	if len(req.ClientID) > projection.MaxMemberIDLen {
		return req, logq.Errorf(logq.EInvalid, "client_id is at most %d bytes", projection.MaxMemberIDLen)
	}
	if req.SessionTimeoutMS, err = requiredInt([]string{"session_timeout_ms"}, 1, math.MaxInt32, &p.SessionTimeoutMS); err != nil {
		return req, err
	}
	if req.RebalanceTimeoutMS, _, err = integer([]string{"rebalance_timeout_ms"}, 0, math.MaxInt32, &p.RebalanceTimeoutMS); err != nil {
		return req, err
	}
	if req.RebalanceTimeoutMS == 0 {
		req.RebalanceTimeoutMS = req.SessionTimeoutMS
	}
	if req.ProtocolType, err = requiredStr([]string{"protocol_type"}, &p.ProtocolType); err != nil {
		return req, err
	}
	if len(req.ProtocolType) > projection.MaxMemberIDLen {
		return req, logq.Errorf(logq.EInvalid, "protocol_type is at most %d bytes", projection.MaxMemberIDLen)
	}
	if len(p.Protocols) == 0 || len(p.Protocols) > MaxGroupProtocols {
		return req, logq.Errorf(logq.EInvalid, "protocols must list 1 to %d protocols", MaxGroupProtocols)
	}
	seen := map[string]bool{}
	for i := range p.Protocols {
		name, err := requiredStr([]string{fmt.Sprintf("protocols[%d].name", i)}, &p.Protocols[i].Name)
		if err != nil {
			return req, err
		}
		if seen[name] || len(name) > projection.MaxMemberIDLen {
			return req, logq.Errorf(logq.EInvalid, "protocol %q is listed twice or too long", name)
		}
		seen[name] = true
		md, err := base64Field(fmt.Sprintf("protocols[%d].metadata", i), &p.Protocols[i].Metadata)
		if err != nil {
			return req, err
		}
		req.Protocols = append(req.Protocols, GroupProtocol{Name: name, Metadata: md})
	}
	return req, nil
}

// JoinGroupMember is one member in the leader's join answer.
type JoinGroupMember struct {
	MemberID        string `json:"member_id"`
	GroupInstanceID string `json:"group_instance_id,omitempty"`
	Metadata        []byte `json:"metadata"` // its metadata for the chosen protocol
}

// JoinGroupAnswer is the answer of POST /groups/{group}/join. Members is
// set for the leader only.
type JoinGroupAnswer struct {
	Status       string            `json:"status"`
	Generation   int64             `json:"generation"`
	ProtocolType string            `json:"protocol_type"`
	Protocol     string            `json:"protocol"`
	Leader       string            `json:"leader"`
	MemberID     string            `json:"member_id"`
	Members      []JoinGroupMember `json:"members"`
}

// JoinFailure is the error answer of a join that outlasted the
// coordinator's long poll (rebalance_in_progress): the member stays in the
// group as MemberID and rejoins with it.
type JoinFailure struct {
	ErrorBody
	MemberID string `json:"member_id"`
}

// SyncAssignmentParams is one member's assignment in the leader's sync.
type SyncAssignmentParams struct {
	MemberID   Str `json:"member_id"`
	Assignment Str `json:"assignment"` // base64
}

// SyncGroupParams is what POST /groups/{group}/sync accepts.
type SyncGroupParams struct {
	GroupMemberFields
	Generation  Int                    `json:"generation"`
	Assignments []SyncAssignmentParams `json:"assignments"`
}

// SyncAssignment is one member's assignment (opaque for protocol type
// "consumer"; ignored for "logq", where the coordinator assigns).
type SyncAssignment struct {
	MemberID   string `json:"member_id"`
	Assignment []byte `json:"assignment"`
}

// SyncGroupRequest is the body of POST /groups/{group}/sync.
type SyncGroupRequest struct {
	MemberID        string           `json:"member_id"`
	GroupInstanceID string           `json:"group_instance_id,omitempty"`
	Generation      int64            `json:"generation"`
	Assignments     []SyncAssignment `json:"assignments,omitempty"`
}

// Request checks the parameters.
func (p *SyncGroupParams) Request() (SyncGroupRequest, error) {
	var req SyncGroupRequest
	var err error
	if req.MemberID, req.GroupInstanceID, err = p.member(); err != nil {
		return req, err
	}
	if req.MemberID == "" {
		return req, logq.Errorf(logq.EInvalid, "member_id is required")
	}
	if req.Generation, err = requiredInt([]string{"generation"}, -1, math.MaxInt32, &p.Generation); err != nil {
		return req, err
	}
	seen := map[string]bool{}
	for i := range p.Assignments {
		id, err := requiredStr([]string{fmt.Sprintf("assignments[%d].member_id", i)}, &p.Assignments[i].MemberID)
		if err != nil {
			return req, err
		}
		if seen[id] {
			return req, logq.Errorf(logq.EInvalid, "member %q assigned twice", id)
		}
		seen[id] = true
		a, err := base64Field(fmt.Sprintf("assignments[%d].assignment", i), &p.Assignments[i].Assignment)
		if err != nil {
			return req, err
		}
		req.Assignments = append(req.Assignments, SyncAssignment{MemberID: id, Assignment: a})
	}
	return req, nil
}

// SyncGroupAnswer is the answer of POST /groups/{group}/sync: this
// member's assignment (for protocol type "logq", JSON {"topic":[partitions]}).
type SyncGroupAnswer struct {
	Status       string `json:"status"`
	ProtocolType string `json:"protocol_type"`
	Protocol     string `json:"protocol"`
	Assignment   []byte `json:"assignment"`
}

// LogqMetadata is a protocol's metadata for protocol type "logq".
type LogqMetadata struct {
	Topics []string `json:"topics"`
}

// LogqAssignment is a member's assignment for protocol type "logq": topic
// → partitions.
type LogqAssignment map[string][]int

// GroupHeartbeatParams is what POST /groups/{group}/heartbeat accepts.
type GroupHeartbeatParams struct {
	GroupMemberFields
	Generation Int `json:"generation"`
}

// GroupHeartbeatRequest is the body of POST /groups/{group}/heartbeat.
type GroupHeartbeatRequest struct {
	MemberID        string `json:"member_id"`
	GroupInstanceID string `json:"group_instance_id,omitempty"`
	Generation      int64  `json:"generation"`
}

// Request checks the parameters.
func (p *GroupHeartbeatParams) Request() (GroupHeartbeatRequest, error) {
	var req GroupHeartbeatRequest
	var err error
	if req.MemberID, req.GroupInstanceID, err = p.member(); err != nil {
		return req, err
	}
	if req.MemberID == "" {
		return req, logq.Errorf(logq.EInvalid, "member_id is required")
	}
	req.Generation, err = requiredInt([]string{"generation"}, -1, math.MaxInt32, &p.Generation)
	return req, err
}

// LeaveGroupParams is what POST /groups/{group}/leave accepts: one member,
// or several (Kafka's LeaveGroup v3+).
type LeaveGroupParams struct {
	GroupMemberFields
	Members []GroupMemberFields `json:"members"`
}

// LeavingMember is one member that leaves: by member id, or by group
// instance id (a static member).
type LeavingMember struct {
	MemberID        string `json:"member_id,omitempty"`
	GroupInstanceID string `json:"group_instance_id,omitempty"`
}

// LeaveGroupRequest is the body of POST /groups/{group}/leave.
type LeaveGroupRequest struct {
	Members []LeavingMember `json:"members"`
}

// Request checks the parameters.
func (p *LeaveGroupParams) Request() (LeaveGroupRequest, error) {
	var req LeaveGroupRequest
	all := append([]GroupMemberFields{p.GroupMemberFields}, p.Members...)
	for i := range all {
		id, inst, err := all[i].member()
		if err != nil {
			return req, err
		}
		if id == "" && inst == "" {
			continue
		}
		req.Members = append(req.Members, LeavingMember{MemberID: id, GroupInstanceID: inst})
	}
	if len(req.Members) == 0 {
		return req, logq.Errorf(logq.EInvalid, "member_id (or members) is required")
	}
	return req, nil
}

// LeftMember is one member's outcome in the leave answer; Code is "" when
// it left, else unknown_member_id.
type LeftMember struct {
	MemberID        string `json:"member_id,omitempty"`
	GroupInstanceID string `json:"group_instance_id,omitempty"`
	Code            string `json:"code,omitempty"`
}

// LeaveGroupAnswer is the answer of POST /groups/{group}/leave.
type LeaveGroupAnswer struct {
	Status  string       `json:"status"`
	Members []LeftMember `json:"members"`
}

// OffsetParams is one partition's offset in a commit.
type OffsetParams struct {
	TopicFields
	PartitionFields
	Offset   Int `json:"offset"`
	Metadata Str `json:"metadata"`
}

// CommitOffsetsParams is what POST /groups/{group}/offsets accepts.
type CommitOffsetsParams struct {
	GroupMemberFields
	Generation Int            `json:"generation"`
	Offsets    []OffsetParams `json:"offsets"`
}

// CommittedOffset is one partition's committed offset (-1: none).
type CommittedOffset struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
	Metadata  string `json:"metadata"`
}

// CommitOffsetsRequest is the body of POST /groups/{group}/offsets.
// Generation -1 (and no member) is a standalone commit, allowed while the
// group has no members.
type CommitOffsetsRequest struct {
	MemberID        string            `json:"member_id,omitempty"`
	GroupInstanceID string            `json:"group_instance_id,omitempty"`
	Generation      int64             `json:"generation"`
	Offsets         []CommittedOffset `json:"offsets"`
}

// Request checks the parameters. A partition's own problems (unknown topic,
// negative offset, metadata too long) are answered per partition by the
// coordinator, not here.
func (p *CommitOffsetsParams) Request() (CommitOffsetsRequest, error) {
	var req CommitOffsetsRequest
	var err error
	if req.MemberID, req.GroupInstanceID, err = p.member(); err != nil {
		return req, err
	}
	gen, ok, err := integer([]string{"generation"}, -1, math.MaxInt32, &p.Generation)
	if err != nil {
		return req, err
	}
	req.Generation = -1
	if ok {
		req.Generation = gen
	}
	if len(p.Offsets) == 0 || len(p.Offsets) > MaxOffsetsPerRequest {
		return req, logq.Errorf(logq.EInvalid, "offsets must list 1 to %d partitions", MaxOffsetsPerRequest)
	}
	for i := range p.Offsets {
		o := &p.Offsets[i]
		topic, err := requiredStr(topicNames, &o.Topic, &o.TopicName, &o.Name)
		if err != nil {
			return req, offsetItemError(i, err)
		}
		part, err := o.PartitionRequired()
		if err != nil {
			return req, offsetItemError(i, err)
		}
		off, err := requiredInt([]string{"offset"}, math.MinInt64, math.MaxInt64, &o.Offset)
		if err != nil {
			return req, offsetItemError(i, err)
		}
		md, _, err := str([]string{"metadata"}, &o.Metadata)
		if err != nil {
			return req, offsetItemError(i, err)
		}
		req.Offsets = append(req.Offsets, CommittedOffset{Topic: topic, Partition: part, Offset: off, Metadata: md})
	}
	return req, nil
}

// OffsetResult is one partition's outcome of a commit: Code "" when
// committed, else the code of its error (topic_not_found, invalid,
// too_large).
type OffsetResult struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Code      string `json:"code,omitempty"`
	Message   string `json:"message,omitempty"`
}

// CommitOffsetsAnswer is the answer of POST /groups/{group}/offsets.
type CommitOffsetsAnswer struct {
	Status  string         `json:"status"`
	Offsets []OffsetResult `json:"offsets"`
}

// GroupOffsetsAnswer is the answer of GET /groups/{group}/offsets and of the
// reset.
type GroupOffsetsAnswer struct {
	Status  string            `json:"status"`
	Group   string            `json:"group"`
	Offsets []CommittedOffset `json:"offsets"`
}

// Reset targets of POST /groups/{group}/offsets/reset.
const (
	ResetToOffset   = "offset"
	ResetToEarliest = "earliest"
	ResetToLatest   = "latest"
	ResetToDatetime = "datetime" // timestamp_ms: the first offset at or after it
)

// ResetOffsetsParams is what POST /groups/{group}/offsets/reset accepts.
type ResetOffsetsParams struct {
	TopicFields
	Partitions  []Int `json:"partitions"`
	To          Str   `json:"to"`
	Offset      Int   `json:"offset"`
	TimestampMS Int   `json:"timestamp_ms"`
}

// ResetOffsetsRequest is the body of POST /groups/{group}/offsets/reset:
// the partitions of Topic (none: all) are set to To.
type ResetOffsetsRequest struct {
	Topic       string `json:"topic"`
	Partitions  []int  `json:"partitions,omitempty"`
	To          string `json:"to"`
	Offset      int64  `json:"offset"`
	TimestampMS int64  `json:"timestamp_ms,omitempty"`
}

// Request checks the parameters.
func (p *ResetOffsetsParams) Request() (ResetOffsetsRequest, error) {
	var req ResetOffsetsRequest
	var err error
	if req.Topic, err = p.TopicRequired(); err != nil {
		return req, err
	}
	for i := range p.Partitions {
		n, err := requiredInt([]string{fmt.Sprintf("partitions[%d]", i)}, 0, projection.MaxPartitions-1, &p.Partitions[i])
		if err != nil {
			return req, err
		}
		req.Partitions = append(req.Partitions, int(n))
	}
	if req.To, err = requiredStr([]string{"to"}, &p.To); err != nil {
		return req, err
	}
	switch req.To {
	case ResetToOffset:
		req.Offset, err = requiredInt([]string{"offset"}, 0, math.MaxInt64, &p.Offset)
	case ResetToDatetime:
		req.TimestampMS, err = requiredInt([]string{"timestamp_ms"}, 0, math.MaxInt64, &p.TimestampMS)
	case ResetToEarliest, ResetToLatest:
	default:
		err = logq.Errorf(logq.EInvalid, "to must be offset, earliest, latest or datetime; got %q", req.To)
	}
	return req, err
}

// Group states, Kafka's names.
const (
	GroupEmpty               = "Empty"
	GroupPreparingRebalance  = "PreparingRebalance"
	GroupCompletingRebalance = "CompletingRebalance"
	GroupStable              = "Stable"
	GroupDead                = "Dead"
)

// GroupListing is one group of GET /groups.
type GroupListing struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
}

// GroupsAnswer is the answer of GET /groups.
type GroupsAnswer struct {
	Status string         `json:"status"`
	Groups []GroupListing `json:"groups"`
}

// DescribedMember is one member in GET /groups/{group}.
type DescribedMember struct {
	MemberID        string           `json:"member_id"`
	GroupInstanceID string           `json:"group_instance_id,omitempty"`
	ClientID        string           `json:"client_id"`
	Topics          []string         `json:"topics,omitempty"`     // subscription, when known
	Assignment      map[string][]int `json:"assignment,omitempty"` // topic → partitions
	// As Kafka's DescribeGroups has them: the member's metadata for the
	// group's protocol and its assignment, raw (base64); empty when not
	// known (a member restored after a failover that has not rejoined).
	MemberMetadata   []byte `json:"member_metadata,omitempty"`
	MemberAssignment []byte `json:"member_assignment,omitempty"`
}

// GroupAnswer is the answer of GET /groups/{group}.
type GroupAnswer struct {
	Status       string            `json:"status"`
	Group        string            `json:"group"`
	State        string            `json:"state"`
	ProtocolType string            `json:"protocol_type"`
	Protocol     string            `json:"protocol"`
	Generation   int64             `json:"generation"`
	Leader       string            `json:"leader"`
	Members      []DescribedMember `json:"members"`
}

func offsetItemError(i int, err error) error {
	return logq.Errorf(logq.ErrorCode(err), "offsets[%d]: %s", i, logq.ErrorMessage(err))
}
