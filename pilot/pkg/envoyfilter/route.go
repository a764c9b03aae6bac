package envoyfilter

import (
	"slices"
	"strconv"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// routePatches are the patches of one context that act on route configurations.
type routePatches struct {
	ctx         Context
	config      []*Patch
	virtualHost []*Patch
	route       []*Patch
}

// PatchRouteConfiguration applies the ROUTE_CONFIGURATION (MERGE), VIRTUAL_HOST and
// HTTP_ROUTE patches of ps for context ctx to rc. It returns rc itself when no patch
// matches it, else a patched copy: rc is never altered.
func PatchRouteConfiguration(ps *Patches, ctx Context, rc *routev3.RouteConfiguration) *routev3.RouteConfiguration {
	if ps == nil || rc == nil {
		return rc
	}
	rp := &routePatches{
		ctx:         ctx,
		config:      ps.scoped(networkingv1alpha3.EnvoyFilter_ROUTE_CONFIGURATION, ctx),
		virtualHost: ps.scoped(networkingv1alpha3.EnvoyFilter_VIRTUAL_HOST, ctx),
		route:       ps.scoped(networkingv1alpha3.EnvoyFilter_HTTP_ROUTE, ctx),
	}
	if !rp.touches(rc) {
		return rc
	}
	rc = proto.Clone(rc).(*routev3.RouteConfiguration)
	for _, p := range rp.config {
		if isMerge(p.Operation) && rp.configMatches(rc, p) {
			mergeValue(p.Operation, rc, p.Value)
		}
	}
	rp.patchVirtualHosts(rc)
	return rc
}

// RouteConfigurationPatches returns the ROUTE_CONFIGURATION patches of ps for context ctx,
// in order. For a configuration whose virtual hosts the patches spare
// (RoutePatchesSpareVirtualHosts), PatchRouteConfiguration of it without virtual hosts
// reads nothing else of ps: the result is a function of these and the configuration.
func RouteConfigurationPatches(ps *Patches, ctx Context) []*Patch {
	if ps == nil {
		return nil
	}
	return ps.scoped(networkingv1alpha3.EnvoyFilter_ROUTE_CONFIGURATION, ctx)
}

// RoutePatchesSpareVirtualHosts reports whether the patches of ps for context ctx leave
// the virtual hosts of the route configuration called name alone: no VIRTUAL_HOST or
// HTTP_ROUTE patch applies to it, and the ROUTE_CONFIGURATION merges that do set no
// virtual hosts. PatchRouteConfiguration then gives the same result applied to the
// configuration without its virtual hosts, which are put back afterwards.
func RoutePatchesSpareVirtualHosts(ps *Patches, ctx Context, name string) bool {
	if ps == nil {
		return true
	}
	rc := &routev3.RouteConfiguration{Name: name}
	rp := &routePatches{ctx: ctx}
	for _, applyTo := range []ApplyTo{networkingv1alpha3.EnvoyFilter_VIRTUAL_HOST, networkingv1alpha3.EnvoyFilter_HTTP_ROUTE} {
		for _, p := range ps.scoped(applyTo, ctx) {
			if rp.configMatches(rc, p) {
				return false
			}
		}
	}
	for _, p := range ps.scoped(networkingv1alpha3.EnvoyFilter_ROUTE_CONFIGURATION, ctx) {
		if isMerge(p.Operation) && rp.configMatches(rc, p) {
			if v, _ := p.Value.(*routev3.RouteConfiguration); len(v.GetVirtualHosts()) > 0 {
				return false
			}
		}
	}
	return true
}

func (rp *routePatches) touches(rc *routev3.RouteConfiguration) bool {
	for _, ps := range [][]*Patch{rp.config, rp.virtualHost, rp.route} {
		for _, p := range ps {
			if rp.configMatches(rc, p) {
				return true
			}
		}
	}
	return false
}

// patchVirtualHosts applies REMOVE, MERGE and REPLACE to each virtual host (and the route
// patches to those kept), then appends the virtual hosts ADD patches insert. A removed
// virtual host's name removes every virtual host of that name, added ones included.
func (rp *routePatches) patchVirtualHosts(rc *routev3.RouteConfiguration) {
	removed := map[string]bool{}
	for i := range rc.VirtualHosts {
		if rp.patchVirtualHost(rc, i) {
			removed[rc.VirtualHosts[i].GetName()] = true
		}
	}
	for _, p := range rp.virtualHost {
		if p.Operation == opAdd && p.Value != nil && rp.configMatches(rc, p) {
			rc.VirtualHosts = append(rc.VirtualHosts, clone[*routev3.VirtualHost](p.Value))
		}
	}
	if len(removed) > 0 {
		rc.VirtualHosts = slices.DeleteFunc(rc.VirtualHosts, func(vh *routev3.VirtualHost) bool { return removed[vh.GetName()] })
	}
}

// patchVirtualHost patches rc.VirtualHosts[i] and reports whether it is removed.
func (rp *routePatches) patchVirtualHost(rc *routev3.RouteConfiguration, i int) bool {
	for _, p := range rp.virtualHost {
		if !rp.configMatches(rc, p) || !virtualHostMatches(rc.VirtualHosts[i], p) {
			continue
		}
		switch {
		case p.Operation == opRemove:
			return true
		case isMerge(p.Operation):
			mergeValue(p.Operation, rc.VirtualHosts[i], p.Value)
		case p.Operation == opReplace && p.Value != nil:
			rc.VirtualHosts[i] = clone[*routev3.VirtualHost](p.Value)
		}
	}
	rp.patchRoutes(rc, rc.VirtualHosts[i])
	return false
}

// patchRoutes applies REMOVE and MERGE to each route of a virtual host, then the ordered
// operations (ADD, INSERT_BEFORE/AFTER/FIRST). HTTP_ROUTE REPLACE does nothing, as in
// istiod.
func (rp *routePatches) patchRoutes(rc *routev3.RouteConfiguration, vh *routev3.VirtualHost) {
	removed := false
	for i := range vh.Routes {
		removed = rp.patchRoute(rc, vh, i) || removed
	}
	for _, p := range rp.route {
		if p.Value == nil || !rp.configMatches(rc, p) || !virtualHostMatches(vh, p) {
			continue
		}
		newRoute := func() *routev3.Route { return clone[*routev3.Route](p.Value) }
		at := func(r *routev3.Route) bool { return routeMatches(r, p) }
		switch p.Operation {
		case opAdd, opInsertAfter, opInsertBefore:
			vh.Routes = orderedOp(vh.Routes, p.Operation, hasRouteMatch(p), at, newRoute)
		case opInsertFirst:
			// Inserted first, but only if a named route exists.
			if !hasRouteMatch(p) || slices.ContainsFunc(vh.Routes, at) {
				vh.Routes = prepend(vh.Routes, newRoute())
			}
		}
	}
	if removed {
		vh.Routes = slices.DeleteFunc(vh.Routes, func(r *routev3.Route) bool { return r == nil })
	}
}

// patchRoute applies REMOVE (leaving nil) and MERGE to vh.Routes[i]; it reports a removal.
func (rp *routePatches) patchRoute(rc *routev3.RouteConfiguration, vh *routev3.VirtualHost, i int) bool {
	for _, p := range rp.route {
		if !rp.configMatches(rc, p) || !virtualHostMatches(vh, p) || !routeMatches(vh.Routes[i], p) {
			continue
		}
		if p.Operation == opRemove {
			vh.Routes[i] = nil
			return true
		}
		if isMerge(p.Operation) {
			mergeValue(p.Operation, vh.Routes[i], p.Value)
		}
	}
	return false
}

// configMatches applies match.routeConfiguration to a route configuration: for sidecars
// its name and the port its name stands for; for gateways also the port name and gateway
// that a gateway's route name ("http.PORT", "https.PORT.NAME.GATEWAY.NAMESPACE") encodes.
// Gateway ports are compared as named (istiod also maps them to service ports).
func (rp *routePatches) configMatches(rc *routev3.RouteConfiguration, p *Patch) bool {
	m := p.Match.GetRouteConfiguration()
	if m == nil {
		return true
	}
	if m.GetName() != "" && m.GetName() != rc.GetName() {
		return false
	}
	if rp.ctx != Gateway {
		return m.GetPortNumber() == 0 || int(m.GetPortNumber()) == routePort(rc.GetName())
	}
	port, portName, gateway := parseGatewayRouteName(rc.GetName())
	return (m.GetPortName() == "" || m.GetPortName() == portName) &&
		(m.GetGateway() == "" || m.GetGateway() == gateway) &&
		(m.GetPortNumber() == 0 || int(m.GetPortNumber()) == port)
}

// routePort is the listener port a sidecar route name stands for: "9080", or the port of
// an inbound cluster name "inbound|9080||"; 0 for other names ("host:port", http_proxy).
func routePort(name string) int {
	if strings.HasPrefix(name, "inbound") {
		return parseClusterName(name).port
	}
	port, _ := strconv.Atoi(name)
	return port
}

// parseGatewayRouteName splits "http.PORT" and "https.PORT.PORTNAME.GATEWAY.NAMESPACE";
// the gateway comes back as NAMESPACE/GATEWAY.
func parseGatewayRouteName(name string) (port int, portName, gateway string) {
	if rest, ok := strings.CutPrefix(name, "http."); ok {
		port, _ = strconv.Atoi(rest)
		return port, "", ""
	}
	rest, ok := strings.CutPrefix(name, "https.")
	if !ok || strings.Count(name, ".") != 4 {
		return 0, "", ""
	}
	parts := strings.Split(rest, ".")
	port, _ = strconv.Atoi(parts[0])
	return port, parts[1], parts[3] + "/" + parts[2]
}

// virtualHostMatches applies match.routeConfiguration.vhost: name and domain.
func virtualHostMatches(vh *routev3.VirtualHost, p *Patch) bool {
	m := p.Match.GetRouteConfiguration().GetVhost()
	if m == nil {
		return true
	}
	if vh == nil {
		return false
	}
	return (m.GetName() == "" || m.GetName() == vh.GetName()) &&
		(m.GetDomainName() == "" || slices.Contains(vh.GetDomains(), m.GetDomainName()))
}

// hasRouteMatch reports whether the patch names a route (match...vhost.route).
func hasRouteMatch(p *Patch) bool {
	return p.Match.GetRouteConfiguration().GetVhost().GetRoute() != nil
}

// routeMatches applies match.routeConfiguration.vhost.route: name and action.
func routeMatches(r *routev3.Route, p *Patch) bool {
	m := p.Match.GetRouteConfiguration().GetVhost().GetRoute()
	if m == nil {
		return true
	}
	if r == nil {
		return false
	}
	if m.GetName() != "" && m.GetName() != r.GetName() {
		return false
	}
	switch m.GetAction() {
	case networkingv1alpha3.EnvoyFilter_RouteConfigurationMatch_RouteMatch_ANY:
		return true
	case networkingv1alpha3.EnvoyFilter_RouteConfigurationMatch_RouteMatch_ROUTE:
		return r.GetRoute() != nil || !hasAction(r)
	case networkingv1alpha3.EnvoyFilter_RouteConfigurationMatch_RouteMatch_REDIRECT:
		return r.GetRedirect() != nil || !hasAction(r)
	case networkingv1alpha3.EnvoyFilter_RouteConfigurationMatch_RouteMatch_DIRECT_RESPONSE:
		return r.GetDirectResponse() != nil || !hasAction(r)
	}
	return true
}

// hasAction reports whether the route has one of the actions match.route.action names;
// istiod lets a route with another action (or none) match any action.
func hasAction(r *routev3.Route) bool {
	return r.GetRoute() != nil || r.GetRedirect() != nil || r.GetDirectResponse() != nil
}
