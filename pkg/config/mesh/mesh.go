package mesh

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	"sigs.k8s.io/yaml"
)

// Defaults istiod applies when the mesh config does not say otherwise.
const (
	DefaultTrustDomain   = "cluster.local"
	DefaultRootNamespace = "istio-system"
)

// DefaultProxyConfig returns istiod's built-in ProxyConfig defaults.
func DefaultProxyConfig() *meshv1alpha1.ProxyConfig {
	return &meshv1alpha1.ProxyConfig{
		ConfigPath:               "./etc/istio/proxy",
		ClusterName:              &meshv1alpha1.ProxyConfig_ServiceCluster{ServiceCluster: "istio-proxy"},
		DrainDuration:            durationpb.New(45 * time.Second),
		TerminationDrainDuration: durationpb.New(5 * time.Second),
		ProxyAdminPort:           15000,
		ControlPlaneAuthPolicy:   meshv1alpha1.AuthenticationPolicy_MUTUAL_TLS,
		DiscoveryAddress:         "istiod.istio-system.svc:15012",
		BinaryPath:               "/usr/local/bin/envoy",
		StatNameLength:           189,
		StatusPort:               15020,
	}
}

// Default returns istiod's built-in MeshConfig: what a mesh with no mesh config runs with.
func Default() *meshv1alpha1.MeshConfig {
	return &meshv1alpha1.MeshConfig{
		EnableTracing:            true,
		AccessLogEncoding:        meshv1alpha1.MeshConfig_TEXT,
		ProtocolDetectionTimeout: durationpb.New(0),
		IngressService:           "istio-ingressgateway",
		IngressControllerMode:    meshv1alpha1.MeshConfig_STRICT,
		IngressClass:             "istio",
		TrustDomain:              DefaultTrustDomain,
		TrustDomainAliases:       []string{},
		EnableAutoMtls:           wrapperspb.Bool(true),
		OutboundTrafficPolicy: &meshv1alpha1.MeshConfig_OutboundTrafficPolicy{
			Mode: meshv1alpha1.MeshConfig_OutboundTrafficPolicy_ALLOW_ANY,
		},
		InboundTrafficPolicy: &meshv1alpha1.MeshConfig_InboundTrafficPolicy{
			Mode: meshv1alpha1.MeshConfig_InboundTrafficPolicy_PASSTHROUGH,
		},
		LocalityLbSetting:              &networkingv1alpha3.LocalityLoadBalancerSetting{Enabled: wrapperspb.Bool(true)},
		Certificates:                   []*meshv1alpha1.Certificate{},
		DefaultConfig:                  DefaultProxyConfig(),
		RootNamespace:                  DefaultRootNamespace,
		ProxyListenPort:                15001,
		ProxyInboundListenPort:         15006,
		ConnectTimeout:                 durationpb.New(10 * time.Second),
		DefaultServiceExportTo:         []string{"*"},
		DefaultVirtualServiceExportTo:  []string{"*"},
		DefaultDestinationRuleExportTo: []string{"*"},
		DnsRefreshRate:                 durationpb.New(60 * time.Second),
		ServiceSettings:                []*meshv1alpha1.MeshConfig_ServiceSettings{},
		EnablePrometheusMerge:          wrapperspb.Bool(true),
		DefaultProviders:               &meshv1alpha1.MeshConfig_DefaultProviders{},
		ExtensionProviders: []*meshv1alpha1.MeshConfig_ExtensionProvider{
			{Name: "prometheus", Provider: &meshv1alpha1.MeshConfig_ExtensionProvider_Prometheus{
				Prometheus: &meshv1alpha1.MeshConfig_ExtensionProvider_PrometheusMetricsProvider{},
			}},
			{Name: "stackdriver", Provider: &meshv1alpha1.MeshConfig_ExtensionProvider_Stackdriver{
				Stackdriver: &meshv1alpha1.MeshConfig_ExtensionProvider_StackdriverProvider{},
			}},
			{Name: "envoy", Provider: &meshv1alpha1.MeshConfig_ExtensionProvider_EnvoyFileAccessLog{
				EnvoyFileAccessLog: &meshv1alpha1.MeshConfig_ExtensionProvider_EnvoyFileAccessLogProvider{Path: "/dev/stdout"},
			}},
		},
	}
}

// Apply applies a MeshConfig YAML document over base (which it modifies and returns), with
// istiod's merge rules. Unknown fields are errors.
func Apply(doc []byte, base *meshv1alpha1.MeshConfig) (*meshv1alpha1.MeshConfig, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, fmt.Errorf("mesh config: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(js, &raw); err != nil {
		return nil, fmt.Errorf("mesh config: not a map: %w", err)
	}
	over := &meshv1alpha1.MeshConfig{}
	if err := protojson.Unmarshal(js, over); err != nil {
		return nil, fmt.Errorf("mesh config: %w", err)
	}
	prevExtensions, prevAliases := base.ExtensionProviders, base.TrustDomainAliases
	overrideFields(base, over, raw)
	if pc, ok := raw["defaultConfig"]; ok {
		p := &meshv1alpha1.ProxyConfig{}
		if err := protojson.Unmarshal(pc, p); err != nil {
			return nil, fmt.Errorf("mesh config: defaultConfig: %w", err)
		}
		overrideFields(base.DefaultConfig, p, fieldsOf(pc))
	}
	if dp, ok := raw["defaultProviders"]; ok {
		p := &meshv1alpha1.MeshConfig_DefaultProviders{}
		if err := protojson.Unmarshal(dp, p); err != nil {
			return nil, fmt.Errorf("mesh config: defaultProviders: %w", err)
		}
		overrideFields(base.DefaultProviders, p, fieldsOf(dp))
	}
	if _, ok := raw["extensionProviders"]; ok {
		base.ExtensionProviders = mergeProviders(prevExtensions, over.ExtensionProviders)
	}
	base.TrustDomainAliases = unionSorted(base.TrustDomainAliases, prevAliases)
	return base, nil
}

// overrideFields copies from over into base every top-level field named in present (by
// JSON or proto name), replacing what base had: istiod's "fields override" rule.
func overrideFields(base, over proto.Message, present map[string]json.RawMessage) {
	b, o := base.ProtoReflect(), over.ProtoReflect()
	fields := b.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if f.Name() == "defaultConfig" || f.Name() == "default_config" || f.Name() == "default_providers" || f.Name() == "extension_providers" {
			if _, isMesh := base.(*meshv1alpha1.MeshConfig); isMesh {
				continue
			}
		}
		_, byJSON := present[f.JSONName()]
		_, byName := present[string(f.Name())]
		if !byJSON && !byName {
			continue
		}
		if o.Has(f) {
			b.Set(f, o.Get(f))
		} else {
			b.Clear(f)
		}
	}
}

func fieldsOf(js json.RawMessage) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	_ = json.Unmarshal(js, &m)
	return m
}

func mergeProviders(prev, added []*meshv1alpha1.MeshConfig_ExtensionProvider) []*meshv1alpha1.MeshConfig_ExtensionProvider {
	out := prev
	for _, p := range added {
		found := false
		for _, e := range out {
			if e.Name == p.Name {
				e.Provider, found = p.Provider, true
				break
			}
		}
		if !found {
			out = append(out, p)
		}
	}
	return out
}

func unionSorted(a, b []string) []string {
	set := map[string]bool{}
	for _, s := range append(append([]string{}, a...), b...) {
		set[s] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Load reads a MeshConfig file and applies it over the defaults. An empty path returns the
// defaults.
func Load(path string) (*meshv1alpha1.MeshConfig, error) {
	m := Default()
	if path == "" {
		return m, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err = Apply(b, m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Clone returns a deep copy of m.
func Clone(m *meshv1alpha1.MeshConfig) *meshv1alpha1.MeshConfig {
	return proto.Clone(m).(*meshv1alpha1.MeshConfig)
}
