package model

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/labels"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// sidecarIndex holds the Sidecar resources by namespace.
type sidecarIndex struct {
	rootNamespace string
	// byNamespace lists each namespace's Sidecars, those with a workloadSelector first
	// (oldest first), then the namespace-wide one.
	byNamespace map[string][]*config.Config
}

func buildSidecarIndex(store *Store, root string) *sidecarIndex {
	idx := &sidecarIndex{rootNamespace: root, byNamespace: map[string][]*config.Config{}}
	for _, c := range store.List(schema.Sidecar, "") {
		idx.byNamespace[c.Namespace] = append(idx.byNamespace[c.Namespace], c)
	}
	for _, cs := range idx.byNamespace {
		sort.SliceStable(cs, func(i, j int) bool {
			return cs[i].Spec.(*networkingv1alpha3.Sidecar).GetWorkloadSelector() != nil &&
				cs[j].Spec.(*networkingv1alpha3.Sidecar).GetWorkloadSelector() == nil
		})
	}
	return idx
}

// sidecarFor picks the Sidecar that applies to a workload: a workload-selected one in its
// namespace, else its namespace's default, else the root namespace's default, else nil.
func (idx *sidecarIndex) sidecarFor(ns string, workload map[string]string) *config.Config {
	for _, c := range idx.byNamespace[ns] {
		sel := c.Spec.(*networkingv1alpha3.Sidecar).GetWorkloadSelector()
		if sel == nil || labels.Instance(sel.GetLabels()).SubsetOf(workload) {
			return c
		}
	}
	for _, c := range idx.byNamespace[idx.rootNamespace] {
		if c.Spec.(*networkingv1alpha3.Sidecar).GetWorkloadSelector() == nil {
			return c
		}
	}
	return nil
}

// SidecarScope is a proxy's view of the mesh: the services, VirtualServices and
// DestinationRules it imports, per egress listener, as its Sidecar resource (or the
// default "import everything visible") defines them.
type SidecarScope struct {
	// Name is the Sidecar's name, or "default-sidecar".
	Name      string
	Namespace string
	// Sidecar is the Sidecar spec; nil for the default scope.
	Sidecar *networkingv1alpha3.Sidecar
	Config  *config.Config
	// EgressListeners, in the Sidecar's order; the default scope has one catch-all.
	EgressListeners []*EgressListener
	// OutboundTrafficPolicy is the Sidecar's, else the mesh's.
	OutboundTrafficPolicy *networkingv1alpha3.OutboundTrafficPolicy

	services         []*Service
	byHost           map[host.Name]*Service
	destinationRules map[host.Name]*ConsolidatedDestinationRule
	// rulesID identifies destinationRules: scopes that share the map share it. A scope
	// whose rules were patched from another's records that one's rulesID (rulesBase) and
	// the hostnames whose effective rule differs from it (rulesChanged).
	rulesID, rulesBase uint64
	rulesChanged       map[host.Name]bool
	// vsDestinations are the destination hosts of the imported VirtualServices: services
	// with these hostnames are imported even where the listeners' hosts do not match.
	vsDestinations map[host.Name]bool
}

// EgressListener is one egress listener of a Sidecar with what it imports.
type EgressListener struct {
	// IstioListener is the Sidecar's listener; nil for the default catch-all.
	IstioListener   *networkingv1alpha3.IstioEgressListener
	Services        []*Service
	VirtualServices []*config.Config

	// imports are the listener's hosts by namespace ("*" for any).
	imports map[string]*hostImports
}

// Services returns every service the scope imports, deduplicated by hostname.
func (sc *SidecarScope) Services() []*Service { return sc.services }

// ServiceForHostname returns the imported service with hostname h, or nil.
func (sc *SidecarScope) ServiceForHostname(h host.Name) *Service { return sc.byHost[h] }

// DestinationRule returns the DestinationRule that applies to hostname h for proxies of
// this scope, or nil.
func (sc *SidecarScope) DestinationRule(h host.Name) *ConsolidatedDestinationRule {
	return sc.destinationRules[h]
}

// EgressListenerForRDS returns the egress listener that serves a listener port (and bind
// address), or the catch-all.
func (sc *SidecarScope) EgressListenerForRDS(port int, bind string) *EgressListener {
	for _, e := range sc.EgressListeners {
		if e.IstioListener == nil || e.IstioListener.GetPort() == nil {
			return e
		}
		if int(e.IstioListener.GetPort().GetNumber()) == port && e.IstioListener.GetBind() == bind {
			return e
		}
	}
	return nil
}

// SidecarScopeFor returns the scope of a proxy: the one of its namespace and the Sidecar
// that selects it, computed on first use and shared by every proxy with the same pair
// (and by later PushContexts, while nothing it depends on changes).
func (pc *PushContext) SidecarScopeFor(p *Proxy) *SidecarScope {
	c := pc.sidecars.sidecarFor(p.ConfigNamespace, p.Labels)
	k := scopeKey{namespace: p.ConfigNamespace, sidecar: c}
	sc, base := pc.scopes.get(k)
	switch {
	case sc != nil:
		return sc
	case base != nil:
		return pc.scopes.add(k, pc.patchSidecarScope(base))
	}
	return pc.scopes.add(k, pc.newSidecarScope(c, p.ConfigNamespace))
}

// patchSidecarScope returns the scope of b in pc, computed from b's: only VirtualServices
// and DestinationRules changed since, so each egress listener keeps its services and
// selects its VirtualServices again, and the scope's services (which include the
// VirtualServices' destinations) and their DestinationRules are collected again only as
// far as those changed. The result is what newSidecarScope gives.
func (pc *PushContext) patchSidecarScope(b *scopeBase) *SidecarScope {
	old := b.sc
	sc := &SidecarScope{Name: old.Name, Namespace: old.Namespace, Sidecar: old.Sidecar, Config: old.Config,
		OutboundTrafficPolicy: old.OutboundTrafficPolicy,
		EgressListeners:       old.EgressListeners, services: old.services, byHost: old.byHost, vsDestinations: old.vsDestinations}
	if b.vs {
		sc.EgressListeners = make([]*EgressListener, len(old.EgressListeners))
		n := 0
		for i, l := range old.EgressListeners {
			sc.EgressListeners[i] = &EgressListener{IstioListener: l.IstioListener, Services: l.Services, imports: l.imports,
				VirtualServices: pc.selectVirtualServices(old.Namespace, l.imports)}
			n += len(l.Services)
		}
		// The services are the listeners' and then the VirtualServices' destinations, in
		// order: the same destinations import the same services.
		if !sameVSDestinationOrder(sc.EgressListeners, old.EgressListeners) {
			sc.byHost = make(map[host.Name]*Service, n)
			sc.services = make([]*Service, 0, n)
			sc.collectServices(pc, old.Namespace)
			if slices.Equal(sc.services, old.services) {
				sc.services, sc.byHost = old.services, old.byHost
			}
		}
	}
	switch {
	case !slices.Equal(sc.services, old.services):
		sc.collectDestinationRules(pc, old.Namespace)
	case b.dr:
		sc.patchDestinationRules(pc, old, b.drHosts)
	default:
		sc.destinationRules, sc.rulesID = old.destinationRules, old.rulesID
	}
	return sc
}

// rulesIDs numbers the scopes' rule maps (SidecarScope.rulesID).
var rulesIDs atomic.Uint64

// collectDestinationRules indexes, for each service of the scope, the rule a proxy of
// namespace ns applies to it.
func (sc *SidecarScope) collectDestinationRules(pc *PushContext, ns string) {
	sc.destinationRules = map[host.Name]*ConsolidatedDestinationRule{}
	for _, s := range sc.services {
		if dr := pc.destinationRuleFor(ns, s); dr != nil {
			sc.destinationRules[s.Hostname] = dr
		}
	}
	sc.rulesID = rulesIDs.Add(1)
}

// patchDestinationRules sets the scope's rules from those of old, which has the same
// services: a rule applies to the services its host matches, so only the services the
// hosts of the changed rules (before and after the changes) match can have another. The
// scope records which did (ChangedDestinationRuleHosts reads it).
func (sc *SidecarScope) patchDestinationRules(pc *PushContext, old *SidecarScope, hosts []host.Name) {
	rules := maps.Clone(old.destinationRules)
	changed := map[host.Name]bool{}
	for _, h := range hosts {
		sc.eachServiceMatching(h, func(s *Service) {
			dr := pc.destinationRuleFor(sc.Namespace, s)
			if !sameEffectiveRule(dr, rules[s.Hostname]) {
				changed[s.Hostname] = true
			}
			if dr != nil {
				rules[s.Hostname] = dr
			} else {
				delete(rules, s.Hostname)
			}
		})
	}
	sc.destinationRules, sc.rulesID = rules, rulesIDs.Add(1)
	sc.rulesBase, sc.rulesChanged = old.rulesID, changed
}

// hostImports are the hosts a listener imports from one namespace.
type hostImports struct {
	hosts, excluded []host.Name
}

func (hi *hostImports) matches(h host.Name) bool {
	for _, e := range hi.excluded {
		if h.SubsetOf(e) {
			return false
		}
	}
	for _, i := range hi.hosts {
		if h.SubsetOf(i) {
			return true
		}
	}
	return false
}

func (hi *hostImports) matchesVirtualService(h host.Name) bool {
	for _, e := range hi.excluded {
		if h.SubsetOf(e) {
			return false
		}
	}
	for _, i := range hi.hosts {
		if h.Matches(i) || i.Matches(h) {
			return true
		}
	}
	return false
}

func parseImports(hosts []string, configNamespace string) map[string]*hostImports {
	out := map[string]*hostImports{}
	for _, h := range hosts {
		ns, name, ok := strings.Cut(h, "/")
		if !ok {
			continue
		}
		excluded := strings.HasPrefix(ns, "~")
		if excluded {
			ns = strings.TrimPrefix(ns, "~")
			if ns == "" {
				ns = "*"
			}
		}
		if ns == "." {
			ns = configNamespace
		}
		hi := out[ns]
		if hi == nil {
			hi = &hostImports{}
			out[ns] = hi
		}
		if excluded {
			hi.excluded = append(hi.excluded, host.Name(name))
		} else {
			hi.hosts = append(hi.hosts, host.Name(name))
		}
	}
	return out
}

func (pc *PushContext) newSidecarScope(c *config.Config, ns string) *SidecarScope {
	sc := &SidecarScope{Name: "default-sidecar", Namespace: ns, Config: c}
	egress := []*networkingv1alpha3.IstioEgressListener{{Hosts: []string{"*/*"}}}
	if c != nil {
		sc.Sidecar = c.Spec.(*networkingv1alpha3.Sidecar)
		sc.Name = c.Name
		if len(sc.Sidecar.GetEgress()) > 0 {
			egress = sc.Sidecar.GetEgress()
		}
	}
	n := 0
	for _, e := range egress {
		l := pc.newEgressListener(e, ns, c != nil)
		sc.EgressListeners = append(sc.EgressListeners, l)
		n += len(l.Services)
	}
	sc.byHost = make(map[host.Name]*Service, n)
	sc.services = make([]*Service, 0, n)
	sc.collectServices(pc, ns)
	sc.collectDestinationRules(pc, ns)
	sc.OutboundTrafficPolicy = sc.Sidecar.GetOutboundTrafficPolicy()
	if sc.OutboundTrafficPolicy == nil {
		sc.OutboundTrafficPolicy = &networkingv1alpha3.OutboundTrafficPolicy{
			Mode: networkingv1alpha3.OutboundTrafficPolicy_Mode(pc.Mesh.GetOutboundTrafficPolicy().GetMode()),
		}
	}
	return sc
}

func (pc *PushContext) newEgressListener(l *networkingv1alpha3.IstioEgressListener, ns string, explicit bool) *EgressListener {
	out := &EgressListener{}
	if explicit {
		out.IstioListener = l
	}
	imports := parseImports(l.GetHosts(), ns)
	out.imports = imports
	matchPort := l.GetPort().GetNumber() != 0 && protocol.Parse(l.GetPort().GetProtocol()) != protocol.HTTPProxy
	out.VirtualServices = pc.selectVirtualServices(ns, imports)
	var picked []*Service
	for _, s := range pc.servicesImportable(ns, imports) {
		hi := imports[s.Namespace]
		if hi == nil || !hi.matches(s.Hostname) {
			hi = imports["*"]
			if hi == nil || !hi.matches(s.Hostname) {
				continue
			}
		}
		if wild := imports["*"]; wild != nil && excludedBy(wild, s.Hostname) {
			continue
		}
		if matchPort {
			s = serviceWithPort(s, int(l.GetPort().GetNumber()))
		}
		if s != nil {
			picked = append(picked, s)
		}
	}
	out.Services = oneNamespacePerHost(picked, ns)
	return out
}

func excludedBy(hi *hostImports, h host.Name) bool {
	for _, e := range hi.excluded {
		if h.SubsetOf(e) {
			return true
		}
	}
	return false
}

// serviceWithPort returns s narrowed to port p, or nil if it has no such port.
func serviceWithPort(s *Service, p int) *Service {
	sp := s.Port(p)
	if sp == nil {
		return nil
	}
	if len(s.Ports) == 1 {
		return s
	}
	cp := *s
	cp.Ports = []*Port{sp}
	return &cp
}

// oneNamespacePerHost keeps, for each hostname imported from several namespaces, the one
// in the proxy's namespace, else a Kubernetes service, else the first.
func oneNamespacePerHost(svcs []*Service, ns string) []*Service {
	pick := map[host.Name]*Service{}
	for _, s := range svcs {
		cur, ok := pick[s.Hostname]
		switch {
		case !ok, s.Namespace == ns:
			pick[s.Hostname] = s
		case cur.Registry != Kubernetes && s.Registry == Kubernetes && cur.Namespace != ns:
			pick[s.Hostname] = s
		}
	}
	out := svcs[:0:0]
	for _, s := range svcs {
		if pick[s.Hostname].Namespace == s.Namespace {
			out = append(out, s)
		}
	}
	return out
}

// collectServices gathers the services of all egress listeners, then the destinations of
// their VirtualServices that are visible, merging ports of same-host services.
func (sc *SidecarScope) collectServices(pc *PushContext, ns string) {
	for _, l := range sc.EgressListeners {
		for _, s := range l.Services {
			sc.appendService(s)
		}
	}
	sc.vsDestinations = map[host.Name]bool{}
	for _, l := range sc.EgressListeners {
		for _, vs := range l.VirtualServices {
			for _, h := range virtualServiceDestinationHosts(vs.Spec.(*networkingv1alpha3.VirtualService)) {
				sc.vsDestinations[h] = true
				hs := pc.services.byHost[h]
				s := hs.in(ns)
				if s == nil {
					if s = hs.firstVisible(pc, ns); s == nil {
						continue
					}
				}
				if l.IstioListener.GetPort().GetNumber() != 0 {
					s = serviceWithPort(s, int(l.IstioListener.GetPort().GetNumber()))
				}
				sc.appendService(s)
			}
		}
	}
}

// listenerHost is a VirtualService destination host and the port of the listener whose
// VirtualService routes to it.
type listenerHost struct {
	host host.Name
	port uint32
}

// vsDestinationOrder lists the destination hosts of the listeners' VirtualServices in the
// order collectServices imports them.
func vsDestinationOrder(ls []*EgressListener) []listenerHost {
	var out []listenerHost
	for _, l := range ls {
		for _, vs := range l.VirtualServices {
			for _, h := range virtualServiceDestinationHosts(vs.Spec.(*networkingv1alpha3.VirtualService)) {
				out = append(out, listenerHost{h, l.IstioListener.GetPort().GetNumber()})
			}
		}
	}
	return out
}

// sameVSDestinationOrder reports whether two versions of the same egress listeners list
// the same VirtualService destinations in the same order (vsDestinationOrder). When each
// listener selects as many VirtualServices in both, only those that differ are read.
func sameVSDestinationOrder(a, b []*EgressListener) bool {
	aligned := len(a) == len(b)
	for i := 0; aligned && i < len(a); i++ {
		va, vb := a[i].VirtualServices, b[i].VirtualServices
		aligned = len(va) == len(vb)
		for j := 0; aligned && j < len(va); j++ {
			aligned = va[j] == vb[j] || slices.Equal(
				virtualServiceDestinationHosts(va[j].Spec.(*networkingv1alpha3.VirtualService)),
				virtualServiceDestinationHosts(vb[j].Spec.(*networkingv1alpha3.VirtualService)))
		}
	}
	return aligned || slices.Equal(vsDestinationOrder(a), vsDestinationOrder(b))
}

func (sc *SidecarScope) appendService(s *Service) {
	if s == nil {
		return
	}
	existing, ok := sc.byHost[s.Hostname]
	if !ok {
		sc.services = append(sc.services, s)
		sc.byHost[s.Hostname] = s
		return
	}
	if existing == s || existing.Namespace != s.Namespace || existing.Registry != s.Registry {
		if existing.Registry != Kubernetes && s.Registry == Kubernetes {
			sc.replaceService(existing, s)
		}
		return
	}
	merged := *existing
	merged.Ports = append([]*Port(nil), existing.Ports...)
	for _, p := range s.Ports {
		if merged.Port(p.Port) == nil {
			merged.Ports = append(merged.Ports, p)
		}
	}
	if len(merged.Ports) != len(existing.Ports) {
		sc.replaceService(existing, &merged)
	}
}

func (sc *SidecarScope) replaceService(old, s *Service) {
	for i, cur := range sc.services {
		if cur == old {
			sc.services[i] = s
		}
	}
	sc.byHost[s.Hostname] = s
}

// virtualServiceDestinationHosts lists the destination hosts of a VirtualService's HTTP,
// TCP and TLS routes.
func virtualServiceDestinationHosts(vs *networkingv1alpha3.VirtualService) []host.Name {
	var out []host.Name
	for _, r := range vs.GetHttp() {
		for _, d := range r.GetRoute() {
			out = append(out, host.Name(d.GetDestination().GetHost()))
		}
		if m := r.GetMirror(); m != nil {
			out = append(out, host.Name(m.GetHost()))
		}
		for _, m := range r.GetMirrors() {
			out = append(out, host.Name(m.GetDestination().GetHost()))
		}
	}
	for _, r := range vs.GetTcp() {
		for _, d := range r.GetRoute() {
			out = append(out, host.Name(d.GetDestination().GetHost()))
		}
	}
	for _, r := range vs.GetTls() {
		for _, d := range r.GetRoute() {
			out = append(out, host.Name(d.GetDestination().GetHost()))
		}
	}
	return out
}
