package cluster_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	"github.com/sextant-mesh/sextant/pilot/pkg/config/file"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/cluster"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
)

// TestGolden generates the clusters of each testdata case and compares them, by name, with
// what istiod generated for it; every cluster must also pass Envoy's proto validation.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/clusters.golden.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, golden := range dirs {
		dir := filepath.Dir(golden)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := generate(t, dir)
			for _, c := range got {
				if err := validate(c.ProtoReflect()); err != nil {
					t.Errorf("cluster %s is invalid: %v", c.GetName(), err)
				}
			}
			compare(t, readGolden(t, golden), render(t, got))
		})
	}
}

// TestBuildOutbound checks that BuildOutbound, called for each outbound cluster of a case,
// rebuilds exactly what BuildClusters emitted, and nil for unknown subsets and ports.
func TestBuildOutbound(t *testing.T) {
	for _, dir := range []string{"testdata/04-serviceentry-static-workloadentry", "testdata/12-dr-tls-portlevel-subset-exportto"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			pc, p := load(t, dir)
			for _, want := range cluster.BuildClusters(pc, p) {
				parts := strings.Split(want.GetName(), "|")
				if parts[0] != "outbound" {
					continue
				}
				port, _ := strconv.Atoi(parts[1])
				svc := p.SidecarScope.ServiceForHostname(host.Name(parts[3]))
				got := cluster.BuildOutbound(pc, p, svc, port, parts[2])
				if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
					t.Errorf("BuildOutbound(%s) differs from BuildClusters:\n%s", want.GetName(), d)
				}
				if got := cluster.BuildOutbound(pc, p, svc, port, "no-such-subset"); got != nil {
					t.Errorf("BuildOutbound(%s, unknown subset) = %s, want nil", want.GetName(), got.GetName())
				}
				if got := cluster.BuildOutbound(pc, p, svc, 1, ""); got != nil {
					t.Errorf("BuildOutbound(%s, unknown port) = %s, want nil", want.GetName(), got.GetName())
				}
			}
		})
	}
}

// proxySpec is the part of a case's proxy.yaml a sidecar's identity is built from.
type proxySpec struct {
	Type      string            `json:"type"`
	IP        string            `json:"ip"`
	Namespace string            `json:"namespace"`
	Pod       string            `json:"pod"`
	Labels    map[string]string `json:"labels"`
}

// generate loads a case directory and builds the clusters of its proxy.
func generate(t *testing.T, dir string) []*clusterv3.Cluster {
	t.Helper()
	pc, p := load(t, dir)
	return cluster.BuildClusters(pc, p)
}

// load indexes a case directory and initialises its proxy, with the node metadata
// istio-agent sends.
func load(t *testing.T, dir string) (*model.PushContext, *model.Proxy) {
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
	for _, p := range loaded.Errors() {
		t.Fatalf("input rejected: %v", p)
	}
	store := model.NewStore()
	for _, c := range loaded.Configs {
		store.Set(c)
	}
	pc := model.NewPushContext(store, meshConfig, model.DefaultOptions())
	p := loadProxy(t, proxyFile)
	pc.InitProxy(p)
	return pc, p
}

func loadProxy(t *testing.T, path string) *model.Proxy {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s proxySpec
	if err := yaml.UnmarshalStrict(b, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	typ := s.Type
	if typ == "" {
		typ = "sidecar"
	}
	md := &model.NodeMetadata{
		Namespace: s.Namespace, Labels: s.Labels, IstioVersion: "1.31.1",
		ClusterID: "Kubernetes", InstanceIPs: []string{s.IP},
	}
	id := fmt.Sprintf("%s~%s~%s.%s~%s.svc.cluster.local", typ, s.IP, s.Pod, s.Namespace, s.Namespace)
	p, err := model.ParseServiceNode(id, md)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// render turns clusters into the oracle's JSON form (protojson with proto field names),
// keyed by name.
func render(t *testing.T, cs []*clusterv3.Cluster) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, c := range cs {
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(c)
		if err != nil {
			t.Fatalf("cluster %s: %v", c.GetName(), err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		if _, dup := out[c.GetName()]; dup {
			t.Errorf("cluster %s generated twice", c.GetName())
		}
		out[c.GetName()] = v
	}
	return out
}

func readGolden(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string]any{}
	for _, c := range list {
		out[c["name"].(string)] = c
	}
	return out
}

func compare(t *testing.T, want, got map[string]any) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("missing cluster %s", name)
			continue
		}
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("cluster %s differs (-istiod +sextant):\n%s", name, diff)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected cluster %s", name)
		}
	}
}

type validatable interface{ ValidateAll() error }

// validate runs go-control-plane's ValidateAll on m and on every message packed in an
// Any inside it, which ValidateAll itself does not look into.
func validate(m protoreflect.Message) error {
	if v, ok := m.Interface().(validatable); ok {
		if err := v.ValidateAll(); err != nil {
			return err
		}
	}
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("Any %s: %w", a.GetTypeUrl(), err)
		}
		return validate(inner.ProtoReflect())
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len() && err == nil; i++ {
				err = validate(v.List().Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				err = validate(mv.Message())
				return err == nil
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			err = validate(v.Message())
		}
		return err == nil
	})
	return err
}
