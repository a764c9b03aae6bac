package cluster

import (
	"slices"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"github.com/sextant-mesh/sextant/pilot/pkg/envoyfilter"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
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
	// ports[first[i+1]]; nil for those built for the proxy alone.
	ports []*[]Resource
	first []uint32
	// n is the number of clusters built, to size the next build.
	n int
}

// keeper returns which services of the proxy's scope can keep their clusters from last,
// or nil when none can.
func (last *lastOutbound) keeper(b *builder, cp *envoyfilter.ClusterPatcher) func(i int, svc *model.Service) bool {
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
		return !slices.Contains(last.of(i), nil)
	}
}

// of returns the clusters of the ports of services[i].
func (last *lastOutbound) of(i int) []*[]Resource { return last.ports[last.first[i]:last.first[i+1]] }

// allOutbound returns the outbound clusters of every service port in the proxy's scope,
// patched, keeping from the connection's last build the clusters of the services that
// did not change.
func (c *Cache) allOutbound(b *builder, cp *envoyfilter.ClusterPatcher) []Resource {
	if b.proxy.SidecarScope == nil {
		return nil
	}
	svcs := b.proxy.SidecarScope.Services()
	memo := c != nil && b.proxy.Memo != nil
	var last, next *lastOutbound
	if memo {
		last, _ = b.proxy.Memo.Load(outboundKey{c}).(*lastOutbound)
		if b.pc.OutboundRulesFromScope(b.proxy) {
			next = &lastOutbound{
				patcher: cp, mesh: b.mesh, sidecar: b.proxy.Type == model.SidecarProxy,
				authn: b.pc.AuthnVersion(), endpoints: b.pc.EndpointsVersion(),
				scope: b.proxy.SidecarScope, services: svcs, first: make([]uint32, len(svcs)+1),
			}
			if last != nil {
				next.ports = make([]*[]Resource, 0, len(last.ports))
			}
		}
	}
	keep := last.keeper(b, cp)
	size := 2*len(svcs) + 8 // extra ports and subsets
	if last != nil {
		size = last.n + 8
	}
	out := make([]Resource, 0, size)
	kept := 0
	for i, svc := range svcs {
		if next != nil {
			next.first[i] = uint32(len(next.ports))
		}
		// Kept first: it compares pointers, where reading each service was a cache miss.
		// (An alias service kept has no clusters, as it had none.)
		if keep != nil && keep(i, svc) {
			for _, rs := range last.of(i) {
				out = append(out, *rs...)
			}
			if next != nil {
				next.ports = append(next.ports, last.of(i)...)
			}
			kept++
			continue
		}
		if svc.Resolution == model.Alias {
			continue
		}
		for _, port := range svc.Ports {
			if port.Protocol == protocol.UDP {
				continue
			}
			rs, shared := c.outbound(b, cp, svc, port)
			out = append(out, *rs...)
			if next != nil {
				if !shared {
					rs = nil
				}
				next.ports = append(next.ports, rs)
			}
		}
	}
	if memo {
		c.kept.Add(int64(kept))
		c.built.Add(int64(len(svcs) - kept))
		if next != nil {
			next.first[len(svcs)] = uint32(len(next.ports))
			next.n = len(out)
			next.ports = slices.Clip(next.ports)
			b.proxy.Memo.Store(outboundKey{c}, next)
		} else {
			b.proxy.Memo.Store(outboundKey{c}, nil)
		}
	}
	return out
}

// Kept returns how many services' outbound clusters builds with a connection kept from
// its last build, and how many they built (from the cache or afresh).
func (c *Cache) Kept() (kept, built int64) { return c.kept.Load(), c.built.Load() }
