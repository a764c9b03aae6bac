package listener_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sextant-mesh/sextant/pilot/pkg/config/file"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/generate"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/listener"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
	"github.com/sextant-mesh/sextant/tests/xdsvalidate"
)

// corpus refreshes the golden files from a compat corpus: each testdata case's
// listeners.golden.json becomes the "listeners" of <corpus>/<case>/expected.json, which
// istiod generated. Golden files never come from Sextant's own output.
var corpus = flag.String("corpus", "", "refresh testdata/*/listeners.golden.json from this compat cases directory")

const goldenFile = "listeners.golden.json"

// TestGolden generates the listeners of each testdata case (inputs copied from the compat
// corpus) and compares them, listener by listener, with what istiod generated for it.
func TestGolden(t *testing.T) {
	proxies, err := filepath.Glob("testdata/*/proxy.yaml")
	if err != nil || len(proxies) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, pf := range proxies {
		dir := filepath.Dir(pf)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			if *corpus != "" {
				refreshGolden(t, dir, filepath.Join(*corpus, filepath.Base(dir), "expected.json"))
			}
			pc, p := loadCase(t, dir)
			got := listener.BuildListeners(pc, p)
			for _, l := range got {
				if err := xdsvalidate.Resource("listener", l.GetName(), l); err != nil {
					t.Errorf("invalid: %v", err)
				}
			}
			compareListeners(t, readGolden(t, filepath.Join(dir, goldenFile)), toJSON(t, got))
		})
	}
}

// loadCase indexes a case directory and returns the push context and its proxy, as the
// compat suite would.
func loadCase(t *testing.T, dir string) (*model.PushContext, *model.Proxy) {
	t.Helper()
	proxyFile, meshFile := filepath.Join(dir, "proxy.yaml"), filepath.Join(dir, "mesh.yaml")
	if _, err := os.Stat(meshFile); err != nil {
		meshFile = ""
	}
	meshConfig, err := mesh.Load(meshFile)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := file.LoadDir(dir, file.Options{Skip: []string{proxyFile, meshFile}})
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	for _, c := range loaded.Configs {
		store.Set(c)
	}
	pc := model.NewPushContext(store, meshConfig, model.DefaultOptions())
	spec, err := generate.LoadProxySpec(proxyFile)
	if err != nil {
		t.Fatal(err)
	}
	p, err := spec.Proxy()
	if err != nil {
		t.Fatal(err)
	}
	pc.InitProxy(p)
	return pc, p
}

// toJSON renders listeners as the oracle does (protojson, proto field names), by name.
func toJSON(t *testing.T, ls []*listenerv3.Listener) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, l := range ls {
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(l)
		if err != nil {
			t.Fatalf("%s: %v", l.GetName(), err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		if _, dup := out[l.GetName()]; dup {
			t.Errorf("duplicate listener %q", l.GetName())
		}
		out[l.GetName()] = v
	}
	return out
}

func readGolden(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ls []map[string]any
	if err := json.Unmarshal(b, &ls); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string]any{}
	for _, l := range ls {
		out[l["name"].(string)] = l
	}
	return out
}

func compareListeners(t *testing.T, want, got map[string]any) {
	t.Helper()
	names := map[string]bool{}
	for n := range want {
		names[n] = true
	}
	for n := range got {
		names[n] = true
	}
	for n := range names {
		w, wok := want[n]
		g, gok := got[n]
		switch {
		case !gok:
			t.Errorf("listener %q: missing", n)
		case !wok:
			t.Errorf("listener %q: not expected", n)
		default:
			if diff := cmp.Diff(w, g); diff != "" {
				t.Errorf("listener %q (-istiod +sextant):\n%s", n, diff)
			}
		}
	}
}

// refreshGolden writes the listeners of an oracle expected.json, sorted by name.
func refreshGolden(t *testing.T, dir, expected string) {
	t.Helper()
	b, err := os.ReadFile(expected)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Listeners []map[string]any `json:"listeners"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", expected, err)
	}
	sort.Slice(doc.Listeners, func(i, j int) bool {
		return doc.Listeners[i]["name"].(string) < doc.Listeners[j]["name"].(string)
	})
	out, err := json.MarshalIndent(doc.Listeners, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, goldenFile), append(out, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
