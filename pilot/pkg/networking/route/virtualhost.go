package route

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// vhostGroup is a set of virtual hosts sharing one list of routes: the hosts of one
// VirtualService on one service port, or one service port without a VirtualService.
type vhostGroup struct {
	port int
	// services each get a virtual host with every name they answer to.
	services []*model.Service
	// vsHosts are VirtualService hosts that are no service; each gets a bare virtual host.
	vsHosts []string
	routes  []*routev3.Route
}

// BuildOutboundVirtualHosts returns the virtual hosts a sidecar (or proxyless gRPC
// client) p gets for outbound listener port (0 for the HTTP proxy and Unix sockets, whose
// routes take every port), unsorted and without the catch-all. routeName picks the
// Sidecar egress listener for port 0. VirtualServices claim the services their hosts
// name; services without one get a default route. Duplicate virtual host names and
// domains keep their first occurrence.
func BuildOutboundVirtualHosts(pc *model.PushContext, p *model.Proxy, routeName string, port int) []*routev3.VirtualHost {
	vhosts, _ := outboundVirtualHosts(pc, p, routeName, port, freshRoutes{})
	return vhosts
}

// outboundVirtualHosts is BuildOutboundVirtualHosts with the routes of each group from src.
// altered holds the virtual hosts that lost domains to earlier ones; the others' domains
// are src.serviceDomains' slices (or, for hosts that name no service, their own).
func outboundVirtualHosts(pc *model.PushContext, p *model.Proxy, routeName string, port int, src routeSource) (vhosts []*routev3.VirtualHost, altered map[*routev3.VirtualHost]bool) {
	el := egressListenerForRDS(p.SidecarScope, port, routeName)
	if el == nil {
		return nil, nil
	}
	port = listenerPortOf(el, port)
	view := newPortServices(el.Services, port, src)
	defer view.release()
	vses := el.VirtualServices
	if port != 80 {
		// Only port 80 serves VirtualService hosts that name no service (istiod's legacy);
		// elsewhere a VirtualService applies if it names a service on the port.
		vses = slices.DeleteFunc(slices.Clone(vses), func(c *config.Config) bool { return !view.selects(c) })
	}
	owners := mostSpecificVirtualServices(el.VirtualServices, el.Services)
	groups := virtualServiceGroups(pc, p, vses, view, owners, port, src)
	groups = append(groups, serviceGroups(pc, p, view, groups, src)...)
	b := newVhostBuilder(p, view, groups, proxyHeadersFor(pc).includeAttemptCount, src)
	return b.buildAll(groups), b.altered
}

// listenerPortOf is the port whose services the egress listener's routes take for a
// listener port: 0 (all) for the HTTP proxy.
func listenerPortOf(el *model.EgressListener, port int) int {
	if l := el.IstioListener; l != nil && l.GetPort() != nil && protocol.Parse(l.GetPort().GetProtocol()) == protocol.HTTPProxy {
		return 0
	}
	return port
}

// egressListenerForRDS returns the Sidecar egress listener serving a listener port: the
// first with that port (and, for port 0, that bind), else the catch-all.
func egressListenerForRDS(sc *model.SidecarScope, port int, routeName string) *model.EgressListener {
	if sc == nil {
		return nil
	}
	for _, e := range sc.EgressListeners {
		l := e.IstioListener
		if l == nil || l.GetPort() == nil {
			return e
		}
		if int(l.GetPort().GetNumber()) == port && (port != 0 || l.GetBind() == routeName) {
			return e
		}
	}
	return nil
}

// portServices are the services of an egress listener on one listener port, by
// lowercased hostname, narrowed to that port (all ports for port 0).
type portServices struct {
	byName map[host.Name]*model.Service
	order  []host.Name
	// port is the listener port (0: all); original are the services before narrowing.
	port     int
	original map[host.Name]*model.Service
}

func newPortServices(svcs []*model.Service, port int, src routeSource) *portServices {
	ps := &portServices{byName: serviceMaps.Get().(map[host.Name]*model.Service), port: port, original: serviceMaps.Get().(map[host.Name]*model.Service)}
	views := svcs
	if port != 0 {
		views = src.narrow(svcs, port)
	}
	for i, s := range views {
		if s == nil {
			continue
		}
		h := s.Hostname
		if port == 0 {
			h = host.Name(strings.ToLower(string(h)))
		}
		if _, dup := ps.byName[h]; !dup {
			ps.order = append(ps.order, h)
		}
		ps.byName[h] = s
		ps.original[h] = svcs[i]
	}
	return ps
}

// serviceMaps pools portServices' maps: a route configuration's build fills two with the
// listener's ~1,000 services, and a VirtualService edit rebuilds one per proxy it reaches
// (2 MB per edit in the load harness).
var serviceMaps = sync.Pool{New: func() any { return map[host.Name]*model.Service{} }}

// release returns the view's maps to the pool; it must not be used afterwards. Nothing
// a build returns holds a view.
func (ps *portServices) release() {
	for _, m := range []map[host.Name]*model.Service{ps.byName, ps.original} {
		clear(m)
		serviceMaps.Put(m)
	}
	ps.byName, ps.original = nil, nil
}

// narrowService returns s as a listener on port sees it: lowercased hostname, that port
// only; nil when s has no such port.
func narrowService(s *model.Service, port int) *model.Service {
	sp := s.Port(port)
	if sp == nil {
		return nil
	}
	narrowed := *s
	narrowed.Hostname = host.Name(strings.ToLower(string(s.Hostname)))
	narrowed.Ports = []*model.Port{sp}
	return &narrowed
}

func (ps *portServices) lookup(h host.Name) *model.Service { return ps.byName[h] }

// selects reports whether one of the VirtualService's hosts names (or, with wildcards,
// overlaps) one of the services.
func (ps *portServices) selects(c *config.Config) bool {
	for _, h := range c.Spec.(*networkingv1alpha3.VirtualService).GetHosts() {
		vh := host.Name(strings.ToLower(h))
		if ps.byName[vh] != nil {
			return true
		}
		for _, sh := range ps.order {
			if (vh.IsWildcard() || sh.IsWildcard()) && vh.Intersects(sh) {
				return true
			}
		}
	}
	return false
}

// mostSpecificVirtualServices maps each service hostname (lowercased) to the
// VirtualService whose host matches it most specifically (ownersOf).
func mostSpecificVirtualServices(vses []*config.Config, svcs []*model.Service) map[host.Name]*config.Config {
	hosts := make([]host.Name, len(svcs))
	for i, s := range svcs {
		hosts[i] = host.Name(strings.ToLower(string(s.Hostname)))
	}
	return ownersOf(vses, hosts)
}

// ownersOf maps each of the (lowercased) hostnames to the VirtualService whose host
// matches it most specifically: one naming it exactly as written, else the longest
// wildcard; among VirtualServices with the same host the first wins.
func ownersOf(vses []*config.Config, hosts []host.Name) map[host.Name]*config.Config {
	if len(hosts) <= fewOwners {
		return ownersOfFew(vses, hosts)
	}
	exact, wild := map[host.Name]*config.Config{}, map[host.Name]*config.Config{}
	for _, c := range vses {
		for _, h := range c.Spec.(*networkingv1alpha3.VirtualService).GetHosts() {
			m := exact
			if host.Name(h).IsWildcard() {
				m = wild
			}
			if _, ok := m[host.Name(h)]; !ok {
				m[host.Name(h)] = c
			}
		}
	}
	out := make(map[host.Name]*config.Config, len(hosts))
	for _, h := range hosts {
		if c, ok := exact[h]; ok {
			out[h] = c
			continue
		}
		if c, ok := wild[h]; ok {
			out[h] = c
			continue
		}
		var best host.Name
		for w := range wild {
			if strings.HasSuffix(string(h), string(w[1:])) && (best == "" || host.MoreSpecific(w, best)) {
				best = w
			}
		}
		if best != "" {
			out[h] = wild[best]
		}
	}
	return out
}

// fewOwners is the number of hostnames up to which ownersOf reads the VirtualServices for
// each instead of indexing all their hosts: a VirtualService edit patches a proxy's
// route configurations for its one or two hosts, and indexing the listener's ~400
// VirtualServices for them was ~0.8 MB of maps per edit in the load harness.
const fewOwners = 4

// ownersOfFew is ownersOf for a few hostnames.
func ownersOfFew(vses []*config.Config, hosts []host.Name) map[host.Name]*config.Config {
	out := make(map[host.Name]*config.Config, len(hosts))
	for _, h := range hosts {
		// Named as written (wildcards too), by the first VirtualService naming it.
		var owner *config.Config
		var best host.Name // else the most specific wildcard matching h, first named
		var bestOwner *config.Config
	scan:
		for _, c := range vses {
			for _, vh := range c.Spec.(*networkingv1alpha3.VirtualService).GetHosts() {
				w := host.Name(vh)
				if w == h {
					owner = c
					break scan
				}
				if w.IsWildcard() && w != best && strings.HasSuffix(string(h), string(w[1:])) && (best == "" || host.MoreSpecific(w, best)) {
					best, bestOwner = w, c
				}
			}
		}
		switch {
		case owner != nil:
			out[h] = owner
		case bestOwner != nil:
			out[h] = bestOwner
		}
	}
	return out
}

// virtualServiceGroups translates each VirtualService for the listener port and groups
// its routes with the services its hosts claim, per service port.
func virtualServiceGroups(pc *model.PushContext, p *model.Proxy, vses []*config.Config, view *portServices,
	owners map[host.Name]*config.Config, port int, src routeSource,
) []vhostGroup {
	opts := &Options{
		Proxy:         p,
		Mesh:          pc.Mesh,
		Port:          port,
		Gateways:      []string{model.MeshGateway},
		LookupService: view.lookup,
		LookupHash:    func(d *networkingv1alpha3.HTTPRouteDestination) *consistentHash { return destinationHash(p, d) },
	}
	var out []vhostGroup
	for _, c := range vses {
		routes := src.virtualServiceRoutes(c, opts, view)
		if len(routes) == 0 {
			continue
		}
		hosts, svcs := splitVirtualServiceHosts(c, view, owners)
		byPort := map[int][]*model.Service{}
		var ports []int
		for _, s := range svcs {
			for _, sp := range s.Ports {
				if sp.Protocol.IsHTTPOrSniffed() {
					if _, ok := byPort[sp.Port]; !ok {
						ports = append(ports, sp.Port)
					}
					byPort[sp.Port] = append(byPort[sp.Port], s)
				}
			}
		}
		if len(ports) == 0 && port == 80 {
			ports = []int{80}
		}
		slices.Sort(ports)
		for _, sp := range ports {
			out = append(out, vhostGroup{port: sp, services: byPort[sp], vsHosts: hosts, routes: routes})
		}
	}
	return out
}

// splitVirtualServiceHosts splits a VirtualService's hosts into the services they name
// (a wildcard host claims the services it is the most specific VirtualService host for)
// and the hosts that name no service.
func splitVirtualServiceHosts(c *config.Config, view *portServices, owners map[host.Name]*config.Config) ([]string, []*model.Service) {
	var other []string
	var svcs []*model.Service
	var wildcards []host.Name
	for _, h := range c.Spec.(*networkingv1alpha3.VirtualService).GetHosts() {
		vh := host.Name(strings.ToLower(h))
		switch {
		case vh.IsWildcard():
			wildcards = append(wildcards, vh)
		case view.byName[vh] != nil:
			svcs = append(svcs, view.byName[vh])
		default:
			other = append(other, h)
		}
	}
	for _, w := range wildcards {
		found := false
		for _, sh := range view.order {
			if !sh.Intersects(w) {
				continue
			}
			found = true
			if owners[sh] == nil || owners[sh].Key() != c.Key() {
				continue
			}
			svcs = append(svcs, view.byName[sh])
		}
		if !found {
			other = append(other, string(w))
		}
	}
	return other, svcs
}

// serviceGroups gives every HTTP port of the services no VirtualService claimed a
// default route. Aliases (ExternalName services) get none of their own: their names are
// domains of the service they resolve to.
func serviceGroups(pc *model.PushContext, p *model.Proxy, view *portServices, claimed []vhostGroup, src routeSource) []vhostGroup {
	taken := map[host.Name]bool{}
	for _, g := range claimed {
		for _, s := range g.services {
			taken[host.Name(strings.ToLower(string(s.Hostname)))] = true
		}
	}
	var out []vhostGroup
	for _, h := range view.order {
		if !taken[h] {
			out = append(out, defaultGroups(pc, p, view.byName[h], src)...)
		}
	}
	return out
}

// defaultGroups are the default route groups of a service no VirtualService claims: one
// per HTTP port, none for aliases.
func defaultGroups(pc *model.PushContext, p *model.Proxy, s *model.Service, src routeSource) []vhostGroup {
	if s.Resolution == model.Alias {
		return nil
	}
	var out []vhostGroup
	for _, sp := range s.Ports {
		if sp.Protocol.IsHTTPOrSniffed() {
			out = append(out, vhostGroup{port: sp.Port, services: []*model.Service{s}, routes: src.defaultRoutes(pc, p, s, sp.Port)})
		}
	}
	return out
}

// routeSource gives the routes of a virtual host group: translated afresh, or shared
// between proxies by a Cache.
type routeSource interface {
	virtualServiceRoutes(c *config.Config, opts *Options, view *portServices) []*routev3.Route
	defaultRoutes(pc *model.PushContext, p *model.Proxy, s *model.Service, port int) []*routev3.Route
	// serviceDomains returns the domains (domainsFor) of the service whose listener
	// view is s (orig as the index holds it). The slices must not be altered.
	serviceDomains(s, orig *model.Service, listenerPort, port int, dc domainContext) vhostDomains
	// narrow returns narrowService of each service for port (nil for those without it).
	narrow(svcs []*model.Service, port int) []*model.Service
}

// vhostDomains are the domains of a service's virtual host (see domainsFor), the
// generated ones among them (alt), and all of them lowercased (lower).
type vhostDomains struct {
	domains, alt, lower []string
}

func newVhostDomains(s *model.Service, listenerPort, port int, dc domainContext) vhostDomains {
	var v vhostDomains
	v.domains, v.alt = domainsFor(s, listenerPort, port, dc)
	v.lower = v.domains // shared unless a domain has upper case
	for i, d := range v.domains {
		if l := strings.ToLower(d); l != d {
			if &v.lower[0] == &v.domains[0] {
				v.lower = slices.Clone(v.domains)
			}
			v.lower[i] = l
		}
	}
	return v
}

// freshRoutes translates every group's routes.
type freshRoutes struct{}

func (freshRoutes) serviceDomains(s, _ *model.Service, listenerPort, port int, dc domainContext) vhostDomains {
	return newVhostDomains(s, listenerPort, port, dc)
}

func (freshRoutes) narrow(svcs []*model.Service, port int) []*model.Service {
	out := make([]*model.Service, len(svcs))
	for i, s := range svcs {
		out[i] = narrowService(s, port)
	}
	return out
}

func (freshRoutes) virtualServiceRoutes(c *config.Config, opts *Options, _ *portServices) []*routev3.Route {
	return TranslateVirtualService(c, opts)
}

// defaultRoutes is the route of a service port no VirtualService claims, with the
// consistent hash its DestinationRule asks for.
func (freshRoutes) defaultRoutes(pc *model.PushContext, p *model.Proxy, s *model.Service, port int) []*routev3.Route {
	r := DefaultOutboundRoute(pc, s.Hostname, port)
	if hp := hashPolicy(serviceHash(p, s, port)); hp != nil {
		r.GetRoute().HashPolicy = []*routev3.RouteAction_HashPolicy{hp}
	}
	return []*routev3.Route{r}
}

// newVhostBuilder returns a builder of the virtual hosts of groups for the listener port
// of view (every port for 0).
func newVhostBuilder(p *model.Proxy, view *portServices, groups []vhostGroup, attemptCount bool, src routeSource) *vhostBuilder {
	n := 0
	for _, g := range groups {
		n += len(g.services) + len(g.vsHosts)
	}
	b := &vhostBuilder{
		proxy:        p,
		domainCtx:    domainContextOf(p),
		view:         view,
		src:          src,
		listenerPort: view.port,
		names:        make(map[string]bool, n),
		domains:      make(map[string]bool, 5*n),
		knownFQDN:    make(map[string]bool, 2*n),
		attemptCount: attemptCount,
	}
	for _, g := range groups {
		for _, s := range g.services {
			b.knownFQDN[net.JoinHostPort(string(s.Hostname), strconv.Itoa(g.port))] = true
			b.knownFQDN[string(s.Hostname)] = true
		}
	}
	return b
}

// buildAll turns groups into virtual hosts, skipping duplicate names and domains.
func (b *vhostBuilder) buildAll(groups []vhostGroup) []*routev3.VirtualHost {
	listenerPort := b.listenerPort
	byPort := map[int][]*routev3.VirtualHost{}
	for _, g := range groups {
		if len(g.routes) == 0 {
			continue
		}
		for _, h := range g.vsHosts {
			if vh := b.build(strings.ToLower(h), g, nil); vh != nil {
				byPort[g.port] = append(byPort[g.port], vh)
			}
		}
		for _, s := range g.services {
			if vh := b.build(string(s.Hostname), g, s); vh != nil {
				byPort[g.port] = append(byPort[g.port], vh)
			}
		}
	}
	if listenerPort != 0 {
		return byPort[listenerPort]
	}
	return mergePorts(byPort)
}

// mergePorts joins the virtual hosts of all ports for port-less listeners: port 80 ones
// as they are, others only with their host:port domains.
func mergePorts(byPort map[int][]*routev3.VirtualHost) []*routev3.VirtualHost {
	ports := make([]int, 0, len(byPort))
	for p := range byPort {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	var out []*routev3.VirtualHost
	for _, p := range ports {
		for _, vh := range byPort[p] {
			if p != 80 {
				// Not in place: the domains may be shared (vhostBuilder.dedupe).
				var kept []string
				for _, d := range vh.Domains {
					if strings.Contains(d, ":") {
						kept = append(kept, d)
					}
				}
				vh.Domains = kept
			}
			if len(vh.Domains) > 0 {
				out = append(out, vh)
			}
		}
	}
	return out
}

// vhostName is the name of the virtual host of hostname on port.
func vhostName(hostname string, port int) string {
	return net.JoinHostPort(hostname, strconv.Itoa(port))
}

// vhostBuilder builds virtual hosts, remembering the names and domains already used.
type vhostBuilder struct {
	proxy        *model.Proxy
	domainCtx    domainContext
	view         *portServices
	src          routeSource
	listenerPort int
	names        map[string]bool
	domains      map[string]bool
	// knownFQDN are the service hostnames (with and without port) of all groups.
	knownFQDN    map[string]bool
	attemptCount bool
	// altered are the virtual hosts built with fewer domains than they answer to.
	altered map[*routev3.VirtualHost]bool
}

func (b *vhostBuilder) build(hostname string, g vhostGroup, s *model.Service) *routev3.VirtualHost {
	name := vhostName(hostname, g.port)
	if b.names[name] {
		return nil
	}
	b.names[name] = true
	var vd vhostDomains
	switch {
	case s != nil:
		orig := s
		if b.view.port != 0 {
			orig = b.view.original[s.Hostname] // s is the view's narrowed copy
		}
		vd = b.src.serviceDomains(s, orig, b.listenerPort, g.port, b.domainCtx)
	case ignorePort(b.proxy):
		vd.domains = []string{ipv6Compliant(hostname)}
	default:
		vd.domains = []string{ipv6Compliant(hostname), name}
	}
	domains, dropped := b.dedupe(vd)
	if len(domains) == 0 {
		return nil
	}
	vh := &routev3.VirtualHost{
		Name:                       name,
		Domains:                    domains,
		Routes:                     g.routes,
		IncludeRequestAttemptCount: b.attemptCount,
	}
	if dropped {
		if b.altered == nil {
			b.altered = map[*routev3.VirtualHost]bool{}
		}
		b.altered[vh] = true
	}
	return vh
}

// dedupe drops domains an earlier virtual host took, and generated short names that are
// another service's real hostname. When it drops none it returns vd.domains (capacity
// clipped, so that appending copies), else a new slice.
func (b *vhostBuilder) dedupe(vd vhostDomains) (domains []string, dropped bool) {
	var out []string // nil until a domain is dropped
	for i, d := range vd.domains {
		lower := b.lowerAt(vd, i, d)
		if b.domains[lower] || (slices.Contains(vd.alt, d) && b.knownFQDN[d]) {
			if out == nil {
				out = append(make([]string, 0, len(vd.domains)), vd.domains[:i]...)
			}
			continue
		}
		if out != nil {
			out = append(out, d)
		}
		b.domains[lower] = true
	}
	if out == nil {
		return slices.Clip(vd.domains), false
	}
	return out, true
}

func (b *vhostBuilder) lowerAt(vd vhostDomains, i int, d string) string {
	if vd.lower != nil {
		return vd.lower[i]
	}
	return strings.ToLower(d)
}
