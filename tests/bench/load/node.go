package load

import (
	"encoding/json"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
	corev1 "k8s.io/api/core/v1"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// Identity is the pod a simulated proxy runs in.
type Identity struct {
	IP, Pod, Namespace, ServiceAccount string
	Labels                             map[string]string
}

// identities picks n pods of the mesh, first one pod per service (services are spread
// round-robin over namespaces, so proxies are too), then the second, and so on.
func identities(configs []*config.Config, n int) ([]Identity, error) {
	var byRank [][]Identity // byRank[r] = the r-th pod of each service
	rank := map[string]int{}
	for _, c := range configs {
		if c.Kind != schema.Pod {
			continue
		}
		p := c.Spec.(*corev1.Pod)
		svc := p.Labels["app"]
		r := rank[svc]
		rank[svc]++
		if r == len(byRank) {
			byRank = append(byRank, nil)
		}
		byRank[r] = append(byRank[r], Identity{
			IP: p.Status.PodIP, Pod: p.Name, Namespace: p.Namespace,
			ServiceAccount: p.Spec.ServiceAccountName, Labels: p.Labels,
		})
	}
	var out []Identity
	for _, pods := range byRank {
		for _, id := range pods {
			if len(out) == n {
				return out, nil
			}
			out = append(out, id)
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("%d clients asked for, the mesh has %d pods", n, len(out))
	}
	return out, nil
}

// Node is the Envoy node istio-agent sends for this pod: the sidecar node id and the
// metadata in istio-agent's format (INSTANCE_IPS one comma-separated string, LABELS a
// map, PROXY_CONFIG a struct).
func (id Identity) Node() (*corev3.Node, error) {
	labels := map[string]any{}
	for k, v := range id.Labels {
		labels[k] = v
	}
	app := id.Labels["app"]
	podPorts, _ := json.Marshal([]map[string]any{
		{"name": "http", "containerPort": 8080, "protocol": "TCP"},
		{"name": "grpc", "containerPort": 9090, "protocol": "TCP"},
	})
	md, err := structpb.NewStruct(map[string]any{
		"INSTANCE_IPS":      id.IP,
		"NAMESPACE":         id.Namespace,
		"LABELS":            labels,
		"ISTIO_VERSION":     "1.31.1",
		"CLUSTER_ID":        "Kubernetes",
		"MESH_ID":           "cluster.local",
		"NAME":              id.Pod,
		"WORKLOAD_NAME":     app,
		"SERVICE_ACCOUNT":   id.ServiceAccount,
		"INTERCEPTION_MODE": "REDIRECT",
		"APP_CONTAINERS":    app,
		"POD_PORTS":         string(podPorts),
		"OWNER":             "kubernetes://apis/apps/v1/namespaces/" + id.Namespace + "/deployments/" + app,
		"PROXY_CONFIG": map[string]any{
			"binaryPath":       "/usr/local/bin/envoy",
			"configPath":       "./etc/istio/proxy",
			"discoveryAddress": "istiod.istio-system.svc:15012",
			"drainDuration":    "45s",
			"proxyAdminPort":   15000,
			"serviceCluster":   "istio-proxy",
			"statusPort":       15020,
		},
	})
	if err != nil {
		return nil, err
	}
	return &corev3.Node{
		Id:            fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", id.IP, id.Pod, id.Namespace, id.Namespace),
		Cluster:       app + "." + id.Namespace,
		UserAgentName: "envoy",
		Metadata:      md,
	}, nil
}
