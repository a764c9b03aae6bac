package listener

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/sds"
)

// defaultCipherSuites are the ciphers sidecars accept for mesh mTLS unless the mesh config
// (meshMTLS.cipherSuites) says otherwise.
var defaultCipherSuites = []string{
	"ECDHE-ECDSA-AES256-GCM-SHA384",
	"ECDHE-RSA-AES256-GCM-SHA384",
	"ECDHE-ECDSA-AES128-GCM-SHA256",
	"ECDHE-RSA-AES128-GCM-SHA256",
	"AES256-GCM-SHA384",
	"AES128-GCM-SHA256",
}

// ALPN a server advertises after terminating mesh mTLS. TCP adds istio-peer-exchange so
// the TCP metadata exchange can run; the "istio" ALPN clients send is matched on, never
// advertised, lest it interfere with negotiating HTTP/2.
var (
	alpnHTTP         = []string{"h2", "http/1.1"}
	alpnTCPWithPeerX = []string{"istio-peer-exchange", "h2", "http/1.1"}
)

// inboundTLS is the server-side mesh mTLS context for chains of the given protocol: the
// workload certificate, client certificates required and validated against ROOTCA for
// any identity of the mesh's trust domains. It is nil when mode does not terminate mTLS.
func (b *builder) inboundTLS(mode model.MutualTLSMode, p chainProtocol) *tlsv3.DownstreamTlsContext {
	if mode != model.MTLSPermissive && mode != model.MTLSStrict {
		return nil
	}
	common := sds.IstioMutualContext(trustDomainMatchers(b.mesh))
	common.AlpnProtocols = alpnHTTP
	if p == chainTCP {
		common.AlpnProtocols = alpnTCPWithPeerX
	}
	ciphers := defaultCipherSuites
	if cs := b.mesh.GetMeshMTLS().GetCipherSuites(); cs != nil {
		ciphers = cs
	}
	minVersion := tlsv3.TlsParameters_TLSv1_2
	if b.mesh.GetMeshMTLS().GetMinProtocolVersion() == meshv1alpha1.MeshConfig_TLSConfig_TLSV1_3 {
		minVersion = tlsv3.TlsParameters_TLSv1_3
	}
	common.TlsParams = &tlsv3.TlsParameters{
		TlsMinimumProtocolVersion: minVersion,
		TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3,
		CipherSuites:              ciphers,
	}
	return &tlsv3.DownstreamTlsContext{CommonTlsContext: common, RequireClientCertificate: wrapperspb.Bool(true)}
}

// trustDomainMatchers accept SPIFFE identities of the trust domain, its aliases and the
// trust domains of configured CA certificates, in that order and without duplicates.
func trustDomainMatchers(mesh *meshv1alpha1.MeshConfig) []*matcherv3.StringMatcher {
	tds := append([]string{mesh.GetTrustDomain()}, mesh.GetTrustDomainAliases()...)
	for _, c := range mesh.GetCaCertificates() {
		tds = append(tds, c.GetTrustDomains()...)
	}
	seen := map[string]bool{}
	var out []*matcherv3.StringMatcher
	for _, td := range tds {
		if td == "" || seen[td] {
			continue
		}
		seen[td] = true
		out = append(out, &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "spiffe://" + td + "/"}})
	}
	return out
}

// tlsTransportSocket wraps a downstream TLS context; nil for plaintext chains.
func tlsTransportSocket(ctx *tlsv3.DownstreamTlsContext) *corev3.TransportSocket {
	if ctx == nil {
		return nil
	}
	return &corev3.TransportSocket{
		Name:       "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: protoconv.MessageToAny(ctx)},
	}
}
