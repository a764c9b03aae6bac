package validation

import (
	"slices"
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
)

// meshGateway is the gateway name that binds a VirtualService to sidecars.
const meshGateway = "mesh"

// vsContext is what the route rules of a VirtualService depend on.
type vsContext struct {
	vs *networkingv1alpha3.VirtualService
	// delegate is true for a VirtualService without hosts: one that root routes delegate to.
	delegate bool
	// routeSemantics is true for routes translated from the Gateway API, whose
	// destinations istiod does not check.
	routeSemantics bool
}

// validateVirtualService applies istiod's VirtualService rules: hosts (wildcards, no "*"
// for the mesh, no duplicates), gateways, delegate restrictions, every HTTP, TLS and TCP
// route, exportTo; and warns about rules and matches that can never be reached.
func validateVirtualService(c *config.Config, r *report) {
	vs, ok := specAs[*networkingv1alpha3.VirtualService](c, r)
	if !ok {
		return
	}
	ctx := &vsContext{
		vs:             vs,
		delegate:       len(vs.Hosts) == 0,
		routeSemantics: c.Annotations[annotationRouteSemantics] == "gateway",
	}
	if ctx.delegate {
		checkDelegateVirtualService(r, vs)
	}
	// Bound to gateways only when gateways are listed and "mesh" is not among them.
	toGateway := len(vs.Gateways) > 0 && !slices.Contains(vs.Gateways, meshGateway)
	checkGatewayNames(r, "spec.gateways", vs.Gateways, ctx.routeSemantics)
	if !toGateway {
		checkNoJWTClaimRoutes(r, vs)
	}
	checkVirtualServiceHosts(r, vs, toGateway)
	if len(vs.Http) == 0 && len(vs.Tcp) == 0 && len(vs.Tls) == 0 {
		r.errorf("spec", "http, tcp or tls must be provided in virtual service")
	}
	for i, h := range vs.Http {
		checkHTTPRoute(r, path("spec.http").index(i), h, ctx)
	}
	for i, t := range vs.Tls {
		checkTLSRoute(r, path("spec.tls").index(i), t, ctx)
	}
	for i, t := range vs.Tcp {
		checkTCPRoute(r, path("spec.tcp").index(i), t, ctx)
	}
	checkExportTo(r, c.Namespace, vs.ExportTo, false, false)
	warnUnreachableRules(r, vs)
}

// checkDelegateVirtualService applies the rules of delegates: they inherit their gateways
// from the root, and only HTTP routes can be delegated.
func checkDelegateVirtualService(r *report, vs *networkingv1alpha3.VirtualService) {
	if len(vs.Gateways) != 0 {
		r.errorf("spec.gateways", "delegate virtual service must have no gateways specified")
	}
	if len(vs.Tls) != 0 {
		r.errorf("spec.tls", "delegate virtual service must have no tls route specified")
	}
	if len(vs.Tcp) != 0 {
		r.errorf("spec.tcp", "delegate virtual service must have no tcp route specified")
	}
}

// checkNoJWTClaimRoutes rejects JWT claim matches outside gateways: only gateways
// authenticate requests before routing.
func checkNoJWTClaimRoutes(r *report, vs *networkingv1alpha3.VirtualService) {
	for i, h := range vs.Http {
		for j, m := range h.GetMatch() {
			mp := path("spec.http").index(i).field("match").index(j)
			for _, f := range []struct {
				name    string
				headers map[string]*networkingv1alpha3.StringMatch
			}{{"headers", m.GetHeaders()}, {"withoutHeaders", m.GetWithoutHeaders()}} {
				for _, k := range sortedKeys(f.headers) {
					if isJWTClaimHeader(k) {
						r.errorf(mp.field(f.name).key(k), "JWT claim based routing (key: %s) is only supported for gateway, "+
							"found no gateways: %v", k, vs.Gateways)
					}
				}
			}
		}
	}
}

// checkVirtualServiceHosts checks each host (an IP is also accepted) and, when all are
// valid, that no two hosts overlap.
func checkVirtualServiceHosts(r *report, vs *networkingv1alpha3.VirtualService, toGateway bool) {
	sni := hasSNIMatch(vs)
	valid := true
	for i, h := range vs.Hosts {
		var err error
		if toGateway {
			err = checkGatewayRouteHost(sni, h)
		} else {
			err = checkWildcardDomain(h)
		}
		switch {
		case err != nil && !isIP(h):
			r.add(path("spec.hosts").index(i), err)
			valid = false
		case err == nil && !toGateway && h == "*":
			r.errorf(path("spec.hosts").index(i), "wildcard host * is not allowed for virtual services bound to the mesh gateway")
			valid = false
		}
	}
	if !valid {
		return
	}
	for i := range vs.Hosts {
		for j := i + 1; j < len(vs.Hosts); j++ {
			if host.Name(vs.Hosts[i]).Intersects(host.Name(vs.Hosts[j])) {
				r.errorf(path("spec.hosts").index(j), "duplicate hosts in virtual service: %s & %s", vs.Hosts[i], vs.Hosts[j])
			}
		}
	}
}

func hasSNIMatch(vs *networkingv1alpha3.VirtualService) bool {
	for _, t := range vs.Tls {
		for _, m := range t.GetMatch() {
			if len(m.GetSniHosts()) > 0 {
				return true
			}
		}
	}
	return false
}

// checkTLSRoute checks a TLS route: at least one match, each with SNI hosts covered by
// the VirtualService's hosts, and at least one destination.
func checkTLSRoute(r *report, p path, t *networkingv1alpha3.TLSRoute, ctx *vsContext) {
	if t == nil {
		return
	}
	if len(t.Match) == 0 {
		r.errorf(p.field("match"), "TLS route must have at least one match condition")
	}
	for i, m := range t.Match {
		mp := p.field("match").index(i)
		if m == nil {
			r.errorf(mp, "TLS match may not be null")
			continue
		}
		if len(m.SniHosts) == 0 {
			r.errorf(mp.field("sniHosts"), "TLS match must have at least one SNI host")
		}
		for j, sni := range m.SniHosts {
			checkSNIHost(r, mp.field("sniHosts").index(j), sni, ctx.vs)
		}
		checkL4Match(r, mp, m.DestinationSubnets, m.Port, m.SourceLabels, m.Gateways)
	}
	if len(t.Route) == 0 {
		r.errorf(p.field("route"), "TLS route is required")
	}
	checkRouteDestinations(r, p.field("route"), t.Route, ctx)
}

// checkSNIHost checks an SNI host is a valid (wildcard) domain within the hosts of vs. An
// IP is accepted with a warning.
func checkSNIHost(r *report, p path, sni string, vs *networkingv1alpha3.VirtualService) {
	var err error
	if !slices.Contains(vs.Gateways, meshGateway) {
		err = checkGatewayRouteHost(true, sni)
	} else {
		err = checkWildcardDomain(sni)
	}
	if err != nil {
		if isIP(sni) {
			r.warnf(p, "using an IP address (%q) goes against SNI spec and most clients do not support this", sni)
		} else {
			r.add(p, err)
		}
		return
	}
	for _, h := range vs.Hosts {
		if host.Name(sni).SubsetOf(host.Name(h)) {
			return
		}
	}
	r.errorf(p, "SNI host %q is not a compatible subset of any of the virtual service hosts: [%s]",
		sni, strings.Join(vs.Hosts, ", "))
}

// checkTCPRoute checks a TCP route: its matches and at least one destination.
func checkTCPRoute(r *report, p path, t *networkingv1alpha3.TCPRoute, ctx *vsContext) {
	if t == nil {
		return
	}
	for i, m := range t.Match {
		mp := p.field("match").index(i)
		if m == nil {
			r.errorf(mp, "tcp match may not be nil")
			continue
		}
		checkL4Match(r, mp, m.DestinationSubnets, m.Port, m.SourceLabels, m.Gateways)
	}
	if len(t.Route) == 0 {
		r.errorf(p.field("route"), "TCP route is required")
	}
	checkRouteDestinations(r, p.field("route"), t.Route, ctx)
}

// checkL4Match checks the attributes TLS and TCP matches share.
func checkL4Match(r *report, p path, subnets []string, port uint32, sourceLabels map[string]string, gateways []string) {
	for i, s := range subnets {
		r.add(p.field("destinationSubnets").index(i), checkIPOrCIDR(s))
	}
	if port != 0 {
		r.add(p.field("port"), checkPort(int64(port)))
	}
	checkLabels(r, p.field("sourceLabels"), sourceLabels)
	checkGatewayNames(r, p.field("gateways"), gateways, false)
}

// checkRouteDestinations checks the destinations of a TLS or TCP route.
func checkRouteDestinations(r *report, p path, ds []*networkingv1alpha3.RouteDestination, ctx *vsContext) {
	var total int64
	for i, d := range ds {
		dp := p.index(i)
		if d == nil {
			r.errorf(dp, "weight may not be nil")
			continue
		}
		if d.Destination == nil {
			r.errorf(dp.field("destination"), "destination is required")
		} else if !ctx.routeSemantics {
			checkDestination(r, dp.field("destination"), d.Destination)
		}
		checkWeight(r, dp.field("weight"), d.Weight)
		total += int64(d.Weight)
	}
	checkTotalWeight(r, p, len(ds), total)
}

// checkWeight rejects negative weights. Weights need not sum to 100: istiod (1.31)
// accepts any non-negative weights and Envoy distributes traffic in proportion.
func checkWeight(r *report, p path, w int32) {
	if w < 0 {
		r.errorf(p, "weight %d < 0", w)
	}
}

// checkTotalWeight rejects several destinations that all have weight 0: they would
// receive no traffic.
func checkTotalWeight(r *report, p path, n int, total int64) {
	if n > 1 && total == 0 {
		r.errorf(p, "total destination weight = 0")
	}
}

// checkDestination checks a route destination: a (wildcard) host other than "*", a
// subset name, and a port.
func checkDestination(r *report, p path, d *networkingv1alpha3.Destination) {
	if d == nil {
		return
	}
	if d.Host == "*" {
		r.errorf(p.field("host"), "invalid destination host %s", d.Host)
	} else {
		r.add(p.field("host"), checkWildcardDomain(d.Host))
	}
	if d.Subset != "" {
		r.add(p.field("subset"), checkSubsetName(d.Subset))
	}
	if d.Port != nil {
		r.add(p.field("port.number"), checkPort(int64(d.Port.GetNumber())))
	}
}
