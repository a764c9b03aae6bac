package grpcgen

import (
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// transportSocketName is the transport socket name gRPC requires for TLS.
const transportSocketName = "envoy.transport_sockets.tls"

// Certificate provider instance and certificate names gRPC's bootstrap (written by
// istio-agent) defines: the workload certificate and the root CA.
const (
	certProviderInstance = "default"
	workloadCertName     = "default"
	rootCACertName       = "ROOTCA"
)

// upstreamTLSContext is Istio mTLS for a gRPC client, verifying the server's identity
// against sans.
func upstreamTLSContext(sans []string) *tlsv3.UpstreamTlsContext {
	return &tlsv3.UpstreamTlsContext{CommonTlsContext: commonTLSContext(sans)}
}

// commonTLSContext names gRPC's certificate providers for the workload certificate and
// the root CA. Each is given both in the current fields and in the deprecated ones that
// gRPC clients older than 1.66 read.
func commonTLSContext(sans []string) *tlsv3.CommonTlsContext {
	var sanMatch []*matcherv3.StringMatcher
	for _, san := range sans {
		sanMatch = append(sanMatch, &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: san}})
	}
	return &tlsv3.CommonTlsContext{
		TlsCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{
			InstanceName: certProviderInstance, CertificateName: workloadCertName,
		},
		TlsCertificateCertificateProviderInstance: &tlsv3.CommonTlsContext_CertificateProviderInstance{ //nolint:staticcheck // for old gRPC
			InstanceName: certProviderInstance, CertificateName: workloadCertName,
		},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
			CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				ValidationContextCertificateProviderInstance: &tlsv3.CommonTlsContext_CertificateProviderInstance{ //nolint:staticcheck // for old gRPC
					InstanceName: certProviderInstance, CertificateName: rootCACertName,
				},
				DefaultValidationContext: &tlsv3.CertificateValidationContext{
					MatchSubjectAltNames: sanMatch, //nolint:staticcheck // what gRPC reads
					CaCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{
						InstanceName: certProviderInstance, CertificateName: rootCACertName,
					},
				},
			},
		},
	}
}
