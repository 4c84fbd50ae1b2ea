package api

import (
	"github.com/logq/logq"
	"github.com/logq/logq/projection"
)

// StorageClusterParams is what POST /storage-clusters accepts.
type StorageClusterParams struct {
	Name Str `json:"name"`
}

// StorageClusterRequest is the body of POST /storage-clusters: register a
// storage cluster (one PostgreSQL that brokers store records in) by name.
type StorageClusterRequest struct {
	Name string `json:"name"`
}

// Request checks the parameters.
func (p *StorageClusterParams) Request() (StorageClusterRequest, error) {
	name, err := requiredStr([]string{"name"}, &p.Name)
	if err != nil {
		return StorageClusterRequest{}, err
	}
	if err := projection.ValidateStorageClusterName(name); err != nil {
		return StorageClusterRequest{}, logq.Errorf(logq.EInvalid, "name: %v", err)
	}
	return StorageClusterRequest{Name: name}, nil
}

// StorageClusterInfo is one storage cluster in GET /storage-clusters: its
// brokers (live ones among them) and the partitions it holds (those
// without a live owner among them: unavailable until one of its brokers
// comes back).
type StorageClusterInfo struct {
	Name        string  `json:"name"`
	Brokers     []int64 `json:"brokers"`
	LiveBrokers int     `json:"live_brokers"`
	Partitions  int     `json:"partitions"`
	Unavailable int     `json:"unavailable_partitions"`
}

// StorageClustersAnswer is the answer of GET and POST /storage-clusters.
type StorageClustersAnswer struct {
	Status          string               `json:"status"`
	StorageClusters []StorageClusterInfo `json:"storage_clusters"`
	Seq             int64                `json:"seq"`
}
