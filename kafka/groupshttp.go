package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logq/logq"
)

// HTTPGroups is Groups over the manager's HTTP API (docs/groups.md): each
// call goes to the first manager that answers (a reader forwards the group
// routes to the writer, where the coordinator runs). The JSON shapes are
// api/groups.go's (this package does not import api; the cluster tests run
// it against the real manager).
//
// A join or sync long-polls on the writer up to the manager's group wait
// (Config.GroupMaxWait, by default its write timeout less 15 s), which may
// be shorter than a Kafka client's rebalance timeout (librdkafka's is
// max.poll.interval.ms, 5 minutes): the coordinator then answers
// rebalance_in_progress, the member stays in the group, and the client
// rejoins with its member id, as Kafka clients do after that error.
type HTTPGroups struct {
	Managers []string // base URLs, "http://host:port"
	Client   *http.Client
	// MaxWait bounds one call (a join long-polls up to the rebalance
	// timeout); default 5 minutes.
	MaxWait time.Duration
}

func (g *HTTPGroups) client() *http.Client {
	if g.Client != nil {
		return g.Client
	}
	return http.DefaultClient
}

// codeError is an error with a logq (or group) code, as the manager sent.
func codeError(code string) error { return &logq.Error{Code: code, Message: code} }

// call sends one request; out, when not nil, receives the JSON answer.
func (g *HTTPGroups) call(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return logq.Internal(err, "encode group request")
		}
	}
	wait := g.MaxWait
	if wait <= 0 {
		wait = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var lastErr error = logq.Errorf(logq.EUnavailable, "no manager configured")
	for _, m := range g.Managers {
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(m, "/")+path, bytes.NewReader(body))
		if err != nil {
			return logq.Internal(err, "group request")
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := g.client().Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return logq.Errorf(logq.ETimeout, "group call %s %s: %v", method, path, ctx.Err())
			}
			lastErr = logq.Errorf(logq.EUnavailable, "manager %s: %v", m, err)
			continue
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		if err != nil {
			lastErr = logq.Errorf(logq.EUnavailable, "manager %s: %v", m, err)
			continue
		}
		if resp.StatusCode >= 300 {
			var e struct {
				Code     string `json:"code"`
				Message  string `json:"message"`
				MemberID string `json:"member_id"` // a join that outlasted the long poll
			}
			_ = json.Unmarshal(data, &e)
			if e.Code == "" {
				e.Code = logq.EUnavailable
				if resp.StatusCode == http.StatusNotFound {
					e.Code = logq.ENotFound
				}
			}
			err := &logq.Error{Code: e.Code, Message: e.Message}
			if resp.StatusCode >= 500 && e.Code != logq.ETimeout {
				lastErr = err
				continue // try the next manager
			}
			if e.MemberID != "" {
				return &memberError{err: err, memberID: e.MemberID}
			}
			return err
		}
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				return logq.Internal(err, "decode group answer")
			}
		}
		return nil
	}
	return lastErr
}

// memberError is a group error that names the member it is about: a join
// that outlasted the coordinator's long poll, whose member stays in the
// group under that id.
type memberError struct {
	err      error
	memberID string
}

func (e *memberError) Error() string { return e.err.Error() }
func (e *memberError) Unwrap() error { return e.err }

// ErrorMemberID returns the member id an error of Groups.Join names ("":
// none).
func ErrorMemberID(err error) string {
	var me *memberError
	if errors.As(err, &me) {
		return me.memberID
	}
	return ""
}

func groupPath(group string, rest string) string {
	return "/groups/" + url.PathEscape(group) + rest
}

// Join is POST /groups/{group}/join. A join that outlasted the manager's
// long poll fails with rebalance_in_progress and, in the answer, the
// member id the member has in the group.
func (g *HTTPGroups) Join(ctx context.Context, group string, req JoinRequest) (JoinResponse, error) {
	var out JoinResponse
	err := g.call(ctx, http.MethodPost, groupPath(group, "/join"), req, &out)
	if id := ErrorMemberID(err); id != "" {
		out.MemberID = id
	}
	return out, err
}

// Sync is POST /groups/{group}/sync.
func (g *HTTPGroups) Sync(ctx context.Context, group string, req SyncRequest) (SyncResponse, error) {
	var out SyncResponse
	err := g.call(ctx, http.MethodPost, groupPath(group, "/sync"), req, &out)
	return out, err
}

// Heartbeat is POST /groups/{group}/heartbeat.
func (g *HTTPGroups) Heartbeat(ctx context.Context, group, memberID string, generation int32) error {
	return g.call(ctx, http.MethodPost, groupPath(group, "/heartbeat"),
		map[string]any{"member_id": memberID, "generation": generation}, nil)
}

// Leave is POST /groups/{group}/leave: the answer has each member's
// outcome (one member that is not in the group is an error of the call).
func (g *HTTPGroups) Leave(ctx context.Context, group string, members []LeavingMember) ([]LeftMember, error) {
	var out struct {
		Members []LeftMember `json:"members"`
	}
	err := g.call(ctx, http.MethodPost, groupPath(group, "/leave"), map[string]any{"members": members}, &out)
	return out.Members, err
}

// CommitOffsets is POST /groups/{group}/offsets.
func (g *HTTPGroups) CommitOffsets(ctx context.Context, group string, req CommitRequest) ([]OffsetResult, error) {
	var out struct {
		Offsets []OffsetResult `json:"offsets"`
	}
	if err := g.call(ctx, http.MethodPost, groupPath(group, "/offsets"), req, &out); err != nil {
		return nil, err
	}
	return out.Offsets, nil
}

// FetchOffsets is GET /groups/{group}/offsets?topic=T….
func (g *HTTPGroups) FetchOffsets(ctx context.Context, group string, topics []string) ([]CommittedOffset, error) {
	q := url.Values{}
	for _, t := range topics {
		q.Add("topic", t)
	}
	path := groupPath(group, "/offsets")
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out struct {
		Offsets []CommittedOffset `json:"offsets"`
	}
	err := g.call(ctx, http.MethodGet, path, nil, &out)
	return out.Offsets, err
}

// List is GET /groups.
func (g *HTTPGroups) List(ctx context.Context) ([]GroupListing, error) {
	var out struct {
		Groups []GroupListing `json:"groups"`
	}
	err := g.call(ctx, http.MethodGet, "/groups", nil, &out)
	return out.Groups, err
}

// Describe is GET /groups/{group}. A member's metadata and assignment are
// the raw bytes the manager keeps (member_metadata, member_assignment);
// when it has none (a member restored after a writer failover that has not
// rejoined) the decoded assignment (topic → partitions) is encoded back as
// Kafka's ConsumerMemberAssignment.
func (g *HTTPGroups) Describe(ctx context.Context, group string) (GroupDescription, error) {
	var out struct {
		GroupDescription
		Members []struct {
			GroupMember
			Assignment       json.RawMessage `json:"assignment"`
			MemberMetadata   []byte          `json:"member_metadata"`
			MemberAssignment []byte          `json:"member_assignment"`
		} `json:"members"`
	}
	if err := g.call(ctx, http.MethodGet, groupPath(group, ""), nil, &out); err != nil {
		return GroupDescription{}, err
	}
	d := out.GroupDescription
	d.Members = nil
	for _, m := range out.Members {
		gm := m.GroupMember
		gm.Metadata, gm.Assignment = m.MemberMetadata, m.MemberAssignment
		if gm.Metadata == nil {
			gm.Metadata = []byte{}
		}
		if len(gm.Assignment) == 0 {
			gm.Assignment = decodeAssignment(m.Assignment)
		}
		d.Members = append(d.Members, gm)
	}
	return d, nil
}

// decodeAssignment reads an assignment given as base64 bytes or as
// {"topic": [partitions]}.
func decodeAssignment(raw json.RawMessage) []byte {
	if len(raw) == 0 || string(raw) == "null" {
		return []byte{}
	}
	var b []byte
	if err := json.Unmarshal(raw, &b); err == nil {
		return b
	}
	var m map[string][]int32
	if err := json.Unmarshal(raw, &m); err != nil {
		return []byte{}
	}
	a := kmsg.NewConsumerMemberAssignment()
	for t, ps := range m {
		a.Topics = append(a.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: t, Partitions: ps})
	}
	return a.AppendTo(nil)
}

// Delete is DELETE /groups/{group}.
func (g *HTTPGroups) Delete(ctx context.Context, group string) error {
	return g.call(ctx, http.MethodDelete, groupPath(group, ""), nil, nil)
}

var _ Groups = (*HTTPGroups)(nil)

// errNoManagers is New's answer for an HTTPGroups without managers.
var errNoManagers = errors.New("kafka: HTTPGroups needs at least one manager")

// Validate reports a misconfigured HTTPGroups.
func (g *HTTPGroups) Validate() error {
	if len(g.Managers) == 0 {
		return errNoManagers
	}
	for _, m := range g.Managers {
		if !strings.HasPrefix(m, "http://") && !strings.HasPrefix(m, "https://") {
			return fmt.Errorf("kafka: manager %q is not an http(s) URL", m)
		}
	}
	return nil
}
