package generate

import (
	"fmt"
	"os"

	"sigs.k8s.io/yaml"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

// ProxySpec is the proxy.yaml of a case directory, the same format ../shared/oracle reads:
// which proxy to generate for.
type ProxySpec struct {
	Type      string            `json:"type"` // sidecar (default) or router
	IP        string            `json:"ip"`
	Namespace string            `json:"namespace"`
	Pod       string            `json:"pod"`
	Labels    map[string]string `json:"labels"`
	// Generator "grpc" makes the proxy a proxyless gRPC client; Listeners are then the
	// xds:/// targets (host:port) it asks for.
	Generator    string   `json:"generator"`
	Listeners    []string `json:"listeners"`
	IstioVersion string   `json:"istioVersion"`
}

// LoadProxySpec reads a proxy.yaml.
func LoadProxySpec(path string) (*ProxySpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := &ProxySpec{}
	if err := yaml.UnmarshalStrict(b, s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// NodeID returns the Envoy node id istio-agent would send for this proxy.
func (s *ProxySpec) NodeID() string {
	t := s.Type
	if t == "" {
		t = string(model.SidecarProxy)
	}
	ns := s.Namespace
	if ns == "" {
		ns = "default"
	}
	return fmt.Sprintf("%s~%s~%s.%s~%s.svc.cluster.local", t, s.IP, s.Pod, ns, ns)
}

// Proxy builds the model proxy with the node metadata istio-agent would send (the same
// the oracle sends: namespace, labels, Istio version, cluster id, instance IPs, generator).
func (s *ProxySpec) Proxy() (*model.Proxy, error) {
	version := s.IstioVersion
	if version == "" {
		version = "1.31.1"
	}
	ns := s.Namespace
	if ns == "" {
		ns = "default"
	}
	md := &model.NodeMetadata{
		Namespace:    ns,
		Labels:       s.Labels,
		IstioVersion: version,
		ClusterID:    "Kubernetes",
		InstanceIPs:  []string{s.IP},
		Generator:    s.Generator,
	}
	return model.ParseServiceNode(s.NodeID(), md)
}
