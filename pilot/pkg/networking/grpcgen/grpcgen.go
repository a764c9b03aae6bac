// Package grpcgen generates xDS for proxyless gRPC clients (node metadata GENERATOR=grpc):
// API listeners named host:port, their routes, and EDS clusters, as Istio's gRPC
// generator emits them.
package grpcgen

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

// BuildListeners returns the API listeners named in names ("host:port").
func BuildListeners(pc *model.PushContext, p *model.Proxy, names []string) []*listenerv3.Listener {
	return nil
}

// BuildRoutes returns the route configurations named in names.
func BuildRoutes(pc *model.PushContext, p *model.Proxy, names []string) []*routev3.RouteConfiguration {
	return nil
}

// BuildClusters returns the clusters named in names.
func BuildClusters(pc *model.PushContext, p *model.Proxy, names []string) []*clusterv3.Cluster {
	return nil
}
