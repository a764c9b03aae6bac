package route

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

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
	// views are narrowed slices by the service slice they narrow (a SidecarScope
	// listener's, shared by the proxies of the scope and by scopes patched from it).
	views map[viewKey]*viewEntry
	// pieces are encoded virtual hosts shared between proxies.
	pieces map[pieceKey]*pieceEntry
	// shells are patched route configurations without virtual hosts, encoded.
	shells map[shellKey]*shellEntry
	swept  int
	// built and patched count the builds of virtual hosts in full and patched from a
	// connection's last build (patchLast).
	built, patched atomic.Int64
	epoch          uint64
}

type narrowKey struct {
	svc  *model.Service
	port int
}

type viewKey struct {
	first *(*model.Service) // the slice's first element slot: its backing array
	n     int
	port  int
}

type viewEntry struct {
	svcs, narrowed []*model.Service // svcs keeps the array, and so the key, alive
	epoch          uint64
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
	// encoded are the routes as VirtualHost.routes fields, ready to splice. Only routes
	// that cannot be encoded are kept as messages (routes); the others are decoded when
	// a build needs messages (EnvoyFilter patches on virtual hosts).
	encoded []byte
	routes  []*routev3.Route
	// handle stands for the encoded routes in the virtual hosts built from them: one
	// empty route, whose identity finds the encoding (cachedRoutes.encoded). Nil when
	// there are no routes.
	handle []*routev3.Route
	epoch  uint64
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{vsRoutes: map[vsRoutesKey]*routesEntry{}, defaults: map[defaultRouteKey]*routesEntry{}, domains: map[domainsKey]*domainsEntry{},
		narrowed: map[narrowKey]*narrowEntry{}, views: map[viewKey]*viewEntry{}, pieces: map[pieceKey]*pieceEntry{}, shells: map[shellKey]*shellEntry{}}
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
		out = append(out, c.build(pc, p, patches, name))
	}
	return out
}

func (c *Cache) build(pc *model.PushContext, p *model.Proxy, patches *envoyfilter.Patches, name string) Resource {
	key := memoKey{cache: c, name: name}
	if envoyfilter.RoutePatchesSpareVirtualHosts(patches, envoyfilter.SidecarOutbound, name) {
		named, pieces, err := c.virtualHosts(pc, p, name, key)
		if err == nil {
			var sh *shellEntry
			if sh, err = c.shell(name, named, patches); err == nil {
				b := splicePieces(sh.head, sh.tail, pieces)
				return Resource{
					Name:   name,
					Any:    &anypb.Any{TypeUrl: routeConfigTypeURL, Value: b},
					Hash:   protoconv.Hash(b),
					Pooled: true,
				}
			}
		}
		// Only a message that cannot be encoded fails; the encoder reports it below.
	}
	p.Memo.Store(key, nil)
	rc := buildSidecarRouteConfig(pc, p, name, &cachedRoutes{cache: c, messages: true})
	if rc == nil {
		rc = emptyRouteConfig(name)
	}
	return Resource{Name: name, Message: envoyfilter.PatchRouteConfiguration(patches, envoyfilter.SidecarOutbound, rc)}
}

var routeConfigTypeURL = protoconv.TypeURL(&routev3.RouteConfiguration{})

// virtualHosts returns whether name names a route configuration, and its virtual hosts
// encoded, in order: patched from the connection's last build of the same configuration
// when that can be done (patchLast), else built. A name that names nothing gets the empty
// configuration.
func (c *Cache) virtualHosts(pc *model.PushContext, p *model.Proxy, name string, key memoKey) (bool, []*vhostPiece, error) {
	port, sniffed, ok := parseRouteName(name)
	if !ok {
		p.Memo.Store(key, nil)
		return false, nil, nil
	}
	var pieces []*vhostPiece
	if last, _ := p.Memo.Load(key).(*lastBuild); last != nil && !sniffed {
		pieces = c.patchLast(pc, p, name, port, last)
	}
	if pieces == nil {
		var err error
		if pieces, err = c.buildPieces(pc, p, name, port, sniffed, key); err != nil {
			return false, nil, err
		}
	}
	if !sniffed {
		catchAll, err := encodePiece(catchAllVirtualHost(pc, p), nil)
		if err != nil {
			return false, nil, err
		}
		pieces = append(pieces[:len(pieces):len(pieces)], catchAll)
	}
	return true, pieces, nil
}

// shellKey is what a route configuration without its virtual hosts is a function of, once
// patched: its name, whether the name names a configuration (routeConfigShell) or nothing
// (the empty configuration), and the ROUTE_CONFIGURATION patches that apply (the others
// touch only virtual hosts, and there are none to touch: RoutePatchesSpareVirtualHosts).
// The key holds the number of patches and the first and last; the entry holds them all.
type shellKey struct {
	name        string
	named       bool
	n           int
	first, last *envoyfilter.Patch
}

// shellEntry is a patched shell encoded, split where its virtual hosts go (splicePieces).
type shellEntry struct {
	patches    []*envoyfilter.Patch
	head, tail []byte
	epoch      uint64
}

// shell returns the encoded shell of route configuration name patched by patches: every
// build of a configuration used to clone and patch it (50 mesh-wide merges of headers to
// add, ~120 us per build here) and encode it again.
func (c *Cache) shell(name string, named bool, patches *envoyfilter.Patches) (*shellEntry, error) {
	ps := envoyfilter.RouteConfigurationPatches(patches, envoyfilter.SidecarOutbound)
	k := shellKey{name: name, named: named, n: len(ps)}
	if len(ps) > 0 {
		k.first, k.last = ps[0], ps[len(ps)-1]
	}
	c.mu.Lock()
	e := c.shells[k]
	if e != nil && slices.Equal(e.patches, ps) {
		e.epoch = c.epoch
		c.mu.Unlock()
		return e, nil
	}
	c.mu.Unlock()
	rc := routeConfigShell(name)
	if !named {
		rc = emptyRouteConfig(name)
		rc.VirtualHosts = nil
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(envoyfilter.PatchRouteConfiguration(patches, envoyfilter.SidecarOutbound, rc))
	if err != nil {
		return nil, err
	}
	e = &shellEntry{patches: ps}
	e.head, e.tail = splitFields(b, 2) // virtual_hosts = 2
	c.mu.Lock()
	if c.shells[k] == nil { // a colliding key keeps the first entry
		e.epoch = c.epoch
		c.shells[k] = e
		c.sweep()
	}
	c.mu.Unlock()
	return e, nil
}

// buildPieces builds the virtual hosts of route configuration name, sorted by name,
// without the catch-all, and remembers them on the connection when a later build can
// patch them.
func (c *Cache) buildPieces(pc *model.PushContext, p *model.Proxy, name string, port int, sniffed bool, key memoKey) ([]*vhostPiece, error) {
	c.built.Add(1)
	src := &cachedRoutes{cache: c, encoded: map[*routev3.Route][]byte{}}
	vhosts, altered := outboundVirtualHosts(pc, p, name, port, src)
	if sniffed {
		vhosts = virtualHostsForSniffedPort(vhosts, name)
	}
	sort.SliceStable(vhosts, func(i, j int) bool { return vhosts[i].Name < vhosts[j].Name })
	el := egressListenerForRDS(p.SidecarScope, port, name)
	// Pieces are shared when their domains are the domains cache's own slices: not for
	// sniffed names (one virtual host takes "*") nor port-less listeners (mergePorts).
	share := !sniffed && el != nil && listenerPortOf(el, port) != 0
	pieces := make([]*vhostPiece, len(vhosts))
	for i, vh := range vhosts {
		var err error
		if pieces[i], err = c.piece(vh, src.encoded, share && !altered[vh]); err != nil {
			return nil, err
		}
	}
	if share && len(altered) == 0 {
		p.Memo.Store(key, newLastBuild(pc, p, el, pieces))
	} else {
		p.Memo.Store(key, nil)
	}
	return pieces, nil
}

// cachedRoutes is the routeSource of one route configuration's build: routes from the
// cache, as handles to their encoding (recorded in encoded) or, when messages is set, as
// messages decoded from it.
type cachedRoutes struct {
	cache    *Cache
	encoded  map[*routev3.Route][]byte
	messages bool
}

func (s *cachedRoutes) record(e *routesEntry) []*routev3.Route {
	switch {
	case e.handle == nil:
		return e.routes
	case s.messages:
		return decodeRoutes(e.encoded)
	}
	s.encoded[e.handle[0]] = e.encoded
	return e.handle
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
// per service object and port, and one narrowed slice per slice of services (slices are
// not altered once built). The result must not be altered.
func (s *cachedRoutes) narrow(svcs []*model.Service, port int) []*model.Service {
	c := s.cache
	if len(svcs) == 0 {
		return nil
	}
	vk := viewKey{first: &svcs[0], n: len(svcs), port: port}
	c.mu.Lock()
	if e := c.views[vk]; e != nil {
		e.epoch = c.epoch
		c.mu.Unlock()
		return e.narrowed
	}
	c.mu.Unlock()
	out := s.narrowEach(svcs, port)
	c.mu.Lock()
	c.views[vk] = &viewEntry{svcs: svcs, narrowed: out, epoch: c.epoch}
	c.sweep()
	c.mu.Unlock()
	return out
}

// narrowEach narrows each service, sharing each narrowed service.
func (s *cachedRoutes) narrowEach(svcs []*model.Service, port int) []*model.Service {
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
	n := c.entries()
	if n <= 2*c.swept+4096 {
		return
	}
	maps.DeleteFunc(c.vsRoutes, func(_ vsRoutesKey, e *routesEntry) bool { return e.epoch != c.epoch })
	maps.DeleteFunc(c.defaults, func(_ defaultRouteKey, e *routesEntry) bool { return e.epoch != c.epoch })
	maps.DeleteFunc(c.domains, func(_ domainsKey, e *domainsEntry) bool { return e.epoch != c.epoch })
	maps.DeleteFunc(c.narrowed, func(_ narrowKey, e *narrowEntry) bool { return e.epoch != c.epoch })
	maps.DeleteFunc(c.views, func(_ viewKey, e *viewEntry) bool { return e.epoch != c.epoch })
	maps.DeleteFunc(c.pieces, func(_ pieceKey, e *pieceEntry) bool { return e.epoch != c.epoch })
	maps.DeleteFunc(c.shells, func(_ shellKey, e *shellEntry) bool { return e.epoch != c.epoch })
	c.epoch++
	c.swept = c.entries()
}

func (c *Cache) entries() int {
	return len(c.vsRoutes) + len(c.defaults) + len(c.domains) + len(c.narrowed) + len(c.views) + len(c.pieces) + len(c.shells)
}

// Builds returns how many times the virtual hosts of a route configuration were built in
// full, and how many times they were patched from the connection's last build because
// VirtualServices changed.
func (c *Cache) Builds() (full, patched int64) { return c.built.Load(), c.patched.Load() }

// Len returns the number of route groups cached, for tests.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.vsRoutes) + len(c.defaults)
}

func newRoutesEntry(routes []*routev3.Route) *routesEntry {
	e := &routesEntry{}
	for _, r := range routes {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
		if err != nil {
			// Unencodable routes are left to the whole configuration's encoding.
			return &routesEntry{routes: routes}
		}
		e.encoded = protowire.AppendTag(e.encoded, 3, protowire.BytesType)
		e.encoded = protowire.AppendBytes(e.encoded, b)
	}
	if len(routes) > 0 {
		e.handle = []*routev3.Route{{}}
	}
	return e
}

// decodeRoutes decodes the routes of an entry's encoding (VirtualHost.routes fields).
func decodeRoutes(b []byte) []*routev3.Route {
	var out []*routev3.Route
	for len(b) > 0 {
		_, _, n := protowire.ConsumeTag(b)
		v, m := protowire.ConsumeBytes(b[n:])
		r := &routev3.Route{}
		if n < 0 || m < 0 || proto.Unmarshal(v, r) != nil {
			// The bytes are our own encoding of valid messages.
			panic("route cache: decoding cached routes")
		}
		out = append(out, r)
		b = b[n+m:]
	}
	return out
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

// vhostPiece is one virtual host of a route configuration, to be written as the
// configuration's virtual_hosts field. A virtual host whose routes came encoded from the
// cache is kept as its fields, sharing the domains and routes encoding with the cache,
// and encoded when written; any other is kept encoded (whole).
type vhostPiece struct {
	name         string
	domains      []string
	routes       []byte
	attemptCount bool
	whole        []byte
	// size is the length of the VirtualHost encoding (encodedSize), set when made.
	size int
}

// VirtualHost field tags, for the fields vhostBuilder sets.
const (
	vhostNameTag         = 1<<3 | byte(protowire.BytesType)
	vhostDomainsTag      = 2<<3 | byte(protowire.BytesType)
	vhostAttemptCountTag = 14<<3 | byte(protowire.VarintType)
)

// encodedSize is the length of the piece's VirtualHost encoding.
func (vp *vhostPiece) encodedSize() int {
	if vp.whole != nil {
		return len(vp.whole)
	}
	n := len(vp.routes)
	if vp.name != "" {
		n += 1 + protowire.SizeBytes(len(vp.name))
	}
	for _, d := range vp.domains {
		n += 1 + protowire.SizeBytes(len(d))
	}
	if vp.attemptCount {
		n += 2
	}
	return n
}

// appendTo appends the piece as a RouteConfiguration.virtual_hosts field: what
// deterministic encoding gives, fields in number order.
func (vp *vhostPiece) appendTo(b []byte) []byte {
	b = protowire.AppendTag(b, 2, protowire.BytesType) // virtual_hosts = 2
	b = protowire.AppendVarint(b, uint64(vp.size))
	if vp.whole != nil {
		return append(b, vp.whole...)
	}
	if vp.name != "" {
		b = protowire.AppendString(append(b, vhostNameTag), vp.name)
	}
	for _, d := range vp.domains {
		b = protowire.AppendString(append(b, vhostDomainsTag), d)
	}
	b = append(b, vp.routes...)
	if vp.attemptCount {
		b = append(b, vhostAttemptCountTag, 1)
	}
	return b
}

// pieceKey is what a shared piece is a function of: the virtual host's name, its domains
// (a domains cache entry's slice), its routes (a cache entry's, by its handle) and the
// attempt count flag.
type pieceKey struct {
	name         string
	domains      *string
	nDomains     int
	routes       *routev3.Route
	attemptCount bool
}

type pieceEntry struct {
	piece *vhostPiece
	epoch uint64
}

// piece returns vh encoded, shared with other proxies' builds when share says its domains
// are a domains cache entry's and its routes came from the cache.
func (c *Cache) piece(vh *routev3.VirtualHost, encoded map[*routev3.Route][]byte, share bool) (*vhostPiece, error) {
	if !share || len(vh.Domains) == 0 || len(vh.Routes) == 0 || encoded[vh.Routes[0]] == nil {
		return encodePiece(vh, encoded)
	}
	k := pieceKey{name: vh.Name, domains: &vh.Domains[0], nDomains: len(vh.Domains), routes: vh.Routes[0], attemptCount: vh.IncludeRequestAttemptCount}
	c.mu.Lock()
	if e := c.pieces[k]; e != nil {
		e.epoch = c.epoch
		c.mu.Unlock()
		return e.piece, nil
	}
	c.mu.Unlock()
	np, err := encodePiece(vh, encoded)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.pieces[k] = &pieceEntry{piece: np, epoch: c.epoch}
	c.sweep()
	c.mu.Unlock()
	return np, nil
}

// encodePiece returns vh as a piece: as its fields when its routes are in encoded (by
// handle), else encoded whole. vhostBuilder sets no field of a virtual host but those a
// piece keeps (the cache tests compare the encodings with proto's).
func encodePiece(vh *routev3.VirtualHost, encoded map[*routev3.Route][]byte) (*vhostPiece, error) {
	var routes []byte
	if len(vh.Routes) > 0 {
		routes = encoded[vh.Routes[0]]
	}
	if routes != nil {
		vp := &vhostPiece{name: vh.Name, domains: vh.Domains, routes: routes, attemptCount: vh.IncludeRequestAttemptCount}
		vp.size = vp.encodedSize()
		return vp, nil
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(vh)
	if err != nil {
		return nil, err
	}
	return &vhostPiece{name: vh.Name, whole: b, size: len(b)}, nil
}

// splicePieces encodes a route configuration with pieces as its virtual hosts from the
// encoding of the configuration without them, split before the fields numbered above
// virtual_hosts (head, tail). Deterministic encoding writes fields in number order and an
// embedded message as tag, length and its own encoding, so the bytes equal the whole
// configuration's encoding.
func splicePieces(head, tail []byte, pieces []*vhostPiece) []byte {
	size := len(head) + len(tail)
	for _, vp := range pieces {
		size += 1 + protowire.SizeBytes(vp.size) // virtual_hosts tag, length, encoding
	}
	out := append(protoconv.Buffer(size), head...)
	for _, vp := range pieces {
		out = vp.appendTo(out)
	}
	return append(out, tail...)
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
