package envoyfilter_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"github.com/google/go-cmp/cmp"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	"sigs.k8s.io/yaml"

	"github.com/sextant-mesh/sextant/pilot/pkg/envoyfilter"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/pkg/meshgen"
)

// decodeFilter decodes an EnvoyFilter manifest (apiVersion and kind may be left out).
func decodeFilter(t *testing.T, manifest map[string]any) *config.Config {
	t.Helper()
	manifest["apiVersion"], manifest["kind"] = "networking.istio.io/v1alpha3", "EnvoyFilter"
	js, err := json.Marshal(manifest)
	if err != nil {
		t.Fatal(err)
	}
	c, err := schema.Decode(js)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return c
}

// compileFixture is testdata/compile/compile.yaml.
type compileFixture struct {
	Cases []struct {
		Name   string         `json:"name"`
		Filter map[string]any `json:"filter"`
		Kept   []string       `json:"kept"`
		Errors []string       `json:"errors"`
	} `json:"cases"`
}

func TestCompile(t *testing.T) {
	var fx compileFixture
	readYAML(t, "testdata/compile/compile.yaml", &fx)
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			f := envoyfilter.Compile(decodeFilter(t, c.Filter))
			var kept []string
			for _, p := range f.Patches {
				kept = append(kept, p.ApplyTo.String()+"/"+p.Operation.String())
			}
			if d := cmp.Diff(c.Kept, kept); d != "" {
				t.Errorf("kept patches (-want +got):\n%s", d)
			}
			if len(f.Errors) != len(c.Errors) {
				t.Fatalf("errors: got %v, want %d like %q", f.Errors, len(c.Errors), c.Errors)
			}
			for i, want := range c.Errors {
				if !strings.Contains(f.Errors[i].Error(), want) {
					t.Errorf("error %d = %q, want it to contain %q", i, f.Errors[i], want)
				}
			}
		})
	}
}

func TestCompileDecodesOnce(t *testing.T) {
	var fx compileFixture
	readYAML(t, "testdata/compile/compile.yaml", &fx)
	f := envoyfilter.Compile(decodeFilter(t, fx.Cases[0].Filter))
	c, ok := f.Patches[0].Value.(*clusterv3.Cluster)
	if !ok || c.GetConnectTimeout().AsDuration().String() != "1m30s" {
		t.Errorf("value = %v, want a Cluster with connect_timeout 1m30s", f.Patches[0].Value)
	}
	f = envoyfilter.Compile(decodeFilter(t, fx.Cases[1].Filter))
	ps := envoyfilter.Select(envoyfilter.Proxy{Namespace: "default"}, "istio-system", nil, []*envoyfilter.Filter{f})
	boot := ps.Bootstrap()
	if len(boot) != 1 || boot[0].Value.(*bootstrapv3.Bootstrap).GetStatsFlushInterval().AsDuration().String() != "10s" {
		t.Errorf("bootstrap patches = %v, want one with stats_flush_interval 10s", boot)
	}
}

func TestSelect(t *testing.T) {
	var fx struct {
		Filters []map[string]any `json:"filters"`
		Cases   []struct {
			Name  string `json:"name"`
			Proxy struct {
				Namespace    string            `json:"namespace"`
				Labels       map[string]string `json:"labels"`
				IstioVersion string            `json:"istioVersion"`
				Metadata     map[string]any    `json:"metadata"`
			} `json:"proxy"`
			Want []string `json:"want"`
		} `json:"cases"`
	}
	readYAML(t, "testdata/select/select.yaml", &fx)
	byNS := map[string][]*envoyfilter.Filter{}
	for _, m := range fx.Filters {
		f := envoyfilter.Compile(decodeFilter(t, m))
		byNS[f.Key.Namespace] = append(byNS[f.Key.Namespace], f)
	}
	for _, fs := range byNS {
		envoyfilter.SortFilters(fs)
	}
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			p := envoyfilter.Proxy{Namespace: c.Proxy.Namespace, Labels: c.Proxy.Labels, IstioVersion: c.Proxy.IstioVersion, Metadata: c.Proxy.Metadata}
			ps := envoyfilter.Select(p, "istio-system", byNS["istio-system"], byNS[p.Namespace])
			var got []string
			for _, patch := range ps.For(networkingv1alpha3.EnvoyFilter_CLUSTER) {
				got = append(got, patch.Value.(*clusterv3.Cluster).GetName())
			}
			if d := cmp.Diff(c.Want, got); d != "" {
				t.Errorf("patches in order (-want +got):\n%s", d)
			}
		})
	}
}

func TestSelectLongVersionRegexMatchesNothing(t *testing.T) {
	long := "^1\\.31" + strings.Repeat("(0|1)?", 200) + ".*"
	manifest := map[string]any{}
	doc := fmt.Sprintf(`{metadata: {name: long, namespace: default}, spec: {configPatches: [
		{applyTo: CLUSTER, match: {proxy: {proxyVersion: %q}}, patch: {operation: MERGE, value: {name: long}}},
		{applyTo: CLUSTER, match: {proxy: {proxyVersion: "(unclosed"}}, patch: {operation: MERGE, value: {name: invalid}}}]}}`, long)
	if err := yaml.Unmarshal([]byte(doc), &manifest); err != nil {
		t.Fatal(err)
	}
	f := envoyfilter.Compile(decodeFilter(t, manifest))
	ps := envoyfilter.Select(envoyfilter.Proxy{Namespace: "default", IstioVersion: "1.31.1"}, "istio-system", nil, []*envoyfilter.Filter{f})
	var got []string
	for _, p := range ps.For(networkingv1alpha3.EnvoyFilter_CLUSTER) {
		got = append(got, p.Value.(*clusterv3.Cluster).GetName())
	}
	// A regex longer than 1024 characters is not compiled and matches no proxy; one that
	// does not compile (validation rejects it) is ignored, as istiod ignores it.
	if d := cmp.Diff([]string{"invalid"}, got); d != "" {
		t.Errorf("patches (-want +got):\n%s", d)
	}
}

// BenchmarkCompile compiles the 500 EnvoyFilters of a generated mesh (what a cold
// PushContext build does for them).
func BenchmarkCompile(b *testing.B) {
	m := meshgen.Generate(meshgen.Spec{Namespaces: 50, Services: 1000, EnvoyFilters: 500})
	var filters []*config.Config
	for _, c := range m.Configs {
		if c.Kind == schema.EnvoyFilter {
			filters = append(filters, c)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, c := range filters {
			if f := envoyfilter.Compile(c); len(f.Errors) > 0 {
				b.Fatal(f.Errors)
			}
		}
	}
	b.ReportMetric(float64(len(filters)), "filters/op")
}
