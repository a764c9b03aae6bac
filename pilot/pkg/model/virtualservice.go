package model

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// MeshGateway is the gateway name that stands for all sidecars in VirtualService.gateways.
const MeshGateway = "mesh"

// gatewayScope keys VirtualServices bound to one gateway and visible in one namespace.
type gatewayScope struct{ namespace, gateway string }

// virtualServiceIndex holds the VirtualServices as generators see them: short names
// resolved, delegates merged into their roots, and sorted by who may see them, as istiod
// indexes them. Each list is in SortConfigs order.
type virtualServiceIndex struct {
	// private lists the VirtualServices exported only to their own namespace.
	private map[gatewayScope][]*config.Config
	// exported lists the VirtualServices exported to a namespace other than their own.
	exported map[gatewayScope][]*config.Config
	// public lists, per gateway, the VirtualServices exported to every namespace.
	public map[string][]*config.Config
	// delegates are the VirtualServices without hosts (resolved), which only roots use.
	delegates map[config.Key]*delegateVirtualService
	// hosts are every VirtualService's resolved hosts, so that a change can be matched
	// against SidecarScopes after the object is gone: indexed from sources and resolved on
	// first use (hostsOf), as only change detection reads them.
	hosts     map[config.Key][]host.Name
	hostsOnce sync.Once
	sources   []*config.Config
	resolved  []*resolvedVirtualService
	// layer4 are the VirtualServices with tcp or tls routes, the only ones listeners read.
	layer4 map[config.Key]bool
}

// hostsOf returns the resolved hosts of the VirtualService k, and whether the index has
// it.
func (idx *virtualServiceIndex) hostsOf(k config.Key) ([]host.Name, bool) {
	idx.hostsOnce.Do(func() {
		idx.hosts = make(map[config.Key][]host.Name, len(idx.sources))
		for i, c := range idx.sources {
			idx.hosts[c.Key()] = idx.resolved[i].hosts
		}
	})
	hs, ok := idx.hosts[k]
	return hs, ok
}

// resolvedVirtualService is a stored VirtualService's resolved hosts and resolved copy.
type resolvedVirtualService struct {
	hosts []host.Name
	vs    *config.Config
}

// delegateVirtualService is a resolved delegate and the namespaces it is exported to.
type delegateVirtualService struct {
	config   *config.Config
	exportTo map[string]bool
}

// compileVirtualService is the VirtualService compiler (see Store): the object's hosts
// and a copy with every short name resolved in its namespace, made once per object.
func compileVirtualService(c *config.Config, ctx compileContext) any {
	r := &resolvedVirtualService{vs: resolveVirtualService(c, ctx.domainSuffix)}
	for _, h := range c.Spec.(*networkingv1alpha3.VirtualService).GetHosts() {
		r.hosts = append(r.hosts, resolveHostname(h, c.Namespace, ctx.domainSuffix))
	}
	return r
}

// buildVirtualServiceIndex indexes the stored VirtualServices, compiled by the store.
func buildVirtualServiceIndex(store *Store, pc *PushContext, errs *[]error) *virtualServiceIndex {
	all := store.List(schema.VirtualService, "")
	idx := &virtualServiceIndex{
		private:   map[gatewayScope][]*config.Config{},
		exported:  map[gatewayScope][]*config.Config{},
		public:    map[string][]*config.Config{},
		delegates: map[config.Key]*delegateVirtualService{},
		layer4:    map[config.Key]bool{},
		sources:   all,
	}
	ctx := pc.compileContext()
	rs := make([]*resolvedVirtualService, len(all))
	idx.resolved = rs
	compiled := store.compiledAll(all, ctx)
	for i, c := range all {
		vs := c.Spec.(*networkingv1alpha3.VirtualService)
		rs[i] = compiled[i].(*resolvedVirtualService)
		if len(vs.GetTcp()) > 0 || len(vs.GetTls()) > 0 {
			idx.layer4[c.Key()] = true
		}
		if len(vs.GetHosts()) == 0 {
			exp := vsExportTo(vs.GetExportTo(), pc.exportDefaults.virtualService, c.Namespace)
			idx.delegates[c.Key()] = &delegateVirtualService{config: rs[i].vs, exportTo: exp}
		}
	}
	for i, c := range all {
		vs := c.Spec.(*networkingv1alpha3.VirtualService)
		if len(vs.GetHosts()) == 0 {
			continue
		}
		resolved := rs[i].vs
		if usesDelegates(vs) {
			// Merged with the delegates as they are now, into this index's own copy
			// (the compiled copy is shared, and a delegate may have changed).
			resolved = resolveVirtualService(c, ctx.domainSuffix)
			idx.mergeDelegates(resolved, errs)
		}
		idx.add(resolved, vsExportTo(vs.GetExportTo(), pc.exportDefaults.virtualService, c.Namespace))
	}
	return idx
}

// usesDelegates reports whether a VirtualService delegates any HTTP route.
func usesDelegates(vs *networkingv1alpha3.VirtualService) bool {
	return slices.ContainsFunc(vs.GetHttp(), func(r *networkingv1alpha3.HTTPRoute) bool { return r.GetDelegate() != nil })
}

// vsExportTo returns the namespaces a VirtualService is exported to, with "." replaced by
// its own namespace; the mesh default applies when the list is empty ("*" if unset).
func vsExportTo(list []string, defaults map[string]bool, own string) map[string]bool {
	src := ExportSet(list)
	if len(src) == 0 {
		src = defaults
	}
	if len(src) == 0 {
		return map[string]bool{"*": true}
	}
	out := make(map[string]bool, len(src))
	for e := range src {
		if e == "." {
			e = own
		}
		out[e] = true
	}
	return out
}

// add files a merged VirtualService under every gateway it binds to and every namespace
// it is exported to: public ("*"), hidden ("~"), else private or exported per namespace.
func (idx *virtualServiceIndex) add(c *config.Config, exportTo map[string]bool) {
	gws := c.Spec.(*networkingv1alpha3.VirtualService).GetGateways()
	if len(gws) == 0 {
		gws = []string{MeshGateway}
	}
	switch {
	case exportTo["*"]:
		for _, gw := range gws {
			idx.public[gw] = append(idx.public[gw], c)
		}
	case exportTo["~"]:
	default:
		for _, ns := range sortedKeys(exportTo) {
			m := idx.exported
			if ns == c.Namespace {
				m = idx.private
			}
			for _, gw := range gws {
				k := gatewayScope{ns, gw}
				m[k] = append(m[k], c)
			}
		}
	}
}

// resolveVirtualService returns a deep copy of c whose hosts, destination hosts and
// gateway names are fully qualified relative to c's namespace.
func resolveVirtualService(c *config.Config, domain string) *config.Config {
	vs := proto.Clone(c.Spec.(*networkingv1alpha3.VirtualService)).(*networkingv1alpha3.VirtualService)
	ns := c.Namespace
	for i, h := range vs.Hosts {
		vs.Hosts[i] = string(resolveHostname(h, ns, domain))
	}
	resolveGateways(vs.Gateways, ns)
	dest := func(d *networkingv1alpha3.Destination) {
		if d != nil {
			d.Host = string(resolveHostname(d.Host, ns, domain))
		}
	}
	for _, r := range vs.Http {
		for _, m := range r.Match {
			resolveGateways(m.Gateways, ns)
		}
		for _, d := range r.Route {
			dest(d.Destination)
		}
		dest(r.Mirror)
		for _, m := range r.Mirrors {
			dest(m.Destination)
		}
	}
	for _, r := range vs.Tcp {
		for _, m := range r.Match {
			resolveGateways(m.Gateways, ns)
		}
		for _, d := range r.Route {
			dest(d.Destination)
		}
	}
	for _, r := range vs.Tls {
		for _, m := range r.Match {
			resolveGateways(m.Gateways, ns)
		}
		for _, d := range r.Route {
			dest(d.Destination)
		}
	}
	out := *c
	out.Spec = vs
	return &out
}

// resolveHostname qualifies a short host name ("reviews") as reviews.ns.svc.<domain>; names
// with a dot, "*" and IP addresses are kept.
func resolveHostname(h, ns, domain string) host.Name {
	if h == "" || h == "*" || strings.Contains(h, ".") {
		return host.Name(h)
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return host.Name(h)
	}
	return host.Name(h + "." + ns + ".svc." + domain)
}

func resolveGateways(gws []string, ns string) {
	for i, g := range gws {
		if g != MeshGateway {
			gws[i] = resolveGatewayName(g, ns)
		}
	}
}

// resolveGatewayName turns a gateway reference into "namespace/name": "gw" and "./gw" are
// in ns, and the legacy "gw.gwns.svc.cluster.local" form names gwns/gw.
func resolveGatewayName(gw, ns string) string {
	if before, after, ok := strings.Cut(gw, "/"); ok {
		if before == "." {
			return ns + "/" + after
		}
		return gw
	}
	name, rest, ok := strings.Cut(gw, ".")
	if !ok {
		return ns + "/" + gw
	}
	gwNS, _, _ := strings.Cut(rest, ".")
	return gwNS + "/" + name
}

// VirtualServicesForGateway returns the VirtualServices bound to gateway ("mesh" for
// sidecars, else "namespace/name") that are visible from namespace ns, as istiod orders
// them: exported only to their own namespace ns first, then exported to ns by name, then
// public, each oldest first. Short names are resolved and delegates merged; the configs
// must not be altered.
func (pc *PushContext) VirtualServicesForGateway(ns, gateway string) []*config.Config {
	idx := pc.virtualServices
	k := gatewayScope{ns, gateway}
	out := make([]*config.Config, 0, len(idx.private[k])+len(idx.exported[k])+len(idx.public[gateway]))
	out = append(out, idx.private[k]...)
	out = append(out, idx.exported[k]...)
	return append(out, idx.public[gateway]...)
}

// selectVirtualServices picks, in VirtualServicesForGateway order, the mesh
// VirtualServices visible from ns that an egress listener imports: one of their hosts
// intersects a host imported from their namespace or from "*", and is not excluded.
func (pc *PushContext) selectVirtualServices(ns string, imports map[string]*hostImports) []*config.Config {
	var out []*config.Config
	wild := imports["*"]
	for _, c := range pc.VirtualServicesForGateway(ns, MeshGateway) {
		own := imports[c.Namespace]
		for _, h := range c.Spec.(*networkingv1alpha3.VirtualService).GetHosts() {
			hn := host.Name(h)
			if !importsVirtualServiceHost(own, hn) && !importsVirtualServiceHost(wild, hn) {
				continue
			}
			if (own != nil && excludedBy(own, hn)) || (wild != nil && excludedBy(wild, hn)) {
				continue
			}
			out = append(out, c)
			break
		}
	}
	return out
}

// importsVirtualServiceHost reports whether a VirtualService host intersects one of the
// imported hosts (both ways, as istiod matches VirtualService hosts).
func importsVirtualServiceHost(hi *hostImports, h host.Name) bool {
	if hi == nil {
		return false
	}
	for _, i := range hi.hosts {
		if h.Intersects(i) {
			return true
		}
	}
	return false
}

// Delegate returns the delegate VirtualService (one without hosts) namespace/name, with
// short names resolved, or nil.
func (pc *PushContext) Delegate(name, namespace string) *config.Config {
	if d := pc.virtualServices.delegates[config.Key{Kind: schema.VirtualService, Namespace: namespace, Name: name}]; d != nil {
		return d.config
	}
	return nil
}

func vsError(c *config.Config, format string, args ...any) error {
	return fmt.Errorf("VirtualService %s/%s: %s", c.Namespace, c.Name, fmt.Sprintf(format, args...))
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
