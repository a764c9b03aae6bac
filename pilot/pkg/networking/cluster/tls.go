package cluster

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	proxyprotocolv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/proxy_protocol/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/structpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/sds"
)

// ALPN lists istiod advertises on in-mesh (Istio mTLS) and user TLS connections.
var (
	alpnInMesh   = []string{"istio-peer-exchange", "istio"}
	alpnInMeshH2 = []string{"istio-peer-exchange", "istio", "h2"}
	alpnH2Only   = []string{"h2"}
)

// tlsTarget is what the TLS settings of one outbound cluster depend on besides the policy.
type tlsTarget struct {
	// sans are the identities of the service's workloads; sni is the Istio mTLS SNI
	// (outbound_.PORT_.SUBSET_.HOST).
	sans []string
	sni  string
	// external marks mesh-external services, which never get auto mTLS; registryExternal
	// marks ServiceEntry services, whose declared SANs back SIMPLE/MUTUAL validation.
	external, registryExternal bool
	mode                       model.MutualTLSMode
}

// applyTLS sets the upstream transport socket from the policy's TLS settings, or, without
// any, from auto mTLS: when the destination likely accepts Istio mTLS, a socket match
// that uses it for endpoints labelled tlsMode=istio and plaintext for the rest.
func (b *builder) applyTLS(d *draft, tls *networkingv1alpha3.ClientTLSSettings, t tlsTarget) {
	settings, auto := b.resolveTLS(tls, t)
	if settings == nil {
		return
	}
	ctx, err := b.upstreamTLSContext(d, settings, t)
	if err != nil || ctx == nil {
		return
	}
	socket := &corev3.TransportSocket{
		Name:       "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: protoconv.MessageToAny(ctx)},
	}
	if !auto || d.c.GetType() == clusterv3.Cluster_ORIGINAL_DST {
		d.c.TransportSocket = socket
		return
	}
	d.c.TransportSocketMatches = []*clusterv3.Cluster_TransportSocketMatch{
		{
			Name:            "tlsMode-istio",
			Match:           &structpb.Struct{Fields: map[string]*structpb.Value{"tlsMode": structpb.NewStringValue("istio")}},
			TransportSocket: socket,
		},
		{
			Name:            "tlsMode-disabled",
			Match:           &structpb.Struct{},
			TransportSocket: rawBufferSocket(),
		},
	}
}

func rawBufferSocket() *corev3.TransportSocket {
	return &corev3.TransportSocket{
		Name:       "envoy.transport_sockets.raw_buffer",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: protoconv.MessageToAny(&rawbufferv3.RawBuffer{})},
	}
}

// resolveTLS decides the effective TLS settings and whether they were auto-detected.
// ISTIO_MUTUAL fills in the Istio SNI and the service's identities where the user left
// them empty.
func (b *builder) resolveTLS(tls *networkingv1alpha3.ClientTLSSettings, t tlsTarget) (*networkingv1alpha3.ClientTLSSettings, bool) {
	if tls != nil {
		if tls.Mode != networkingv1alpha3.ClientTLSSettings_ISTIO_MUTUAL {
			return tls, false
		}
		out := &networkingv1alpha3.ClientTLSSettings{
			Mode:               networkingv1alpha3.ClientTLSSettings_ISTIO_MUTUAL,
			Sni:                tls.Sni,
			SubjectAltNames:    tls.SubjectAltNames,
			InsecureSkipVerify: tls.InsecureSkipVerify,
		}
		if out.Sni == "" {
			out.Sni = t.sni
		}
		if out.SubjectAltNames == nil {
			out.SubjectAltNames = t.sans
		}
		return out, false
	}
	if t.external || !b.mesh.GetEnableAutoMtls().GetValue() || t.mode == model.MTLSUnknown || t.mode == model.MTLSDisable {
		return nil, false
	}
	return &networkingv1alpha3.ClientTLSSettings{
		Mode:            networkingv1alpha3.ClientTLSSettings_ISTIO_MUTUAL,
		Sni:             t.sni,
		SubjectAltNames: t.sans,
	}, true
}

// upstreamTLSContext builds the TLS context for resolved settings; nil for DISABLE, and
// for SIMPLE/MUTUAL with a credentialName (sidecars may not read those secrets).
func (b *builder) upstreamTLSContext(d *draft, tls *networkingv1alpha3.ClientTLSSettings, t tlsTarget) (*tlsv3.UpstreamTlsContext, error) {
	switch tls.Mode {
	case networkingv1alpha3.ClientTLSSettings_ISTIO_MUTUAL:
		ctx := &tlsv3.UpstreamTlsContext{CommonTlsContext: sds.IstioMutualContext(exactMatchers(tls.SubjectAltNames)), Sni: tls.Sni}
		ctx.CommonTlsContext.TlsParams = defaultTLSParams()
		if ctx.Sni == "" {
			ctx.Sni = d.c.Name
		}
		ctx.CommonTlsContext.AlpnProtocols = alpnInMesh
		if d.isH2() {
			ctx.CommonTlsContext.AlpnProtocols = alpnInMeshH2
		}
		return ctx, nil
	case networkingv1alpha3.ClientTLSSettings_SIMPLE, networkingv1alpha3.ClientTLSSettings_MUTUAL:
		if tls.CredentialName != "" && b.proxy.Type == model.SidecarProxy {
			return nil, nil
		}
		return b.userTLSContext(d, tls, t)
	}
	return nil, nil
}

// userTLSContext builds SIMPLE or MUTUAL TLS with certificates read from files, served to
// Envoy over SDS by the agent ("file-cert:" and "file-root:" resources).
func (b *builder) userTLSContext(d *draft, tls *networkingv1alpha3.ClientTLSSettings, t tlsTarget) (*tlsv3.UpstreamTlsContext, error) {
	ctx := &tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{TlsParams: defaultTLSParams()}, Sni: tls.Sni}
	common := ctx.CommonTlsContext
	setAutoSNI(d, tls)
	sans := tls.SubjectAltNames
	if t.registryExternal && len(sans) == 0 {
		sans = t.sans
	}
	if tls.Mode == networkingv1alpha3.ClientTLSSettings_MUTUAL {
		if tls.ClientCertificate == "" || tls.PrivateKey == "" {
			return nil, fmt.Errorf("cluster %s: MUTUAL TLS needs clientCertificate and privateKey", d.c.Name)
		}
		common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{
			fileSecret("file-cert:" + tls.ClientCertificate + "~" + tls.PrivateKey),
		}
	}
	ca := tls.CaCertificates
	if ca == "" {
		ca = "system"
	}
	if tls.GetInsecureSkipVerify().GetValue() {
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{}
	} else {
		vc := &tlsv3.CertificateValidationContext{MatchSubjectAltNames: exactMatchers(sans)}
		if tls.CaCrl != "" {
			vc.Crl = &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: tls.CaCrl}}
		}
		common.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{
			CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext:         vc,
				ValidationContextSdsSecretConfig: fileSecret("file-root:" + ca),
			},
		}
	}
	if td := b.mesh.GetTlsDefaults(); td != nil {
		if len(td.EcdhCurves) > 0 {
			common.TlsParams.EcdhCurves = td.EcdhCurves
		}
		if len(td.CipherSuites) > 0 {
			common.TlsParams.CipherSuites = td.CipherSuites
		}
	}
	if d.isH2() {
		common.AlpnProtocols = alpnH2Only
	}
	return ctx, nil
}

// setAutoSNI asks Envoy to take the SNI from the request's host (and validate the
// certificate against it) when the user set no SNI (and no SANs).
func setAutoSNI(d *draft, tls *networkingv1alpha3.ClientTLSSettings) {
	if tls.Sni != "" {
		return
	}
	o := d.options()
	if o.UpstreamHttpProtocolOptions == nil {
		o.UpstreamHttpProtocolOptions = &corev3.UpstreamHttpProtocolOptions{}
	}
	o.UpstreamHttpProtocolOptions.AutoSni = true
	if len(tls.SubjectAltNames) == 0 && !tls.GetInsecureSkipVerify().GetValue() {
		o.UpstreamHttpProtocolOptions.AutoSanValidation = true
	}
}

// fileSecret references an agent-served file secret. Unlike the workload certificate, it
// carries no initial fetch timeout.
func fileSecret(name string) *tlsv3.SdsSecretConfig {
	s := sds.SecretConfig(name)
	s.SdsConfig.InitialFetchTimeout = nil
	return s
}

func defaultTLSParams() *tlsv3.TlsParameters {
	return &tlsv3.TlsParameters{
		TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2,
		TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3,
	}
}

func exactMatchers(sans []string) []*matcherv3.StringMatcher {
	var out []*matcherv3.StringMatcher
	for _, s := range sans {
		out = append(out, &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}})
	}
	return out
}

// applyProxyProtocol wraps the cluster's transport sockets (plaintext if none) in an
// upstream PROXY protocol socket of the requested version.
func applyProxyProtocol(c *clusterv3.Cluster, pp *networkingv1alpha3.TrafficPolicy_ProxyProtocol) {
	if pp == nil {
		return
	}
	wrap := func(name string, inner *corev3.TransportSocket) *corev3.TransportSocket {
		return &corev3.TransportSocket{
			Name: name,
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: protoconv.MessageToAny(&proxyprotocolv3.ProxyProtocolUpstreamTransport{
				Config:          &corev3.ProxyProtocolConfig{Version: corev3.ProxyProtocolConfig_Version(pp.Version)},
				TransportSocket: inner,
			})},
		}
	}
	const name = "envoy.transport_sockets.upstream_proxy_protocol"
	if c.TransportSocket == nil && len(c.TransportSocketMatches) == 0 {
		c.TransportSocket = wrap(name, rawBufferSocket())
		return
	}
	if c.TransportSocket != nil {
		c.TransportSocket = wrap(name, c.TransportSocket)
	}
	for _, m := range c.TransportSocketMatches {
		m.TransportSocket = wrap(name, m.TransportSocket)
	}
}
