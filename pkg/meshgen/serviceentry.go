package meshgen

import (
	"fmt"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"

	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// serviceEntry adds the i-th external service: a MESH_EXTERNAL DNS ServiceEntry for
// ext-NNNNN.example.com:443.
func (m *Mesh) serviceEntry(i int, ns string) {
	name := fmt.Sprintf("ext-%05d", i)
	m.add(schema.ServiceEntry, ns, name, &networkingv1alpha3.ServiceEntry{
		Hosts:      []string{name + ".example.com"},
		Ports:      []*networkingv1alpha3.ServicePort{{Number: 443, Name: "tls", Protocol: "TLS"}},
		Location:   networkingv1alpha3.ServiceEntry_MESH_EXTERNAL,
		Resolution: networkingv1alpha3.ServiceEntry_DNS,
	})
}

// internalServiceEntry is a service of the mesh declared as a ServiceEntry: the ports of
// the Kubernetes form (http 8080, grpc 9090), a VIP, STATIC resolution and one inline
// endpoint per pod, labelled as the pod is (app, version), so that DestinationRule
// subsets select them.
func internalServiceEntry(host, vip string, pods []*corev1.Pod) *networkingv1alpha3.ServiceEntry {
	se := &networkingv1alpha3.ServiceEntry{
		Hosts:     []string{host},
		Addresses: []string{vip},
		Ports: []*networkingv1alpha3.ServicePort{
			{Number: 8080, Name: "http", Protocol: "HTTP"},
			{Number: 9090, Name: "grpc", Protocol: "GRPC"},
		},
		Location:   networkingv1alpha3.ServiceEntry_MESH_INTERNAL,
		Resolution: networkingv1alpha3.ServiceEntry_STATIC,
	}
	for _, p := range pods {
		labels := make(map[string]string, len(p.Labels))
		for k, v := range p.Labels {
			labels[k] = v
		}
		se.Endpoints = append(se.Endpoints, &networkingv1alpha3.WorkloadEntry{
			Address:        p.Status.PodIP,
			Labels:         labels,
			ServiceAccount: p.Spec.ServiceAccountName,
		})
	}
	return se
}
