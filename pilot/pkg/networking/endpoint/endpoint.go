package endpoint

import (
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config/labels"
)

// BuildEndpoints returns one load assignment per cluster name, in the order of
// clusterNames. A name that does not parse, that names a service or port the proxy does not
// see, or that names a DNS-resolved service (whose cluster resolves its own endpoints) gets
// an assignment with no endpoints, as istiod sends it. p must have been initialised with
// PushContext.InitProxy.
func BuildEndpoints(pc *model.PushContext, p *model.Proxy, clusterNames []string) []*endpointv3.ClusterLoadAssignment {
	out := make([]*endpointv3.ClusterLoadAssignment, 0, len(clusterNames))
	for _, name := range clusterNames {
		out = append(out, buildLoadAssignment(pc, p, name))
	}
	return out
}

// target is one EDS cluster resolved against the mesh: everything its endpoints depend on.
type target struct {
	key clusterKey
	svc *model.Service
	// rule is the DestinationRule that applies to the proxy's traffic to the service; may
	// be nil.
	rule *networkingv1alpha3.DestinationRule
	// policy is rule's effective traffic policy for the subset and port; may be nil.
	policy *networkingv1alpha3.TrafficPolicy
	// subsetLabels select the subset's endpoints; nil selects all.
	subsetLabels labels.Instance
	// proxyNode is the node the proxy runs on, for node-local services.
	proxyNode string
}

// resolveTarget finds the service, port and DestinationRule a cluster name refers to. ok is
// false when the cluster has no EDS endpoints to send.
func resolveTarget(pc *model.PushContext, p *model.Proxy, name string) (t *target, ok bool) {
	key, ok := parseClusterKey(name)
	if !ok {
		return nil, false
	}
	svc := pc.ServiceForHostname(p, key.host)
	if svc == nil || svc.Resolution == model.DNSLB || svc.Resolution == model.DNSRoundRobinLB {
		return nil, false
	}
	if svc.Port(key.port) == nil {
		return nil, false
	}
	t = &target{key: key, svc: svc, proxyNode: proxyNodeName(p)}
	t.rule = pc.OutboundDestinationRule(p, svc).Spec()
	t.policy = model.SubsetTrafficPolicy(t.rule, key.subset, key.port)
	if s := model.FindSubset(t.rule, key.subset); len(s.GetLabels()) > 0 {
		t.subsetLabels = s.GetLabels()
	}
	return t, true
}

func buildLoadAssignment(pc *model.PushContext, p *model.Proxy, name string) *endpointv3.ClusterLoadAssignment {
	t, ok := resolveTarget(pc, p, name)
	if !ok {
		return &endpointv3.ClusterLoadAssignment{ClusterName: name}
	}
	return assign(pc, p, t, name)
}
