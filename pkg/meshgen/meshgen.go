// Package meshgen generates realistic synthetic meshes for benchmarks and load tests:
// namespaces of services with pods (Kubernetes Services and EndpointSlices, or
// MESH_INTERNAL ServiceEntries with inline endpoints), and the Istio objects large meshes
// carry (VirtualServices with subsets and weights, DestinationRules, external
// ServiceEntries, EnvoyFilters, Sidecars). The same Spec always yields the same mesh.
//
// Generation is pure: no clock, no randomness, no environment. It must not import the
// control plane's model or xds packages.
package meshgen

import (
	"fmt"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// Spec sizes a mesh.
type Spec struct {
	Namespaces int
	// Services is the number of services, spread round-robin over the namespaces:
	// Kubernetes Services with an EndpointSlice, or ServiceEntries when
	// ServiceEntryServices is set.
	Services int
	// ServiceEntryServices makes each service a MESH_INTERNAL ServiceEntry with STATIC
	// resolution, a VIP and its pods' addresses as inline endpoints, hosted
	// se-NNNNN.<namespace>.svc.cluster.local, instead of a Kubernetes Service and
	// EndpointSlice: a mesh with zero Kubernetes Services. The pods are still generated,
	// as the proxies' identities. VirtualServices, DestinationRules, EnvoyFilters and
	// Sidecars then apply to those ServiceEntry hosts and workloads.
	ServiceEntryServices bool
	// EndpointsPerService is the number of pods behind each service (default 2).
	EndpointsPerService int
	// VirtualServicePercent and DestinationRulePercent are the share of services (0-100)
	// that get a VirtualService (80/20 split over subsets) and a DestinationRule (subsets,
	// LB and connection pool settings).
	VirtualServicePercent, DestinationRulePercent int
	// ServiceEntries is the number of MESH_EXTERNAL DNS ServiceEntries (ext-NNNNN.example.com),
	// in addition to any ServiceEntryServices.
	ServiceEntries int
	// EnvoyFilters is the number of EnvoyFilters: one in ten mesh-wide in the root
	// namespace (istio-system), the others in the services' namespaces, each selecting one
	// service's workloads. See envoyFilter for the patches they carry.
	EnvoyFilters int
	// Sidecars is the number of Sidecar resources. The first Namespaces of them are the
	// namespace-wide Sidecars ("default") of the first namespaces, importing "./*" and
	// "istio-system/*"; the others each select one service's workloads and import "./*",
	// "istio-system/*" and one other namespace. With Sidecars >= Namespaces every proxy
	// is scoped. See sidecars for which services are selected.
	Sidecars int
}

// Mesh is a generated mesh.
type Mesh struct {
	Configs []*config.Config
	// ClientIP, ClientPod and ClientNamespace identify a pod of the first service, to
	// generate for.
	ClientIP, ClientPod, ClientNamespace string
	ClientLabels                         map[string]string
}

// Generate builds the mesh described by s.
func Generate(s Spec) *Mesh {
	if s.Namespaces <= 0 {
		s.Namespaces = 1
	}
	if s.EndpointsPerService <= 0 {
		s.EndpointsPerService = 2
	}
	m := &Mesh{}
	for n := 0; n < s.Namespaces; n++ {
		name := nsName(n)
		m.add(schema.Namespace, "", name, &corev1.Namespace{ObjectMeta: meta("", name)})
	}
	for i := 0; i < s.Services; i++ {
		m.service(s, i)
	}
	for i := 0; i < s.ServiceEntries; i++ {
		m.serviceEntry(i, nsName(i%s.Namespaces))
	}
	for i := 0; i < s.EnvoyFilters; i++ {
		m.envoyFilter(s, i)
	}
	m.sidecars(s)
	return m
}

func nsName(n int) string { return fmt.Sprintf("ns-%03d", n) }

// ServiceName is the name of service i (also its workloads' app label): svc-NNNNN for a
// Kubernetes Service, se-NNNNN for a ServiceEntry.
func (s Spec) ServiceName(i int) string {
	if s.ServiceEntryServices {
		return fmt.Sprintf("se-%05d", i)
	}
	return fmt.Sprintf("svc-%05d", i)
}

// ServiceHost is the hostname of service i.
func (s Spec) ServiceHost(i int) string {
	return s.ServiceName(i) + "." + nsName(i%max(s.Namespaces, 1)) + ".svc.cluster.local"
}

func meta(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }

func (m *Mesh) add(k config.Kind, ns, name string, spec any) {
	m.Configs = append(m.Configs, &config.Config{
		Meta: config.Meta{Kind: k, Namespace: ns, Name: name, Labels: labelsOf(spec)},
		Spec: spec,
	})
}

func labelsOf(spec any) map[string]string {
	if o, ok := spec.(metav1.Object); ok {
		return o.GetLabels()
	}
	return nil
}

// ip returns the i-th address of a /8, as a.b.c.d.
func ip(first, i int) string {
	return fmt.Sprintf("%d.%d.%d.%d", first, (i>>16)&0xff, (i>>8)&0xff, i&0xff)
}

func (m *Mesh) service(s Spec, i int) {
	ns := nsName(i % s.Namespaces)
	name := s.ServiceName(i)
	host := s.ServiceHost(i)
	pods := m.pods(s, i)
	if s.ServiceEntryServices {
		m.add(schema.ServiceEntry, ns, name, internalServiceEntry(host, ip(10, i+1), pods))
	} else {
		m.kubeService(ns, name, ip(10, i+1), pods)
	}
	if pct(i, s.DestinationRulePercent) {
		m.add(schema.DestinationRule, ns, name, destinationRule(host))
	}
	if pct(i, s.VirtualServicePercent) {
		m.add(schema.VirtualService, ns, name, virtualService(host))
	}
}

// pods adds the pods of service i and returns them. The first pod of service 0 is the
// mesh's client.
func (m *Mesh) pods(s Spec, i int) []*corev1.Pod {
	ns, name := nsName(i%s.Namespaces), s.ServiceName(i)
	out := make([]*corev1.Pod, 0, s.EndpointsPerService)
	for e := 0; e < s.EndpointsPerService; e++ {
		podIP := ip(11, i*s.EndpointsPerService+e+1)
		podName := fmt.Sprintf("%s-v%d-%d", name, e%2+1, e)
		labels := map[string]string{"app": name, "version": fmt.Sprintf("v%d", e%2+1)}
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: podName, Labels: labels},
			Spec:       corev1.PodSpec{ServiceAccountName: name},
			Status:     corev1.PodStatus{PodIP: podIP, Phase: corev1.PodRunning},
		}
		m.add(schema.Pod, ns, podName, p)
		out = append(out, p)
		if i == 0 && e == 0 {
			m.ClientIP, m.ClientPod, m.ClientNamespace, m.ClientLabels = podIP, podName, ns, labels
		}
	}
	return out
}

// kubeService adds a Kubernetes Service selecting app=name and its EndpointSlice.
func (m *Mesh) kubeService(ns, name, clusterIP string, pods []*corev1.Pod) {
	svc := &corev1.Service{
		ObjectMeta: meta(ns, name),
		Spec: corev1.ServiceSpec{
			ClusterIP: clusterIP,
			Selector:  map[string]string{"app": name},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP},
				{Name: "grpc", Port: 9090, Protocol: corev1.ProtocolTCP},
			},
		},
	}
	m.add(schema.Service, ns, name, svc)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name + "-abcde", Labels: map[string]string{"kubernetes.io/service-name": name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{
			{Name: strPtr("http"), Port: int32Ptr(8080)},
			{Name: strPtr("grpc"), Port: int32Ptr(9090)},
		},
	}
	ready := true
	for _, p := range pods {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{p.Status.PodIP},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: p.Name},
		})
	}
	m.add(schema.EndpointSlice, ns, slice.Name, slice)
}

// pct spreads a percentage evenly over indexes.
func pct(i, p int) bool { return p > 0 && (i*p)/100 != ((i+1)*p)/100 }

func destinationRule(host string) *networkingv1alpha3.DestinationRule {
	return &networkingv1alpha3.DestinationRule{
		Host: host,
		TrafficPolicy: &networkingv1alpha3.TrafficPolicy{
			LoadBalancer: &networkingv1alpha3.LoadBalancerSettings{LbPolicy: &networkingv1alpha3.LoadBalancerSettings_Simple{
				Simple: networkingv1alpha3.LoadBalancerSettings_ROUND_ROBIN,
			}},
			ConnectionPool: &networkingv1alpha3.ConnectionPoolSettings{
				Http: &networkingv1alpha3.ConnectionPoolSettings_HTTPSettings{Http1MaxPendingRequests: 100},
			},
		},
		Subsets: []*networkingv1alpha3.Subset{
			{Name: "v1", Labels: map[string]string{"version": "v1"}},
			{Name: "v2", Labels: map[string]string{"version": "v2"}},
		},
	}
}

func virtualService(host string) *networkingv1alpha3.VirtualService {
	dest := func(subset string, w int32) *networkingv1alpha3.HTTPRouteDestination {
		return &networkingv1alpha3.HTTPRouteDestination{
			Destination: &networkingv1alpha3.Destination{Host: host, Subset: subset},
			Weight:      w,
		}
	}
	return &networkingv1alpha3.VirtualService{
		Hosts: []string{host},
		Http: []*networkingv1alpha3.HTTPRoute{
			{
				Match: []*networkingv1alpha3.HTTPMatchRequest{{Headers: map[string]*networkingv1alpha3.StringMatch{
					"x-canary": {MatchType: &networkingv1alpha3.StringMatch_Exact{Exact: "true"}},
				}}},
				Route: []*networkingv1alpha3.HTTPRouteDestination{dest("v2", 0)},
			},
			{Route: []*networkingv1alpha3.HTTPRouteDestination{dest("v1", 80), dest("v2", 20)}},
		},
	}
}

func strPtr(s string) *string { return &s }
func int32Ptr(i int32) *int32 { return &i }
