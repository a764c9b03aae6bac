package listener

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	grpcstatsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_stats/v3"
	grpcwebv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_web/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
	alpnv2alpha1 "istio.io/api/envoy/config/filter/http/alpn/v2alpha1"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
)

// Filter names and the type URLs of Istio's own filters, which Envoy knows but
// go-control-plane does not ship (they travel as TypedStruct).
const (
	metadataExchangeFilter = "istio.metadata_exchange"
	alpnFilter             = "istio.alpn"
	statsFilter            = "istio.stats"

	peerMetadataTypeURL        = "type.googleapis.com/io.istio.http.peer_metadata.Config"
	tcpMetadataExchangeTypeURL = "type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange"
	mxProtocol                 = "istio-peer-exchange"
)

func httpFilter(name string, m proto.Message) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: protoconv.MessageToAny(m)}}
}

func networkFilter(name string, m proto.Message) *listenerv3.Filter {
	return &listenerv3.Filter{Name: name, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: protoconv.MessageToAny(m)}}
}

// peerMetadataHTTPFilter is the metadata exchange HTTP filter: it discovers and propagates
// the downstream peer on inbound chains, the upstream peer on outbound ones. With
// skipExternal, outbound chains do not send Istio's headers to mesh-external clusters.
func peerMetadataHTTPFilter(c class, skipExternal bool) *hcmv3.HttpFilter {
	side := "upstream"
	if c == classInbound {
		side = "downstream"
	}
	propagation := map[string]any{}
	if skipExternal && c == classOutbound {
		propagation["skip_external_clusters"] = true
	}
	cfg := map[string]any{
		side + "_discovery": []any{
			map[string]any{"istio_headers": map[string]any{}},
			map[string]any{"workload_discovery": map[string]any{}},
		},
		side + "_propagation": []any{
			map[string]any{"istio_headers": propagation},
		},
	}
	return &hcmv3.HttpFilter{
		Name:       metadataExchangeFilter,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: protoconv.TypedStruct(peerMetadataTypeURL, cfg)},
	}
}

// tcpMetadataExchangeFilter is the network filter inbound chains start with, so later
// filters (RBAC, stats) see the peer.
func tcpMetadataExchangeFilter() *listenerv3.Filter {
	cfg := map[string]any{"protocol": mxProtocol, "enable_discovery": true}
	return &listenerv3.Filter{
		Name:       metadataExchangeFilter,
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: protoconv.TypedStruct(tcpMetadataExchangeTypeURL, cfg)},
	}
}

func grpcStatsFilter() *hcmv3.HttpFilter {
	return httpFilter("envoy.filters.http.grpc_stats", &grpcstatsv3.FilterConfig{
		EmitFilterState: true,
		PerMethodStatSpecifier: &grpcstatsv3.FilterConfig_StatsForAllMethods{
			StatsForAllMethods: wrapperspb.Bool(false),
		},
	})
}

func grpcWebFilter() *hcmv3.HttpFilter {
	return httpFilter("envoy.filters.http.grpc_web", &grpcwebv3.GrpcWeb{})
}

// alpnHTTPFilter rewrites the upstream ALPN to Istio's mTLS variants, so the server side
// can tell HTTP from TCP traffic (outbound only).
func alpnHTTPFilter() *hcmv3.HttpFilter {
	override := func(p alpnv2alpha1.FilterConfig_Protocol, alpn ...string) *alpnv2alpha1.FilterConfig_AlpnOverride {
		return &alpnv2alpha1.FilterConfig_AlpnOverride{UpstreamProtocol: p, AlpnOverride: alpn}
	}
	return httpFilter(alpnFilter, &alpnv2alpha1.FilterConfig{AlpnOverride: []*alpnv2alpha1.FilterConfig_AlpnOverride{
		override(alpnv2alpha1.FilterConfig_HTTP10, "istio-http/1.0", "istio", "http/1.0"),
		override(alpnv2alpha1.FilterConfig_HTTP11, "istio-http/1.1", "istio", "http/1.1"),
		override(alpnv2alpha1.FilterConfig_HTTP2, "istio-h2", "istio", "h2"),
	}})
}

// faultFilter and corsFilter are empty: routes configure them per route.
func faultFilter() *hcmv3.HttpFilter {
	return httpFilter("envoy.filters.http.fault", &faultv3.HTTPFault{})
}

func corsFilter() *hcmv3.HttpFilter { return httpFilter("envoy.filters.http.cors", &corsv3.Cors{}) }

func routerFilter(suppressEnvoyHeaders bool) *hcmv3.HttpFilter {
	return httpFilter("envoy.filters.http.router", &routerv3.Router{SuppressEnvoyHeaders: suppressEnvoyHeaders})
}
