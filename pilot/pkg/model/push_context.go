package model

import (
	"slices"
	"sort"
	"strings"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	corev1 "k8s.io/api/core/v1"

	"github.com/sextant-mesh/sextant/pkg/config/host"
)

// Options are the settings a PushContext is built with; parsed once by bootstrap.
type Options struct {
	// DomainSuffix is the Kubernetes cluster domain ("cluster.local").
	DomainSuffix string
	// ClusterID names the local cluster ("Kubernetes").
	ClusterID string
}

// DefaultOptions are istiod's defaults.
func DefaultOptions() Options { return Options{DomainSuffix: "cluster.local", ClusterID: "Kubernetes"} }

// PushContext is an immutable snapshot of the mesh, indexed for generation. Each index is
// its own type built from the Store; generators only read it.
type PushContext struct {
	Mesh    *meshv1alpha1.MeshConfig
	Options Options

	services         *serviceIndex
	endpoints        *endpointIndex
	workloads        *workloadIndex
	virtualServices  *virtualServiceIndex
	destinationRules *destinationRuleIndex
	sidecars         *sidecarIndex
	authn            *authnIndex
	envoyFilters     *envoyFilterIndex

	// scopes memoises SidecarScopes; changes is what changed from the parent context
	// (nil for a full build).
	scopes  *scopeCache
	changes *changes

	exportDefaults exportDefaults
	// Errors are the problems found in the inputs while indexing (invalid references,
	// conflicts); each names the object it concerns. Indexing carries on past them.
	Errors []error
	// serviceErrors and virtualServiceErrors are Errors by the index that found them, so
	// that a derived context keeps those of the indexes it shares.
	serviceErrors, virtualServiceErrors []error
}

type exportDefaults struct {
	service, virtualService, destinationRule map[string]bool
}

// NewPushContext indexes everything in store. It is the full ("cold") build.
func NewPushContext(store *Store, mesh *meshv1alpha1.MeshConfig, opts Options) *PushContext {
	pc := &PushContext{Mesh: mesh, Options: opts, scopes: newScopeCache()}
	pc.exportDefaults = exportDefaults{
		service:         ExportSet(mesh.GetDefaultServiceExportTo()),
		virtualService:  ExportSet(mesh.GetDefaultVirtualServiceExportTo()),
		destinationRule: ExportSet(mesh.GetDefaultDestinationRuleExportTo()),
	}
	pc.rebuild(store, allIndexes, nil)
	return pc
}

// RootNamespace is the mesh config root namespace (istio-system by default).
func (pc *PushContext) RootNamespace() string { return pc.Mesh.GetRootNamespace() }

// TrustDomain is the mesh trust domain (cluster.local by default).
func (pc *PushContext) TrustDomain() string {
	if td := pc.Mesh.GetTrustDomain(); td != "" {
		return td
	}
	return "cluster.local"
}

// Services returns every service in the mesh, in istiod's order (oldest first, then by
// hostname, then namespace).
func (pc *PushContext) Services() []*Service { return pc.services.all }

// ServiceForHostname returns the service with hostname h as the proxy sees it, or nil.
func (pc *PushContext) ServiceForHostname(p *Proxy, h host.Name) *Service {
	if p != nil && p.SidecarScope != nil {
		if s := p.SidecarScope.ServiceForHostname(h); s != nil {
			return s
		}
	}
	hs := pc.services.byHost[h]
	if p == nil {
		return hs.first()
	}
	if s := hs.in(p.ConfigNamespace); s != nil {
		return s
	}
	return hs.firstVisible(pc, p.ConfigNamespace)
}

// ServiceIn returns the service with hostname h defined in namespace ns, or nil.
func (pc *PushContext) ServiceIn(h host.Name, ns string) *Service {
	return pc.services.byHost[h].in(ns)
}

// IsServiceVisible reports whether s is exported to namespace ns.
func (pc *PushContext) IsServiceVisible(s *Service, ns string) bool {
	return s.VisibleTo(ns, pc.exportDefaults.service)
}

// servicesImportable returns the services visible from namespace ns that are defined in
// one of the namespaces of imports (all namespaces if imports has "*"), in Services()
// order.
func (pc *PushContext) servicesImportable(ns string, imports map[string]*hostImports) []*Service {
	var candidates []*Service
	if imports["*"] != nil {
		candidates = pc.services.all
	} else {
		if len(imports) == 1 {
			for from := range imports {
				candidates = pc.services.inNamespace(from)
			}
		} else {
			// Each namespace's list is in mesh order: order their union by position,
			// looking each position up once.
			type ranked struct {
				pos int
				svc *Service
			}
			var rs []ranked
			pos := pc.services.position
			for from := range imports {
				for _, s := range pc.services.inNamespace(from) {
					rs = append(rs, ranked{pos[s], s})
				}
			}
			slices.SortFunc(rs, func(a, b ranked) int { return a.pos - b.pos })
			candidates = make([]*Service, len(rs))
			for i, r := range rs {
				candidates[i] = r.svc
			}
		}
	}
	out := make([]*Service, 0, len(candidates))
	for _, s := range candidates {
		if pc.IsServiceVisible(s, ns) {
			out = append(out, s)
		}
	}
	return out
}

// Endpoints returns the endpoints of svc serving its port number port, in a stable order.
// Endpoints are per service object (hostname and namespace).
func (pc *PushContext) Endpoints(svc *Service, port int) []*Endpoint {
	sp := svc.Port(port)
	if sp == nil {
		return nil
	}
	var out []*Endpoint
	for _, e := range pc.endpoints.byService[serviceKey{svc.Hostname, svc.Namespace}] {
		if e.ServicePortName == sp.Name || (e.ServicePortName == "" && e.ServicePort == port) {
			out = append(out, e)
		}
	}
	return out
}

// ServiceEndpoints returns every endpoint of svc's hostname and namespace, all ports, as
// the endpoint index holds them: shared, never altered, and replaced (a new slice) when
// they change, so that a cache can tell by the slice whether they did.
func (pc *PushContext) ServiceEndpoints(svc *Service) []*Endpoint {
	return pc.endpoints.byService[serviceKey{svc.Hostname, svc.Namespace}]
}

// ServiceAccounts returns the sorted, distinct SPIFFE identities that back svc: those
// declared on it and those of its endpoints. Cluster SAN matching uses them.
// The result is shared: callers must not alter it.
func (pc *PushContext) ServiceAccounts(svc *Service) []string {
	if v, ok := pc.endpoints.accounts.Load(svc); ok {
		return v.([]string)
	}
	out := pc.serviceAccounts(svc)
	pc.endpoints.accounts.Store(svc, out)
	return out
}

func (pc *PushContext) serviceAccounts(svc *Service) []string {
	eps := pc.endpoints.byService[serviceKey{svc.Hostname, svc.Namespace}]
	var out []string
	if len(svc.ServiceAccounts) > 0 {
		out = append(out, svc.ServiceAccounts...)
	}
	for _, e := range eps {
		if e.ServiceAccount != "" {
			out = append(out, e.ServiceAccount)
		}
	}
	if len(out) == 0 {
		return []string{}
	}
	slices.Sort(out)
	return slices.Clip(slices.Compact(out))
}

// Pod returns the Pod with the given IP, or nil.
func (pc *PushContext) Pod(ip string) *corev1.Pod { return pc.workloads.podsByIP[ip] }

// Node returns the named Node, or nil.
func (pc *PushContext) Node(name string) *corev1.Node { return pc.workloads.nodes[name] }

// InitProxy completes p from the mesh: workload labels, identity and locality from its Pod,
// the services it serves, and its SidecarScope.
func (pc *PushContext) InitProxy(p *Proxy) {
	pod := pc.podOf(p)
	if pod != nil {
		if len(p.Labels) == 0 {
			p.Labels = pod.Labels
		}
		if p.ServiceAccount == "" {
			p.ServiceAccount = spiffeID(pc.TrustDomain(), pod.Namespace, serviceAccountName(pod))
		}
		if p.Locality == (Locality{}) {
			p.Locality = pc.workloads.podLocality(pod)
		}
	}
	// A connection's proxy is initialised again on every push: its service targets are
	// kept while the services and endpoints they were found in are the same.
	if src := pc.targetsSource(); p.targetsFrom != src {
		p.ServiceTargets, p.targetsFrom = pc.serviceTargets(p, pod), src
	}
	p.SidecarScope = pc.SidecarScopeFor(p)
}

// targetsSource identifies what PushContext.serviceTargets reads besides the proxy.
type targetsSource struct{ services, endpoints uint64 }

func (pc *PushContext) targetsSource() targetsSource {
	return targetsSource{pc.services.version, pc.endpoints.version}
}

// podOf returns the Pod with one of the proxy's IPs, or nil.
func (pc *PushContext) podOf(p *Proxy) *corev1.Pod {
	for _, ip := range p.IPAddresses {
		if pod := pc.workloads.podsByIP[ip]; pod != nil {
			return pod
		}
	}
	return nil
}

// serviceTargets finds the service ports whose selectors select the proxy's workload.
func (pc *PushContext) serviceTargets(p *Proxy, pod *corev1.Pod) []ServiceTarget {
	var out []ServiceTarget
	ips := map[string]bool{}
	for _, ip := range p.IPAddresses {
		ips[ip] = true
	}
	for _, s := range pc.services.inNamespace(p.ConfigNamespace) {
		for _, e := range pc.endpoints.byService[serviceKey{s.Hostname, s.Namespace}] {
			if !ips[e.Address] {
				continue
			}
			sp := s.PortByName(e.ServicePortName)
			if sp == nil {
				sp = s.Port(e.ServicePort)
			}
			if sp != nil && !hasTarget(out, s, sp) {
				out = append(out, ServiceTarget{Service: s, Port: sp, TargetPort: e.EndpointPort})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].TargetPort < out[j].TargetPort })
	return out
}

func hasTarget(ts []ServiceTarget, s *Service, p *Port) bool {
	for _, t := range ts {
		if t.Service == s && t.Port == p {
			return true
		}
	}
	return false
}

// ResolveShortname turns a host as written in config in namespace ns into a hostname:
// "reviews" becomes reviews.ns.svc.<domain>; names with a dot and wildcards are kept.
func ResolveShortname(h, ns, domainSuffix string) host.Name {
	if len(h) == 0 || strings.Contains(h, ".") || h == "*" || strings.HasPrefix(h, "*") {
		return host.Name(h)
	}
	return host.Name(h + "." + ns + ".svc." + domainSuffix)
}

func spiffeID(trustDomain, ns, sa string) string {
	return "spiffe://" + trustDomain + "/ns/" + ns + "/sa/" + sa
}

func serviceAccountName(pod *corev1.Pod) string {
	if pod.Spec.ServiceAccountName != "" {
		return pod.Spec.ServiceAccountName
	}
	return "default"
}
