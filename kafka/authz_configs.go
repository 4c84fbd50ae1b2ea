package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logq/logq/auth"
)

// The config APIs' authorization (configs.go): altering a topic's configs
// needs topic alter on it (as CreatePartitions), a broker resource cluster
// alter; a refused resource is answered TOPIC_ or CLUSTER_AUTHORIZATION_
// FAILED and the rest is served.
func init() {
	authzTable[kmsg.AlterConfigs.Int16()] = rule{Need: needACL, Resource: auth.Topic, Op: auth.OpAlter,
		Name: "each topic resource; a broker resource needs cluster alter", enforce: authzAlterConfigs}
	authzTable[kmsg.IncrementalAlterConfigs.Int16()] = rule{Need: needACL, Resource: auth.Topic, Op: auth.OpAlter,
		Name: "each topic resource; a broker resource needs cluster alter", enforce: authzIncrementalAlterConfigs}
}

// mayAlterConfigs says whether z may alter the configs of a resource.
func mayAlterConfigs(z *authz, rt kmsg.ConfigResourceType, name string) bool {
	if rt == kmsg.ConfigResourceTypeTopic {
		return z.may(auth.Topic, name, auth.OpAlter)
	}
	return z.may(auth.Cluster, auth.ClusterName, auth.OpAlter)
}

// configRefusal is the error code of a refused config resource.
func configRefusal(rt kmsg.ConfigResourceType) int16 {
	if rt == kmsg.ConfigResourceTypeTopic {
		return kerr.TopicAuthorizationFailed.Code
	}
	return kerr.ClusterAuthorizationFailed.Code
}

func authzAlterConfigs(z *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.(*kmsg.AlterConfigsRequest)
	kept, refused := split(r.Resources, func(res kmsg.AlterConfigsRequestResource) bool {
		return mayAlterConfigs(z, res.ResourceType, res.ResourceName)
	})
	if len(refused) == 0 {
		return nil, nil
	}
	r.Resources = kept
	return nil, func(resp kmsg.Response) {
		ar := resp.(*kmsg.AlterConfigsResponse)
		for _, res := range refused {
			rr := kmsg.NewAlterConfigsResponseResource()
			rr.ResourceType, rr.ResourceName, rr.ErrorCode = res.ResourceType, res.ResourceName, configRefusal(res.ResourceType)
			ar.Resources = append(ar.Resources, rr)
		}
	}
}

func authzIncrementalAlterConfigs(z *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.(*kmsg.IncrementalAlterConfigsRequest)
	kept, refused := split(r.Resources, func(res kmsg.IncrementalAlterConfigsRequestResource) bool {
		return mayAlterConfigs(z, res.ResourceType, res.ResourceName)
	})
	if len(refused) == 0 {
		return nil, nil
	}
	r.Resources = kept
	return nil, func(resp kmsg.Response) {
		ar := resp.(*kmsg.IncrementalAlterConfigsResponse)
		for _, res := range refused {
			rr := kmsg.NewIncrementalAlterConfigsResponseResource()
			rr.ResourceType, rr.ResourceName, rr.ErrorCode = res.ResourceType, res.ResourceName, configRefusal(res.ResourceType)
			ar.Resources = append(ar.Resources, rr)
		}
	}
}
