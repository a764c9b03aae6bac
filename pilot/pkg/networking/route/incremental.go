package route

import (
	"maps"
	"slices"
	"sort"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
)

// A connection's next build of a route configuration patches its last one when only
// VirtualServices changed in between: the virtual hosts of the hosts the changed
// VirtualServices name (before or after the change) are built again and the others are
// kept as encoded. With ~800 virtual hosts per configuration and one changed
// VirtualService that is a handful built instead of all of them.
//
// It is exact, not approximate: the last build is patched only when everything else its
// virtual hosts read is the same objects (the egress listener's services, the
// DestinationRules the scope applies, the mesh config, the proxy's namespace, labels and
// DNS context), the configuration is for one port, and no virtual host lost a domain to
// another in the last build. Each virtual host then answers to the same domains whichever
// group builds it, so the set of virtual hosts, their names and order are the same; only
// the routes of those whose hosts a changed VirtualService names can differ. Changed
// VirtualServices with wildcard hosts, or with hosts that name no service the listener
// sees (these get virtual hosts of their own), make a full build.

// memoKey files a connection's last build of one route configuration in its model.Memo.
type memoKey struct {
	cache *Cache
	name  string
}

// lastBuild is what a connection's last build of a route configuration read, and its
// virtual hosts without the catch-all, sorted by name.
type lastBuild struct {
	scope     *model.SidecarScope
	listener  *model.EgressListener
	mesh      *meshv1alpha1.MeshConfig
	dc        domainContext
	namespace string
	labels    map[string]string
	pieces    []*vhostPiece
}

func newLastBuild(pc *model.PushContext, p *model.Proxy, el *model.EgressListener, pieces []*vhostPiece) *lastBuild {
	return &lastBuild{
		scope:     p.SidecarScope,
		listener:  el,
		mesh:      pc.Mesh,
		dc:        domainContextOf(p),
		namespace: p.ConfigNamespace,
		labels:    p.Labels,
		pieces:    pieces,
	}
}

// patchLast returns the virtual hosts (sorted, without the catch-all) of route
// configuration name for port, patched from last, or nil when last cannot be patched.
func (c *Cache) patchLast(pc *model.PushContext, p *model.Proxy, name string, port int, last *lastBuild) []*vhostPiece {
	el := egressListenerForRDS(p.SidecarScope, port, name)
	if el == nil || port == 0 || listenerPortOf(el, port) == 0 || el.IstioListener != last.listener.IstioListener ||
		last.mesh != pc.Mesh || last.dc != domainContextOf(p) || last.namespace != p.ConfigNamespace ||
		!maps.Equal(last.labels, p.Labels) || !slices.Equal(el.Services, last.listener.Services) ||
		!model.SameScopeDestinationRules(p.SidecarScope, last.scope) {
		return nil
	}
	if slices.Equal(el.VirtualServices, last.listener.VirtualServices) {
		c.remember(pc, p, name, el, last.pieces)
		return last.pieces
	}
	src := &cachedRoutes{cache: c, encoded: map[*routev3.Route][]byte{}}
	view := newPortServices(el.Services, port, src)
	defer view.release()
	hosts, ok := changedHosts(last.listener.VirtualServices, el.VirtualServices, view)
	if !ok {
		return nil
	}
	owners := ownersOf(el.VirtualServices, hosts)
	attemptCount := proxyHeadersFor(pc).includeAttemptCount
	pieces := slices.Clone(last.pieces)
	for _, h := range hosts {
		s := view.byName[h]
		if s.Resolution == model.Alias {
			return nil // claimed or not, an alias changes the set of virtual hosts
		}
		var groups []vhostGroup
		if vs := claimant(el.VirtualServices, h, owners); vs != nil {
			groups = virtualServiceGroups(pc, p, []*config.Config{vs}, view, owners, port, src)
			if len(groups) == 0 {
				return nil // no routes here: the next VirtualService naming h would claim it
			}
		} else {
			groups = defaultGroups(pc, p, s, src)
		}
		b := newVhostBuilder(p, view, groups, attemptCount, src)
		var vh *routev3.VirtualHost
		for _, g := range groups {
			if g.port == port && len(g.routes) > 0 && slices.Contains(g.services, s) {
				vh = b.build(string(s.Hostname), g, s)
				break
			}
		}
		i, found := sort.Find(len(pieces), func(i int) int { return strings.Compare(vhostName(string(s.Hostname), port), pieces[i].name) })
		switch {
		case vh == nil && !found:
			continue
		case vh == nil || !found || len(b.altered) > 0:
			return nil
		}
		piece, err := c.piece(vh, src.encoded, true)
		if err != nil {
			return nil
		}
		pieces[i] = piece
	}
	c.patched.Add(1)
	c.remember(pc, p, name, el, pieces)
	return pieces
}

// remember files pieces as the connection's last build of route configuration name.
func (c *Cache) remember(pc *model.PushContext, p *model.Proxy, name string, el *model.EgressListener, pieces []*vhostPiece) {
	p.Memo.Store(memoKey{cache: c, name: name}, newLastBuild(pc, p, el, pieces))
}

// changedHosts returns the (lowercased) hostnames of the listener's services that the
// VirtualServices in only one of before and after name, sorted; false when one of those
// VirtualServices has a wildcard host or a host that names no such service and would get
// a virtual host of its own.
func changedHosts(before, after []*config.Config, view *portServices) ([]host.Name, bool) {
	set := map[host.Name]bool{}
	for _, c := range changedConfigs(before, after) {
		named := 0
		vsHosts := c.Spec.(*networkingv1alpha3.VirtualService).GetHosts()
		for _, h := range vsHosts {
			vh := host.Name(strings.ToLower(h))
			if vh.IsWildcard() {
				return nil, false
			}
			if view.byName[vh] != nil {
				set[vh] = true
				named++
			}
		}
		// Only port 80 serves the hosts of VirtualServices that name no service; elsewhere
		// a VirtualService naming none does not apply.
		if named < len(vsHosts) && (named > 0 || view.port == 80) {
			return nil, false
		}
	}
	return slices.Sorted(maps.Keys(set)), true
}

// changedConfigs returns the VirtualServices in only one of before and after. Lists of
// the same length are compared position by position (an edit replaces one in place), a
// superset when they were reordered; others as sets.
func changedConfigs(before, after []*config.Config) []*config.Config {
	var changed []*config.Config
	if len(before) == len(after) {
		for i, c := range after {
			if c != before[i] {
				changed = append(changed, before[i], c)
			}
		}
		return changed
	}
	kept := make(map[*config.Config]bool, len(before))
	for _, c := range before {
		kept[c] = true
	}
	for _, c := range after {
		if kept[c] {
			delete(kept, c)
		} else {
			changed = append(changed, c)
		}
	}
	for _, c := range before {
		if kept[c] {
			changed = append(changed, c)
		}
	}
	return changed
}

// claimant returns the VirtualService whose group builds the virtual host of service
// hostname h: the first, in order, naming h, or whose wildcard host is the most specific
// for it (owners); nil if none.
func claimant(vses []*config.Config, h host.Name, owners map[host.Name]*config.Config) *config.Config {
	for _, c := range vses {
		for _, vh := range c.Spec.(*networkingv1alpha3.VirtualService).GetHosts() {
			l := host.Name(strings.ToLower(vh))
			if l == h {
				return c
			}
			if l.IsWildcard() && h.Intersects(l) && owners[h] != nil && owners[h].Key() == c.Key() {
				return c
			}
		}
	}
	return nil
}
