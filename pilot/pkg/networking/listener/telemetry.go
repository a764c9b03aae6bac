package listener

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	statsv1 "istio.io/api/envoy/extensions/stats"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
)

// telemetryFilters are the metrics filters a proxy's HTTP and TCP chains carry. Today they
// come from the mesh config's default metrics providers only (a Prometheus provider gives
// istio.stats); the Telemetry API, when supported, replaces how they are computed, not where
// they go.
type telemetryFilters struct {
	prometheus bool
}

func newTelemetryFilters(mesh *meshv1alpha1.MeshConfig) telemetryFilters {
	var t telemetryFilters
	for _, name := range mesh.GetDefaultProviders().GetMetrics() {
		for _, p := range mesh.GetExtensionProviders() {
			if p.GetName() == name && p.GetPrometheus() != nil {
				t.prometheus = true
			}
		}
	}
	return t
}

// statsConfig is istio.stats' config: inbound (server side) never falls back to the Host
// header for the destination service.
func statsConfig(c class) *statsv1.PluginConfig {
	return &statsv1.PluginConfig{DisableHostHeaderFallback: c == classInbound}
}

// http returns the HTTP filters that go after cors and before the router.
func (t telemetryFilters) http(c class) []*hcmv3.HttpFilter {
	if !t.prometheus {
		return nil
	}
	return []*hcmv3.HttpFilter{httpFilter(statsFilter, statsConfig(c))}
}

// tcp returns the network filters that go right before a terminal tcp_proxy.
func (t telemetryFilters) tcp(c class) []*listenerv3.Filter {
	if !t.prometheus {
		return nil
	}
	return []*listenerv3.Filter{networkFilter(statsFilter, statsConfig(c))}
}
