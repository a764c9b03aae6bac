package cluster

import (
	"slices"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"github.com/sextant-mesh/sextant/pilot/pkg/envoyfilter"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// A connection's outbound clusters are built from its last ones: the clusters of a
// service are kept when nothing they were built from changed, and built again (from the
// Cache, which shares them between proxies) otherwise. A DestinationRule edit then costs
// each proxy it reaches the clusters of the rule's hosts, not a pass over the thousands
// of service ports it imports, which reads each one's rule, service accounts and mTLS
// mode and locks the shared cache for each.
//
// It is exact. Cached outbound clusters are a function of the service, its
// DestinationRule from the proxy, its service accounts and mTLS mode, the mesh config,
// whether the proxy is a sidecar and the proxy's EnvoyFilter CLUSTER patches (Cache). The
// last build is used only when the mesh config, the proxy kind, the patches (the same
// patch objects) and the PeerAuthentication index are the same, and when the rules come
// from the proxy's SidecarScope in both builds (no rule of its namespace selects
// workloads). A service's clusters are then kept when it is the same object at the same
// position in the scope's services, its hostname's rule is the same in both scopes
// (model.ChangedDestinationRuleHosts) and its endpoints, which give its service accounts,
// were not re-derived since (model.PushContext.EndpointChangesSince). Clusters built for
// the proxy alone (DNS, STATIC, ORIGINAL_DST, PASSTHROUGH load balancing, or patched
// with a value no other proxy shares) are always built again.

// outboundKey files a connection's last outbound clusters in its model.Memo.
type outboundKey struct{ cache *Cache }

// lastOutbound is what a connection's last outbound clusters were built from, and the
// clusters of each port of each service of its scope. It holds a pointer per port (the
// clusters are the Cache's): ~19 KB for a sidecar importing 1,000 two-port services.
type lastOutbound struct {
	patcher   *envoyfilter.ClusterPatcher
	mesh      *meshv1alpha1.MeshConfig
	sidecar   bool
	authn     uint64
	endpoints uint64
	// scope is the SidecarScope the rules came from; services its services.
	scope    *model.SidecarScope
	services []*model.Service
	// ports are the clusters of each port, services[i]'s from ports[first[i]] to
	// ports[first[i+1]]; nil for those built for the proxy alone, patchedAlone for the
	// cache's patched for it alone: the names of both are in own.
	ports []*[]Resource
	first []uint32
	own   map[uint32][]string
	// n is the number of clusters built, to size the next build.
	n int
	// tail are the names of the clusters the build returned after the outbound ones, and
	// dropped whether it dropped clusters of a name it had returned already (dedupe).
	tail    []string
	dropped bool
}

// patchedAlone marks, in lastOutbound.ports, a port whose clusters were the cache's
// patched for the proxy alone (a workload's own patch value, or a plan the cache keeps no
// more variants of). They are not held (a copy per proxy), but they are a function of
// what the keeper compares: the same again while it keeps the service. A delta, which
// sends only what changed, keeps them without their bytes; a whole build patches them
// again.
var patchedAlone = &[]Resource{}

// keeper returns which services of the proxy's scope can keep their clusters from last,
// or nil when none can; with delta, those with clusters patched for the proxy alone too.
func (last *lastOutbound) keeper(b *builder, cp *envoyfilter.ClusterPatcher, delta bool) func(i int, svc *model.Service) bool {
	if last == nil || !last.patcher.Same(cp) || last.mesh != b.mesh || last.sidecar != (b.proxy.Type == model.SidecarProxy) ||
		last.authn != b.pc.AuthnVersion() || !b.pc.OutboundRulesFromScope(b.proxy) {
		return nil
	}
	eps, ok := b.pc.EndpointChangesSince(last.endpoints)
	if !ok {
		return nil
	}
	var rules map[host.Name]bool // nil: the same scope, the same rules
	if last.scope != b.proxy.SidecarScope {
		rules = model.ChangedDestinationRuleHosts(last.scope, b.proxy.SidecarScope)
	}
	rebuild := b.proxy.SidecarScope.ServicesAffected(rules, eps)
	return func(i int, svc *model.Service) bool {
		if i >= len(last.services) || last.services[i] != svc || rebuild[svc] {
			return false
		}
		for _, rs := range last.of(i) {
			if rs == nil || (rs == patchedAlone && !delta) {
				return false
			}
		}
		return true
	}
}

// of returns the clusters of the ports of services[i].
func (last *lastOutbound) of(i int) []*[]Resource { return last.ports[last.first[i]:last.first[i+1]] }

// names appends the names of the clusters of services[i] to out.
func (last *lastOutbound) names(i int, out []string) []string {
	for k := last.first[i]; k < last.first[i+1]; k++ {
		if rs := last.ports[k]; rs != nil && rs != patchedAlone {
			for _, r := range *rs {
				out = append(out, r.Name)
			}
		} else {
			out = append(out, last.own[k]...)
		}
	}
	return out
}

// outboundBuild is the outbound part of a build for a connection: every cluster or, for
// a delta, the clusters of the services it did not keep from the connection's last build.
type outboundBuild struct {
	clusters []Resource
	delta    bool
	// cache, b and cp built it.
	cache *Cache
	b     *builder
	cp    *envoyfilter.ClusterPatcher
	// last and next are the connection's last build and this one (nil: not remembered).
	last, next *lastOutbound
	// For a delta: kept[i] is set for the services kept from last, and the clusters of
	// the others are clusters[bounds[i]:bounds[i+1]].
	kept   []bool
	bounds []uint32
}

// allOutbound returns the outbound clusters of every service port in the proxy's scope,
// patched, keeping from the connection's last build the clusters of the services that
// did not change. With delta, the kept clusters are left out when the last build allows
// it (outboundBuild.delta).
func (c *Cache) allOutbound(b *builder, cp *envoyfilter.ClusterPatcher, delta bool) *outboundBuild {
	ob := &outboundBuild{cache: c, b: b, cp: cp}
	if b.proxy.SidecarScope == nil {
		return ob
	}
	svcs := b.proxy.SidecarScope.Services()
	memo := c != nil && b.proxy.Memo != nil
	if memo {
		ob.last, _ = b.proxy.Memo.Load(outboundKey{c}).(*lastOutbound)
		if b.pc.OutboundRulesFromScope(b.proxy) {
			ob.next = &lastOutbound{
				patcher: cp, mesh: b.mesh, sidecar: b.proxy.Type == model.SidecarProxy,
				authn: b.pc.AuthnVersion(), endpoints: b.pc.EndpointsVersion(),
				scope: b.proxy.SidecarScope, services: svcs, first: make([]uint32, len(svcs)+1),
			}
			if ob.last != nil {
				ob.next.ports = make([]*[]Resource, 0, len(ob.last.ports))
			}
		}
	}
	last, next := ob.last, ob.next
	// A delta needs the last build's names to be unique: a kept cluster then shadows none
	// of the others (build).
	ob.delta = delta && next != nil && last != nil && !last.dropped
	keep := last.keeper(b, cp, ob.delta)
	ob.delta = ob.delta && keep != nil
	size := 2*len(svcs) + 8 // extra ports and subsets
	switch {
	case ob.delta:
		size = 8
		ob.kept, ob.bounds = make([]bool, len(svcs)), make([]uint32, len(svcs)+1)
	case last != nil:
		size = last.n + 8
	}
	out := protoconv.Resources(size) // the server returns it to the pool once sent
	kept := 0
	for i, svc := range svcs {
		if next != nil {
			next.first[i] = uint32(len(next.ports))
		}
		if ob.delta {
			ob.bounds[i] = uint32(len(out))
		}
		// Kept first: it compares pointers, where reading each service was a cache miss.
		// (An alias service kept has no clusters, as it had none.)
		if keep != nil && keep(i, svc) {
			if ob.delta {
				ob.kept[i] = true
			} else {
				for _, rs := range last.of(i) {
					out = append(out, *rs...)
				}
			}
			if next != nil {
				for k, rs := range last.of(i) {
					if rs == patchedAlone {
						next.own = setKey(next.own, uint32(len(next.ports)), last.own[last.first[i]+uint32(k)])
					}
					next.ports = append(next.ports, rs)
				}
			}
			kept++
			continue
		}
		out = ob.service(svc, out)
	}
	if ob.delta {
		ob.bounds[len(svcs)] = uint32(len(out))
	}
	ob.clusters = out
	if memo {
		c.kept.Add(int64(kept))
		c.built.Add(int64(len(svcs) - kept))
		if next != nil {
			next.first[len(svcs)] = uint32(len(next.ports))
			next.ports = slices.Clip(next.ports)
			next.n = len(out)
			if ob.delta {
				next.n = last.n // a size hint
			}
		}
		// Stored even when nil: a build that cannot remember forgets the last one.
		b.proxy.Memo.Store(outboundKey{c}, next)
	}
	return ob
}

// service appends the outbound clusters of svc's ports to out, recording them in the
// next memo.
func (ob *outboundBuild) service(svc *model.Service, out []Resource) []Resource {
	if svc.Resolution == model.Alias {
		return out
	}
	next := ob.next
	for _, port := range svc.Ports {
		if port.Protocol == protocol.UDP {
			continue
		}
		rs, kind := ob.cache.outbound(ob.b, ob.cp, svc, port)
		out = append(out, *rs...)
		if next == nil {
			continue
		}
		if kind != sharedPort {
			names := make([]string, len(*rs))
			for i, r := range *rs {
				names[i] = r.Name
			}
			next.own = setKey(next.own, uint32(len(next.ports)), names)
			rs = nil
			if kind == patchedPort {
				rs = patchedAlone
			}
		}
		next.ports = append(next.ports, rs)
	}
	return out
}

func setKey[K comparable, V any](m map[K]V, k K, v V) map[K]V {
	if m == nil {
		m = map[K]V{}
	}
	m[k] = v
	return m
}

// all returns every outbound cluster, in the scope's order.
func (ob *outboundBuild) all() []Resource {
	if !ob.delta {
		return ob.clusters
	}
	out := protoconv.Resources(ob.last.n + 8)
	for i, kept := range ob.kept {
		if !kept {
			out = append(out, ob.clusters[ob.bounds[i]:ob.bounds[i+1]]...)
			continue
		}
		if slices.Contains(ob.last.of(i), patchedAlone) {
			// Patched again as before; the memo already records the service.
			out = (&outboundBuild{cache: ob.cache, b: ob.b, cp: ob.cp}).service(ob.b.proxy.SidecarScope.Services()[i], out)
			continue
		}
		for _, rs := range ob.last.of(i) {
			out = append(out, *rs...)
		}
	}
	return out
}

// changes returns a delta build's clusters, rs being those of the services not kept
// followed by the rest (tail), as changes to the connection's last build: rs and the
// names of the last build's clusters that are gone (unordered). It reports false when rs
// has a name the last build did not have outside the kept services (the name may be a
// kept cluster's, which comes first), or a name twice: the whole build must then be
// deduplicated.
func (ob *outboundBuild) changes(rs []Resource) ([]Resource, []string, bool) {
	old := map[string]bool{} // names of the last build's clusters not kept; true until met
	var names []string
	for i := range ob.last.services {
		if i >= len(ob.kept) || !ob.kept[i] {
			names = ob.last.names(i, names[:0])
			for _, n := range names {
				old[n] = true
			}
		}
	}
	for _, n := range ob.last.tail {
		old[n] = true
	}
	for _, r := range rs {
		met, ok := old[r.Name]
		if !ok || !met {
			return nil, nil, false // new, or twice
		}
		old[r.Name] = false
	}
	var removed []string
	for n, gone := range old {
		if gone {
			removed = append(removed, n)
		}
	}
	return rs, removed, true
}

// remember records the rest of the build in the connection's memo: the names of the
// clusters after the outbound ones, and whether deduplication dropped any.
func (ob *outboundBuild) remember(tail []Resource, dropped bool) {
	if ob.next == nil {
		return
	}
	ob.next.tail = make([]string, len(tail))
	for i, r := range tail {
		ob.next.tail[i] = r.Name
	}
	ob.next.dropped = dropped
}

// Kept returns how many services' outbound clusters builds with a connection kept from
// its last build, and how many they built (from the cache or afresh).
func (c *Cache) Kept() (kept, built int64) { return c.kept.Load(), c.built.Load() }
