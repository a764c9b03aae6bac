package model

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Service labels that turn on persistent (sticky) sessions, by cookie or by header.
const (
	labelPersistentSession       = "istio.io/persistent-session"
	labelPersistentSessionHeader = "istio.io/persistent-session-header"
)

// KeepsDrainingEndpoints reports whether the service uses persistent sessions: its
// endpoints, once shutting down, keep serving the sessions they hold (DRAINING) instead of
// disappearing (terminating), and its clusters must let DRAINING hosts take traffic.
func (s *Service) KeepsDrainingEndpoints() bool {
	return s != nil && (s.Labels[labelPersistentSession] != "" || s.Labels[labelPersistentSessionHeader] != "")
}

// TrafficDistribution is a service's preference for endpoints close to the client
// (Kubernetes spec.trafficDistribution, or Istio's networking.istio.io/traffic-distribution
// annotation on the service or its namespace).
type TrafficDistribution int

// Traffic distributions.
const (
	// TrafficDistributionAny has no preference.
	TrafficDistributionAny TrafficDistribution = iota
	// TrafficDistributionPreferSameZone prefers the client's network, region, then zone
	// (Kubernetes PreferClose and PreferSameZone).
	TrafficDistributionPreferSameZone
	// TrafficDistributionPreferSameNode also prefers the client's subzone, then node.
	TrafficDistributionPreferSameNode
)

const annotationTrafficDistribution = "networking.istio.io/traffic-distribution"

// trafficDistribution resolves a Kubernetes service's preference: its spec field, else its
// annotation, else its namespace's annotation. An unknown annotation value means no
// preference.
func trafficDistribution(spec *string, serviceAnnotations, namespaceAnnotations map[string]string) TrafficDistribution {
	if spec != nil {
		switch *spec {
		case corev1.ServiceTrafficDistributionPreferClose, corev1.ServiceTrafficDistributionPreferSameZone:
			return TrafficDistributionPreferSameZone
		case corev1.ServiceTrafficDistributionPreferSameNode:
			return TrafficDistributionPreferSameNode
		}
	}
	for _, annotations := range []map[string]string{serviceAnnotations, namespaceAnnotations} {
		switch v := strings.ToLower(annotations[annotationTrafficDistribution]); v {
		case "":
			continue
		case strings.ToLower(corev1.ServiceTrafficDistributionPreferClose), strings.ToLower(corev1.ServiceTrafficDistributionPreferSameZone):
			return TrafficDistributionPreferSameZone
		case strings.ToLower(corev1.ServiceTrafficDistributionPreferSameNode):
			return TrafficDistributionPreferSameNode
		default:
			return TrafficDistributionAny
		}
	}
	return TrafficDistributionAny
}

// setEndpointPreferences sets which endpoints a Kubernetes service's clients prefer: only
// those on their node (internalTrafficPolicy Local), or close ones (traffic distribution).
func (w *workloadIndex) setEndpointPreferences(s *Service, ks *corev1.Service) {
	s.NodeLocal = ks.Spec.InternalTrafficPolicy != nil && *ks.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal
	var nsAnnotations map[string]string
	if ns := w.namespaces[ks.Namespace]; ns != nil {
		nsAnnotations = ns.Annotations
	}
	s.TrafficDistribution = trafficDistribution(ks.Spec.TrafficDistribution, ks.Annotations, nsAnnotations)
}
