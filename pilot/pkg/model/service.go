package model

import (
	"sort"
	"time"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// Resolution says how a proxy resolves a service's endpoints.
type Resolution int

// Resolutions, as Istio's ServiceEntry defines them; Kubernetes ClusterIP services are
// ClientSideLB and headless ones Passthrough.
const (
	ClientSideLB    Resolution = iota // EDS
	DNSLB                             // STRICT_DNS
	DNSRoundRobinLB                   // LOGICAL_DNS
	Passthrough                       // ORIGINAL_DST
	// Alias is a Kubernetes ExternalName service: no cluster of its own, its hostname is
	// an alias of the service it names (see Service.Aliases).
	Alias
)

// Registry names where a service came from.
type Registry string

// Registries.
const (
	Kubernetes Registry = "Kubernetes"
	External   Registry = "External" // ServiceEntry
)

// NamespacedHostname is a hostname in a namespace.
type NamespacedHostname struct {
	Hostname  host.Name
	Namespace string
}

// Port is one port of a service.
type Port struct {
	Name     string
	Port     int
	Protocol protocol.Instance
}

// Service is one hostname of the mesh with its ports: a Kubernetes Service or one host of
// a ServiceEntry. Services are immutable once in a PushContext.
type Service struct {
	Hostname host.Name
	// Source is the key of the object that defines the service (a Kubernetes Service or
	// a ServiceEntry).
	Source config.Key
	// Name is the Kubernetes Service's name, or the host for a ServiceEntry (as istiod
	// reports it); Namespace is the defining object's namespace.
	Name      string
	Namespace string
	Ports     []*Port
	// DefaultAddress is the cluster IP or first ServiceEntry address; "0.0.0.0" if none.
	DefaultAddress string
	// Addresses are all the service's addresses (cluster IPs, ServiceEntry addresses).
	Addresses []string
	// Resolution says how endpoints are resolved.
	Resolution Resolution
	// MeshExternal is true for ServiceEntries with location MESH_EXTERNAL.
	MeshExternal bool
	Registry     Registry
	// ExportTo is the set of namespaces the service is visible in: "*" for all, or names.
	// An empty set means the mesh default applies.
	ExportTo map[string]bool
	// Labels are the labels of the Kubernetes Service or ServiceEntry object.
	Labels map[string]string
	// Selector selects the workloads backing the service (Kubernetes selector, or a
	// ServiceEntry workloadSelector). Nil means none.
	Selector map[string]string
	// ServiceAccounts are identities declared for the service (ServiceEntry subjectAltNames,
	// Kubernetes canonical service accounts annotation).
	ServiceAccounts []string
	// Headless is true for Kubernetes services with clusterIP None.
	Headless bool
	// ExternalName is the target of a Kubernetes ExternalName service.
	ExternalName string
	// Aliases are the ExternalName services that resolve (possibly through other aliases)
	// to this service: their hostnames reach it too.
	Aliases []NamespacedHostname
	// K8sPortTargets maps a Kubernetes service port to its numeric targetPort, when known.
	TargetPorts map[int]int
	// CreationTime orders services when several claim one hostname.
	CreationTime time.Time
	// NodeLocal is set for Kubernetes services with internalTrafficPolicy Local: clients
	// reach only the endpoints on their own node.
	NodeLocal bool
	// TrafficDistribution is the service's preference for close endpoints.
	TrafficDistribution TrafficDistribution
}

// Port returns the port with number p, or nil.
func (s *Service) Port(p int) *Port {
	for _, sp := range s.Ports {
		if sp.Port == p {
			return sp
		}
	}
	return nil
}

// PortByName returns the port named n, or nil.
func (s *Service) PortByName(n string) *Port {
	for _, sp := range s.Ports {
		if sp.Name == n {
			return sp
		}
	}
	return nil
}

// VisibleTo reports whether the service is exported to namespace ns, with defaults the
// mesh's defaultServiceExportTo.
func (s *Service) VisibleTo(ns string, defaults map[string]bool) bool {
	exp := s.ExportTo
	if len(exp) == 0 {
		exp = defaults
	}
	return visible(exp, s.Namespace, ns)
}

// visible applies exportTo semantics: "*" all namespaces, "." the object's own, "~" none,
// otherwise the listed namespaces.
func visible(exportTo map[string]bool, own, ns string) bool {
	if len(exportTo) == 0 || exportTo["*"] {
		return true
	}
	if exportTo["~"] {
		return false
	}
	if exportTo["."] && own == ns {
		return true
	}
	return exportTo[ns]
}

// ExportSet turns an exportTo list into a set.
func ExportSet(list []string) map[string]bool {
	if len(list) == 0 {
		return nil
	}
	m := make(map[string]bool, len(list))
	for _, e := range list {
		m[e] = true
	}
	return m
}

// HealthStatus of an endpoint.
type HealthStatus int

// Health states. UnknownHealth is what ServiceEntry endpoints carry (no health checks):
// Envoy's UNKNOWN, which it treats as healthy.
const (
	UnknownHealth HealthStatus = iota
	Healthy
	Unhealthy
	Draining
	Terminating
)

// Locality of an endpoint or proxy.
type Locality struct {
	Region, Zone, Subzone string
}

// String renders region/zone/subzone, Istio's locality label format.
func (l Locality) String() string {
	if l.Region == "" && l.Zone == "" && l.Subzone == "" {
		return ""
	}
	return l.Region + "/" + l.Zone + "/" + l.Subzone
}

// Endpoint is one address serving one port of a service: a Pod behind a Kubernetes
// Service, a WorkloadEntry, or a ServiceEntry endpoint.
type Endpoint struct {
	// Address is an IP, or a hostname for DNS-resolved ServiceEntry endpoints.
	Address string
	// EndpointPort is the port the workload listens on.
	EndpointPort int
	// ServicePortName names the service port this endpoint serves.
	ServicePortName string
	// ServicePort is the service port number this endpoint serves.
	ServicePort int
	Labels      map[string]string
	// ServiceAccount is the workload's SPIFFE identity, e.g.
	// spiffe://cluster.local/ns/default/sa/bookinfo-details.
	ServiceAccount string
	// TLSMode is "istio" when the workload has a sidecar (mTLS capable), else "disabled".
	TLSMode  string
	Network  string
	Locality Locality
	// ClusterID is the cluster the endpoint lives in ("Kubernetes" by default).
	ClusterID    string
	HealthStatus HealthStatus
	// Weight is the load balancing weight; 0 means unset (1).
	Weight uint32
	// WorkloadName is the name istiod reports for the workload (Deployment, Pod or
	// WorkloadEntry).
	WorkloadName string
	// PodName is the Pod behind a Kubernetes endpoint (from its targetRef or its IP).
	PodName   string
	Namespace string
	// HostName and SubDomain are the Pod's hostname and subdomain (headless services).
	HostName, SubDomain string
	NodeName            string
	// FromServiceEntry is true for ServiceEntry and WorkloadEntry endpoints.
	FromServiceEntry bool
}

// Hosts orders and deduplicates hostnames.
func Hosts(in []host.Name) []host.Name {
	seen := map[host.Name]bool{}
	out := in[:0:0]
	for _, h := range in {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
