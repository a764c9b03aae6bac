package cluster

import (
	"slices"
	"sync"
	"sync/atomic"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/proto"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/envoyfilter"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
	"github.com/sextant-mesh/sextant/pkg/config/host"
)

// Cache holds outbound clusters built once, encoded, and shared by every proxy that would
// build them the same way: what istiod's XdsCache does for CDS. A change then rebuilds
// the clusters of the services it touched, once, instead of every cluster of every
// proxy pushed.
//
// An outbound EDS cluster (a service resolved by the proxy from EDS) is a function of the
// Service, the DestinationRule that applies to it from the proxy, the service accounts
// behind it, its mTLS mode, the mesh config and whether the proxy is a sidecar; nothing
// else of the proxy is read. DNS and STATIC clusters also read the proxy's locality,
// labels and address families and the endpoints, and ORIGINAL_DST ones (and PASSTHROUGH
// load balancing) the endpoints' TLS modes: those are built per proxy, not cached.
//
// An entry records what it was built from; a lookup with anything else rebuilds it.
// Services, rules and mesh configs are immutable and replaced when they change, so the
// same pointers mean the same content (the DestinationRule index keeps the pointers of
// rules whose sources did not change: model.PushContext.Derive). The proxy's EnvoyFilter
// patches are applied per proxy on top: a cluster they do not touch is shared as is, one
// they merge a combined value into is shared by every proxy merging the same value
// (envoyfilter.ClusterPlan.Key). Entries of services that no longer exist are dropped
// when the cache has doubled since the last sweep.
//
// A Cache is safe for concurrent use.
type Cache struct {
	mu      sync.Mutex
	entries map[entryKey]*entry
	// swept is the number of entries left by the last sweep.
	swept int
	// patchers share EnvoyFilter cluster plans between proxies with the same patches.
	patchers envoyfilter.ClusterPatchers
	// kept and built count the services whose clusters builds for a connection kept
	// from its last build, and those they built (incremental.go).
	kept, built atomic.Int64
}

// maxVariants bounds the patch combinations remembered per cluster; further ones are
// applied per proxy.
const maxVariants = 16

type entryKey struct {
	host      host.Name
	namespace string
	port      int
	sidecar   bool
}

// entry is the outbound clusters of one service port, for one proxy kind.
type entry struct {
	// What the clusters were built from.
	svc  *model.Service
	rule *model.ConsolidatedDestinationRule
	sans []string
	mode model.MutualTLSMode
	mesh *meshv1alpha1.MeshConfig

	// encoded are the clusters, encoded; patching decodes a copy.
	encoded []Resource

	mu sync.Mutex
	// variants are the patched encodings of each cluster, by envoyfilter.ClusterPlan.Key;
	// results the patched clusters of the entry whose plans share a key, by that key.
	variants []keyed[*Resource]
	results  keyed[*[]Resource]
}

// keyed is a small map: entries hold a few keys (at most maxVariants), and a Go map
// costs ~800 bytes even for one, per cluster of the cache.
type keyed[V any] []keyedValue[V]

type keyedValue[V any] struct {
	key   string
	value V
}

func (k keyed[V]) get(key string) (V, bool) {
	for _, kv := range k {
		if kv.key == key {
			return kv.value, true
		}
	}
	var zero V
	return zero, false
}

// set sets key's value, adding the key when absent.
func (k *keyed[V]) set(key string, v V) {
	for i := range *k {
		if (*k)[i].key == key {
			(*k)[i].value = v
			return
		}
	}
	*k = append(*k, keyedValue[V]{key, v})
}

// result returns the patched clusters kept for key, or nil.
func (e *entry) result(key string) *[]Resource {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, _ := e.results.get(key)
	return r
}

// keepResult keeps rs as the patched clusters for key while the entry keeps fewer than
// maxVariants. It returns the kept clusters, or rs and false when it keeps none.
func (e *entry) keepResult(key string, rs []Resource) (*[]Resource, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if kept, _ := e.results.get(key); kept != nil {
		return kept, true
	}
	if len(e.results) >= maxVariants {
		return &rs, false
	}
	e.results.set(key, &rs)
	return &rs, true
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{entries: map[entryKey]*entry{}} }

// Build returns the clusters of proxy p as BuildClusters does, each either as a message
// (built for this proxy alone) or as its encoding (shared from the cache).
func (c *Cache) Build(pc *model.PushContext, p *model.Proxy) []Resource {
	rs, _, _ := build(pc, p, c, false)
	return rs
}

// BuildDelta returns the clusters of proxy p as changes to those the last build for the
// same connection (p.Memo) returned, by Build or BuildDelta: the clusters that may have
// changed (any other is the same encoding as then), the names of those gone (unordered),
// and true. When it cannot tell, it returns every cluster, as Build does, and false. It
// is for a connection that was sent the last build's clusters: a Delta xDS push then
// sends the changed ones and removes the gone, without a pass over the thousands it keeps.
func (c *Cache) BuildDelta(pc *model.PushContext, p *model.Proxy) (rs []Resource, removed []string, delta bool) {
	return build(pc, p, c, true)
}

// portKind says how a port's outbound clusters were made.
type portKind int

const (
	// sharedPort: from the cache, in a slice the cache keeps.
	sharedPort portKind = iota
	// patchedPort: the cache's clusters patched for this proxy alone, a function of the
	// cache entry and the patcher's plans.
	patchedPort
	// ownPort: built for this proxy alone (DNS, STATIC, ORIGINAL_DST, PASSTHROUGH load
	// balancing; or without a cache): they read the proxy and the endpoints.
	ownPort
)

// outbound returns the patched outbound clusters of one service port, and how they were
// made; shared ones must not be changed. A nil cache builds them.
func (c *Cache) outbound(b *builder, cp *envoyfilter.ClusterPatcher, svc *model.Service, port *model.Port) (*[]Resource, portKind) {
	o := b.outbound(svc, port)
	if c == nil || svc.Resolution != model.ClientSideLB || passthroughLB(o.rule.Spec()) {
		rs := patched(cp, b.outboundClusters(o)...)
		return &rs, ownPort
	}
	e := c.lookup(b, o)
	// Patches matched by port plan every cluster of a port alike: then the patched
	// clusters are kept with the entry, by the plan's key, for the proxies sharing it.
	key, same, unchanged := "", true, true
	for i, r := range e.encoded {
		pl := cp.Plan(r.Name, nil)
		if i == 0 {
			key = pl.Key()
		}
		same = same && pl.Key() == key
		unchanged = unchanged && pl.Unchanged()
	}
	switch {
	case unchanged:
		return &e.encoded, sharedPort
	case key == "":
		same = false // removed, or patched without a key: per proxy
	case same:
		if rs := e.result(key); rs != nil {
			return rs, sharedPort
		}
	}
	out := make([]Resource, 0, len(e.encoded))
	shared := same
	for i, r := range e.encoded {
		pl := cp.Plan(r.Name, nil)
		switch {
		case pl.Unchanged():
			out = append(out, r)
		case pl.Key() != "":
			r, kept := e.variant(i, pl)
			out = append(out, r)
			// A variant the cache does not keep is this proxy's alone: holding it would
			// keep a copy per proxy of clusters patched per workload.
			shared = shared && kept
		default:
			if cl := pl.ApplyOwned(decode(r)); cl != nil {
				out = append(out, Resource{Name: cl.GetName(), Message: cl})
			}
			shared = false
		}
	}
	if shared {
		if rs, kept := e.keepResult(key, out); kept {
			return rs, sharedPort
		}
	}
	return &out, patchedPort
}

// lookup returns the entry for o as the proxy would build it, building it when the cache
// holds none or one built from other objects.
func (c *Cache) lookup(b *builder, o *outbound) *entry {
	k := entryKey{host: o.svc.Hostname, namespace: o.svc.Namespace, port: o.port.Port, sidecar: b.proxy.Type == model.SidecarProxy}
	mode := b.pc.ServiceMTLSMode(o.svc, o.port.Port, false)
	c.mu.Lock()
	e := c.entries[k]
	c.mu.Unlock()
	if e != nil && e.svc == o.svc && sameRule(e.rule, o.rule) && e.mode == mode && e.mesh == b.mesh && slices.Equal(e.sans, o.sans) {
		return e
	}
	e = &entry{svc: o.svc, rule: o.rule, sans: o.sans, mode: mode, mesh: b.mesh}
	cs := b.outboundClusters(o)
	e.encoded = make([]Resource, len(cs))
	e.variants = make([]keyed[*Resource], len(cs))
	for i, cl := range cs {
		e.encoded[i] = encode(cl)
	}
	c.mu.Lock()
	c.entries[k] = e
	if len(c.entries) > 2*c.swept+1024 {
		c.sweep(b.pc)
	}
	c.mu.Unlock()
	return e
}

// sameRule reports whether two consolidated rules have the same effective rule: the
// clusters read nothing else of them (a rule exported to other namespaces and kept for
// its own is two consolidated rules around one config).
func sameRule(a, b *model.ConsolidatedDestinationRule) bool {
	return a == b || (a != nil && b != nil && a.Rule == b.Rule)
}

// sweep drops the entries whose service is no longer pc's. c.mu is held.
func (c *Cache) sweep(pc *model.PushContext) {
	for k, e := range c.entries {
		if pc.ServiceIn(k.host, k.namespace) != e.svc {
			delete(c.entries, k)
		}
	}
	c.swept = len(c.entries)
}

// variant returns cluster i of the entry patched by pl, whose Key is not empty, and
// whether the entry keeps it. A patched encoding is kept from its second use on: patches
// selecting a single workload would otherwise keep one copy of every cluster per workload.
func (e *entry) variant(i int, pl envoyfilter.ClusterPlan) (Resource, bool) {
	e.mu.Lock()
	kept, seen := e.variants[i].get(pl.Key())
	e.mu.Unlock()
	if kept != nil {
		return *kept, true
	}
	r := patchEncoded(e.encoded[i], pl)
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case seen:
		e.variants[i].set(pl.Key(), &r)
		return r, true
	case len(e.variants[i]) < maxVariants:
		e.variants[i].set(pl.Key(), nil) // seen once
	}
	return r, false
}

// patchEncoded returns the encoded cluster r patched by pl, which neither removes it nor
// leaves it unchanged: by appending the plan's merge encoding when it has one (a few
// bytes copied, where decoding, patching and encoding a cluster took ~25 us), decoded
// otherwise.
func patchEncoded(r Resource, pl envoyfilter.ClusterPlan) Resource {
	if w := pl.MergeEncoding(); w != nil {
		return protoconv.SharedMerged(r, w)
	}
	return encode(pl.ApplyOwned(decode(r)))
}

// encode returns c encoded deterministically for many proxies, with the hash of the
// encoding.
func encode(c *clusterv3.Cluster) Resource { return protoconv.Shared(c.GetName(), c) }

// decode returns a copy of an encoded cluster, for patching.
func decode(r Resource) *clusterv3.Cluster {
	c := &clusterv3.Cluster{}
	if err := proto.Unmarshal(r.Any.GetValue(), c); err != nil {
		// The bytes are our own encoding of a valid message.
		panic("cluster cache: decoding " + r.Name + ": " + err.Error())
	}
	return c
}

// passthroughLB reports whether the rule asks for PASSTHROUGH load balancing, for the
// service or any subset: the mTLS mode of such clusters reads the endpoints.
func passthroughLB(dr *networkingv1alpha3.DestinationRule) bool {
	if isPassthroughLB(dr.GetTrafficPolicy()) {
		return true
	}
	for _, s := range dr.GetSubsets() {
		if isPassthroughLB(s.GetTrafficPolicy()) {
			return true
		}
	}
	return false
}

// isPassthroughLB reports whether a traffic policy's load balancer is PASSTHROUGH.
func isPassthroughLB(tp *networkingv1alpha3.TrafficPolicy) bool {
	return tp.GetLoadBalancer().GetSimple() == networkingv1alpha3.LoadBalancerSettings_PASSTHROUGH
}
