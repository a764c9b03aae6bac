package cluster

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/sextant-mesh/sextant/pilot/pkg/envoyfilter"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// BuildClusters returns the clusters of sidecar proxy p, in istiod's order: the outbound
// clusters of every service port its SidecarScope imports (each followed by its subset
// clusters), BlackHoleCluster, PassthroughCluster, the inbound clusters of the ports its
// workload serves, and InboundPassthroughCluster. The proxy's EnvoyFilter CLUSTER patches
// are applied to the outbound and inbound clusters in their context, and the clusters
// they add follow each group. Clusters whose name was already emitted (conflicting
// service definitions) are dropped. p must have been initialised by
// PushContext.InitProxy. Gateways get outbound clusters and BlackHoleCluster only.
func BuildClusters(pc *model.PushContext, p *model.Proxy) []*clusterv3.Cluster {
	b := newBuilder(pc, p)
	patches := pc.EnvoyFilters(p)
	out := append(b.allOutbound(), b.blackHole())
	if p.Type != model.SidecarProxy {
		return dedupe(envoyfilter.PatchClusters(patches, envoyfilter.Gateway, out, nil))
	}
	out = append(out, b.passthrough())
	out = envoyfilter.PatchClusters(patches, envoyfilter.SidecarOutbound, out, nil)
	in := append(b.inboundClusters(), b.inboundPassthrough())
	in = envoyfilter.PatchClusters(patches, envoyfilter.SidecarInbound, in, b.servedHosts)
	return dedupe(append(out, in...))
}

// allOutbound builds the outbound clusters of every service port in the proxy's scope.
func (b *builder) allOutbound() []*clusterv3.Cluster {
	if b.proxy.SidecarScope == nil {
		return nil
	}
	var out []*clusterv3.Cluster
	for _, svc := range b.proxy.SidecarScope.Services() {
		if svc.Resolution == model.Alias {
			continue
		}
		for _, port := range svc.Ports {
			if port.Protocol == protocol.UDP {
				continue
			}
			out = append(out, b.outboundClusters(svc, port)...)
		}
	}
	return out
}

// dedupe keeps the first cluster of each name.
func dedupe(cs []*clusterv3.Cluster) []*clusterv3.Cluster {
	seen := map[string]bool{}
	out := cs[:0]
	for _, c := range cs {
		if !seen[c.Name] {
			seen[c.Name] = true
			out = append(out, c)
		}
	}
	return out
}
