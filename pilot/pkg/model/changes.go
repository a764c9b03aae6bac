package model

import (
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// scopeKey identifies a SidecarScope: a proxy namespace and the Sidecar resource that
// applies (nil: none). Workload labels only choose the Sidecar, so proxies with different
// labels under the same Sidecar share one scope.
type scopeKey struct {
	namespace string
	sidecar   *config.Config
}

// scopeCache memoises the SidecarScopes of one PushContext. Scopes are computed on first
// use; a derived PushContext starts with the scopes of its parent that none of the
// changes touch, and with the ones only VirtualService or DestinationRule changes touch
// as bases to patch (patchSidecarScope).
type scopeCache struct {
	mu     sync.Mutex
	scopes map[scopeKey]*SidecarScope
	bases  map[scopeKey]*scopeBase
}

// scopeBase is a scope of an earlier PushContext and what changed for it since: its
// VirtualServices (vs), the DestinationRules of its services (dr), nothing else.
type scopeBase struct {
	sc     *SidecarScope
	vs, dr bool
	// drHosts are the hosts of the changed DestinationRules, before and after each change.
	drHosts []host.Name
}

func newScopeCache() *scopeCache {
	return &scopeCache{scopes: map[scopeKey]*SidecarScope{}, bases: map[scopeKey]*scopeBase{}}
}

func (c *scopeCache) get(k scopeKey) (*SidecarScope, *scopeBase) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sc := c.scopes[k]; sc != nil {
		return sc, nil
	}
	return nil, c.bases[k]
}

// holds reports whether sc is the scope cached under k.
func (c *scopeCache) holds(k scopeKey, sc *SidecarScope) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.scopes[k] == sc
}

// add stores sc under k, unless another caller stored one first: that one is returned,
// so that every proxy of a key holds the same scope.
func (c *scopeCache) add(k scopeKey, sc *SidecarScope) *SidecarScope {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.scopes[k]; cur != nil {
		return cur
	}
	c.scopes[k] = sc
	delete(c.bases, k)
	return sc
}

// Len returns the number of scopes computed or carried so far.
func (c *scopeCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.scopes)
}

// SidecarScopes returns how many SidecarScopes the PushContext holds (computed or
// carried from its parent), for /debug and benchmarks.
func (pc *PushContext) SidecarScopes() int { return pc.scopes.len() }

// changes is what a derived PushContext changed relative to its parent, as proxies see
// it. SidecarScope reuse and scoped pushes are decided from it.
type changes struct {
	// all is set for a full build, and when an index could not say what changed.
	all bool
	// keys are the changed objects.
	keys map[config.Key]struct{}
	// services are the service objects added, removed or replaced (both versions).
	services []*Service
	// endpointHosts are the hostnames whose endpoints were re-derived; nil when unknown.
	endpointHosts map[host.Name]bool
	// virtualServices are the changed VirtualServices' hosts, before and after, by
	// namespace; allVirtualServices is set when a delegate changed (its roots' routes).
	virtualServices    []namespacedHosts
	allVirtualServices bool
	// destinationRuleHosts are the changed DestinationRules' hosts, before and after.
	destinationRuleHosts []host.Name
	// sidecarNamespaces are the namespaces whose Sidecars changed.
	sidecarNamespaces map[string]bool
	// serviceAccountsChanged is set when the identities behind a service with changed
	// endpoints changed: clusters verify them (SANs), so it is no endpoint-only change.
	serviceAccountsChanged bool
	// layer4VirtualServices is set when a changed VirtualService has tcp or tls routes,
	// before or after.
	layer4VirtualServices bool
}

type namespacedHosts struct {
	namespace string
	hosts     []host.Name
}

// computeChanges records what next, derived from prev for changed (rebuilding the indexes
// in which), changed.
func computeChanges(prev, next *PushContext, changed map[config.Key]struct{}, which index) *changes {
	ch := &changes{keys: changed, sidecarNamespaces: map[string]bool{}}
	if len(changed) == 0 {
		ch.all = true
		return ch
	}
	if which&servicesIndex != 0 {
		ch.all = next.services.allChanged
		ch.services = next.services.changed
		ch.endpointHosts = next.services.endpointHosts
		ch.serviceAccountsChanged = serviceAccountsChanged(prev, next, ch.endpointHosts)
	} else {
		ch.endpointHosts = map[host.Name]bool{}
	}
	for k := range changed {
		switch k.Kind {
		case schema.VirtualService:
			for _, idx := range []*virtualServiceIndex{prev.virtualServices, next.virtualServices} {
				ch.layer4VirtualServices = ch.layer4VirtualServices || idx.layer4[k]
				hs, ok := idx.hostsOf(k)
				if ok && len(hs) == 0 {
					ch.allVirtualServices = true
				}
				if len(hs) > 0 {
					ch.virtualServices = append(ch.virtualServices, namespacedHosts{k.Namespace, hs})
				}
			}
		case schema.DestinationRule:
			for _, idx := range []*destinationRuleIndex{prev.destinationRules, next.destinationRules} {
				if h, ok := idx.hostOf(k); ok {
					ch.destinationRuleHosts = append(ch.destinationRuleHosts, h)
				}
			}
		case schema.Sidecar:
			ch.sidecarNamespaces[k.Namespace] = true
		}
	}
	return ch
}

// serviceAccountsChanged reports whether a service with one of the hostnames is backed by
// other identities in next than in prev.
func serviceAccountsChanged(prev, next *PushContext, hosts map[host.Name]bool) bool {
	for h := range hosts {
		olds, news := prev.services.byHost[h], next.services.byHost[h]
		if len(olds) != len(news) {
			return true
		}
		for _, s := range news {
			o := olds.in(s.Namespace)
			if o == nil || !slices.Equal(prev.ServiceAccounts(o), next.ServiceAccounts(s)) {
				return true
			}
		}
	}
	return false
}

// carryScopes returns the cache of a PushContext derived from one whose cache is prev:
// every scope none of the changes can alter is kept; those only VirtualService or
// DestinationRule changes can alter become bases, as do prev's bases these changes
// leave patchable; the others will be recomputed on use.
func (ch *changes) carryScopes(prev *scopeCache, root string) *scopeCache {
	next := newScopeCache()
	if ch.all {
		return next
	}
	prev.mu.Lock()
	defer prev.mu.Unlock()
	sidecarChanged := func(k scopeKey) bool {
		return ch.sidecarNamespaces[k.namespace] || (k.sidecar != nil && ch.sidecarNamespaces[k.sidecar.Namespace]) ||
			(k.sidecar == nil && ch.sidecarNamespaces[root])
	}
	for k, sc := range prev.scopes {
		if sidecarChanged(k) {
			continue
		}
		vs, dr, other := ch.scopeEffects(sc, false)
		switch {
		case !vs && !dr && !other:
			next.scopes[k] = sc
		case !other:
			next.bases[k] = &scopeBase{sc: sc, vs: vs, dr: dr}
			if dr {
				next.bases[k].drHosts = ch.destinationRuleHosts
			}
		}
	}
	for k, b := range prev.bases {
		if sidecarChanged(k) {
			continue
		}
		if vs, dr, other := ch.scopeEffects(b.sc, b.vs); !other {
			nb := &scopeBase{sc: b.sc, vs: b.vs || vs, dr: b.dr || dr, drHosts: b.drHosts}
			if dr {
				nb.drHosts = slices.Concat(b.drHosts, ch.destinationRuleHosts)
			}
			next.bases[k] = nb
		}
	}
	return next
}

// scopeEffects reports what of sc the changes may alter: its VirtualServices (and so the
// services their destinations import), its services' DestinationRules, or anything else.
// For a base whose VirtualServices changed already (staleVS), sc's VirtualService
// destinations are not the scope's: any service change counts as other.
func (ch *changes) scopeEffects(sc *SidecarScope, staleVS bool) (vs, dr, other bool) {
	if ch.all || (staleVS && len(ch.services) > 0) {
		return false, false, true
	}
	for _, s := range ch.services {
		if sc.mayImportService(s) {
			return false, false, true
		}
	}
	vs = ch.allVirtualServices && sc.hasVirtualServices()
	for _, v := range ch.virtualServices {
		if vs {
			break
		}
		vs = sc.mayImportVirtualService(v.namespace, v.hosts)
	}
	for _, h := range ch.destinationRuleHosts {
		if sc.hasServiceMatching(h) {
			dr = true
			break
		}
	}
	return vs, dr, false
}

func (sc *SidecarScope) hasVirtualServices() bool {
	for _, l := range sc.EgressListeners {
		if len(l.VirtualServices) > 0 {
			return true
		}
	}
	return false
}

// mayImportService reports whether s is, or could be, imported by sc: it holds a service
// of that hostname, a listener imports the host from s's namespace or from any, or one of
// its VirtualServices routes to it. Visibility (exportTo) is not checked: a superset.
func (sc *SidecarScope) mayImportService(s *Service) bool {
	if sc.byHost[s.Hostname] != nil || sc.vsDestinations[s.Hostname] {
		return true
	}
	for _, l := range sc.EgressListeners {
		if hi := l.imports[s.Namespace]; hi != nil && hi.matches(s.Hostname) {
			return true
		}
		if hi := l.imports["*"]; hi != nil && hi.matches(s.Hostname) {
			return true
		}
	}
	return false
}

// mayImportVirtualService reports whether a VirtualService of namespace ns with hosts is
// imported by one of sc's listeners (selectVirtualServices's rule, without exclusions).
func (sc *SidecarScope) mayImportVirtualService(ns string, hosts []host.Name) bool {
	for _, l := range sc.EgressListeners {
		own, wild := l.imports[ns], l.imports["*"]
		for _, h := range hosts {
			if importsVirtualServiceHost(own, h) || importsVirtualServiceHost(wild, h) {
				return true
			}
		}
	}
	return false
}

// hasServiceMatching reports whether sc imports a service a DestinationRule for host h
// applies to.
func (sc *SidecarScope) hasServiceMatching(h host.Name) bool {
	if !h.IsWildcard() {
		return sc.byHost[h] != nil
	}
	for _, s := range sc.services {
		if s.Hostname.SubsetOf(h) {
			return true
		}
	}
	return false
}

// eachServiceMatching calls f for each service of sc a DestinationRule for host h
// applies to (hasServiceMatching's).
func (sc *SidecarScope) eachServiceMatching(h host.Name, f func(*Service)) {
	if !h.IsWildcard() {
		if s := sc.byHost[h]; s != nil {
			f(s)
		}
		return
	}
	for _, s := range sc.services {
		if s.Hostname.SubsetOf(h) {
			f(s)
		}
	}
}

// PushKind is how much of a proxy's config a push must regenerate.
type PushKind int

const (
	// NoPush: nothing the proxy is sent can have changed.
	NoPush PushKind = iota
	// EndpointsPush: only endpoints (EDS) can have changed.
	EndpointsPush
	// FullPush: any type can have changed.
	FullPush
)

// PushFor says what the changes that produced pc (from its parent) require for p, as it
// was last pushed (p.SidecarScope is the scope it was generated with); full is whether
// the push request is a full one.
//
// A full push is needed when p's SidecarScope is no longer the current one for it, or a
// change touches what is generated outside the scope: the proxy's own workloads and
// inbound services (objects of its namespace), EnvoyFilters and workload-selected
// DestinationRules of its namespace or the root namespace, PeerAuthentications, Nodes,
// Namespaces, and DNS services it imports whose endpoints changed (their endpoints are
// part of their clusters). An endpoint push is needed when p imports a service whose
// endpoints changed. Kinds no index reads never need a push.
func (pc *PushContext) PushFor(p *Proxy, full bool) PushKind {
	ch := pc.changes
	if ch == nil || ch.all || p.SidecarScope == nil {
		if full {
			return FullPush
		}
		return EndpointsPush
	}
	// A scope still cached under its key was carried through every change since it was
	// computed: none touched the namespace's Sidecars, so the proxy's choice of Sidecar
	// stands and so does the scope, without matching the proxy's labels again.
	if full && !pc.scopes.holds(scopeKey{namespace: p.ConfigNamespace, sidecar: p.SidecarScope.Config}, p.SidecarScope) &&
		pc.SidecarScopeFor(p) != p.SidecarScope {
		return FullPush
	}
	root := pc.RootNamespace()
	inboundChecked := false
	for k := range ch.keys {
		switch k.Kind {
		case schema.Pod, schema.Service, schema.EndpointSlice, schema.ServiceEntry, schema.WorkloadEntry:
			// The proxy's labels, identity and locality come from its Pod; its inbound
			// services from the services of its namespace with an endpoint on it.
			if k.Namespace != p.ConfigNamespace {
				continue
			}
			if k.Kind == schema.Pod && p.ID == k.Name+"."+k.Namespace {
				return FullPush
			}
			if !inboundChecked {
				inboundChecked = true
				if pc.serviceTargetsChanged(p) {
					return FullPush
				}
			}
		case schema.EnvoyFilter, schema.DestinationRule:
			if full && (k.Namespace == p.ConfigNamespace || k.Namespace == root) {
				return FullPush
			}
		case schema.Node, schema.Namespace, schema.PeerAuthentication:
			// Localities, and mTLS modes of any destination namespace.
			if full {
				return FullPush
			}
		}
	}
	if !p.SidecarScope.importsAnyHost(ch.endpointHosts) {
		return NoPush
	}
	if full {
		return FullPush
	}
	return EndpointsPush
}

// serviceTargetsChanged reports whether p's inbound services differ in pc from those it
// was last pushed with (same service and port objects: an endpoint-only change keeps them).
func (pc *PushContext) serviceTargetsChanged(p *Proxy) bool {
	if p.targetsFrom == pc.targetsSource() {
		return false
	}
	now := pc.serviceTargets(p, pc.podOf(p))
	if len(now) != len(p.ServiceTargets) {
		return true
	}
	for i, t := range now {
		if o := p.ServiceTargets[i]; o.Service != t.Service || o.Port != t.Port || o.TargetPort != t.TargetPort {
			return true
		}
	}
	return false
}

// SameScopeServices reports whether two scopes import the same service objects in the
// same order: clusters, which do not depend on routes, are then the same for both.
func SameScopeServices(a, b *SidecarScope) bool {
	if a == nil || b == nil {
		return false
	}
	return slices.Equal(a.services, b.services)
}

// SameScopeDestinationRules reports whether two scopes apply the same DestinationRule
// objects to the same hostnames.
func SameScopeDestinationRules(a, b *SidecarScope) bool {
	if a == nil || b == nil || len(a.destinationRules) != len(b.destinationRules) {
		return false
	}
	if changed, ok := changedRules(a, b); ok { // one map, or one patched from the other
		return len(changed) == 0
	}
	for h, r := range a.destinationRules {
		o, ok := b.destinationRules[h]
		if !ok || !sameEffectiveRule(r, o) {
			return false
		}
	}
	return true
}

// sameEffectiveRule reports whether two consolidated rules (either nil) apply the same
// effective rule.
func sameEffectiveRule(r, o *ConsolidatedDestinationRule) bool {
	return (r == nil) == (o == nil) && (r == nil || r.Rule == o.Rule)
}

// ChangedDestinationRuleHosts returns the hostnames whose DestinationRule (by
// SidecarScope.DestinationRule; compared by the effective rule, Rule) differs between two
// scopes. The map must not be modified.
func ChangedDestinationRuleHosts(a, b *SidecarScope) map[host.Name]bool {
	if changed, ok := changedRules(a, b); ok {
		return changed
	}
	out := map[host.Name]bool{}
	for h, r := range a.destinationRules {
		if !sameEffectiveRule(r, b.destinationRules[h]) {
			out[h] = true
		}
	}
	for h, r := range b.destinationRules {
		if _, ok := a.destinationRules[h]; !ok && r != nil {
			out[h] = true
		}
	}
	return out
}

// changedRules returns what the scopes record of the hostnames whose effective rule
// differs between them: nothing when they share their rules, the patched one's changes
// when one's rules were patched from the other's. It reports false otherwise.
func changedRules(a, b *SidecarScope) (map[host.Name]bool, bool) {
	switch {
	case a.rulesID == b.rulesID:
		return nil, true
	case b.rulesBase == a.rulesID && b.rulesChanged != nil:
		return b.rulesChanged, true
	case a.rulesBase == b.rulesID && a.rulesChanged != nil:
		return a.rulesChanged, true
	}
	return nil, false
}

// importsAnyHost reports whether sc imports a service with one of the hostnames.
func (sc *SidecarScope) importsAnyHost(hosts map[host.Name]bool) bool {
	if len(hosts) < len(sc.byHost) {
		for h := range hosts {
			if sc.byHost[h] != nil {
				return true
			}
		}
		return false
	}
	for h := range sc.byHost {
		if hosts[h] {
			return true
		}
	}
	return false
}

// EndpointHosts returns the hostnames whose endpoints changed from pc's parent, and
// whether the change was endpoints only: no service, or anything else a full push would
// regenerate, changed, and every such service is resolved through EDS. nil hosts mean
// unknown (a full build).
func (pc *PushContext) EndpointHosts() (hosts map[host.Name]bool, endpointsOnly bool) {
	ch := pc.changes
	if ch == nil || ch.all {
		return nil, false
	}
	endpointsOnly = len(ch.services) == 0 && !ch.serviceAccountsChanged
	for k := range ch.keys {
		switch k.Kind {
		case schema.EndpointSlice, schema.ServiceEntry, schema.WorkloadEntry:
		default:
			endpointsOnly = false
		}
	}
	if endpointsOnly {
		for h := range ch.endpointHosts {
			for _, s := range pc.services.byHost[h] {
				if s.Resolution != ClientSideLB {
					endpointsOnly = false
				}
			}
		}
	}
	return ch.endpointHosts, endpointsOnly
}

// HTTPRouteChangesOnly reports whether every change behind this context is a
// VirtualService with neither tcp nor tls routes, before and after: listeners read
// VirtualServices only for those, so a proxy's listeners are unchanged unless its scope's
// services are.
func (pc *PushContext) HTTPRouteChangesOnly() bool {
	ch := pc.changes
	if ch == nil || ch.all || len(ch.keys) == 0 || ch.layer4VirtualServices {
		return false
	}
	for k := range ch.keys {
		if k.Kind != schema.VirtualService {
			return false
		}
	}
	return true
}

// DestinationRulesSpareRoutes reports, for a proxy whose scope went from before to after
// with the same services, whether the DestinationRule changes behind this context leave
// its routes and listeners as they were: every change is a DestinationRule with exact
// hosts (before and after), and for each such host the rule the scope applies carries,
// before and after, the same of what routes and listeners read (routeView).
func (pc *PushContext) DestinationRulesSpareRoutes(before, after *SidecarScope) bool {
	hosts, ok := pc.DestinationRuleHosts()
	if !ok || !SameScopeServices(before, after) {
		return false
	}
	for h := range hosts {
		if !proto.Equal(routeView(before.DestinationRule(h).Spec()), routeView(after.DestinationRule(h).Spec())) {
			return false
		}
	}
	return true
}

// routeView is what route and listener generation read of a DestinationRule: load
// balancing (consistent hashing), the TCP idle timeout and connection duration, and
// tunnels, at the rule, port and subset levels, with subset names. Everything else
// (connection limits, outlier detection, TLS, ...) only shapes clusters.
func routeView(dr *networkingv1alpha3.DestinationRule) *networkingv1alpha3.DestinationRule {
	if dr == nil {
		return nil
	}
	view := func(tp *networkingv1alpha3.TrafficPolicy) *networkingv1alpha3.TrafficPolicy {
		if tp == nil {
			return nil
		}
		out := &networkingv1alpha3.TrafficPolicy{LoadBalancer: tp.GetLoadBalancer(), Tunnel: tp.GetTunnel()}
		if tcp := tp.GetConnectionPool().GetTcp(); tcp != nil {
			out.ConnectionPool = &networkingv1alpha3.ConnectionPoolSettings{Tcp: &networkingv1alpha3.ConnectionPoolSettings_TCPSettings{
				IdleTimeout: tcp.GetIdleTimeout(), MaxConnectionDuration: tcp.GetMaxConnectionDuration()}}
		}
		for _, pls := range tp.GetPortLevelSettings() {
			out.PortLevelSettings = append(out.PortLevelSettings, &networkingv1alpha3.TrafficPolicy_PortTrafficPolicy{
				Port: pls.GetPort(), LoadBalancer: pls.GetLoadBalancer()})
		}
		return out
	}
	out := &networkingv1alpha3.DestinationRule{Host: dr.GetHost(), TrafficPolicy: view(dr.GetTrafficPolicy())}
	for _, ss := range dr.GetSubsets() {
		out.Subsets = append(out.Subsets, &networkingv1alpha3.Subset{Name: ss.GetName(), TrafficPolicy: view(ss.GetTrafficPolicy())})
	}
	return out
}

// DestinationRuleHosts returns, when every change behind this context is a
// DestinationRule (and none of their hosts, before or after, is a wildcard), the hosts of
// the changed rules: a cluster's endpoints read only its own service's rule, so only
// those hosts' endpoints can have changed. ok is false otherwise.
func (pc *PushContext) DestinationRuleHosts() (hosts map[host.Name]bool, ok bool) {
	ch := pc.changes
	if ch == nil || ch.all || len(ch.keys) == 0 {
		return nil, false
	}
	for k := range ch.keys {
		if k.Kind != schema.DestinationRule {
			return nil, false
		}
	}
	hosts = make(map[host.Name]bool, len(ch.destinationRuleHosts))
	for _, h := range ch.destinationRuleHosts {
		if h.IsWildcard() {
			return nil, false
		}
		hosts[h] = true
	}
	return hosts, true
}
