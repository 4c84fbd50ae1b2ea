package manager

import (
	"net/http"
	"testing"

	"github.com/logq/logq/internal/pgtest"
	"github.com/logq/logq/projection"
)

func TestDeleteTopic(t *testing.T) {
	dsn := pgtest.NewDB(t)
	w, r := startWriterAndReader(t, dsn)
	api := newAPI(t)
	api.ok("POST", w.url+"/brokers", map[string]any{"address": "127.0.0.1:1"})
	api.ok("POST", w.url+"/topics", map[string]any{"topic_name": "doomed", "partitions": 2})
	api.ok("POST", w.url+"/topics", map[string]any{"topic_name": "kept"})
	prod := api.ok("POST", w.url+"/producer/register", map[string]any{"topic": "doomed"})

	tests := []struct {
		name, method, url string
		body              any
		status            int
		code              string
	}{
		{"delete through the reader (forwarded)", "DELETE", r.url + "/topics/doomed", nil, http.StatusOK, ""},
		{"again: not found", "DELETE", w.url + "/topics/doomed", nil, http.StatusNotFound, "topic_not_found"},
		{"unknown topic", "DELETE", w.url + "/topics/never", nil, http.StatusNotFound, "topic_not_found"},
		{"bad name", "DELETE", w.url + "/topics/a%20b", nil, http.StatusBadRequest, "invalid"},
		{"described: not found", "GET", w.url + "/topics/doomed", nil, http.StatusNotFound, "topic_not_found"},
		{"the name is not reusable", "POST", w.url + "/topics", map[string]any{"topic_name": "doomed"}, http.StatusConflict, "conflict"},
		{"nor by a producer registration", "POST", w.url + "/producer/register", map[string]any{"topic": "doomed"}, http.StatusConflict, "conflict"},
		{"its producer is gone", "POST", w.url + "/producers/" + prod.body["producer_id"].(interface{ String() string }).String() + "/heartbeat", nil, http.StatusNotFound, "producer_not_found"},
	}
	for _, tc := range tests {
		ans := api.do(tc.method, tc.url, tc.body)
		if ans.status != tc.status || (tc.code != "" && ans.str("code") != tc.code) {
			t.Errorf("%s: status %d code %q, want %d %q: %s", tc.name, ans.status, ans.str("code"), tc.status, tc.code, ans.raw)
		}
		if tc.status == http.StatusOK {
			waitSeq(t, w, ans.int("seq"))
		}
	}
	s := w.State()
	if _, ok := s.Topics["kept"]; !ok {
		t.Error("another topic was deleted too")
	}
	if _, ok := s.DeletedTopics["doomed"]; !ok {
		t.Error("the state does not remember the deleted name")
	}
	types := eventTypes(t, newPool(t, dsn), 0)
	n := 0
	for _, typ := range types {
		if typ == projection.TypeTopicDeleted {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d TopicDeleted events, want 1: %v", n, types)
	}
}
