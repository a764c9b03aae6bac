package bootstrap

import (
	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/generate"
)

// configDump renders what the proxy is being served in Envoy's admin ConfigDump shape.
func configDump(p *model.Proxy, pc *model.PushContext) (proto.Message, error) {
	out := generate.ForProxy(pc, p, nil)
	clusters := &adminv3.ClustersConfigDump{}
	for _, c := range out.Clusters {
		a, err := anypb.New(c)
		if err != nil {
			return nil, err
		}
		clusters.DynamicActiveClusters = append(clusters.DynamicActiveClusters, &adminv3.ClustersConfigDump_DynamicCluster{Cluster: a})
	}
	listeners := &adminv3.ListenersConfigDump{}
	for _, l := range out.Listeners {
		a, err := anypb.New(l)
		if err != nil {
			return nil, err
		}
		listeners.DynamicListeners = append(listeners.DynamicListeners, &adminv3.ListenersConfigDump_DynamicListener{
			Name: l.GetName(), ActiveState: &adminv3.ListenersConfigDump_DynamicListenerState{Listener: a},
		})
	}
	routes := &adminv3.RoutesConfigDump{}
	for _, r := range out.Routes {
		a, err := anypb.New(r)
		if err != nil {
			return nil, err
		}
		routes.DynamicRouteConfigs = append(routes.DynamicRouteConfigs, &adminv3.RoutesConfigDump_DynamicRouteConfig{RouteConfig: a})
	}
	endpoints := &adminv3.EndpointsConfigDump{}
	for _, e := range out.Endpoints {
		a, err := anypb.New(e)
		if err != nil {
			return nil, err
		}
		endpoints.DynamicEndpointConfigs = append(endpoints.DynamicEndpointConfigs, &adminv3.EndpointsConfigDump_DynamicEndpointConfig{EndpointConfig: a})
	}
	dump := &adminv3.ConfigDump{}
	for _, m := range []proto.Message{clusters, listeners, routes, endpoints} {
		a, err := anypb.New(m)
		if err != nil {
			return nil, err
		}
		dump.Configs = append(dump.Configs, a)
	}
	return dump, nil
}
