package listener

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

const hcmFilterName = "envoy.filters.network.http_connection_manager"

// hcmOpts describes one HTTP connection manager. Exactly one of rds and routeConfig is set.
type hcmOpts struct {
	class      class
	statPrefix string
	// rds names the route configuration fetched over ADS (outbound).
	rds string
	// routeConfig is an inline route configuration (inbound).
	routeConfig *routev3.RouteConfiguration
	// protocol is the port's protocol; HTTP/2 protocols get HTTP/2 options inbound.
	protocol protocol.Instance
	// httpProxy marks the HTTP_PROXY listener, which accepts absolute URLs.
	httpProxy bool
}

// proxyHeaders are the header-related settings of ProxyConfig.proxyHeaders, resolved to
// istiod's defaults.
type proxyHeaders struct {
	serverName           string // inbound only; outbound leaves Envoy's default
	serverPassThrough    bool
	forwardClientCert    hcmv3.HttpConnectionManager_ForwardClientCertDetails
	setCurrentCert       *meshv1alpha1.ProxyConfig_ProxyHeaders_SetCurrentClientCertDetails
	generateRequestID    *wrapperspb.BoolValue
	suppressDebugHeaders bool
	skipMXHeaders        bool
	xForwardedPort       bool
}

func proxyHeadersFrom(ph *meshv1alpha1.ProxyConfig_ProxyHeaders) proxyHeaders {
	out := proxyHeaders{serverName: "istio-envoy", forwardClientCert: hcmv3.HttpConnectionManager_APPEND_FORWARD}
	if ph == nil {
		return out
	}
	out.forwardClientCert = forwardClientCert(ph.GetForwardedClientCert())
	if s := ph.GetServer(); s != nil {
		if s.GetDisabled().GetValue() {
			out.serverName, out.serverPassThrough = "", true
		} else if s.GetValue() != "" {
			out.serverName = s.GetValue()
		}
	}
	if ph.GetRequestId().GetDisabled().GetValue() {
		out.generateRequestID = wrapperspb.Bool(false)
	}
	out.suppressDebugHeaders = ph.GetEnvoyDebugHeaders().GetDisabled().GetValue()
	out.skipMXHeaders = ph.GetMetadataExchangeHeaders().GetMode() == meshv1alpha1.ProxyConfig_ProxyHeaders_IN_MESH
	out.xForwardedPort = ph.GetXForwardedPort().GetEnabled().GetValue()
	out.setCurrentCert = ph.GetSetCurrentClientCertDetails()
	return out
}

// forwardClientCert maps the mesh's forwardedClientCert to Envoy's; unset is APPEND_FORWARD.
func forwardClientCert(f meshv1alpha1.ForwardClientCertDetails) hcmv3.HttpConnectionManager_ForwardClientCertDetails {
	switch f {
	case meshv1alpha1.ForwardClientCertDetails_SANITIZE:
		return hcmv3.HttpConnectionManager_SANITIZE
	case meshv1alpha1.ForwardClientCertDetails_FORWARD_ONLY:
		return hcmv3.HttpConnectionManager_FORWARD_ONLY
	case meshv1alpha1.ForwardClientCertDetails_SANITIZE_SET:
		return hcmv3.HttpConnectionManager_SANITIZE_SET
	case meshv1alpha1.ForwardClientCertDetails_ALWAYS_FORWARD_ONLY:
		return hcmv3.HttpConnectionManager_ALWAYS_FORWARD_ONLY
	}
	return hcmv3.HttpConnectionManager_APPEND_FORWARD
}

// hcmFilter wraps an HTTP connection manager as a network filter.
func (b *builder) hcmFilter(o hcmOpts) *listenerv3.Filter {
	return &listenerv3.Filter{
		Name:       hcmFilterName,
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: protoconv.MessageToAny(b.hcm(o))},
	}
}

// hcm builds an HTTP connection manager with istiod's settings for sidecars; inbound and
// outbound differ only where hcmOpts.class says so.
func (b *builder) hcm(o hcmOpts) *hcmv3.HttpConnectionManager {
	h := &hcmv3.HttpConnectionManager{
		StatPrefix:                   o.statPrefix,
		GenerateRequestId:            b.headers.generateRequestID,
		Proxy_100Continue:            true,
		UseRemoteAddress:             wrapperspb.Bool(false),
		StreamIdleTimeout:            durationpb.New(0),
		UpgradeConfigs:               []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}},
		PathWithEscapedSlashesAction: hcmv3.HttpConnectionManager_KEEP_UNCHANGED,
		AppendXForwardedPort:         b.headers.xForwardedPort,
		Tracing:                      b.tracing(),
		HttpFilters:                  b.httpFilters(o),
		RequestIdExtension:           requestIDExtension(),
	}
	if b.headers.serverPassThrough {
		h.ServerHeaderTransformation = hcmv3.HttpConnectionManager_PASS_THROUGH
	}
	b.applyPathNormalization(h)
	if o.rds != "" {
		h.RouteSpecifier = &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource: &corev3.ConfigSource{
				ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
				InitialFetchTimeout:   durationpb.New(0),
				ResourceApiVersion:    corev3.ApiVersion_V3,
			},
			RouteConfigName: o.rds,
		}}
	} else {
		h.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: o.routeConfig}
	}
	if o.httpProxy {
		h.HttpProtocolOptions = &corev3.Http1ProtocolOptions{AllowAbsoluteUrl: wrapperspb.Bool(true)}
	}
	if o.class == classInbound {
		b.applyInboundHCM(h, o)
	}
	return h
}

// applyInboundHCM sets what only server-side connection managers carry: the server name,
// client certificate forwarding, and HTTP/2 options for HTTP/2 ports.
func (b *builder) applyInboundHCM(h *hcmv3.HttpConnectionManager, o hcmOpts) {
	h.ServerName = b.headers.serverName
	h.ForwardClientCertDetails = b.headers.forwardClientCert
	c := b.headers.setCurrentCert
	h.SetCurrentClientCertDetails = &hcmv3.HttpConnectionManager_SetCurrentClientCertDetails{
		Subject: wrapperspb.Bool(c.GetSubject() == nil || c.GetSubject().GetValue()),
		Uri:     c.GetUri() == nil || c.GetUri().GetValue(),
		Dns:     c.GetDns() == nil || c.GetDns().GetValue(),
		Cert:    c.GetCert().GetValue(),
		Chain:   c.GetChain().GetValue(),
	}
	if o.protocol.IsHTTP2() {
		h.Http2ProtocolOptions = &corev3.Http2ProtocolOptions{}
	}
}

// applyPathNormalization applies meshConfig.pathNormalization.
func (b *builder) applyPathNormalization(h *hcmv3.HttpConnectionManager) {
	h.NormalizePath = wrapperspb.Bool(true)
	switch b.mesh.GetPathNormalization().GetNormalization() {
	case meshv1alpha1.MeshConfig_ProxyPathNormalization_NONE:
		h.NormalizePath = wrapperspb.Bool(false)
	case meshv1alpha1.MeshConfig_ProxyPathNormalization_MERGE_SLASHES:
		h.MergeSlashes = true
	case meshv1alpha1.MeshConfig_ProxyPathNormalization_DECODE_AND_MERGE_SLASHES:
		h.MergeSlashes = true
		h.PathWithEscapedSlashesAction = hcmv3.HttpConnectionManager_UNESCAPE_AND_FORWARD
	}
}

// httpFilters is istiod's sidecar HTTP filter chain: metadata exchange first (so RBAC can
// see the peer), gRPC stats, ALPN override (outbound), fault and CORS (configured per
// route), telemetry, router last.
func (b *builder) httpFilters(o hcmOpts) []*hcmv3.HttpFilter {
	fs := []*hcmv3.HttpFilter{peerMetadataHTTPFilter(o.class, b.headers.skipMXHeaders)}
	if o.protocol == protocol.GRPCWeb {
		fs = append(fs, grpcWebFilter())
	}
	fs = append(fs, grpcStatsFilter())
	if o.class == classOutbound {
		fs = append(fs, alpnHTTPFilter())
	}
	fs = append(fs, faultFilter(), corsFilter())
	fs = append(fs, b.telemetry.http(o.class)...)
	return append(fs, routerFilter(b.headers.suppressDebugHeaders))
}
