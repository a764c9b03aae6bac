package mesh

import (
	"strings"
	"testing"
	"time"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
)

func TestApplyOverridesFieldsAndMergesProxyConfig(t *testing.T) {
	m, err := Apply([]byte(`
trustDomain: example.org
rootNamespace: mesh-root
connectTimeout: 3s
outboundTrafficPolicy: {mode: REGISTRY_ONLY}
defaultProviders:
  metrics: [prometheus]
extensionProviders:
- name: envoy
  envoyFileAccessLog: {path: /dev/stderr}
- name: otel
  opentelemetry: {service: otel.observability.svc.cluster.local, port: 4317}
defaultConfig:
  discoveryAddress: istiod.mesh-root.svc:15012
  concurrency: 2
`), Default())
	if err != nil {
		t.Fatal(err)
	}
	if m.TrustDomain != "example.org" || m.RootNamespace != "mesh-root" {
		t.Errorf("overrides not applied: %q %q", m.TrustDomain, m.RootNamespace)
	}
	if m.ConnectTimeout.AsDuration() != 3*time.Second {
		t.Errorf("connectTimeout = %v", m.ConnectTimeout.AsDuration())
	}
	if m.OutboundTrafficPolicy.Mode != meshv1alpha1.MeshConfig_OutboundTrafficPolicy_REGISTRY_ONLY {
		t.Errorf("outbound policy = %v", m.OutboundTrafficPolicy.Mode)
	}
	// Fields not mentioned keep istiod's defaults.
	if !m.EnableTracing || m.IngressClass != "istio" || m.DnsRefreshRate.AsDuration() != time.Minute {
		t.Errorf("defaults lost: tracing=%v ingressClass=%q dnsRefresh=%v", m.EnableTracing, m.IngressClass, m.DnsRefreshRate.AsDuration())
	}
	// defaultConfig is merged over the default ProxyConfig, not replaced.
	pc := m.DefaultConfig
	if pc.DiscoveryAddress != "istiod.mesh-root.svc:15012" || pc.Concurrency.GetValue() != 2 {
		t.Errorf("proxy config overrides not applied: %v", pc)
	}
	if pc.StatusPort != 15020 || pc.DrainDuration.AsDuration() != 45*time.Second {
		t.Errorf("proxy config defaults lost: %v", pc)
	}
	// extensionProviders merge by name: envoy replaced, otel appended, prometheus kept.
	var names []string
	for _, p := range m.ExtensionProviders {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "prometheus,stackdriver,envoy,otel" {
		t.Errorf("providers = %v", names)
	}
	if got := m.ExtensionProviders[2].GetEnvoyFileAccessLog().GetPath(); got != "/dev/stderr" {
		t.Errorf("envoy provider path = %q", got)
	}
	if got := m.DefaultProviders.GetMetrics(); len(got) != 1 || got[0] != "prometheus" {
		t.Errorf("default providers = %v", got)
	}
}

func TestApplyRejectsUnknownFields(t *testing.T) {
	_, err := Apply([]byte("trustDomian: typo.org\n"), Default())
	if err == nil || !strings.Contains(err.Error(), "trustDomian") {
		t.Fatalf("err = %v, want one naming the unknown field", err)
	}
}

func TestLoadEmptyPathIsDefaults(t *testing.T) {
	m, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if m.RootNamespace != DefaultRootNamespace || !m.EnableAutoMtls.GetValue() {
		t.Errorf("defaults = %v", m)
	}
}
