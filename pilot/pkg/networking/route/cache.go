package route

import (
	"maps"
	"slices"
	"strings"
	"sync"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/envoyfilter"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
)

// Cache shares the routes of virtual hosts between proxies, translated and encoded once:
// a VirtualService's routes on a port, and the default route of a service port. A proxy's
// route configuration is then assembled from them: its virtual hosts' names and domains
// (which depend on the proxy's namespace and on the other virtual hosts) are encoded per
// proxy, their routes are spliced in as encoded. The result is byte for byte what
// encoding BuildRoutes' configuration gives.
//
// A VirtualService's routes are a function of the (resolved) VirtualService, the listener
// port, the mesh config, and for each destination host of the service the proxy's scope
// resolves it to and the DestinationRule its scope holds for it (ports, consistent hash);
// the proxy's namespace and labels only when a match names source labels or namespaces.
// A default route is a function of the hostname, the port, the mesh config and the
// DestinationRule. An entry records these and a lookup with others rebuilds it; objects
// are immutable and replaced on change, so pointer equality is content equality (the
// indexes keep the pointers of unchanged objects across PushContext.Derive).
//
// EnvoyFilter route patches that leave virtual hosts alone are applied to the
// configuration without them; others are applied to the whole configuration, built as
// messages, which is then encoded whole. Entries not used since the last sweep are
// dropped when the cache has doubled.
//
// A Cache is safe for concurrent use.
type Cache struct {
	mu       sync.Mutex
	vsRoutes map[vsRoutesKey]*routesEntry
	defaults map[defaultRouteKey]*routesEntry
	// domains are the domains of service virtual hosts, per service and proxy context;
	// narrowed are services as listeners on one port see them (narrowService).
	domains  map[domainsKey]*domainsEntry
	narrowed map[narrowKey]*narrowEntry
	swept    int
	epoch    uint64
}

type narrowKey struct {
	svc  *model.Service
	port int
}

type narrowEntry struct {
	svc   *model.Service // nil: no such port
	epoch uint64
}

// domainsKey is what a service virtual host's domains are a function of.
type domainsKey struct {
	svc                *model.Service
	listenerPort, port int
	ctx                domainContext
}

type domainsEntry struct {
	vhostDomains
	epoch uint64
}

type vsRoutesKey struct {
	vs   *config.Config
	port int
	mesh *meshv1alpha1.MeshConfig
	// namespace and labels are the proxy's, for VirtualServices matching on the source.
	namespace, labels string
}

type defaultRouteKey struct {
	host host.Name
	port int
	mesh *meshv1alpha1.MeshConfig
	rule *config.Config
}

// destination is what a VirtualService's routes read of one destination host.
type destination struct {
	host host.Name
	svc  *model.Service
	rule *config.Config
}

type routesEntry struct {
	// destinations validate a VirtualService entry.
	destinations []destination
	routes       []*routev3.Route
	// encoded are the routes as VirtualHost.routes fields, ready to splice.
	encoded []byte
	epoch   uint64
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{vsRoutes: map[vsRoutesKey]*routesEntry{}, defaults: map[defaultRouteKey]*routesEntry{}, domains: map[domainsKey]*domainsEntry{},
		narrowed: map[narrowKey]*narrowEntry{}}
}

// Resource is one built route configuration: its encoding, or (when an EnvoyFilter patch
// rewrote its virtual hosts) the message.
type Resource = protoconv.Resource

// Build returns the route configurations BuildRoutes returns for the same arguments.
func (c *Cache) Build(pc *model.PushContext, p *model.Proxy, names []string) []Resource {
	if p == nil || p.Type != model.SidecarProxy || p.SidecarScope == nil {
		return nil
	}
	patches := pc.EnvoyFilters(p)
	out := make([]Resource, 0, len(names))
	for _, name := range names {
		src := &cachedRoutes{cache: c, encoded: map[*routev3.Route][]byte{}}
		rc := buildSidecarRouteConfig(pc, p, name, src)
		if rc == nil {
			rc = emptyRouteConfig(name)
		}
		if !envoyfilter.RoutePatchesSpareVirtualHosts(patches, envoyfilter.SidecarOutbound, name) {
			out = append(out, Resource{Name: name, Message: envoyfilter.PatchRouteConfiguration(patches, envoyfilter.SidecarOutbound, rc)})
			continue
		}
		vhosts := rc.VirtualHosts
		rc.VirtualHosts = nil
		shell := envoyfilter.PatchRouteConfiguration(patches, envoyfilter.SidecarOutbound, rc)
		b, err := spliceRouteConfig(shell, vhosts, src.encoded)
		if err != nil {
			// Only a message that cannot be encoded fails here; the encoder reports it.
			rc.VirtualHosts = vhosts
			out = append(out, Resource{Name: name, Message: rc})
			continue
		}
		out = append(out, Resource{
			Name: name,
			Any:  &anypb.Any{TypeUrl: "type.googleapis.com/" + string(rc.ProtoReflect().Descriptor().FullName()), Value: b},
			Hash: protoconv.Hash(b),
		})
	}
	return out
}

// cachedRoutes is the routeSource of one route configuration's build: routes from the
// cache, remembering the encoding of each group's routes by its first route.
type cachedRoutes struct {
	cache   *Cache
	encoded map[*routev3.Route][]byte
}

func (s *cachedRoutes) record(e *routesEntry) []*routev3.Route {
	if len(e.routes) > 0 {
		s.encoded[e.routes[0]] = e.encoded
	}
	return e.routes
}

func (s *cachedRoutes) virtualServiceRoutes(c *config.Config, opts *Options, view *portServices) []*routev3.Route {
	vs := c.Spec.(*networkingv1alpha3.VirtualService)
	k := vsRoutesKey{vs: c, port: opts.Port, mesh: opts.Mesh}
	if matchesSource(vs) {
		k.namespace = opts.Proxy.ConfigNamespace
		k.labels = canonicalLabels(opts.Proxy.Labels)
	}
	dests := destinationsOf(vs, opts.Proxy, view)
	s.cache.mu.Lock()
	e := s.cache.vsRoutes[k]
	if e != nil && slices.Equal(e.destinations, dests) {
		e.epoch = s.cache.epoch
		s.cache.mu.Unlock()
		return s.record(e)
	}
	s.cache.mu.Unlock()
	e = newRoutesEntry(TranslateVirtualService(c, opts))
	e.destinations = dests
	s.cache.store(func() { s.cache.vsRoutes[k] = e }, e)
	return s.record(e)
}

func (s *cachedRoutes) defaultRoutes(pc *model.PushContext, p *model.Proxy, svc *model.Service, port int) []*routev3.Route {
	k := defaultRouteKey{host: svc.Hostname, port: port, mesh: pc.Mesh, rule: ruleConfig(p, svc.Hostname)}
	s.cache.mu.Lock()
	e := s.cache.defaults[k]
	if e != nil {
		e.epoch = s.cache.epoch
		s.cache.mu.Unlock()
		return s.record(e)
	}
	s.cache.mu.Unlock()
	e = newRoutesEntry(freshRoutes{}.defaultRoutes(pc, p, svc, port))
	s.cache.store(func() { s.cache.defaults[k] = e }, e)
	return s.record(e)
}

// serviceDomains shares the domains of a service's virtual host between the proxies of
// one namespace (and IP families): they are a function of the service object (orig,
// whose listener view s is), the ports and the proxy's domainContext.
func (s *cachedRoutes) serviceDomains(svc, orig *model.Service, listenerPort, port int, dc domainContext) vhostDomains {
	k := domainsKey{svc: orig, listenerPort: listenerPort, port: port, ctx: dc}
	if len(svc.Aliases) == 0 {
		// Keyed by what the names read of the DNS domain: proxies of every namespace
		// but the service's share the entry.
		k.ctx.dnsDomain = domainClass(string(svc.Hostname), dc.dnsDomain)
	}
	s.cache.mu.Lock()
	e := s.cache.domains[k]
	if e != nil {
		e.epoch = s.cache.epoch
		s.cache.mu.Unlock()
		return e.vhostDomains
	}
	s.cache.mu.Unlock()
	e = &domainsEntry{vhostDomains: newVhostDomains(svc, listenerPort, port, dc)}
	s.cache.mu.Lock()
	e.epoch = s.cache.epoch
	s.cache.domains[k] = e
	s.cache.sweep()
	s.cache.mu.Unlock()
	return e.vhostDomains
}

// narrow shares the services as a listener port sees them between proxies: one copy
// per service object and port.
func (s *cachedRoutes) narrow(svcs []*model.Service, port int) []*model.Service {
	out := make([]*model.Service, len(svcs))
	var missing []int
	c := s.cache
	c.mu.Lock()
	for i, svc := range svcs {
		if e := c.narrowed[narrowKey{svc, port}]; e != nil {
			e.epoch = c.epoch
			out[i] = e.svc
		} else {
			missing = append(missing, i)
		}
	}
	c.mu.Unlock()
	if len(missing) == 0 {
		return out
	}
	for _, i := range missing {
		out[i] = narrowService(svcs[i], port)
	}
	c.mu.Lock()
	for _, i := range missing {
		c.narrowed[narrowKey{svcs[i], port}] = &narrowEntry{svc: out[i], epoch: c.epoch}
	}
	c.sweep()
	c.mu.Unlock()
	return out
}

// store files a new entry and sweeps.
func (c *Cache) store(put func(), e *routesEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.epoch = c.epoch
	put()
	c.sweep()
}

// sweep drops the entries not used since the last sweep when the cache has doubled since
// then. c.mu is held.
func (c *Cache) sweep() {
	n := len(c.vsRoutes) + len(c.defaults) + len(c.domains) + len(c.narrowed)
	if n <= 2*c.swept+4096 {
		return
	}
	maps.DeleteFunc(c.vsRoutes, func(_ vsRoutesKey, e *routesEntry) bool { return e.epoch != c.epoch })
	maps.DeleteFunc(c.defaults, func(_ defaultRouteKey, e *routesEntry) bool { return e.epoch != c.epoch })
	maps.DeleteFunc(c.domains, func(_ domainsKey, e *domainsEntry) bool { return e.epoch != c.epoch })
	maps.DeleteFunc(c.narrowed, func(_ narrowKey, e *narrowEntry) bool { return e.epoch != c.epoch })
	c.epoch++
	c.swept = len(c.vsRoutes) + len(c.defaults) + len(c.domains) + len(c.narrowed)
}

// Len returns the number of route groups cached, for tests.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.vsRoutes) + len(c.defaults)
}

func newRoutesEntry(routes []*routev3.Route) *routesEntry {
	e := &routesEntry{routes: routes}
	for _, r := range routes {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
		if err != nil {
			// Unencodable routes are left to the whole configuration's encoding.
			return &routesEntry{routes: routes}
		}
		e.encoded = protowire.AppendTag(e.encoded, 3, protowire.BytesType)
		e.encoded = protowire.AppendBytes(e.encoded, b)
	}
	return e
}

// ruleConfig is the DestinationRule the proxy's scope holds for h, by its config.
func ruleConfig(p *model.Proxy, h host.Name) *config.Config {
	if r := p.SidecarScope.DestinationRule(h); r != nil {
		return r.Rule
	}
	return nil
}

// destinationsOf lists what the VirtualService's routes read of each destination host:
// the service the listener sees for it and its DestinationRule, in route order.
func destinationsOf(vs *networkingv1alpha3.VirtualService, p *model.Proxy, view *portServices) []destination {
	var out []destination
	add := func(d *networkingv1alpha3.Destination) {
		if d == nil {
			return
		}
		h := host.Name(d.GetHost())
		out = append(out, destination{host: h, svc: view.original[h], rule: ruleConfig(p, h)})
	}
	for _, r := range vs.GetHttp() {
		for _, d := range r.GetRoute() {
			add(d.GetDestination())
		}
		add(r.GetMirror())
		for _, m := range r.GetMirrors() {
			add(m.GetDestination())
		}
	}
	return out
}

// matchesSource reports whether a match of the VirtualService names source labels or a
// source namespace: its routes then depend on the proxy's.
func matchesSource(vs *networkingv1alpha3.VirtualService) bool {
	for _, r := range vs.GetHttp() {
		for _, m := range r.GetMatch() {
			if len(m.GetSourceLabels()) > 0 || m.GetSourceNamespace() != "" {
				return true
			}
		}
	}
	return false
}

func canonicalLabels(l map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(l)) {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(l[k])
		b.WriteByte(0)
	}
	return b.String()
}

// spliceRouteConfig encodes rc with vhosts as its virtual hosts, splicing in the encoded
// routes of each virtual host whose routes came from the cache (encoded, by first route).
// Deterministic encoding writes fields in number order and an embedded message as tag,
// length and its own encoding, so the bytes equal rc's encoding with the virtual hosts in.
func spliceRouteConfig(rc *routev3.RouteConfiguration, vhosts []*routev3.VirtualHost, encoded map[*routev3.Route][]byte) ([]byte, error) {
	shell, err := proto.MarshalOptions{Deterministic: true}.Marshal(rc)
	if err != nil {
		return nil, err
	}
	head, tail := splitFields(shell, 2) // virtual_hosts = 2
	parts := make([][3][]byte, len(vhosts))
	size := len(shell)
	for i, vh := range vhosts {
		var err error
		if parts[i], err = encodeVirtualHost(vh, encoded); err != nil {
			return nil, err
		}
		size += 1 + protowire.SizeVarint(uint64(partsLen(parts[i]))) + partsLen(parts[i])
	}
	out := append(make([]byte, 0, size), head...)
	for _, ps := range parts {
		out = protowire.AppendTag(out, 2, protowire.BytesType)
		out = protowire.AppendVarint(out, uint64(partsLen(ps)))
		for _, p := range ps {
			out = append(out, p...)
		}
	}
	return append(out, tail...), nil
}

func partsLen(ps [3][]byte) int {
	return len(ps[0]) + len(ps[1]) + len(ps[2])
}

// encodeVirtualHost encodes vh, in pieces to be written one after the other: its fields
// before routes, its routes (spliced in when they came encoded), the fields after.
func encodeVirtualHost(vh *routev3.VirtualHost, encoded map[*routev3.Route][]byte) ([3][]byte, error) {
	var routes []byte
	if len(vh.Routes) > 0 {
		routes = encoded[vh.Routes[0]]
	}
	if routes == nil {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(vh)
		return [3][]byte{b}, err
	}
	rs := vh.Routes
	vh.Routes = nil
	shell, err := proto.MarshalOptions{Deterministic: true}.Marshal(vh)
	vh.Routes = rs
	if err != nil {
		return [3][]byte{}, err
	}
	head, tail := splitFields(shell, 3) // routes = 3
	return [3][]byte{head, routes, tail}, nil
}

// splitFields splits an encoding before its first field numbered above n.
func splitFields(b []byte, n protowire.Number) (head, tail []byte) {
	off := 0
	for off < len(b) {
		num, _, l := protowire.ConsumeField(b[off:])
		if l < 0 || num > n {
			break
		}
		off += l
	}
	return b[:off], b[off:]
}
