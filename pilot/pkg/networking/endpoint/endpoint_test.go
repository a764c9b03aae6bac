package endpoint_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/sextant-mesh/sextant/pilot/pkg/config/file"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/endpoint"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
)

// TestGolden builds, for each testdata case, the load assignments of the clusters istiod
// sent endpoints for, and compares them with istiod's; each must pass Envoy's proto
// validation.
func TestGolden(t *testing.T) {
	goldens, err := filepath.Glob("testdata/*/endpoints.golden.json")
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, golden := range goldens {
		dir := filepath.Dir(golden)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			pc, p := load(t, dir)
			names, want := readGolden(t, golden)
			got := endpoint.BuildEndpoints(pc, p, names)
			if len(got) != len(names) {
				t.Fatalf("got %d load assignments for %d names", len(got), len(names))
			}
			for i, cla := range got {
				if cla.GetClusterName() != names[i] {
					t.Errorf("assignment %d is for %q, want %q", i, cla.GetClusterName(), names[i])
				}
				if err := cla.ValidateAll(); err != nil {
					t.Errorf("%s is invalid: %v", names[i], err)
				}
				if d := cmp.Diff(want[i], toJSON(t, cla)); d != "" {
					t.Errorf("%s differs from istiod (-istiod +sextant):\n%s", names[i], d)
				}
			}
		})
	}
}

// TestNoEndpoints checks the names that get an assignment without endpoints: unparsable,
// unknown service or port, and DNS-resolved (ExternalName) service.
func TestNoEndpoints(t *testing.T) {
	pc, p := load(t, "testdata/28-k8s-externalname-tlsmode-unready")
	names := []string{
		"BlackHoleCluster",
		"outbound|80||nosuch.shop.svc.cluster.local",
		"outbound|81||web.shop.svc.cluster.local",
		"outbound|443||payments.shop.svc.cluster.local",
	}
	for i, cla := range endpoint.BuildEndpoints(pc, p, names) {
		if cla.GetClusterName() != names[i] || len(cla.GetEndpoints()) != 0 {
			t.Errorf("BuildEndpoints(%q) = %s, want an empty assignment", names[i], cla)
		}
	}
	if got := endpoint.BuildEndpoints(pc, p, []string{"outbound|80||web.shop.svc.cluster.local"}); len(got[0].GetEndpoints()) == 0 {
		t.Errorf("the control name has no endpoints; the test would prove nothing")
	}
}

// load indexes a case directory and initialises its proxy.
func load(t *testing.T, dir string) (*model.PushContext, *model.Proxy) {
	t.Helper()
	proxyFile, meshFile := filepath.Join(dir, "proxy.yaml"), filepath.Join(dir, "mesh.yaml")
	if _, err := os.Stat(meshFile); err != nil {
		meshFile = ""
	}
	loaded, err := file.LoadDir(dir, file.Options{Skip: []string{proxyFile, meshFile}})
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range loaded.Problems {
		if !pr.Warning {
			t.Fatalf("input rejected: %v", pr)
		}
	}
	meshConfig, err := mesh.Load(meshFile)
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	for _, c := range loaded.Configs {
		store.Set(c)
	}
	pc := model.NewPushContext(store, meshConfig, model.DefaultOptions())
	p := readProxy(t, proxyFile)
	pc.InitProxy(p)
	return pc, p
}

// readProxy builds the proxy a case's proxy.yaml describes, with the node id and metadata
// istio-agent (and the oracle) send.
func readProxy(t *testing.T, path string) *model.Proxy {
	t.Helper()
	var spec struct {
		Type      string            `json:"type"`
		IP        string            `json:"ip"`
		Namespace string            `json:"namespace"`
		Pod       string            `json:"pod"`
		Labels    map[string]string `json:"labels"`
		Generator string            `json:"generator"`
		Listeners []string          `json:"listeners"`
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, &spec); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if spec.Type == "" {
		spec.Type = string(model.SidecarProxy)
	}
	id := fmt.Sprintf("%s~%s~%s.%s~%s.svc.cluster.local", spec.Type, spec.IP, spec.Pod, spec.Namespace, spec.Namespace)
	p, err := model.ParseServiceNode(id, &model.NodeMetadata{
		Namespace: spec.Namespace, Labels: spec.Labels, IstioVersion: "1.31.1", ClusterID: "Kubernetes",
		InstanceIPs: []string{spec.IP}, Generator: spec.Generator,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// readGolden returns the cluster names of a golden file and its assignments as generic JSON.
func readGolden(t *testing.T, path string) ([]string, []any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	var names []string
	var out []any
	for _, r := range raw {
		var cla struct {
			ClusterName string `json:"cluster_name"`
		}
		if err := json.Unmarshal(r, &cla); err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(r, &v); err != nil {
			t.Fatal(err)
		}
		names = append(names, cla.ClusterName)
		out = append(out, v)
	}
	return names, out
}

// toJSON renders cla as the oracle does (protojson, proto field names) and decodes it.
func toJSON(t *testing.T, cla *endpointv3.ClusterLoadAssignment) any {
	t.Helper()
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(cla)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}
