package cluster

import (
	"math"
	"sort"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

// applyLocality applies locality-aware load balancing: the DestinationRule's zone-aware or
// locality setting, else the mesh's. Weighted locality config is turned on for explicit
// distribution, or failover (which needs outlier detection to ever trigger). Priorities
// and weights are computed here only for clusters with an inline load assignment (DNS);
// EDS clusters get them with their endpoints.
func (b *builder) applyLocality(d *draft, lb *networkingv1alpha3.LoadBalancerSettings) {
	if za := lb.GetZoneAwareLbSetting(); za != nil {
		b.applyZoneAware(d, za)
		return
	}
	loc := lb.GetLocalityLbSetting()
	if loc == nil {
		if za := b.mesh.GetZoneAwareLbSetting(); za != nil {
			b.applyZoneAware(d, za)
			return
		}
		loc = b.mesh.GetLocalityLbSetting()
	}
	if loc == nil || (loc.GetEnabled() != nil && !loc.GetEnabled().GetValue()) {
		return
	}
	c := d.c
	failover := c.OutlierDetection != nil
	if (failover && (len(loc.GetFailover()) > 0 || len(loc.GetFailoverPriority()) > 0)) || len(loc.GetDistribute()) > 0 {
		c.CommonLbConfig.LocalityConfigSpecifier = &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig_{
			LocalityWeightedLbConfig: &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig{},
		}
	}
	la := c.LoadAssignment
	if la == nil {
		return
	}
	switch {
	case len(loc.GetDistribute()) > 0:
		applyLocalityWeights(b.proxyLocality(), la, loc.GetDistribute())
	case failover && len(loc.GetFailoverPriority()) > 0:
		applyFailoverPriorities(la, d.endpoints, b.proxy.Labels, loc.GetFailoverPriority())
		if len(loc.GetFailover()) > 0 {
			applyLocalityFailover(b.proxyLocality(), la, loc.GetFailover())
		}
	case failover:
		applyLocalityFailover(b.proxyLocality(), la, loc.GetFailover())
	}
}

func (b *builder) applyZoneAware(d *draft, za *networkingv1alpha3.ZoneAwareLoadBalancerSetting) {
	var minSize *wrapperspb.UInt64Value
	if v := za.GetMinClusterSize(); v != nil {
		minSize = wrapperspb.UInt64(uint64(v.GetValue()))
	}
	cfg := &clusterv3.Cluster_CommonLbConfig_ZoneAwareLbConfig{MinClusterSize: minSize}
	d.c.CommonLbConfig.LocalityConfigSpecifier = &clusterv3.Cluster_CommonLbConfig_ZoneAwareLbConfig_{ZoneAwareLbConfig: cfg}
	if za.GetEnabled() != nil && !za.GetEnabled().GetValue() {
		cfg.RoutingEnabled = &typev3.Percent{Value: 0}
		return
	}
	if la := d.c.LoadAssignment; la != nil {
		if len(za.GetFailoverPriority()) > 0 {
			applyFailoverPriorities(la, d.endpoints, b.proxy.Labels, za.GetFailoverPriority())
		}
		applyRegionBuckets(b.proxyLocality(), la, za.GetFailover())
	}
}

func (b *builder) proxyLocality() *corev3.Locality {
	l := b.proxy.Locality
	return &corev3.Locality{Region: l.Region, Zone: l.Zone, SubZone: l.Subzone}
}

// localityMatch reports whether loc matches a "region/zone/subzone" rule, where "*" and
// missing parts match anything.
func localityMatch(loc *corev3.Locality, rule string) bool {
	parts := strings.SplitN(rule, "/", 3)
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	ok := func(rule, v string, optional bool) bool { return rule == "*" || (optional && rule == "") || rule == v }
	return ok(parts[0], loc.GetRegion(), false) && ok(parts[1], loc.GetZone(), true) && ok(parts[2], loc.GetSubZone(), true)
}

// applyLocalityWeights distributes traffic from the proxy's locality by the first
// matching distribute rule, dropping endpoints in localities it does not list.
func applyLocalityWeights(proxy *corev3.Locality, la *endpointv3.ClusterLoadAssignment, dist []*networkingv1alpha3.LocalityLoadBalancerSetting_Distribute) {
	for _, rule := range dist {
		if rule == nil || !localityMatch(proxy, rule.From) {
			continue
		}
		unmatched := map[int]bool{}
		for i := range la.Endpoints {
			unmatched[i] = true
		}
		for _, to := range sortedKeys(rule.To) {
			weight := rule.To[to]
			orig, total := map[int]uint32{}, uint32(0)
			for i, ep := range la.Endpoints {
				if unmatched[i] && localityMatch(ep.Locality, to) {
					delete(unmatched, i)
					orig[i] = 1
					if ep.LoadBalancingWeight != nil {
						orig[i] = ep.LoadBalancingWeight.Value
					}
					total += orig[i]
				}
			}
			for i, w := range orig {
				if v := float64(w*weight) / float64(total); v > 0 {
					la.Endpoints[i].LoadBalancingWeight = wrapperspb.UInt32(uint32(math.Ceil(v)))
				}
			}
		}
		for i := range unmatched {
			la.Endpoints[i].LbEndpoints = nil
		}
		return
	}
}

func sortedKeys(m map[string]uint32) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// lbPriority ranks an endpoint locality against the proxy's: 0 same subzone, 1 same
// zone, 2 same region, 3 elsewhere.
func lbPriority(proxy, ep *corev3.Locality) int {
	switch {
	case proxy.GetRegion() != ep.GetRegion():
		return 3
	case proxy.GetZone() != ep.GetZone():
		return 2
	case proxy.GetSubZone() != ep.GetSubZone():
		return 1
	}
	return 0
}

// applyLocalityFailover sets priorities by locality proximity; a region failover rule
// ranks regions other than its target last. Earlier priorities (from failoverPriority)
// are kept as the most significant part.
func applyLocalityFailover(proxy *corev3.Locality, la *endpointv3.ClusterLoadAssignment, failover []*networkingv1alpha3.LocalityLoadBalancerSetting_Failover) {
	for _, ep := range la.Endpoints {
		p := lbPriority(proxy, ep.Locality)
		if p == 3 {
			for _, f := range failover {
				if f.From == proxy.GetRegion() {
					if ep.Locality.GetRegion() != f.To {
						p = 4
					}
					break
				}
			}
		}
		ep.Priority = ep.Priority*5 + uint32(p)
	}
	compactPriorities(la.Endpoints)
}

// applyRegionBuckets is zone-aware LB's failover: the proxy's region first, then a
// failover target region, then the rest.
func applyRegionBuckets(proxy *corev3.Locality, la *endpointv3.ClusterLoadAssignment, failover []*networkingv1alpha3.ZoneAwareLoadBalancerSetting_Failover) {
	for _, ep := range la.Endpoints {
		p := uint32(0)
		if r := ep.Locality.GetRegion(); r != proxy.GetRegion() {
			p = 2
			for _, f := range failover {
				if f.From == proxy.GetRegion() {
					if r == f.To {
						p = 1
					}
					break
				}
			}
		}
		ep.Priority = ep.Priority*3 + p
	}
	compactPriorities(la.Endpoints)
}

// compactPriorities renumbers priorities 0..N without gaps, keeping their order.
func compactPriorities(eps []*endpointv3.LocalityLbEndpoints) {
	seen := map[uint32]bool{}
	var ps []uint32
	for _, ep := range eps {
		if !seen[ep.Priority] {
			seen[ep.Priority] = true
			ps = append(ps, ep.Priority)
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	rank := map[uint32]uint32{}
	for i, p := range ps {
		rank[p] = uint32(i)
	}
	for _, ep := range eps {
		ep.Priority = rank[ep.Priority]
	}
}

// applyFailoverPriorities splits each locality's endpoints by how many of the given labels
// (in order; "label=value" overrides the proxy's value) they share with the proxy. A
// mismatch on a leading topology.istio.io/network label only demotes below every other
// label.
func applyFailoverPriorities(la *endpointv3.ClusterLoadAssignment, eps []*model.Endpoint, proxyLabels map[string]string, prios []string) {
	if len(proxyLabels) == 0 || len(eps) == 0 {
		return
	}
	var out []*endpointv3.LocalityLbEndpoints
	i := 0
	for _, group := range la.Endpoints {
		n := len(group.LbEndpoints)
		if i+n > len(eps) {
			return
		}
		out = append(out, splitByPriority(group, eps[i:i+n], proxyLabels, prios)...)
		i += n
	}
	la.Endpoints = out
	compactPriorities(la.Endpoints)
}

func splitByPriority(group *endpointv3.LocalityLbEndpoints, eps []*model.Endpoint, proxyLabels map[string]string, prios []string) []*endpointv3.LocalityLbEndpoints {
	names, overrides := make([]string, len(prios)), map[string]string{}
	for i, p := range prios {
		name, value, ok := strings.Cut(p, "=")
		names[i] = name
		if ok {
			overrides[name] = value
		}
	}
	withNetwork := len(names) > 0 && names[0] == "topology.istio.io/network"
	byPrio := map[int][]int{}
	for i, e := range eps {
		prio, adjust := 0, 0
		for j, name := range names {
			want, ok := overrides[name]
			if !ok {
				want = proxyLabels[name]
			}
			if want != e.Labels[name] {
				if j == 0 && withNetwork {
					adjust = len(names)
					continue
				}
				prio = len(names) - j
				break
			}
		}
		byPrio[prio+adjust] = append(byPrio[prio+adjust], i)
	}
	keys := make([]int, 0, len(byPrio))
	for k := range byPrio {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	out := make([]*endpointv3.LocalityLbEndpoints, 0, len(keys))
	for _, k := range keys {
		g := &endpointv3.LocalityLbEndpoints{Locality: proto.Clone(group.Locality).(*corev3.Locality), Priority: uint32(k)}
		var w uint32
		for _, i := range byPrio[k] {
			g.LbEndpoints = append(g.LbEndpoints, group.LbEndpoints[i])
			w += group.LbEndpoints[i].GetLoadBalancingWeight().GetValue()
		}
		g.LoadBalancingWeight = wrapperspb.UInt32(w)
		out = append(out, g)
	}
	return out
}
