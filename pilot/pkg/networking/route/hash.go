package route

import (
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config/host"
)

type consistentHash = networkingv1alpha3.LoadBalancerSettings_ConsistentHashLB

// serviceHash returns the consistent-hash settings the proxy's DestinationRule for s
// gives port: the port-level setting if it has one, else the rule's.
func serviceHash(p *model.Proxy, s *model.Service, port int) *consistentHash {
	dr := p.SidecarScope.DestinationRule(s.Hostname).Spec()
	if dr == nil {
		return nil
	}
	ch := dr.GetTrafficPolicy().GetLoadBalancer().GetConsistentHash()
	for _, pls := range dr.GetTrafficPolicy().GetPortLevelSettings() {
		if int(pls.GetPort().GetNumber()) == port {
			if h := pls.GetLoadBalancer().GetConsistentHash(); h != nil {
				ch = h
			}
			break
		}
	}
	return ch
}

// destinationHash returns the consistent-hash settings of a VirtualService destination,
// the most specific of: the subset's port-level setting, the subset's, the rule's
// port-level setting (port-level ones only for destinations naming a port), the rule's.
func destinationHash(p *model.Proxy, d *networkingv1alpha3.HTTPRouteDestination) *consistentHash {
	dst := d.GetDestination()
	dr := p.SidecarScope.DestinationRule(host.Name(dst.GetHost())).Spec()
	if dr == nil {
		return nil
	}
	candidates := []*consistentHash{nil, nil, portLevelHash(dst, dr.GetTrafficPolicy()), dr.GetTrafficPolicy().GetLoadBalancer().GetConsistentHash()}
	for _, ss := range dr.GetSubsets() {
		if ss.GetName() == dst.GetSubset() {
			candidates[0] = portLevelHash(dst, ss.GetTrafficPolicy())
			candidates[1] = ss.GetTrafficPolicy().GetLoadBalancer().GetConsistentHash()
			break
		}
	}
	for _, c := range candidates {
		if c != nil {
			return c
		}
	}
	return nil
}

func portLevelHash(dst *networkingv1alpha3.Destination, tp *networkingv1alpha3.TrafficPolicy) *consistentHash {
	if dst.GetPort() == nil {
		return nil
	}
	for _, pls := range tp.GetPortLevelSettings() {
		if pls.GetPort().GetNumber() == dst.GetPort().GetNumber() {
			return pls.GetLoadBalancer().GetConsistentHash()
		}
	}
	return nil
}

// hashPolicy translates consistent-hash settings keyed on a header, cookie, source IP or
// query parameter; other settings (none, ring size only) give no policy.
func hashPolicy(ch *consistentHash) *routev3.RouteAction_HashPolicy {
	switch ch.GetHashKey().(type) {
	case *networkingv1alpha3.LoadBalancerSettings_ConsistentHashLB_HttpHeaderName:
		return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{
			Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: ch.GetHttpHeaderName()},
		}}
	case *networkingv1alpha3.LoadBalancerSettings_ConsistentHashLB_HttpCookie:
		c := ch.GetHttpCookie()
		cookie := &routev3.RouteAction_HashPolicy_Cookie{Name: c.GetName(), Ttl: c.GetTtl(), Path: c.GetPath()}
		for _, a := range c.GetAttributes() {
			cookie.Attributes = append(cookie.Attributes, &routev3.RouteAction_HashPolicy_CookieAttribute{Name: a.GetName(), Value: a.GetValue()})
		}
		return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Cookie_{Cookie: cookie}}
	case *networkingv1alpha3.LoadBalancerSettings_ConsistentHashLB_UseSourceIp:
		return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_ConnectionProperties_{
			ConnectionProperties: &routev3.RouteAction_HashPolicy_ConnectionProperties{SourceIp: ch.GetUseSourceIp()},
		}}
	case *networkingv1alpha3.LoadBalancerSettings_ConsistentHashLB_HttpQueryParameterName:
		return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_QueryParameter_{
			QueryParameter: &routev3.RouteAction_HashPolicy_QueryParameter{Name: ch.GetHttpQueryParameterName()},
		}}
	}
	return nil
}
