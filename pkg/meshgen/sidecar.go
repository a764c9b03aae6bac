package meshgen

import (
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// NamespaceSidecarName is the name of the namespace-wide Sidecar of a namespace.
const NamespaceSidecarName = "default"

// sidecars adds s.Sidecars Sidecars. The first s.Namespaces are namespace-wide, one per
// namespace in order, importing the namespace itself and istio-system. The rest select
// one service's workloads each (app label), named after the service, and import the
// namespace, istio-system and one other namespace; they are dealt round-robin over the
// namespaces, and within a namespace go to its services of odd rank first (the 2nd, 4th,
// ... service of the namespace), then even ranks from the 3rd: the namespace's first
// service always keeps the namespace-wide Sidecar, and the first clients of a load test
// (one per service, in service order) get a mix of both. A service is selected at most
// once, so at most Namespaces+Services-min(Services,Namespaces) Sidecars are generated.
func (m *Mesh) sidecars(s Spec) {
	n := s.Namespaces
	for ns := 0; ns < min(s.Sidecars, n); ns++ {
		m.add(schema.Sidecar, nsName(ns), NamespaceSidecarName, &networkingv1alpha3.Sidecar{
			Egress: []*networkingv1alpha3.IstioEgressListener{{Hosts: []string{"./*", RootNamespace + "/*"}}},
		})
	}
	want := s.Sidecars - n
	for k := 0; want > 0 && k*n < s.Services; k++ {
		for ns := 0; ns < n && want > 0; ns++ {
			rank, ok := selectorRank(k, servicesIn(s, ns))
			if !ok {
				continue
			}
			i := ns + n*rank
			hosts := []string{"./*", RootNamespace + "/*"}
			if n > 1 {
				hosts = append(hosts, nsName((ns+1+k%(n-1))%n)+"/*")
			}
			name := s.ServiceName(i)
			m.add(schema.Sidecar, nsName(ns), name, &networkingv1alpha3.Sidecar{
				WorkloadSelector: &networkingv1alpha3.WorkloadSelector{Labels: map[string]string{"app": name}},
				Egress:           []*networkingv1alpha3.IstioEgressListener{{Hosts: hosts}},
			})
			want--
		}
	}
}

// servicesIn is the number of services in namespace ns (services are dealt round-robin).
func servicesIn(s Spec, ns int) int {
	if ns >= s.Services {
		return 0
	}
	return (s.Services-ns-1)/s.Namespaces + 1
}

// selectorRank is the rank (within its namespace) of the service the k-th selecting
// Sidecar of a namespace of c services selects: 1, 3, 5, ..., then 2, 4, ...; never 0.
func selectorRank(k, c int) (int, bool) {
	odd := c / 2 // ranks 1, 3, ... below c
	if k < odd {
		return 2*k + 1, true
	}
	even := (c - 1) / 2 // ranks 2, 4, ... below c
	if k -= odd; k < even {
		return 2*k + 2, true
	}
	return 0, false
}
