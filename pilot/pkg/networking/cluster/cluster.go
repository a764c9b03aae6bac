package cluster

import (
	"slices"
	"sync"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/sextant-mesh/sextant/pilot/pkg/envoyfilter"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
)

// BuildClusters returns the clusters of sidecar proxy p, in istiod's order: the outbound
// clusters of every service port its SidecarScope imports (each followed by its subset
// clusters), BlackHoleCluster, PassthroughCluster, the inbound clusters of the ports its
// workload serves, and InboundPassthroughCluster. The proxy's EnvoyFilter CLUSTER patches
// are applied to the outbound and inbound clusters in their context, and the clusters
// they add follow each group. Clusters whose name was already emitted (conflicting
// service definitions) are dropped. p must have been initialised by
// PushContext.InitProxy. Gateways get outbound clusters and BlackHoleCluster only.
//
// It builds every cluster afresh; Cache.Build returns the same clusters encoded, sharing
// the outbound ones between proxies.
func BuildClusters(pc *model.PushContext, p *model.Proxy) []*clusterv3.Cluster {
	rs, _, _ := build(pc, p, nil, false)
	out := make([]*clusterv3.Cluster, len(rs))
	for i, r := range rs {
		out[i] = r.Message.(*clusterv3.Cluster)
	}
	return out
}

// Resource is one built cluster: the message, or (when it came from a Cache) only its
// deterministic encoding and the encoding's hash.
type Resource = protoconv.Resource

// build is BuildClusters drawing the outbound clusters from cache (nil: build them). With
// delta it may return, and report that it did, only the clusters that may have changed
// since the connection's last build and the names of those gone (Cache.BuildDelta).
func build(pc *model.PushContext, p *model.Proxy, cache *Cache, delta bool) (rs []Resource, removed []string, isDelta bool) {
	b := newBuilder(pc, p)
	patches := pc.EnvoyFilters(p)
	ctx := envoyfilter.SidecarOutbound
	if p.Type != model.SidecarProxy {
		ctx = envoyfilter.Gateway
	}
	var cp *envoyfilter.ClusterPatcher
	if cache != nil {
		cp = cache.patchers.For(patches, ctx)
	} else {
		cp = envoyfilter.NewClusterPatcher(patches, ctx)
	}
	ob := cache.allOutbound(b, cp, delta)
	tail := patched(cp, b.blackHole())
	if p.Type == model.SidecarProxy {
		tail = append(tail, patched(cp, b.passthrough())...)
	}
	tail = append(tail, resources(cp.Added())...)
	if p.Type == model.SidecarProxy {
		in := append(b.inboundClusters(), b.inboundPassthrough())
		tail = append(tail, resources(envoyfilter.PatchClusters(patches, envoyfilter.SidecarInbound, in, b.servedHosts))...)
	}
	if ob.delta {
		if rs, removed, ok := ob.changes(slices.Concat(ob.clusters, tail)); ok {
			ob.remember(tail, false)
			return rs, removed, true
		}
	}
	rs, dropped := dedupe(append(ob.all(), tail...))
	ob.remember(tail, dropped)
	return rs, nil, false
}

// patched applies the patcher to clusters built for this proxy alone.
func patched(cp *envoyfilter.ClusterPatcher, cs ...*clusterv3.Cluster) []Resource {
	out := make([]Resource, 0, len(cs))
	for _, c := range cs {
		if c = cp.Plan(c.GetName(), nil).Apply(c); c != nil {
			out = append(out, Resource{Name: c.GetName(), Message: c})
		}
	}
	return out
}

func resources(cs []*clusterv3.Cluster) []Resource {
	out := make([]Resource, len(cs))
	for i, c := range cs {
		out[i] = Resource{Name: c.GetName(), Message: c}
	}
	return out
}

// seenNames pools dedupe's maps: a build of a sidecar's clusters fills one with a
// thousand names.
var seenNames = sync.Pool{New: func() any { return map[uint64]int32{} }}

// dedupe keeps the first cluster of each name, and reports whether it dropped any. Names
// are told apart by their hashes (protoconv.Resource.NameHash for cached clusters): a
// sidecar's thousand cluster names are spread over the cache's memory, and reading them
// cost more than the rest of a build from a connection's last one. Names whose hashes
// collide are compared.
func dedupe(rs []Resource) ([]Resource, bool) {
	seen := seenNames.Get().(map[uint64]int32)
	defer func() {
		clear(seen) // keeps its room for the next build
		seenNames.Put(seen)
	}()
	var exact map[string]bool // names of colliding hashes
	out := rs[:0]
	for _, r := range rs {
		h := r.NameHash
		if h == 0 {
			h = protoconv.HashString(r.Name)
		}
		j, ok := seen[h]
		switch {
		case !ok:
			seen[h] = int32(len(out))
		case out[j].Name == r.Name:
			continue
		default:
			if exact == nil {
				exact = map[string]bool{}
			}
			if exact[r.Name] {
				continue
			}
			exact[out[j].Name], exact[r.Name] = true, true
		}
		out = append(out, r)
	}
	return out, len(out) < len(rs)
}
