package endpoint

import (
	"math"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

// applyLocalityLB returns the cluster's locality groups as sent to proxy p, after the
// effective locality load balancing setting: weights redistributed across localities
// ("distribute"), or priorities by closeness to the proxy ("failover"). Failover needs
// outlier detection, without which Envoy never notices a locality is unhealthy, unless a
// traffic distribution preference forces it.
func applyLocalityLB(pc *model.PushContext, p *model.Proxy, t *target, groups []*localityGroup) []*endpointv3.LocalityLbEndpoints {
	out := make([]*endpointv3.LocalityLbEndpoints, len(groups))
	for i, g := range groups {
		out[i] = g.llb
	}
	setting, forced := effectiveLocalitySetting(pc.Mesh, t.policy.GetLoadBalancer(), t.svc)
	if setting == nil {
		return out
	}
	proxyLocality := envoyLocality(p.Locality)
	failover := forced || t.policy.GetOutlierDetection() != nil
	switch {
	case setting.GetDistribute() != nil:
		applyLocalityWeights(proxyLocality, out, setting.GetDistribute())
	case !failover:
		// Priorities Envoy would never fail over from would only starve other localities.
	case len(setting.GetFailoverPriority()) > 0:
		out = applyFailoverPriorities(groups, proxyLabels(p), setting.GetFailoverPriority(), out)
		if len(setting.GetFailover()) > 0 {
			applyLocalityFailover(proxyLocality, out, setting.GetFailover())
		}
	default:
		applyLocalityFailover(proxyLocality, out, setting.GetFailover())
	}
	return out
}

// effectiveLocalitySetting is the DestinationRule's locality setting, else the one the
// service's traffic distribution implies (forced: failover applies without outlier
// detection, since endpoint health tells Envoy when to spill over), else the mesh's. It is
// nil when the one that applies is disabled.
//
// Not modelled yet: zone-aware load balancing settings, which istiod prefers over the
// others.
func effectiveLocalitySetting(mesh *meshv1alpha1.MeshConfig, lb *networkingv1alpha3.LoadBalancerSettings,
	svc *model.Service,
) (setting *networkingv1alpha3.LocalityLoadBalancerSetting, forced bool) {
	if s := lb.GetLocalityLbSetting(); s != nil {
		return enabledOnly(s), false
	}
	switch svc.TrafficDistribution {
	case model.TrafficDistributionPreferSameZone:
		return &networkingv1alpha3.LocalityLoadBalancerSetting{
			Enabled:          wrapperspb.Bool(true),
			FailoverPriority: []string{labelTopologyNetwork, labelTopologyRegion, labelTopologyZone},
		}, true
	case model.TrafficDistributionPreferSameNode:
		return &networkingv1alpha3.LocalityLoadBalancerSetting{
			Enabled: wrapperspb.Bool(true),
			FailoverPriority: []string{
				labelTopologyNetwork, labelTopologyRegion, labelTopologyZone, labelTopologySubzone, labelHostname,
			},
		}, true
	}
	return enabledOnly(mesh.GetLocalityLbSetting()), false
}

func enabledOnly(s *networkingv1alpha3.LocalityLoadBalancerSetting) *networkingv1alpha3.LocalityLoadBalancerSetting {
	if s == nil || (s.GetEnabled() != nil && !s.GetEnabled().GetValue()) {
		return nil
	}
	return s
}

// applyLocalityWeights applies the first distribute rule whose "from" matches the proxy's
// locality: each "to" pattern's weight is shared among the localities it matches (first
// pattern wins, patterns taken in sorted order), in proportion to their own weights;
// localities no pattern matches keep their weight but lose their endpoints.
func applyLocalityWeights(proxy *corev3.Locality, llbs []*endpointv3.LocalityLbEndpoints,
	distribute []*networkingv1alpha3.LocalityLoadBalancerSetting_Distribute,
) {
	for _, d := range distribute {
		if d == nil || !localityMatches(proxy, d.GetFrom()) {
			continue
		}
		unmatched := make([]bool, len(llbs))
		for i := range unmatched {
			unmatched[i] = true
		}
		for _, pattern := range sortedKeys(d.GetTo()) {
			shareWeight(llbs, unmatched, pattern, d.GetTo()[pattern])
		}
		for i, u := range unmatched {
			if u {
				llbs[i].LbEndpoints = nil
			}
		}
		return
	}
}

// shareWeight gives weight to the unmatched localities pattern matches, in proportion to
// their current weights, rounding up, and marks them matched.
func shareWeight(llbs []*endpointv3.LocalityLbEndpoints, unmatched []bool, pattern string, weight uint32) {
	current := map[int]uint32{}
	var total uint32
	for i, l := range llbs {
		if !unmatched[i] || !localityMatches(l.GetLocality(), pattern) {
			continue
		}
		unmatched[i] = false
		w := uint32(1)
		if l.GetLoadBalancingWeight() != nil {
			w = l.GetLoadBalancingWeight().GetValue()
		}
		current[i] = w
		total += w
	}
	for i, w := range current {
		share := float64(w*weight) / float64(total)
		if share > 0 {
			llbs[i].LoadBalancingWeight = wrapperspb.UInt32(uint32(math.Ceil(share)))
		}
	}
}

// applyLocalityFailover sets each locality's priority by how close it is to the proxy's:
// same region, zone and subzone 0; same zone 1; same region 2; other regions 3, or 4 for
// regions other than the failover target of the proxy's region. Priorities already set
// (by failover priority labels) take precedence. Priorities are then renumbered 0..N
// without gaps, as Envoy requires.
func applyLocalityFailover(proxy *corev3.Locality, llbs []*endpointv3.LocalityLbEndpoints,
	failover []*networkingv1alpha3.LocalityLoadBalancerSetting_Failover,
) {
	for _, l := range llbs {
		p := closeness(proxy, l.GetLocality())
		if p == 3 {
			for _, f := range failover {
				if f.GetFrom() == proxy.GetRegion() {
					if l.GetLocality().GetRegion() != f.GetTo() {
						p = 4
					}
					break
				}
			}
		}
		l.Priority = l.Priority*5 + uint32(p)
	}
	compactPriorities(llbs)
}

// closeness ranks an endpoint locality against the proxy's, 0 (same subzone) to 3 (other
// region).
func closeness(proxy, ep *corev3.Locality) int {
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

// compactPriorities renumbers priorities to 0..N keeping their order.
func compactPriorities(llbs []*endpointv3.LocalityLbEndpoints) {
	set := map[uint32]bool{}
	for _, l := range llbs {
		set[l.Priority] = true
	}
	distinct := make([]uint32, 0, len(set))
	for p := range set {
		distinct = append(distinct, p)
	}
	sort.Slice(distinct, func(i, j int) bool { return distinct[i] < distinct[j] })
	rank := make(map[uint32]uint32, len(distinct))
	for i, p := range distinct {
		rank[p] = uint32(i)
	}
	for _, l := range llbs {
		l.Priority = rank[l.Priority]
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

// proxyLabels are the proxy's workload labels with its topology labels; its node is the
// one istio-agent reports.
func proxyLabels(p *model.Proxy) map[string]string {
	network := ""
	if p.Metadata != nil {
		network = p.Metadata.Network
	}
	return topologyLabels(p.Labels, p.Locality, p.ClusterID(), network, proxyNodeName(p))
}

// applyFailoverPriorities splits each locality by how many of the failover priority labels
// its endpoints share with the proxy (the first label most significant; a leading network
// label that differs only demotes), giving each part a priority, and renumbers priorities
// 0..N. A label may be written "label=value" to compare against value instead of the
// proxy's own. Without proxy labels the localities are returned as they are.
func applyFailoverPriorities(groups []*localityGroup, proxy map[string]string, priorities []string,
	llbs []*endpointv3.LocalityLbEndpoints,
) []*endpointv3.LocalityLbEndpoints {
	if len(proxy) == 0 || len(groups) == 0 {
		return llbs
	}
	var out []*endpointv3.LocalityLbEndpoints
	for _, g := range groups {
		out = append(out, splitByPriority(g, proxy, priorities)...)
	}
	compactPriorities(out)
	return out
}

// splitByPriority splits one locality into one part per priority, in priority order.
func splitByPriority(g *localityGroup, proxy map[string]string, priorities []string) []*endpointv3.LocalityLbEndpoints {
	byPriority := map[uint32][]*endpointv3.LbEndpoint{}
	for _, e := range g.eps {
		p := labelPriority(endpointLabels(e.ep), proxy, priorities)
		byPriority[p] = append(byPriority[p], e.lb)
	}
	keys := make([]uint32, 0, len(byPriority))
	for p := range byPriority {
		keys = append(keys, p)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	out := make([]*endpointv3.LocalityLbEndpoints, 0, len(keys))
	for _, p := range keys {
		out = append(out, &endpointv3.LocalityLbEndpoints{
			Locality:            g.llb.GetLocality(),
			LbEndpoints:         byPriority[p],
			LoadBalancingWeight: wrapperspb.UInt32(sumWeights(byPriority[p])),
			Priority:            p,
		})
	}
	return out
}

// labelPriority is 0 when the endpoint matches the proxy on every priority label, else
// len(priorities)-i for the first label i that differs.
func labelPriority(ep, proxy map[string]string, priorities []string) uint32 {
	n := len(priorities)
	networkFirst := n > 0 && priorities[0] == labelTopologyNetwork
	adjust := 0
	for i, entry := range priorities {
		name, value, overridden := strings.Cut(entry, "=")
		if !overridden {
			value = proxy[name]
		}
		if value == ep[name] {
			continue
		}
		if i == 0 && networkFirst {
			adjust = n
			continue
		}
		return uint32(n - i + adjust)
	}
	return uint32(adjust)
}
