// Package sds builds the SDS references istiod puts in TLS contexts: the workload
// certificate ("default") and the root of trust ("ROOTCA"), both fetched from the
// istio-agent over the "sds-grpc" cluster.
package sds

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Resource names istio-agent serves.
const (
	WorkloadCert = "default"
	RootCert     = "ROOTCA"
	// Cluster is the bootstrap cluster pointing at istio-agent's SDS server.
	Cluster = "sds-grpc"
)

// ConfigSource is the SDS config source istiod emits for agent-served secrets.
func ConfigSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_ApiConfigSource{ApiConfigSource: &corev3.ApiConfigSource{
			ApiType:                   corev3.ApiConfigSource_GRPC,
			TransportApiVersion:       corev3.ApiVersion_V3,
			SetNodeOnFirstMessageOnly: true,
			GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
				EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: Cluster},
			}}},
		}},
		InitialFetchTimeout: durationpb.New(0),
		ResourceApiVersion:  corev3.ApiVersion_V3,
	}
}

// SecretConfig references the named secret over SDS.
func SecretConfig(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: ConfigSource()}
}

// IstioMutualContext is the CommonTlsContext of istio mTLS: the workload certificate, and
// validation against ROOTCA with the given SAN matchers. Callers set ALPN and TLS params.
func IstioMutualContext(sans []*matcherv3.StringMatcher) *tlsv3.CommonTlsContext {
	return &tlsv3.CommonTlsContext{
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{SecretConfig(WorkloadCert)},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
			CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchSubjectAltNames: sans},
				ValidationContextSdsSecretConfig: SecretConfig(RootCert),
			},
		},
	}
}
