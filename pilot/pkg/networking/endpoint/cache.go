package endpoint

import (
	"sync"
	"unsafe"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
)

// Cache holds load assignments built once, encoded, and shared by every proxy that would
// build them the same way, as istiod's EDS cache does: an endpoint change then builds the
// changed cluster's assignment once for all the proxies it reaches, instead of once per
// proxy, each with its own metadata structs.
//
// An assignment reads the proxy only through the service its scope resolves the cluster's
// hostname to and the DestinationRule that applies (resolveTarget), unless the service is
// node-local (the proxy's node) or locality load balancing weighs or prioritises
// localities for it (the proxy's locality and labels): those are built per proxy, not
// cached. Otherwise it is a function of the cluster name, the service, the rule, the
// service's endpoints (model.PushContext.ServiceEndpoints: a new slice when they change),
// the PeerAuthentication index (auto mTLS metadata) and the mesh config. An entry records
// them; a lookup with anything else rebuilds it. Entries of services that are no longer
// the mesh's are dropped when the cache has doubled since the last sweep.
//
// A Cache is safe for concurrent use.
type Cache struct {
	mu      sync.Mutex
	entries map[string]*entry
	swept   int
}

// entry is one cluster's assignment and what it was built from.
type entry struct {
	svc   *model.Service
	rule  *networkingv1alpha3.DestinationRule
	eps   []*model.Endpoint
	authn uint64
	mesh  *meshv1alpha1.MeshConfig
	res   protoconv.Resource
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{entries: map[string]*entry{}} }

// Build returns the load assignments BuildEndpoints returns, in the same order: shared
// encodings from the cache, or messages built for p alone.
func (c *Cache) Build(pc *model.PushContext, p *model.Proxy, clusterNames []string) []protoconv.Resource {
	out := protoconv.Resources(len(clusterNames))
	for _, name := range clusterNames {
		out = append(out, c.assignment(pc, p, name))
	}
	return out
}

func (c *Cache) assignment(pc *model.PushContext, p *model.Proxy, name string) protoconv.Resource {
	t, ok := resolveTarget(pc, p, name)
	switch {
	case !ok:
		return protoconv.Resource{Name: name, Message: &endpointv3.ClusterLoadAssignment{ClusterName: name}}
	case !t.sharedByProxies(pc):
		return protoconv.Resource{Name: name, Message: assign(pc, p, t, name)}
	}
	eps, authn := pc.ServiceEndpoints(t.svc), pc.AuthnVersion()
	c.mu.Lock()
	e := c.entries[name]
	c.mu.Unlock()
	if e != nil && e.svc == t.svc && e.rule == t.rule && sameSlice(e.eps, eps) && e.authn == authn && e.mesh == pc.Mesh {
		return e.res
	}
	e = &entry{svc: t.svc, rule: t.rule, eps: eps, authn: authn, mesh: pc.Mesh,
		res: protoconv.Shared(name, assign(pc, p, t, name))}
	c.mu.Lock()
	c.entries[name] = e
	if len(c.entries) > 2*c.swept+1024 {
		c.sweep(pc)
	}
	c.mu.Unlock()
	return e.res
}

// sameSlice reports whether two endpoint slices are the same slice of the index. Entries
// hold their slice, so its array cannot be reused by another while compared.
func sameSlice(a, b []*model.Endpoint) bool {
	return len(a) == len(b) && unsafe.SliceData(a) == unsafe.SliceData(b)
}

// sweep drops the entries whose service is no longer pc's. c.mu is held.
func (c *Cache) sweep(pc *model.PushContext) {
	for name, e := range c.entries {
		if pc.ServiceIn(e.svc.Hostname, e.svc.Namespace) != e.svc {
			delete(c.entries, name)
		}
	}
	c.swept = len(c.entries)
}

// sharedByProxies reports whether the cluster's assignment reads nothing of the proxy
// beyond the target: the service is not node-local, and locality load balancing, when
// enabled for it, neither weighs localities nor sets failover priorities (applyLocalityLB).
func (t *target) sharedByProxies(pc *model.PushContext) bool {
	if t.svc.NodeLocal {
		return false
	}
	setting, forced := effectiveLocalitySetting(pc.Mesh, t.policy.GetLoadBalancer(), t.svc)
	return setting == nil || (setting.GetDistribute() == nil && !forced && t.policy.GetOutlierDetection() == nil)
}

// assign builds the assignment of a resolved cluster for p.
func assign(pc *model.PushContext, p *model.Proxy, t *target, name string) *endpointv3.ClusterLoadAssignment {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: name}
	groups := groupByLocality(t.lbEndpoints(pc))
	if len(groups) == 0 {
		return cla
	}
	if t.key.dnsSRV {
		// The DNS SRV clusters of AUTO_PASSTHROUGH gateways pass TLS through unseen, so
		// only endpoints known to require Istio mTLS may be reached through them.
		keepMTLSOnly(groups)
	}
	cla.Endpoints = applyLocalityLB(pc, p, t, groups)
	return cla
}
