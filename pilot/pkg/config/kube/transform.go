package kube

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
)

// annotationLastApplied is kubectl's copy of the whole object: as big as the object and
// never read by the mesh.
const annotationLastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// secretFields leaves out the Secrets that can never hold gateway credentials, as istiod
// does: Helm release records and service account tokens.
var secretFields = fields.AndSelectors(
	fields.OneTermNotEqualSelector("type", "helm.sh/release.v1"),
	fields.OneTermNotEqualSelector("type", string(corev1.SecretTypeServiceAccountToken)),
)

// trim drops what the mesh never reads from an object before the informer caches it. It
// only removes data, so applying it twice is harmless.
func trim(obj any) (any, error) {
	switch o := obj.(type) {
	case *unstructured.Unstructured:
		// Istio objects: the status is written by istiod and others, never read.
		unstructured.RemoveNestedField(o.Object, "status")
	case *corev1.Pod:
		trimPod(o)
	case *corev1.Node:
		trimNode(o)
	}
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a[annotationLastApplied] != "" {
			delete(a, annotationLastApplied)
			m.SetAnnotations(a)
		}
	}
	return obj, nil
}

// trimPod keeps what proxies and endpoints are resolved from: metadata, service account,
// node, host networking and naming, container ports and addresses. Everything else
// (volumes, env, images, conditions with their timestamps) is dropped, which also keeps
// status heartbeats from looking like changes.
func trimPod(p *corev1.Pod) {
	spec := corev1.PodSpec{
		ServiceAccountName: p.Spec.ServiceAccountName,
		NodeName:           p.Spec.NodeName,
		HostNetwork:        p.Spec.HostNetwork,
		Hostname:           p.Spec.Hostname,
		Subdomain:          p.Spec.Subdomain,
		Containers:         portsOnly(p.Spec.Containers, false),
		InitContainers:     portsOnly(p.Spec.InitContainers, true),
	}
	p.Spec = spec
	p.Status = corev1.PodStatus{Phase: p.Status.Phase, HostIP: p.Status.HostIP, PodIP: p.Status.PodIP, PodIPs: p.Status.PodIPs}
}

// portsOnly keeps the name and ports of containers that declare ports; for init
// containers, only native sidecars (restartPolicy Always), which serve like containers.
func portsOnly(cs []corev1.Container, sidecarsOnly bool) []corev1.Container {
	var out []corev1.Container
	for _, c := range cs {
		if len(c.Ports) == 0 {
			continue
		}
		if sidecarsOnly && (c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
			continue
		}
		out = append(out, corev1.Container{Name: c.Name, Ports: c.Ports, RestartPolicy: c.RestartPolicy})
	}
	return out
}

// trimNode keeps a node's metadata (its topology labels give locality) and addresses.
// Conditions change on every heartbeat and images are large; neither is read.
func trimNode(n *corev1.Node) {
	n.Spec = corev1.NodeSpec{}
	n.Status = corev1.NodeStatus{Addresses: n.Status.Addresses}
}
