package meshdir_test

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/config/file"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/generate"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/pkg/meshgen"
	"github.com/sextant-mesh/sextant/tools/meshgen/meshdir"
)

func smallMesh() (*meshgen.Mesh, []*config.Config) {
	m := meshgen.Generate(meshgen.Spec{Namespaces: 3, Services: 12, EndpointsPerService: 2,
		VirtualServicePercent: 50, DestinationRulePercent: 50, ServiceEntries: 2})
	return m, append(m.Configs, meshdir.IsolationSidecars(meshdir.Namespaces(m.Configs)[:1])...)
}

func load(t *testing.T, dir string) map[config.Key]*config.Config {
	t.Helper()
	res, err := file.LoadDir(dir, file.Options{Skip: []string{filepath.Join(dir, "proxy.yaml")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Errors() {
		t.Errorf("problem: %v", p) // warnings (every EnvoyFilter gets one, as in istiod) are fine
	}
	out := map[config.Key]*config.Config{}
	for _, c := range res.Configs {
		out[c.Key()] = c
	}
	return out
}

// TestWrittenDirectoryLoadsBack: every object comes back from Sextant's loader, without
// problems (validation included), with equal Istio specs; for the Kubernetes-service mesh
// and for the ServiceEntry mesh with Sidecars.
func TestWrittenDirectoryLoadsBack(t *testing.T) {
	_, kube := smallMesh()
	se := meshgen.Generate(meshgen.Spec{Namespaces: 3, Services: 12, ServiceEntryServices: true,
		VirtualServicePercent: 50, DestinationRulePercent: 50, EnvoyFilters: 4, Sidecars: 6})
	for name, configs := range map[string][]*config.Config{"kubernetes": kube, "serviceentry": se.Configs} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := meshdir.Write(dir, configs); err != nil {
				t.Fatal(err)
			}
			got := load(t, dir)
			if len(got) != len(configs) {
				t.Errorf("loaded %d objects, wrote %d", len(got), len(configs))
			}
			for _, c := range configs {
				g := got[c.Key()]
				if g == nil {
					t.Errorf("%s: not loaded", c.Key())
					continue
				}
				if want, ok := c.Spec.(proto.Message); ok && !proto.Equal(want, g.Spec.(proto.Message)) {
					t.Errorf("%s: spec differs after the round trip:\nwrote %v\nread  %v", c.Key(), want, g.Spec)
				}
			}
		})
	}
}

func TestUpdateRewritesOneObject(t *testing.T) {
	_, configs := smallMesh()
	dir := t.TempDir()
	d, err := meshdir.Write(dir, configs)
	if err != nil {
		t.Fatal(err)
	}
	key := d.Keys(schema.VirtualService)[0]
	vs := proto.Clone(d.Get(key).Spec.(proto.Message)).(*networkingv1alpha3.VirtualService)
	vs.Http[1].Route[0].Weight, vs.Http[1].Route[1].Weight = 10, 90
	edited := *d.Get(key)
	edited.Spec = vs
	if err := d.Update(&edited); err != nil {
		t.Fatal(err)
	}
	got := load(t, dir)
	if !proto.Equal(got[key].Spec.(proto.Message), vs) {
		t.Errorf("%s after Update = %v", key, got[key].Spec)
	}
	if len(got) != len(configs) {
		t.Errorf("loaded %d objects after Update, want %d", len(got), len(configs))
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	missing := edited
	missing.Name = "no-such-object"
	if err := d.Update(&missing); err == nil {
		t.Error("Update of an object never written succeeded")
	}
}

// TestProxyFileIsTheCaseFormat: proxy.yaml is read strictly by `pilot-discovery generate`
// (the same format as the oracle's).
func TestProxyFileIsTheCaseFormat(t *testing.T) {
	m, _ := smallMesh()
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	want := meshdir.Proxy{Type: "sidecar", IP: m.ClientIP, Namespace: m.ClientNamespace, Pod: m.ClientPod, Labels: m.ClientLabels}
	if err := meshdir.WriteProxy(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := generate.LoadProxySpec(path)
	if err != nil {
		b, _ := os.ReadFile(path)
		t.Fatalf("%v\n%s", err, b)
	}
	if got.IP != want.IP || got.Namespace != want.Namespace || got.Pod != want.Pod || got.Labels["app"] != want.Labels["app"] {
		t.Errorf("read back %+v, wrote %+v", got, want)
	}
}
