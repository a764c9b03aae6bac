package endpoint

import (
	"net/netip"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

// Labels that change which endpoints are sent.
const (
	// labelDraining on a workload marks its endpoints DRAINING.
	labelDraining = "istio.io/draining"
	// labelPersistentSession on a service makes it keep DRAINING endpoints, so that
	// existing sessions can finish on them.
	labelPersistentSession = "istio.io/persistent-session"
)

// builtEndpoint is an endpoint the cluster sends, with its Envoy form.
type builtEndpoint struct {
	ep *model.Endpoint
	lb *endpointv3.LbEndpoint
	// tlsMode is the endpoint's transport socket match, "" for none.
	tlsMode string
}

// lbEndpoints returns the endpoints of the cluster's service port that the cluster sends,
// in the registry's order, each with its Envoy form.
func (t *target) lbEndpoints(pc *model.PushContext) []builtEndpoint {
	ruleMode := t.ruleTLSMode()
	sendUnhealthy := t.sendsUnhealthy()
	var out []builtEndpoint
	for _, ep := range pc.Endpoints(t.svc, t.key.port) {
		if !t.includes(ep, sendUnhealthy) {
			continue
		}
		tlsMode := t.tlsModeMetadata(pc, ep, ruleMode)
		out = append(out, builtEndpoint{ep: ep, lb: lbEndpoint(ep, tlsMode), tlsMode: tlsMode})
	}
	return out
}

// includes reports whether ep belongs in the cluster: it has an IP address, it is on the
// proxy's node when the service is node-local, it carries the subset's labels, and its
// health allows it.
func (t *target) includes(ep *model.Endpoint, sendUnhealthy bool) bool {
	if t.svc.NodeLocal && ep.NodeName != t.proxyNode {
		return false
	}
	if ep.Address == "" {
		// Only a multi-network gateway could reach it; Sextant serves a single network.
		return false
	}
	if ep.EndpointPort != 0 && !isIP(ep.Address) {
		// A hostname (DNS ServiceEntry endpoint) cannot be an EDS endpoint.
		return false
	}
	if t.subsetLabels != nil && !t.subsetLabels.SubsetOf(endpointLabels(ep)) {
		return false
	}
	switch {
	case ep.HealthStatus == model.Terminating:
		// Never useful, even to count healthy endpoints: a rollout would look degraded.
		return false
	case ep.HealthStatus == model.Unhealthy:
		return sendUnhealthy
	case isDraining(ep):
		return t.svc.Labels[labelPersistentSession] != ""
	}
	return true
}

// sendsUnhealthy reports whether unhealthy endpoints are sent (marked UNHEALTHY) so that
// Envoy knows the healthy share of the cluster. They are not when outlier detection sets a
// minimum healthy percentage (Envoy's panic threshold would then route to them), unless the
// service prefers close endpoints: only endpoint health tells Envoy when to spill over.
func (t *target) sendsUnhealthy() bool {
	return t.svc.TrafficDistribution != model.TrafficDistributionAny ||
		t.policy.GetOutlierDetection().GetMinHealthPercent() <= 0
}

// proxyNodeName is the node the proxy runs on, as istio-agent reports it (NODE_NAME).
func proxyNodeName(p *model.Proxy) string {
	if p.Metadata == nil {
		return ""
	}
	name, _ := p.Metadata.Raw["NODE_NAME"].(string)
	return name
}

func isDraining(ep *model.Endpoint) bool {
	return ep.HealthStatus == model.Draining || ep.Labels[labelDraining] != ""
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// tlsModeMetadata is the endpoint's envoy.transport_socket_match tlsMode, "" for none.
// It is the workload's TLS mode label when the client will use Istio mTLS to reach it:
// as the DestinationRule's TLS mode says, or else (auto mTLS) when the workload has a
// sidecar and its PeerAuthentication does not disable mTLS on the port.
func (t *target) tlsModeMetadata(pc *model.PushContext, ep *model.Endpoint, ruleMode *networkingv1alpha3.ClientTLSSettings_TLSmode) string {
	if ep.TLSMode == "" || ep.TLSMode == tlsModeDisabled {
		return ""
	}
	mtls := false
	switch {
	case ruleMode != nil:
		mtls = *ruleMode == networkingv1alpha3.ClientTLSSettings_ISTIO_MUTUAL
	case ep.TLSMode == tlsModeIstio:
		mtls = pc.InboundMTLSMode(ep.Namespace, ep.Labels, ep.EndpointPort) != model.MTLSDisable
	}
	if !mtls {
		return ""
	}
	return ep.TLSMode
}

// ruleTLSMode is the TLS mode the DestinationRule sets for the cluster, or nil: the
// subset's (port-level first), else the rule's (port-level first). A subset the rule does
// not define sets none.
func (t *target) ruleTLSMode() *networkingv1alpha3.ClientTLSSettings_TLSmode {
	if t.rule == nil {
		return nil
	}
	if t.key.subset == "" {
		return policyTLSMode(t.rule.GetTrafficPolicy(), t.key.port)
	}
	s := model.FindSubset(t.rule, t.key.subset)
	if s == nil {
		return nil
	}
	if m := policyTLSMode(s.GetTrafficPolicy(), t.key.port); m != nil {
		return m
	}
	return policyTLSMode(t.rule.GetTrafficPolicy(), t.key.port)
}

// policyTLSMode is the TLS mode a traffic policy sets for port: its port-level TLS
// settings for the port, else its own, else nil.
func policyTLSMode(tp *networkingv1alpha3.TrafficPolicy, port int) *networkingv1alpha3.ClientTLSSettings_TLSmode {
	if tp == nil {
		return nil
	}
	var mode *networkingv1alpha3.ClientTLSSettings_TLSmode
	if tp.GetTls() != nil {
		m := tp.GetTls().GetMode()
		mode = &m
	}
	for _, pl := range tp.GetPortLevelSettings() {
		if int(pl.GetPort().GetNumber()) == port && pl.GetTls() != nil {
			m := pl.GetTls().GetMode()
			return &m
		}
	}
	return mode
}
