package manager

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/logq/logq/api"
	"github.com/logq/logq/decide"
	"github.com/logq/logq/projection"
)

// Storage clusters (issue 17): POST /storage-clusters registers one by
// name (brokers declaring an unknown one register it too), GET lists them
// with their brokers and partitions.

func (m *Manager) handleRegisterStorageCluster(r *http.Request, _ httprouter.Params) (any, error) {
	var p api.StorageClusterParams
	if err := m.decode(r, &p); err != nil {
		return nil, err
	}
	req, err := p.Request()
	if err != nil {
		return nil, err
	}
	w, err := m.writeOp(r.Context(), func(s *projection.State) (decide.Decision, error) {
		return decide.RegisterStorageCluster(s, req.Name)
	})
	if err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return api.StorageClustersAnswer{Status: success, StorageClusters: storageClusterInfos(m.state), Seq: max(w.seq, m.state.Seq)}, nil
}

func (m *Manager) handleStorageClusters(r *http.Request, _ httprouter.Params) (any, error) {
	if err := m.readOnly(r); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return api.StorageClustersAnswer{Status: success, StorageClusters: storageClusterInfos(m.state), Seq: m.state.Seq}, nil
}

// storageClusterInfos describes every known storage cluster of s, the
// default first.
func storageClusterInfos(s *projection.State) []api.StorageClusterInfo {
	names := s.StorageClusterNames()
	index := make(map[string]int, len(names))
	out := make([]api.StorageClusterInfo, len(names))
	for i, n := range names {
		index[n] = i
		out[i] = api.StorageClusterInfo{Name: projection.StorageClusterName(n), Brokers: []int64{}}
	}
	for _, id := range s.BrokerIDs() {
		b := s.Brokers[id]
		info := &out[index[b.StorageCluster]]
		info.Brokers = append(info.Brokers, id)
		if b.Alive {
			info.LiveBrokers++
		}
	}
	for _, name := range s.TopicNames() {
		for _, p := range s.Topics[name].Partitions {
			info := &out[index[p.StorageCluster]]
			info.Partitions++
			if !s.Writable(name, p.Index) {
				info.Unavailable++
			}
		}
	}
	return out
}
