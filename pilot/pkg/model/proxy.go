package model

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// NodeType is the role of a proxy, the first field of its node id.
type NodeType string

// Node types.
const (
	SidecarProxy NodeType = "sidecar"
	Router       NodeType = "router" // gateways
)

// NodeMetadata is the subset of Istio's node metadata (Envoy node.metadata, set by
// istio-agent from ISTIO_META_* variables) that changes generated config.
type NodeMetadata struct {
	IstioVersion string            `json:"ISTIO_VERSION,omitempty"`
	Labels       map[string]string `json:"LABELS,omitempty"`
	Namespace    string            `json:"NAMESPACE,omitempty"`
	ClusterID    string            `json:"CLUSTER_ID,omitempty"`
	InstanceIPs  StringList        `json:"INSTANCE_IPS,omitempty"`
	// Generator "grpc" marks a proxyless gRPC client.
	Generator      string `json:"GENERATOR,omitempty"`
	Network        string `json:"NETWORK,omitempty"`
	MeshID         string `json:"MESH_ID,omitempty"`
	WorkloadName   string `json:"WORKLOAD_NAME,omitempty"`
	ServiceAccount string `json:"SERVICE_ACCOUNT,omitempty"`
	PodPorts       string `json:"POD_PORTS,omitempty"`
	// InterceptionMode is REDIRECT (default), TPROXY or NONE.
	InterceptionMode string `json:"INTERCEPTION_MODE,omitempty"`
	// Raw keeps every field as sent, for debug output.
	Raw map[string]any `json:"-"`
}

// StringList is a node metadata list: istio-agent sends it as one comma-separated string
// ("10.0.0.1,fe80::1"); a JSON array is accepted too.
type StringList []string

// UnmarshalJSON implements json.Unmarshaler.
func (l *StringList) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*l = nil
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				*l = append(*l, p)
			}
		}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("want a comma-separated string or a list of strings: %w", err)
	}
	*l = list
	return nil
}

// MarshalJSON renders the list as istio-agent does, comma-separated.
func (l StringList) MarshalJSON() ([]byte, error) { return json.Marshal(strings.Join(l, ",")) }

// ParseNodeMetadata decodes Envoy node metadata given as JSON (protojson of a Struct).
func ParseNodeMetadata(js []byte) (*NodeMetadata, error) {
	m := &NodeMetadata{}
	if len(js) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(js, m); err != nil {
		return nil, fmt.Errorf("node metadata: %w", err)
	}
	_ = json.Unmarshal(js, &m.Raw)
	return m, nil
}

// IstioVersion is a parsed major.minor.patch; 65535 in a field means "unknown/latest".
type IstioVersion struct{ Major, Minor, Patch int }

// MaxIstioVersion stands for a proxy whose version is unknown: treated as the newest.
var MaxIstioVersion = &IstioVersion{65535, 65535, 65535}

// ParseIstioVersion parses "1.31.1" (and prefixes like "1.31"); unknown is MaxIstioVersion.
func ParseIstioVersion(v string) *IstioVersion {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	out := *MaxIstioVersion
	dst := []*int{&out.Major, &out.Minor, &out.Patch}
	for i, p := range parts {
		if j := strings.IndexAny(p, "-+"); j >= 0 {
			p = p[:j]
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			if i == 0 {
				return MaxIstioVersion
			}
			break
		}
		*dst[i] = n
	}
	return &out
}

// Compare returns -1, 0 or 1.
func (v *IstioVersion) Compare(o *IstioVersion) int {
	for _, d := range [][2]int{{v.Major, o.Major}, {v.Minor, o.Minor}, {v.Patch, o.Patch}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// ServiceTarget is a service port served by the proxy's own workload: the basis of its
// inbound config.
type ServiceTarget struct {
	Service *Service
	Port    *Port
	// TargetPort is the port the workload listens on for Port.
	TargetPort int
}

// Proxy is a client of the control plane: an Envoy sidecar or gateway, or a proxyless
// gRPC client. It is built from the node id "type~ip~id~domain" and node metadata, then
// completed from the mesh by PushContext.InitProxy.
type Proxy struct {
	Type        NodeType
	IPAddresses []string
	// ID is "pod.namespace" for Kubernetes workloads.
	ID string
	// DNSDomain is "namespace.svc.cluster.local".
	DNSDomain       string
	ConfigNamespace string
	Metadata        *NodeMetadata
	IstioVersion    *IstioVersion
	// Labels of the workload: node metadata LABELS, or the Pod's labels.
	Labels   map[string]string
	Locality Locality
	// ServiceAccount is the workload's SPIFFE identity, when known.
	ServiceAccount string
	// ServiceTargets are the service ports the workload serves, ordered by port.
	ServiceTargets []ServiceTarget
	// SidecarScope is the proxy's view of the mesh, set by PushContext.InitProxy.
	SidecarScope *SidecarScope
	// Memo is what generators keep between the pushes of one connection. A connection's
	// Proxy is replaced on every push, and the copies share it; nil (keep nothing) for
	// proxies outside a connection.
	Memo *Memo
	// targetsFrom identifies the indexes ServiceTargets were found in (InitProxy); zero
	// when they were not.
	targetsFrom targetsSource
}

// Memo holds generators' state for one connection, by a key of the generator's choice.
// It is safe for concurrent use.
type Memo struct {
	mu sync.Mutex
	m  map[any]any
}

// NewMemo returns an empty Memo.
func NewMemo() *Memo { return &Memo{m: map[any]any{}} }

// Load returns the value stored under key, or nil.
func (m *Memo) Load(key any) any {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[key]
}

// Store sets the value under key; nil deletes it.
func (m *Memo) Store(key, value any) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if value == nil {
		delete(m.m, key)
		return
	}
	m.m[key] = value
}

// ParseServiceNode builds a Proxy from an Envoy node id and metadata.
func ParseServiceNode(nodeID string, md *NodeMetadata) (*Proxy, error) {
	if md == nil {
		md = &NodeMetadata{}
	}
	parts := strings.Split(nodeID, "~")
	if len(parts) != 4 {
		return nil, fmt.Errorf("node id %q: want type~ip~id~domain", nodeID)
	}
	p := &Proxy{Type: NodeType(parts[0]), Metadata: md, ID: parts[2], DNSDomain: parts[3]}
	if p.Type != SidecarProxy && p.Type != Router {
		return nil, fmt.Errorf("node id %q: type %q is not sidecar or router", nodeID, parts[0])
	}
	for _, ip := range md.InstanceIPs {
		if _, err := netip.ParseAddr(ip); err == nil {
			p.IPAddresses = append(p.IPAddresses, ip)
		}
	}
	if len(p.IPAddresses) == 0 {
		if _, err := netip.ParseAddr(parts[1]); err != nil {
			return nil, fmt.Errorf("node id %q: no valid IP address", nodeID)
		}
		p.IPAddresses = []string{parts[1]}
	}
	p.ConfigNamespace = md.Namespace
	if p.ConfigNamespace == "" {
		if ns, _, ok := strings.Cut(p.DNSDomain, "."); ok {
			p.ConfigNamespace = ns
		}
	}
	p.IstioVersion = ParseIstioVersion(md.IstioVersion)
	p.Labels = md.Labels
	return p, nil
}

// IsProxylessGRPC reports whether the proxy is a proxyless gRPC client.
func (p *Proxy) IsProxylessGRPC() bool { return p.Metadata != nil && p.Metadata.Generator == "grpc" }

// ClusterID is the cluster the proxy runs in ("Kubernetes" when not set).
func (p *Proxy) ClusterID() string {
	if p.Metadata != nil && p.Metadata.ClusterID != "" {
		return p.Metadata.ClusterID
	}
	return "Kubernetes"
}

// VersionAtLeast reports whether the proxy runs Istio major.minor or later.
func (p *Proxy) VersionAtLeast(major, minor int) bool {
	v := p.IstioVersion
	if v == nil {
		return true
	}
	return v.Compare(&IstioVersion{major, minor, -1}) >= 0
}

// PodName is the first part of the proxy ID.
func (p *Proxy) PodName() string {
	name, _, _ := strings.Cut(p.ID, ".")
	return name
}
