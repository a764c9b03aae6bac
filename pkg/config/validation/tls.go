package validation

import (
	"sort"
	"strings"
	"unicode"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// configMapCredentialPrefix names a CA bundle in a ConfigMap: "configmap://namespace/name".
const configMapCredentialPrefix = "configmap://"

// checkClientTLS checks the TLS a DestinationRule originates: credentials from a
// credentialName exclude inline files, MUTUAL needs a client certificate and key, and
// insecureSkipVerify excludes what would verify the server.
func checkClientTLS(r *report, p path, namespace string, t *networkingv1alpha3.ClientTLSSettings) {
	if t == nil {
		return
	}
	if rest, ok := strings.CutPrefix(t.CredentialName, configMapCredentialPrefix); ok {
		checkConfigMapCredential(r, p.field("credentialName"), namespace, t.CredentialName, rest)
	}
	simple, mutual := t.Mode == networkingv1alpha3.ClientTLSSettings_SIMPLE, t.Mode == networkingv1alpha3.ClientTLSSettings_MUTUAL
	if t.InsecureSkipVerify.GetValue() {
		if simple && (t.CaCertificates != "" || t.CredentialName != "" || t.SubjectAltNames != nil) {
			r.errorf(p.field("insecureSkipVerify"), "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true")
		}
		if mutual && (t.CaCertificates != "" || t.SubjectAltNames != nil) {
			r.errorf(p.field("insecureSkipVerify"), "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true")
		}
	}
	if (simple || mutual) && t.CredentialName != "" {
		if t.ClientCertificate != "" || t.CaCertificates != "" || t.PrivateKey != "" || t.CaCrl != "" {
			r.errorf(p.field("credentialName"), "cannot specify client certificates or CA certificate or CA CRL If credentialName is set")
		}
		return
	}
	if mutual {
		if t.ClientCertificate == "" {
			r.errorf(p.field("clientCertificate"), "client certificate required for mutual tls")
		}
		if t.PrivateKey == "" {
			r.errorf(p.field("privateKey"), "private key required for mutual tls")
		}
	}
}

// checkConfigMapCredential checks a "configmap://namespace/name" credential names a
// ConfigMap in the namespace of the configuration.
func checkConfigMapCredential(r *report, p path, namespace, full, rest string) {
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) <= 1:
		r.errorf(p, "invalid configmap:// credentialName: invalid resource name %q. Expected namespace and name", full)
	case parts[0] == "":
		r.errorf(p, "invalid configmap:// credentialName: invalid resource name %q. Expected namespace", full)
	case parts[1] == "":
		r.errorf(p, "invalid configmap:// credentialName: invalid resource name %q. Expected name", full)
	case parts[0] != namespace || namespace == "":
		r.errorf(p, "invalid configmap:// credentialName: namespace must match the configuration namespace %q", namespace)
	}
}

// cipherSuites are the cipher suite names Envoy (BoringSSL) accepts.
var cipherSuites = map[string]bool{
	"ECDHE-ECDSA-AES128-GCM-SHA256": true, "ECDHE-RSA-AES128-GCM-SHA256": true,
	"ECDHE-ECDSA-AES256-GCM-SHA384": true, "ECDHE-RSA-AES256-GCM-SHA384": true,
	"ECDHE-ECDSA-CHACHA20-POLY1305": true, "ECDHE-RSA-CHACHA20-POLY1305": true,
	"ECDHE-ECDSA-AES128-SHA": true, "ECDHE-RSA-AES128-SHA": true,
	"ECDHE-ECDSA-AES256-SHA": true, "ECDHE-RSA-AES256-SHA": true,
	"AES128-GCM-SHA256": true, "AES256-GCM-SHA384": true, "AES128-SHA": true, "AES256-SHA": true,
	"DES-CBC3-SHA": true,
}

// isValidCipherSuite accepts known names, "" and "ALL", and expressions starting with an
// operator ("-", "+", "!", "[") that istiod does not parse.
func isValidCipherSuite(cs string) bool {
	if cs == "" || cs == "ALL" {
		return true
	}
	if c := rune(cs[0]); !unicode.IsNumber(c) && !unicode.IsLetter(c) {
		return true
	}
	return cipherSuites[cs]
}

// checkServerTLS checks the TLS a Gateway server or Sidecar ingress listener terminates.
func checkServerTLS(r *report, p path, t *networkingv1alpha3.ServerTLSSettings) {
	if t == nil {
		return
	}
	if (t.MinProtocolVersion == networkingv1alpha3.ServerTLSSettings_TLSV1_0 ||
		t.MinProtocolVersion == networkingv1alpha3.ServerTLSSettings_TLSV1_1) && len(t.CipherSuites) == 0 {
		r.warnf(p.field("minProtocolVersion"), "TLS version below TLSV1_2 require setting compatible ciphers "+
			"as by default they no longer include compatible ciphers.")
	}
	warnCipherSuites(r, p.field("cipherSuites"), t.CipherSuites)
	switch t.Mode {
	case networkingv1alpha3.ServerTLSSettings_ISTIO_MUTUAL:
		checkIstioMutualServerTLS(r, p, t)
		return
	case networkingv1alpha3.ServerTLSSettings_PASSTHROUGH, networkingv1alpha3.ServerTLSSettings_AUTO_PASSTHROUGH:
		if t.CaCrl != "" || t.ServerCertificate != "" || t.PrivateKey != "" || t.CaCertificates != "" ||
			len(t.TlsCertificates) > 0 || t.CredentialName != "" || len(t.CredentialNames) > 0 {
			r.warnf(p, "%v mode does not use certificates, they will be ignored", t.Mode)
		}
	}
	sources := 0
	for _, set := range []bool{t.ServerCertificate != "" && t.PrivateKey != "", t.CredentialName != "",
		len(t.CredentialNames) > 0, len(t.TlsCertificates) > 0} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		r.errorf(p, "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified")
	}
	checkServerCertificates(r, p, t)
	if t.CaCrl != "" {
		if t.CredentialName != "" {
			r.errorf(p.field("caCrl"), "CRL is not supported with credentialName. CRL has to be specified in the credential")
		}
		if t.Mode == networkingv1alpha3.ServerTLSSettings_SIMPLE {
			r.errorf(p.field("caCrl"), "CRL is not supported with SIMPLE TLS")
		}
	}
}

func warnCipherSuites(r *report, p path, suites []string) {
	invalid, dup, seen := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, cs := range suites {
		switch {
		case !isValidCipherSuite(cs):
			invalid[cs] = true
		case seen[cs]:
			dup[cs] = true
		default:
			seen[cs] = true
		}
	}
	if len(invalid) > 0 {
		r.warnf(p, "ignoring invalid cipher suites: %v", sortedSet(invalid))
	}
	if len(dup) > 0 {
		r.warnf(p, "ignoring duplicate cipher suites: %v", sortedSet(dup))
	}
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkIstioMutualServerTLS rejects certificates on ISTIO_MUTUAL servers, which use the
// workload certificate.
func checkIstioMutualServerTLS(r *report, p path, t *networkingv1alpha3.ServerTLSSettings) {
	for _, f := range []struct {
		set         bool
		field, what string
	}{
		{t.ServerCertificate != "", "serverCertificate", "server certificate"},
		{t.PrivateKey != "", "privateKey", "private key"},
		{t.CaCertificates != "", "caCertificates", "CA bundle"},
		{len(t.TlsCertificates) > 0, "tlsCertificates", "tlsCertificates"},
		{t.CredentialName != "", "credentialName", "credentialName"},
		{len(t.CredentialNames) > 0, "credentialNames", "credentialNames"},
	} {
		if f.set {
			r.errorf(p.field(f.field), "ISTIO_MUTUAL TLS cannot have associated %s", f.what)
		}
	}
}

// checkServerCertificates checks SIMPLE and MUTUAL servers without a credentialName have
// inline certificates and keys, and MUTUAL ones a client CA bundle.
func checkServerCertificates(r *report, p path, t *networkingv1alpha3.ServerTLSSettings) {
	var prefix string
	switch t.Mode {
	case networkingv1alpha3.ServerTLSSettings_SIMPLE:
		prefix = "SIMPLE TLS"
	case networkingv1alpha3.ServerTLSSettings_MUTUAL, networkingv1alpha3.ServerTLSSettings_OPTIONAL_MUTUAL:
		prefix = "MUTUAL TLS"
	default:
		return
	}
	if t.CredentialName != "" || len(t.CredentialNames) > 0 {
		return // credentials are fetched by name
	}
	if prefix == "MUTUAL TLS" && t.CaCertificates == "" {
		r.errorf(p.field("caCertificates"), "%s requires a client CA bundle", prefix)
	}
	if len(t.TlsCertificates) > 2 {
		r.warnf(p.field("tlsCertificates"), "%s can support up to 2 server certificates", prefix)
	}
	if len(t.TlsCertificates) == 0 {
		checkServerCertificate(r, p, prefix, t.ServerCertificate, t.PrivateKey)
	}
	for i, c := range t.TlsCertificates {
		checkServerCertificate(r, p.field("tlsCertificates").index(i), prefix, c.GetServerCertificate(), c.GetPrivateKey())
	}
}

func checkServerCertificate(r *report, p path, prefix, cert, key string) {
	if cert == "" {
		r.errorf(p.field("serverCertificate"), "%s requires a server certificate", prefix)
	}
	if key == "" {
		r.errorf(p.field("privateKey"), "%s requires a private key", prefix)
	}
}
