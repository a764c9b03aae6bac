package endpoint

import (
	"math"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

// Topology labels istiod adds to every workload's labels, so that subsets and failover
// priorities can select on where a workload runs.
const (
	labelTopologyRegion  = "topology.kubernetes.io/region"
	labelTopologyZone    = "topology.kubernetes.io/zone"
	labelTopologySubzone = "topology.istio.io/subzone"
	labelTopologyCluster = "topology.istio.io/cluster"
	labelTopologyNetwork = "topology.istio.io/network"
	labelHostname        = "kubernetes.io/hostname"
)

// localityGroup is the endpoints of one locality, in the registry's order.
type localityGroup struct {
	eps []builtEndpoint
	llb *endpointv3.LocalityLbEndpoints
}

// groupByLocality groups endpoints by locality, ordered by locality label
// (region/zone/subzone), each group weighted by the sum of its endpoints' weights.
func groupByLocality(eps []builtEndpoint) []*localityGroup {
	byLabel := map[string]*localityGroup{}
	var order []string
	for _, e := range eps {
		key := e.ep.Locality.String()
		g := byLabel[key]
		if g == nil {
			g = &localityGroup{llb: &endpointv3.LocalityLbEndpoints{Locality: envoyLocality(e.ep.Locality)}}
			byLabel[key] = g
			order = append(order, key)
		}
		g.eps = append(g.eps, e)
		g.llb.LbEndpoints = append(g.llb.LbEndpoints, e.lb)
	}
	sort.Strings(order)
	out := make([]*localityGroup, 0, len(order))
	for _, key := range order {
		g := byLabel[key]
		g.llb.LoadBalancingWeight = wrapperspb.UInt32(sumWeights(g.llb.LbEndpoints))
		out = append(out, g)
	}
	return out
}

// keepMTLSOnly drops from each locality the endpoints not marked for Istio mTLS. A
// locality left empty stays, without weight.
func keepMTLSOnly(groups []*localityGroup) {
	for _, g := range groups {
		var eps []builtEndpoint
		var lbs []*endpointv3.LbEndpoint
		for _, e := range g.eps {
			if e.tlsMode == tlsModeIstio {
				eps, lbs = append(eps, e), append(lbs, e.lb)
			}
		}
		g.eps, g.llb.LbEndpoints = eps, lbs
		g.llb.LoadBalancingWeight = nil
		if len(lbs) > 0 {
			g.llb.LoadBalancingWeight = wrapperspb.UInt32(sumWeights(lbs))
		}
	}
}

// sumWeights adds the endpoints' weights, saturating at the largest uint32.
func sumWeights(lbs []*endpointv3.LbEndpoint) uint32 {
	var sum uint64
	for _, lb := range lbs {
		sum += uint64(lb.GetLoadBalancingWeight().GetValue())
	}
	if sum > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(sum)
}

func envoyLocality(l model.Locality) *corev3.Locality {
	return &corev3.Locality{Region: l.Region, Zone: l.Zone, SubZone: l.Subzone}
}

// localityMatches reports whether l is matched by a locality pattern "region/zone/subzone"
// where "*" or an omitted part matches anything (the region must be given).
func localityMatches(l *corev3.Locality, pattern string) bool {
	parts := strings.SplitN(pattern, "/", 3)
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	match := func(want, got string, optional bool) bool {
		return want == "*" || (optional && want == "") || want == got
	}
	return match(parts[0], l.GetRegion(), false) &&
		match(parts[1], l.GetZone(), true) &&
		match(parts[2], l.GetSubZone(), true)
}

// topologyLabels returns labels with the topology labels of a workload in locality l,
// cluster, network and node added (existing network labels are kept), as istiod augments
// the labels of endpoints and proxies.
func topologyLabels(labels map[string]string, l model.Locality, cluster, network, node string) map[string]string {
	out := make(map[string]string, len(labels)+6)
	for k, v := range labels {
		out[k] = v
	}
	set := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	set(labelTopologyRegion, l.Region)
	set(labelTopologyZone, l.Zone)
	set(labelTopologySubzone, l.Subzone)
	set(labelTopologyCluster, cluster)
	set(labelHostname, node)
	if out[labelTopologyNetwork] == "" {
		set(labelTopologyNetwork, network)
	}
	return out
}

// endpointLabels are ep's labels with its topology labels.
func endpointLabels(ep *model.Endpoint) map[string]string {
	return topologyLabels(ep.Labels, ep.Locality, ep.ClusterID, ep.Network, ep.NodeName)
}
