package envoyfilter_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/golang/protobuf/jsonpb" //nolint:staticcheck // decodes EnvoyFilter specs as istiod does
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/testing/protocmp"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	"sigs.k8s.io/yaml"

	"github.com/sextant-mesh/sextant/pilot/pkg/envoyfilter"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/tests/xdsvalidate"
)

// fixture is one testdata/*.yaml file: resources before patching, and cases that patch
// them. Expected outputs are reasoned from istiod's patch semantics (or cut from the
// oracle's output for the compat cases); none comes from Sextant's output.
type fixture struct {
	Base  resources     `json:"base"`
	Cases []fixtureCase `json:"cases"`
}

type resources struct {
	Clusters  []json.RawMessage `json:"clusters"`
	Listeners []json.RawMessage `json:"listeners"`
	Routes    []json.RawMessage `json:"routes"`
}

type fixtureCase struct {
	Name string `json:"name"`
	// Context is where the resources are patched (default SIDECAR_OUTBOUND).
	Context string `json:"context"`
	// Hosts are the services inbound clusters serve, by cluster name.
	Hosts map[string][]string `json:"hosts"`
	// Patches are EnvoyFilter configPatches, of one filter in the root namespace.
	Patches []json.RawMessage `json:"patches"`
	// ExtensionConfigs are the names to ask ExtensionConfigs for.
	ExtensionConfigs []string `json:"extensionConfigs"`
	Want             want     `json:"want"`
}

// want lists every resource name in output order; resources of the base not listed in
// changed must come out as they went in, changed ones (and added ones) as written.
type want struct {
	Clusters         []string          `json:"clusters"`
	Listeners        []string          `json:"listeners"`
	Routes           []string          `json:"routes"`
	Changed          resources         `json:"changed"`
	ExtensionConfigs []json.RawMessage `json:"extensionConfigs"`
}

func TestPatches(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		var fx fixture
		readYAML(t, file, &fx)
		for _, c := range fx.Cases {
			t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml")+"/"+c.Name, func(t *testing.T) {
				runCase(t, &fx, &c)
			})
		}
	}
}

func runCase(t *testing.T, fx *fixture, c *fixtureCase) {
	ps := selectPatches(t, c.Patches)
	ctx := envoyfilter.SidecarOutbound
	if c.Context != "" {
		ctx = envoyfilter.Context(networkingv1alpha3.EnvoyFilter_PatchContext_value[c.Context])
	}
	if len(fx.Base.Clusters) > 0 {
		in := decodeAll[*clusterv3.Cluster](t, fx.Base.Clusters)
		before := cloneAll(in)
		hosts := func(cl *clusterv3.Cluster) []string { return c.Hosts[cl.GetName()] }
		out := envoyfilter.PatchClusters(ps, ctx, in, hosts)
		check(t, "clusters", before, in, out, c.Want.Clusters, c.Want.Changed.Clusters)
	}
	if len(fx.Base.Listeners) > 0 {
		in := decodeAll[*listenerv3.Listener](t, fx.Base.Listeners)
		before := cloneAll(in)
		out := envoyfilter.PatchListeners(ps, ctx, in)
		check(t, "listeners", before, in, out, c.Want.Listeners, c.Want.Changed.Listeners)
	}
	if len(fx.Base.Routes) > 0 {
		in := decodeAll[*routev3.RouteConfiguration](t, fx.Base.Routes)
		before := cloneAll(in)
		var out []*routev3.RouteConfiguration
		for _, rc := range in {
			out = append(out, envoyfilter.PatchRouteConfiguration(ps, ctx, rc))
		}
		check(t, "routes", before, in, out, c.Want.Routes, c.Want.Changed.Routes)
	}
	if c.ExtensionConfigs != nil {
		got := envoyfilter.ExtensionConfigs(ps, c.ExtensionConfigs)
		wantECs := decodeAll[*corev3.TypedExtensionConfig](t, c.Want.ExtensionConfigs)
		if d := cmp.Diff(wantECs, got, protocmp.Transform()); d != "" {
			t.Errorf("extension configs (-want +got):\n%s", d)
		}
	}
}

// selectPatches compiles the patches as one EnvoyFilter of the root namespace and
// selects them for a 1.31 sidecar in namespace default.
func selectPatches(t *testing.T, patches []json.RawMessage) *envoyfilter.Patches {
	t.Helper()
	spec := compileSpec(t, patches)
	f := envoyfilter.Compile(&config.Config{
		Meta: config.Meta{Kind: schema.EnvoyFilter, Namespace: "istio-system", Name: "test"},
		Spec: spec,
	})
	if len(f.Errors) > 0 {
		t.Fatalf("compile: %v", f.Errors)
	}
	p := envoyfilter.Proxy{Namespace: "default", Labels: map[string]string{"app": "reviews"}, IstioVersion: "1.31.1"}
	return envoyfilter.Select(p, "istio-system", []*envoyfilter.Filter{f}, nil)
}

func compileSpec(t *testing.T, patches []json.RawMessage) *networkingv1alpha3.EnvoyFilter {
	t.Helper()
	js, err := json.Marshal(map[string]any{"configPatches": patches})
	if err != nil {
		t.Fatal(err)
	}
	spec := &networkingv1alpha3.EnvoyFilter{}
	if err := (&jsonpb.Unmarshaler{}).Unmarshal(bytes.NewReader(js), protoadapt.MessageV1Of(spec)); err != nil {
		t.Fatalf("EnvoyFilter spec: %v", err)
	}
	return spec
}

// check compares the output with the expected names and contents, checks the input was
// not altered, and validates every output resource as Envoy would.
func check[M interface {
	proto.Message
	GetName() string
}](t *testing.T, kind string, before, in, out []M, names []string, changed []json.RawMessage) {
	t.Helper()
	for i := range in {
		if !proto.Equal(before[i], in[i]) {
			t.Errorf("%s: input %s was altered by patching", kind, in[i].GetName())
		}
	}
	var got []string
	for _, m := range out {
		got = append(got, m.GetName())
	}
	if d := cmp.Diff(names, got); d != "" {
		t.Errorf("%s names (-want +got):\n%s", kind, d)
	}
	wantByName := map[string]M{}
	for _, m := range before {
		wantByName[m.GetName()] = m
	}
	for _, m := range decodeAll[M](t, changed) {
		wantByName[m.GetName()] = m
	}
	for _, m := range out {
		if d := cmp.Diff(wantByName[m.GetName()], m, protocmp.Transform()); d != "" {
			t.Errorf("%s %s (-want +got):\n%s", kind, m.GetName(), d)
		}
		if err := xdsvalidate.Resource(kind, m.GetName(), m); err != nil {
			t.Errorf("invalid output: %v", err)
		}
	}
}

func decodeAll[M proto.Message](t *testing.T, raws []json.RawMessage) []M {
	t.Helper()
	var out []M
	for _, raw := range raws {
		var m M
		m = m.ProtoReflect().Type().New().Interface().(M)
		if err := protojson.Unmarshal(raw, m); err != nil {
			t.Fatalf("decode %T: %v\n%s", m, err, raw)
		}
		out = append(out, m)
	}
	return out
}

func cloneAll[M proto.Message](in []M) []M {
	out := make([]M, len(in))
	for i, m := range in {
		out[i] = proto.Clone(m).(M)
	}
	return out
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
