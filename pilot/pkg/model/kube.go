package model

import (
	"net/netip"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// Well-known labels and annotations istiod reads from Kubernetes objects.
const (
	annotationExportTo        = "networking.istio.io/exportTo"
	labelTLSMode              = "security.istio.io/tlsMode"
	labelLocality             = "istio-locality"
	labelRegion               = "topology.kubernetes.io/region"
	labelZone                 = "topology.kubernetes.io/zone"
	labelSubzone              = "topology.istio.io/subzone"
	labelServiceNameOfSlice   = "kubernetes.io/service-name"
	labelNetwork              = "topology.istio.io/network"
	annotationCanonicalSAs    = "alpha.istio.io/canonical-serviceaccounts"
	annotationKubeServiceAccs = "alpha.istio.io/kubernetes-serviceaccounts"
)

// podKey names a pod (cheaper to hash than its config.Key).
type podKey struct{ namespace, name string }

// workloadIndex holds the Pods, Nodes and Namespaces endpoints and proxies are resolved
// against.
type workloadIndex struct {
	podsByIP    map[string]*corev1.Pod
	podsByName  map[podKey]*corev1.Pod
	nodes       map[string]*corev1.Node
	namespaces  map[string]*corev1.Namespace
	trustDomain string
}

func buildWorkloadIndex(store *Store, _ Options) *workloadIndex {
	w := &workloadIndex{
		nodes:      map[string]*corev1.Node{},
		namespaces: map[string]*corev1.Namespace{},
	}
	w.podsByIP, w.podsByName = store.podSnapshot()
	for _, c := range store.List(schema.Node, "") {
		w.nodes[c.Name] = c.Spec.(*corev1.Node)
	}
	for _, c := range store.List(schema.Namespace, "") {
		w.namespaces[c.Name] = c.Spec.(*corev1.Namespace)
	}
	return w
}

// podLocality is the pod's istio-locality label (region.zone.subzone), or its node's
// topology labels.
func (w *workloadIndex) podLocality(pod *corev1.Pod) Locality {
	if l := pod.Labels[labelLocality]; l != "" {
		parts := strings.SplitN(l, ".", 3)
		for len(parts) < 3 {
			parts = append(parts, "")
		}
		return Locality{Region: parts[0], Zone: parts[1], Subzone: parts[2]}
	}
	node := w.nodes[pod.Spec.NodeName]
	if node == nil {
		return Locality{}
	}
	return Locality{Region: node.Labels[labelRegion], Zone: node.Labels[labelZone], Subzone: node.Labels[labelSubzone]}
}

// serviceKey identifies a service object: one hostname in one namespace.
type serviceKey struct {
	Hostname  host.Name
	Namespace string
}

func sortServices(s []*Service) {
	slices.SortFunc(s, compareServices)
}

// compareServices is istiod's service order: oldest first, then by hostname and
// namespace; Kubernetes before ServiceEntry, then by the name of the object defining
// them, so the order is total.
func compareServices(a, b *Service) int {
	if c := a.CreationTime.Compare(b.CreationTime); c != 0 {
		return c
	}
	if c := strings.Compare(string(a.Hostname), string(b.Hostname)); c != 0 {
		return c
	}
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	if a.Registry != b.Registry {
		if a.Registry == Kubernetes {
			return -1
		}
		return 1
	}
	return strings.Compare(a.Source.Name, b.Source.Name)
}

// serviceLess reports whether a comes before b in compareServices order.
func serviceLess(a, b *Service) bool { return compareServices(a, b) < 0 }

func sortEndpoints(eps []*Endpoint) {
	sort.SliceStable(eps, func(i, j int) bool {
		if eps[i].Address != eps[j].Address {
			return addrLess(eps[i].Address, eps[j].Address)
		}
		if eps[i].ServicePortName != eps[j].ServicePortName {
			return eps[i].ServicePortName < eps[j].ServicePortName
		}
		return eps[i].EndpointPort < eps[j].EndpointPort
	})
}

func addrLess(a, b string) bool {
	x, err1 := netip.ParseAddr(a)
	y, err2 := netip.ParseAddr(b)
	if err1 == nil && err2 == nil {
		return x.Less(y)
	}
	return a < b
}

func kubeService(c *config.Config, opts Options) *Service {
	ks := c.Spec.(*corev1.Service)
	s := &Service{
		Hostname:     host.Name(ks.Name + "." + ks.Namespace + ".svc." + opts.DomainSuffix),
		Source:       c.Key(),
		Name:         ks.Name,
		Namespace:    ks.Namespace,
		Registry:     Kubernetes,
		Labels:       ks.Labels,
		Selector:     ks.Spec.Selector,
		CreationTime: ks.CreationTimestamp.Time,
		Resolution:   ClientSideLB,
		TargetPorts:  map[int]int{},
	}
	if exp := ks.Annotations[annotationExportTo]; exp != "" {
		var list []string
		for _, e := range strings.Split(exp, ",") {
			list = append(list, strings.TrimSpace(e))
		}
		s.ExportTo = ExportSet(list)
	}
	for _, a := range []string{annotationCanonicalSAs, annotationKubeServiceAccs} {
		for _, sa := range strings.Split(ks.Annotations[a], ",") {
			if sa = strings.TrimSpace(sa); sa != "" {
				s.ServiceAccounts = append(s.ServiceAccounts, sa)
			}
		}
	}
	switch {
	case ks.Spec.Type == corev1.ServiceTypeExternalName:
		s.Resolution, s.ExternalName = Alias, ks.Spec.ExternalName
		s.DefaultAddress = "0.0.0.0"
	case ks.Spec.ClusterIP == corev1.ClusterIPNone:
		s.Resolution, s.Headless, s.DefaultAddress = Passthrough, true, "0.0.0.0"
	case ks.Spec.ClusterIP != "":
		s.DefaultAddress = ks.Spec.ClusterIP
		s.Addresses = ks.Spec.ClusterIPs
		if len(s.Addresses) == 0 {
			s.Addresses = []string{ks.Spec.ClusterIP}
		}
	default:
		s.DefaultAddress = "0.0.0.0"
	}
	for _, p := range ks.Spec.Ports {
		s.Ports = append(s.Ports, &Port{
			Name:     p.Name,
			Port:     int(p.Port),
			Protocol: protocol.FromKubernetes(p.Port, p.Name, string(p.Protocol), p.AppProtocol),
		})
		if p.TargetPort.IntValue() > 0 {
			s.TargetPorts[int(p.Port)] = p.TargetPort.IntValue()
		}
	}
	return s
}

func kubeEndpoints(s *Service, ks *corev1.Service, slices []*discoveryv1.EndpointSlice, w *workloadIndex, opts Options) []*Endpoint {
	sort.Slice(slices, func(i, j int) bool { return slices[i].Name < slices[j].Name })
	seen := map[[2]string]bool{}
	var out []*Endpoint
	for _, es := range slices {
		if es.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		for _, e := range es.Endpoints {
			health := endpointHealth(s, e)
			for _, addr := range e.Addresses {
				pod := w.podForEndpoint(addr, e.TargetRef)
				for _, p := range es.Ports {
					name := ""
					if p.Name != nil {
						name = *p.Name
					}
					if seen[[2]string{addr, name}] {
						continue
					}
					seen[[2]string{addr, name}] = true
					ep := &Endpoint{
						Address:         addr,
						ServicePortName: name,
						ClusterID:       opts.ClusterID,
						HealthStatus:    health,
						TLSMode:         "disabled",
						Namespace:       es.Namespace,
					}
					if p.Port != nil {
						ep.EndpointPort = int(*p.Port)
					}
					if sp := s.PortByName(name); sp != nil {
						ep.ServicePort = sp.Port
					}
					if e.TargetRef != nil && e.TargetRef.Kind == "Pod" {
						ep.PodName = e.TargetRef.Name
					}
					w.fillFromPod(ep, pod)
					if ep.NodeName == "" && e.NodeName != nil {
						ep.NodeName = *e.NodeName
					}
					out = append(out, ep)
				}
			}
		}
	}
	return out
}

func endpointHealth(s *Service, e discoveryv1.Endpoint) HealthStatus {
	if e.Conditions.Ready == nil || *e.Conditions.Ready {
		return Healthy
	}
	if s.KeepsDrainingEndpoints() && (e.Conditions.Serving == nil || *e.Conditions.Serving) &&
		(e.Conditions.Terminating == nil || *e.Conditions.Terminating) {
		return Draining
	}
	if e.Conditions.Terminating == nil || *e.Conditions.Terminating {
		return Terminating
	}
	return Unhealthy
}

func (w *workloadIndex) podForEndpoint(addr string, ref *corev1.ObjectReference) *corev1.Pod {
	if ref != nil && ref.Kind == "Pod" {
		if p := w.podsByName[podKey{ref.Namespace, ref.Name}]; p != nil {
			return p
		}
	}
	return w.podsByIP[addr]
}

// fillFromPod sets the workload fields of an endpoint from the Pod behind it.
func (w *workloadIndex) fillFromPod(ep *Endpoint, pod *corev1.Pod) {
	if pod == nil {
		return
	}
	ep.Labels = pod.Labels
	ep.PodName = pod.Name
	ep.WorkloadName = podWorkloadName(pod)
	ep.Namespace = pod.Namespace
	ep.ServiceAccount = spiffeID(w.trustDomainOr(), pod.Namespace, serviceAccountName(pod))
	if pod.Labels[labelTLSMode] != "" {
		ep.TLSMode = pod.Labels[labelTLSMode]
	}
	ep.Locality = w.podLocality(pod)
	ep.NodeName = pod.Spec.NodeName
	ep.Network = pod.Labels[labelNetwork]
	ep.HostName, ep.SubDomain = pod.Spec.Hostname, pod.Spec.Subdomain
}

func (w *workloadIndex) trustDomainOr() string {
	if w.trustDomain != "" {
		return w.trustDomain
	}
	return "cluster.local"
}

// resolveAliases returns all with, for each service that ExternalName services resolve to
// (following chains of aliases, ignoring loops: Kubernetes answers NXDOMAIN for those), a
// copy carrying their hostnames in Aliases. Services are never mutated: they may be shared
// with earlier snapshots.
func resolveAliases(all []*Service) []*Service {
	target := map[host.Name]host.Name{}
	var aliases []*Service
	for _, s := range all {
		if s.Resolution == Alias {
			target[s.Hostname] = host.Name(s.ExternalName)
			aliases = append(aliases, s)
		}
	}
	if len(aliases) == 0 {
		return all
	}
	of := map[host.Name][]NamespacedHostname{}
	for _, a := range aliases {
		t, seen := target[a.Hostname], map[host.Name]bool{a.Hostname: true}
		for {
			next, isAlias := target[t]
			if !isAlias || seen[t] {
				break
			}
			seen[t], t = true, next
		}
		if _, loop := target[t]; loop {
			continue
		}
		of[t] = append(of[t], NamespacedHostname{Hostname: a.Hostname, Namespace: a.Namespace})
	}
	out := make([]*Service, len(all))
	for i, s := range all {
		out[i] = s
		if as := of[s.Hostname]; len(as) > 0 && s.Resolution != Alias {
			cp := *s
			cp.Aliases = as
			out[i] = &cp
		}
	}
	return out
}
