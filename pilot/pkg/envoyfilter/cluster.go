package envoyfilter

import (
	"slices"
	"strconv"
	"strings"
	"sync"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// PatchClusters applies the CLUSTER patches of ps for context ctx to cs, in place of the
// clusters they change, and appends the clusters ADD patches insert. hosts, when not nil,
// gives the service hostnames a cluster serves where its name does not say (inbound
// clusters: every service of the workload port); match.cluster.service is checked
// against them. The clusters of cs are never altered: a merged cluster is a copy.
func PatchClusters(ps *Patches, ctx Context, cs []*clusterv3.Cluster, hosts func(*clusterv3.Cluster) []string) []*clusterv3.Cluster {
	cp := NewClusterPatcher(ps, ctx)
	if cp.Empty() {
		return cs
	}
	out := make([]*clusterv3.Cluster, 0, len(cs))
	for _, c := range cs {
		var h []string
		if hosts != nil {
			h = hosts(c)
		}
		if c = cp.Plan(c.GetName(), h).Apply(c); c != nil {
			out = append(out, c)
		}
	}
	return append(out, cp.Added()...)
}

// ClusterPatcher applies one proxy's CLUSTER patches of one context cluster by cluster. A
// Plan depends only on the cluster's name (and served hosts), so a caller holding a
// cluster built once for many proxies can tell, before copying it, whether and how this
// proxy's patches change it. It is safe for concurrent use, and may be shared by the
// proxies with the same patches (ClusterPatchers).
type ClusterPatcher struct {
	patches []*Patch
	ctx     Context

	mu sync.Mutex
	// combined memoises the combination of each set of matching MERGE patches, by a hash
	// of the set's indexes in patches (the indexes are kept to tell collisions apart).
	combined map[uint64][]*combination
	// plans memoises the plan of each cluster name (for the hosts its name says), as an
	// index in distinct: a patcher's clusters share a handful of plans. When byPort (no
	// patch matches a cluster by name, subset or service, so a plan depends only on the
	// port the name says), plans are keyed by that port instead (portPlans).
	plans     map[string]uint32
	portPlans map[int]uint32
	byPort    bool
	distinct  []ClusterPlan
}

// Same reports whether two patchers apply the same patches in the same context, and so
// make the same plan for every cluster.
func (cp *ClusterPatcher) Same(o *ClusterPatcher) bool {
	return cp == o || (cp != nil && o != nil && cp.ctx == o.ctx && slices.Equal(cp.patches, o.patches))
}

// maxPlans bounds a patcher's memoised plans; past it, plans are made afresh.
const maxPlans = 1 << 16

// ClusterPatchers shares ClusterPatchers between proxies whose CLUSTER patches in a
// context are the same patch objects: each cluster's plan is then made once for all of
// them. Patches are immutable and recompiled (new objects) when their EnvoyFilter
// changes, so a shared patcher is never stale. It is safe for concurrent use.
type ClusterPatchers struct {
	mu       sync.Mutex
	patchers map[patcherKey][]*ClusterPatcher
	n        int
}

type patcherKey struct {
	ctx         Context
	first, last *Patch
	n           int
}

// maxPatchers bounds the patchers kept; past it, they are all dropped.
const maxPatchers = 4096

// For returns the patcher of ps's CLUSTER patches for ctx, shared with earlier callers
// whose patches were the same.
func (cs *ClusterPatchers) For(ps *Patches, ctx Context) *ClusterPatcher {
	patches := ps.scoped(networkingv1alpha3.EnvoyFilter_CLUSTER, ctx)
	if len(patches) == 0 {
		return &ClusterPatcher{ctx: ctx}
	}
	k := patcherKey{ctx: ctx, first: patches[0], last: patches[len(patches)-1], n: len(patches)}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, cp := range cs.patchers[k] {
		if slices.Equal(cp.patches, patches) {
			return cp
		}
	}
	if cs.patchers == nil || cs.n >= maxPatchers {
		cs.patchers, cs.n = map[patcherKey][]*ClusterPatcher{}, 0
	}
	cp := newClusterPatcher(patches, ctx)
	cs.patchers[k] = append(cs.patchers[k], cp)
	cs.n++
	return cp
}

// combination is the merge of a set of MERGE patch values, with its encoding as the
// content key that identifies it across proxies, and its merge encoding (mergeEncoding).
type combination struct {
	indexes []int
	value   *clusterv3.Cluster
	key     string
	wire    []byte
}

// NewClusterPatcher returns the patcher of ps's CLUSTER patches for ctx.
func NewClusterPatcher(ps *Patches, ctx Context) *ClusterPatcher {
	return newClusterPatcher(ps.scoped(networkingv1alpha3.EnvoyFilter_CLUSTER, ctx), ctx)
}

func newClusterPatcher(patches []*Patch, ctx Context) *ClusterPatcher {
	cp := &ClusterPatcher{patches: patches, ctx: ctx, byPort: true}
	for _, p := range patches {
		if m := p.Match.GetCluster(); m.GetName() != "" || m.GetSubset() != "" || m.GetService() != "" {
			cp.byPort = false
		}
	}
	return cp
}

// Empty reports whether no patch applies in the patcher's context.
func (cp *ClusterPatcher) Empty() bool { return len(cp.patches) == 0 }

// Added returns copies of the clusters the ADD patches insert, in order. An ADD without a
// context adds to sidecar outbound and gateways only.
func (cp *ClusterPatcher) Added() []*clusterv3.Cluster {
	var out []*clusterv3.Cluster
	for _, p := range cp.patches {
		if p.Operation != opAdd || p.Value == nil ||
			(p.Match.GetContext() == networkingv1alpha3.EnvoyFilter_ANY && cp.ctx != SidecarOutbound && cp.ctx != Gateway) {
			continue
		}
		out = append(out, proto.Clone(p.Value).(*clusterv3.Cluster))
	}
	return out
}

// ClusterPlan is what a proxy's patches do to one cluster: nothing, remove it, merge one
// combined value into it, or run patches one after the other.
type ClusterPlan struct {
	remove bool
	merge  *combination
	// sequential are the matching patches when they cannot be combined.
	sequential []*Patch
}

// Unchanged reports whether no patch matches the cluster.
func (pl ClusterPlan) Unchanged() bool {
	return !pl.remove && pl.merge == nil && pl.sequential == nil
}

// Key identifies the patched result for every cluster with the same unpatched content:
// two plans with the same non-empty key patch equal clusters into equal clusters. It is
// empty when the plan removes the cluster, leaves it unchanged, or runs patches that are
// not keyed (sequential merges, transport sockets).
func (pl ClusterPlan) Key() string {
	if pl.merge == nil {
		return ""
	}
	return pl.merge.key
}

// MergeEncoding returns, when the plan merges one combined value, that value encoded so
// that a cluster's encoding followed by it decodes as the cluster patched (ApplyOwned):
// a cluster kept encoded is patched by appending it, without decoding or encoding. It
// returns nil for any other plan. The bytes are shared and must not be modified.
func (pl ClusterPlan) MergeEncoding() []byte {
	if pl.merge == nil {
		return nil
	}
	return pl.merge.wire
}

// Apply returns the cluster patched: c itself when unchanged, nil when removed, a copy
// otherwise. c is never altered.
func (pl ClusterPlan) Apply(c *clusterv3.Cluster) *clusterv3.Cluster {
	if pl.remove || pl.Unchanged() {
		return pl.ApplyOwned(c)
	}
	return pl.ApplyOwned(proto.Clone(c).(*clusterv3.Cluster))
}

// ApplyOwned is Apply for a cluster the caller owns and will not read again unpatched
// (one just decoded): it is patched in place instead of copied.
func (pl ClusterPlan) ApplyOwned(c *clusterv3.Cluster) *clusterv3.Cluster {
	switch {
	case pl.remove:
		return nil
	case pl.merge != nil:
		mergeValue(opMerge, c, pl.merge.value)
	case pl.sequential != nil:
		for _, p := range pl.sequential {
			mergeCluster(p, c)
		}
	}
	return c
}

// Plan says what the patches do to the cluster called name serving hosts (nil: the
// hosts its name says).
//
// When every patch that matches is a plain MERGE without a transport socket (the common
// case: mesh-wide filters tuning every outbound cluster), merging them one after the
// other equals merging their combination once - proto merge is associative for such
// values (scalars and oneofs: the last set wins; lists append; maps replace entries;
// messages recurse; Durations replace) - so the combination is built once per set of
// matching patches and merged into the cluster in one go.
func (cp *ClusterPatcher) Plan(name string, hosts []string) ClusterPlan {
	if len(cp.patches) == 0 {
		return ClusterPlan{}
	}
	if hosts != nil {
		return cp.plan(name, hosts)
	}
	port := -1
	if cp.byPort {
		port = parseClusterName(name).port
	}
	cp.mu.Lock()
	var i uint32
	var ok bool
	if port >= 0 {
		i, ok = cp.portPlans[port]
	} else {
		i, ok = cp.plans[name]
	}
	var pl ClusterPlan
	if ok {
		pl = cp.distinct[i]
	}
	cp.mu.Unlock()
	if ok {
		return pl
	}
	pl = cp.plan(name, hosts)
	cp.memo(name, port, pl)
	return pl
}

// memo records pl as the plan of the cluster called name, by its port when port >= 0.
func (cp *ClusterPatcher) memo(name string, port int, pl ClusterPlan) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.plans == nil || len(cp.plans) >= maxPlans {
		cp.plans, cp.portPlans, cp.distinct = map[string]uint32{}, map[int]uint32{}, nil
	}
	i := slices.IndexFunc(cp.distinct, pl.equal)
	if i < 0 {
		i = len(cp.distinct)
		cp.distinct = append(cp.distinct, pl)
	}
	if port >= 0 {
		cp.portPlans[port] = uint32(i)
	} else {
		cp.plans[name] = uint32(i)
	}
}

func (pl ClusterPlan) equal(o ClusterPlan) bool {
	return pl.remove == o.remove && pl.merge == o.merge && slices.Equal(pl.sequential, o.sequential)
}

func (cp *ClusterPatcher) plan(name string, hosts []string) ClusterPlan {
	n := parseClusterName(name)
	var matched []int
	sum := uint64(fnvOffset)
	combinable := true
	for i, p := range cp.patches {
		if p.Operation != opRemove && !isMerge(p.Operation) {
			continue
		}
		if !clusterMatches(p.Match.GetCluster(), name, n, hosts) {
			continue
		}
		if p.Operation == opRemove {
			return ClusterPlan{remove: true}
		}
		v, _ := p.Value.(*clusterv3.Cluster)
		if p.Operation != opMerge || v == nil || v.GetTransportSocket() != nil {
			combinable = false
		}
		matched = append(matched, i)
		sum = (sum ^ uint64(i)) * fnvPrime
	}
	switch {
	case len(matched) == 0:
		return ClusterPlan{}
	case !combinable:
		seq := make([]*Patch, len(matched))
		for j, i := range matched {
			seq[j] = cp.patches[i]
		}
		return ClusterPlan{sequential: seq}
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.combined == nil {
		cp.combined = map[uint64][]*combination{}
	}
	for _, comb := range cp.combined[sum] {
		if slices.Equal(comb.indexes, matched) {
			return ClusterPlan{merge: comb}
		}
	}
	comb := cp.combine(matched)
	cp.combined[sum] = append(cp.combined[sum], comb)
	return ClusterPlan{merge: comb}
}

// FNV-1a parameters, for hashing sets of patch indexes.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// combine merges the values of the matched MERGE patches, in order, into one value keyed
// by its deterministic encoding.
func (cp *ClusterPatcher) combine(matched []int) *combination {
	var out *clusterv3.Cluster
	for _, i := range matched {
		v := cp.patches[i].Value.(*clusterv3.Cluster)
		if out == nil {
			out = proto.Clone(v).(*clusterv3.Cluster)
			continue
		}
		mergeValue(opMerge, out, v)
	}
	comb := &combination{indexes: matched, value: out}
	if b, err := (proto.MarshalOptions{Deterministic: true}).Marshal(out); err == nil {
		// Decoded patch values always marshal; an unkeyed combination is merely not shared.
		comb.key = string(b)
	}
	comb.wire, _ = mergeEncoding(out) // nil on failure: clusters are then decoded to be patched
	return comb
}

// mergeCluster merges a patch into a cluster. A transport socket in the patch is merged
// into the cluster's socket of the same name (typed_config into typed_config), replaces
// a socket of another name, and is dropped with the rest of the patch when the cluster
// picks sockets by transport_socket_matches and none has that name - as istiod does.
func mergeCluster(p *Patch, c *clusterv3.Cluster) {
	v, _ := p.Value.(*clusterv3.Cluster)
	if v == nil {
		return
	}
	if v.GetTransportSocket() == nil {
		mergeValue(p.Operation, c, v)
		return
	}
	var ts *corev3.TransportSocket
	if len(c.GetTransportSocketMatches()) > 0 {
		for _, m := range c.GetTransportSocketMatches() {
			if m.GetTransportSocket() != nil && m.GetTransportSocket().GetName() == v.GetTransportSocket().GetName() {
				ts = m.GetTransportSocket()
				break
			}
		}
		if ts == nil {
			return
		}
	} else if c.GetTransportSocket().GetName() == v.GetTransportSocket().GetName() {
		ts = c.GetTransportSocket()
	}
	if ts == nil {
		c.TransportSocket = proto.Clone(v.GetTransportSocket()).(*corev3.TransportSocket)
		return
	}
	mergeTransportSocket(ts, p)
}

// mergeTransportSocket merges the patch's transport socket typed_config into ts's. Only
// the typed_config is merged; the rest of the patch is not applied (istiod's behaviour).
func mergeTransportSocket(ts *corev3.TransportSocket, p *Patch) {
	if ts.GetTypedConfig() == nil || p.typed == nil {
		return
	}
	if merged, err := mergeAny(ts.GetTypedConfig(), p.typed); err == nil {
		ts.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: merged}
	}
}

// clusterMatches applies match.cluster to the cluster called name: an exact name, or
// the service, subset and port that the name (direction|port|subset|host, parsed as n)
// encodes.
func clusterMatches(m *networkingv1alpha3.EnvoyFilter_ClusterMatch, name string, n clusterName, hosts []string) bool {
	if m == nil {
		return true
	}
	if m.GetName() != "" {
		return m.GetName() == name
	}
	if m.GetSubset() != "" && m.GetSubset() != n.subset {
		return false
	}
	if m.GetService() != "" {
		if n.inbound && len(hosts) > 0 {
			if !slices.Contains(hosts, m.GetService()) {
				return false
			}
		} else if m.GetService() != n.host {
			return false
		}
	}
	return m.GetPortNumber() == 0 || int(m.GetPortNumber()) == n.port
}

// clusterName is a cluster name's parts.
type clusterName struct {
	inbound      bool
	subset, host string
	port         int
}

// parseClusterName splits direction|port|subset|host (or the DNS SRV form
// direction_.port_.subset_.host); parts it cannot find are empty.
func parseClusterName(name string) clusterName {
	sep := "|"
	if strings.HasPrefix(name, "outbound_") || strings.HasPrefix(name, "inbound_") {
		sep = "_."
	}
	dir, rest, ok := strings.Cut(name, sep)
	if !ok {
		return clusterName{}
	}
	n := clusterName{inbound: dir == "inbound"}
	p, rest, ok := strings.Cut(rest, sep)
	if !ok {
		return n
	}
	n.port, _ = strconv.Atoi(p)
	ss, rest, ok := strings.Cut(rest, sep)
	if !ok {
		return n
	}
	n.subset = ss
	if !strings.Contains(rest, sep) {
		n.host = rest
	}
	return n
}
