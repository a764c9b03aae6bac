package generate

import (
	"google.golang.org/protobuf/proto"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/cluster"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/endpoint"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/grpcgen"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/listener"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/route"
	"github.com/sextant-mesh/sextant/pilot/pkg/xds"
)

// Generators returns the ADS server's generators for clusters, listeners, routes and
// endpoints, choosing the Envoy or the proxyless gRPC flavour by proxy. Envoy outbound
// clusters and virtual host routes, and load assignments, are shared between proxies
// through one cluster.Cache, route.Cache and endpoint.Cache.
func Generators() map[string]xds.Generator {
	cache, routeCache, endpoints := cluster.NewCache(), route.NewCache(), endpoint.NewCache()
	return map[string]xds.Generator{
		xds.ClusterType:  clusters{cache},
		xds.ListenerType: xds.GeneratorFunc(listeners),
		xds.RouteType: xds.GeneratorFunc(func(pc *model.PushContext, p *model.Proxy, names []string, _ *model.PushRequest) ([]xds.Resource, error) {
			if p.IsProxylessGRPC() {
				return named(grpcgen.BuildRoutes(pc, p, names)), nil
			}
			return routeCache.Build(pc, p, names), nil
		}),
		xds.EndpointType: xds.GeneratorFunc(func(pc *model.PushContext, p *model.Proxy, names []string, _ *model.PushRequest) ([]xds.Resource, error) {
			return endpoints.Build(pc, p, names), nil
		}),
	}
}

// clusters generates CDS, for Delta pushes as changes to a connection's last clusters
// when the subscription is the wildcard (cluster.Cache.BuildDelta).
type clusters struct{ cache *cluster.Cache }

func (g clusters) Generate(pc *model.PushContext, p *model.Proxy, names []string, _ *model.PushRequest) ([]xds.Resource, error) {
	if p.IsProxylessGRPC() {
		return named(grpcgen.BuildClusters(pc, p, names)), nil
	}
	return filter(g.cache.Build(pc, p), names), nil
}

func (g clusters) GenerateDelta(pc *model.PushContext, p *model.Proxy, names []string, req *model.PushRequest) ([]xds.Resource, []string, bool, error) {
	if p.IsProxylessGRPC() || names != nil {
		rs, err := g.Generate(pc, p, names, req)
		return rs, nil, false, err
	}
	rs, removed, delta := g.cache.BuildDelta(pc, p)
	return rs, removed, delta, nil
}

func listeners(pc *model.PushContext, p *model.Proxy, names []string, _ *model.PushRequest) ([]xds.Resource, error) {
	if p.IsProxylessGRPC() {
		return named(grpcgen.BuildListeners(pc, p, names)), nil
	}
	return filter(named(listener.BuildListeners(pc, p)), names), nil
}

type namedMessage interface {
	GetName() string
	proto.Message
}

func named[T namedMessage](ms []T) []xds.Resource {
	out := make([]xds.Resource, 0, len(ms))
	for _, m := range ms {
		out = append(out, xds.Resource{Name: m.GetName(), Message: m})
	}
	return out
}

// filter keeps the resources named in names; nil names keeps all (wildcard).
func filter(rs []xds.Resource, names []string) []xds.Resource {
	if names == nil {
		return rs
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	out := rs[:0]
	for _, r := range rs {
		if want[r.Name] {
			out = append(out, r)
		}
	}
	return out
}
