// Package generate produces the complete xDS a proxy would receive - clusters, listeners,
// routes and endpoints - from a PushContext, asking for resources the way the client
// does: an Envoy sidecar takes all clusters and listeners, then the routes its listeners
// name and the endpoints of its EDS clusters; a proxyless gRPC client asks for its target
// listeners and follows them.
package generate

import (
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/cluster"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/endpoint"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/grpcgen"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/listener"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/route"
)

// Output is everything generated for one proxy.
type Output struct {
	Clusters  []*clusterv3.Cluster
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Endpoints []*endpointv3.ClusterLoadAssignment
}

// ForProxy generates the proxy's config. grpcTargets are the listeners ("host:port") a
// proxyless gRPC client asks for; they are ignored for Envoy proxies.
func ForProxy(pc *model.PushContext, p *model.Proxy, grpcTargets []string) *Output {
	if p.IsProxylessGRPC() {
		return forGRPC(pc, p, grpcTargets)
	}
	out := &Output{
		Clusters:  cluster.BuildClusters(pc, p),
		Listeners: listener.BuildListeners(pc, p),
	}
	out.Routes = route.BuildRoutes(pc, p, RouteNames(out.Listeners))
	out.Endpoints = endpoint.BuildEndpoints(pc, p, EDSClusterNames(out.Clusters))
	return out
}

func forGRPC(pc *model.PushContext, p *model.Proxy, targets []string) *Output {
	out := &Output{Listeners: grpcgen.BuildListeners(pc, p, targets)}
	out.Routes = grpcgen.BuildRoutes(pc, p, RouteNames(out.Listeners))
	out.Clusters = grpcgen.BuildClusters(pc, p, routeClusterNames(out.Routes))
	out.Endpoints = endpoint.BuildEndpoints(pc, p, EDSClusterNames(out.Clusters))
	return out
}

// RouteNames lists, sorted and distinct, the RDS route configuration names the listeners'
// HTTP connection managers refer to (in filter chains, default chains and API listeners).
func RouteNames(ls []*listenerv3.Listener) []string {
	set := map[string]bool{}
	visit := func(fc *listenerv3.FilterChain) {
		for _, f := range fc.GetFilters() {
			hcm := &hcmv3.HttpConnectionManager{}
			if f.GetTypedConfig().MessageIs(hcm) && f.GetTypedConfig().UnmarshalTo(hcm) == nil {
				if n := hcm.GetRds().GetRouteConfigName(); n != "" {
					set[n] = true
				}
			}
		}
	}
	for _, l := range ls {
		for _, fc := range l.GetFilterChains() {
			visit(fc)
		}
		if l.GetDefaultFilterChain() != nil {
			visit(l.GetDefaultFilterChain())
		}
		hcm := &hcmv3.HttpConnectionManager{}
		if a := l.GetApiListener().GetApiListener(); a != nil && a.UnmarshalTo(hcm) == nil {
			if n := hcm.GetRds().GetRouteConfigName(); n != "" {
				set[n] = true
			}
		}
	}
	return sortedKeys(set)
}

func routeClusterNames(rs []*routev3.RouteConfiguration) []string {
	set := map[string]bool{}
	for _, rc := range rs {
		for _, vh := range rc.GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				if c := r.GetRoute().GetCluster(); c != "" {
					set[c] = true
				}
				for _, w := range r.GetRoute().GetWeightedClusters().GetClusters() {
					set[w.GetName()] = true
				}
			}
		}
	}
	return sortedKeys(set)
}

// EDSClusterNames returns the names Envoy subscribes to over EDS for clusters cs: each
// EDS cluster's service name, else its name.
func EDSClusterNames(cs []*clusterv3.Cluster) []string {
	var out []string
	for _, c := range cs {
		if c.GetType() == clusterv3.Cluster_EDS {
			name := c.GetName()
			if sn := c.GetEdsClusterConfig().GetServiceName(); sn != "" {
				name = sn
			}
			out = append(out, name)
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
