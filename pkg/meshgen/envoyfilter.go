package meshgen

import (
	"fmt"

	"google.golang.org/protobuf/types/known/structpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// RootNamespace is where mesh-wide EnvoyFilters go (istiod's default root namespace).
const RootNamespace = "istio-system"

// envoyFilter adds the i-th EnvoyFilter, shaped like those large meshes carry: a Lua HTTP
// filter before the router (inbound), a cluster MERGE (outbound connect timeout and buffer
// limit) and a route configuration MERGE. Every tenth is mesh-wide (root namespace, no
// selector, cluster and route patches only); the others select the workloads of service
// i (modulo the service count) in its namespace.
func (m *Mesh) envoyFilter(s Spec, i int) {
	name := fmt.Sprintf("ef-%04d", i)
	ef := &networkingv1alpha3.EnvoyFilter{ConfigPatches: []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch{
		clusterPatch(i), routePatch(i),
	}}
	ns := RootNamespace
	if i%10 != 0 && s.Services > 0 {
		svc := i % s.Services
		ns = nsName(svc % s.Namespaces)
		ef.WorkloadSelector = &networkingv1alpha3.WorkloadSelector{Labels: map[string]string{"app": s.ServiceName(svc)}}
		ef.ConfigPatches = append(ef.ConfigPatches, luaPatch(i))
	}
	m.add(schema.EnvoyFilter, ns, name, ef)
}

func clusterPatch(i int) *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch {
	return &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch{
		ApplyTo: networkingv1alpha3.EnvoyFilter_CLUSTER,
		Match: &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch{
			Context:     networkingv1alpha3.EnvoyFilter_SIDECAR_OUTBOUND,
			ObjectTypes: &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch_Cluster{Cluster: &networkingv1alpha3.EnvoyFilter_ClusterMatch{PortNumber: 8080}},
		},
		Patch: &networkingv1alpha3.EnvoyFilter_Patch{
			Operation: networkingv1alpha3.EnvoyFilter_Patch_MERGE,
			Value: mustStruct(map[string]any{
				"connect_timeout":                   fmt.Sprintf("%d.5s", 1+i%5),
				"per_connection_buffer_limit_bytes": 32768,
			}),
		},
	}
}

func routePatch(i int) *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch {
	return &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch{
		ApplyTo: networkingv1alpha3.EnvoyFilter_ROUTE_CONFIGURATION,
		Match: &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch{
			Context: networkingv1alpha3.EnvoyFilter_SIDECAR_OUTBOUND,
			ObjectTypes: &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch_RouteConfiguration{
				RouteConfiguration: &networkingv1alpha3.EnvoyFilter_RouteConfigurationMatch{PortNumber: 8080},
			},
		},
		Patch: &networkingv1alpha3.EnvoyFilter_Patch{
			Operation: networkingv1alpha3.EnvoyFilter_Patch_MERGE,
			Value: mustStruct(map[string]any{
				"request_headers_to_add": []any{map[string]any{
					"header":        map[string]any{"key": "x-envoyfilter", "value": fmt.Sprintf("ef-%04d", i)},
					"append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
				}},
			}),
		},
	}
}

func luaPatch(i int) *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch {
	return &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch{
		ApplyTo: networkingv1alpha3.EnvoyFilter_HTTP_FILTER,
		Match: &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch{
			Context: networkingv1alpha3.EnvoyFilter_SIDECAR_INBOUND,
			ObjectTypes: &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch_Listener{Listener: &networkingv1alpha3.EnvoyFilter_ListenerMatch{
				FilterChain: &networkingv1alpha3.EnvoyFilter_ListenerMatch_FilterChainMatch{
					Filter: &networkingv1alpha3.EnvoyFilter_ListenerMatch_FilterMatch{
						Name:      "envoy.filters.network.http_connection_manager",
						SubFilter: &networkingv1alpha3.EnvoyFilter_ListenerMatch_SubFilterMatch{Name: "envoy.filters.http.router"},
					},
				},
			}},
		},
		Patch: &networkingv1alpha3.EnvoyFilter_Patch{
			Operation: networkingv1alpha3.EnvoyFilter_Patch_INSERT_BEFORE,
			Value: mustStruct(map[string]any{
				"name": "envoy.filters.http.lua",
				"typed_config": map[string]any{
					"@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
					"default_source_code": map[string]any{
						"inline_string": fmt.Sprintf("function envoy_on_request(h) h:headers():add('x-ef', '%d') end", i),
					},
				},
			}),
		},
	}
}

func mustStruct(m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	if err != nil {
		panic("meshgen: " + err.Error())
	}
	return s
}
