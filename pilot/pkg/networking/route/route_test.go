package route_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	"github.com/sextant-mesh/sextant/pilot/pkg/config/file"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/route"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
)

// corpus re-extracts every testdata/<case>/routes.golden.json from <corpus>/<case>/expected.json
// (the routes istiod generated), e.g. -corpus ../../../../../shared/compat/cases.
var corpus = flag.String("corpus", "", "compat corpus to refresh the golden files from")

// TestGolden builds the routes each testdata case's golden file names and compares them,
// resource by resource, with what istiod generated for the same inputs. Proxyless gRPC
// cases compare the virtual host of each per-service route configuration.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/routes.golden.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, golden := range dirs {
		dir := filepath.Dir(golden)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			if *corpus != "" {
				refreshGolden(t, filepath.Join(*corpus, filepath.Base(dir), "expected.json"), golden)
			}
			var want []map[string]any
			readJSON(t, golden, &want)
			pc, p := loadCase(t, dir)
			got := build(pc, p, want)
			for _, rc := range got {
				if err := validateDeep(rc.ProtoReflect()); err != nil {
					t.Errorf("route %q is invalid: %v", rc.GetName(), err)
				}
			}
			compareRoutes(t, want, got)
		})
	}
}

func build(pc *model.PushContext, p *model.Proxy, want []map[string]any) []*routev3.RouteConfiguration {
	var names []string
	for _, w := range want {
		names = append(names, w["name"].(string))
	}
	if !p.IsProxylessGRPC() {
		return route.BuildRoutes(pc, p, names)
	}
	var out []*routev3.RouteConfiguration
	for _, n := range names {
		// outbound|port||hostname: the virtual host for hostname:port.
		parts := strings.Split(n, "|")
		port, _ := strconv.Atoi(parts[1])
		rc := &routev3.RouteConfiguration{Name: n}
		for _, vh := range route.BuildOutboundVirtualHosts(pc, p, n, port) {
			if vh.Name == parts[3]+":"+parts[1] {
				rc.VirtualHosts = append(rc.VirtualHosts, vh)
			}
		}
		out = append(out, rc)
	}
	return out
}

func compareRoutes(t *testing.T, want []map[string]any, got []*routev3.RouteConfiguration) {
	t.Helper()
	byName := map[string]any{}
	for _, rc := range got {
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(rc)
		if err != nil {
			t.Fatalf("marshal %q: %v", rc.GetName(), err)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		byName[rc.GetName()] = v
	}
	for _, w := range want {
		name := w["name"].(string)
		g, ok := byName[name]
		if !ok {
			t.Errorf("route %q: missing", name)
			continue
		}
		if d := cmp.Diff(any(w), g); d != "" {
			t.Errorf("route %q differs (-istiod +sextant):\n%s", name, d)
		}
		delete(byName, name)
	}
	for name := range byName {
		t.Errorf("route %q: not expected", name)
	}
}

// proxySpec is the proxy.yaml of a case: which proxy to generate for.
type proxySpec struct {
	Type         string            `json:"type"`
	IP           string            `json:"ip"`
	Namespace    string            `json:"namespace"`
	Pod          string            `json:"pod"`
	Labels       map[string]string `json:"labels"`
	Generator    string            `json:"generator"`
	Listeners    []string          `json:"listeners"`
	IstioVersion string            `json:"istioVersion"`
}

// loadCase indexes a case directory and builds its proxy as istio-agent would announce it.
func loadCase(t *testing.T, dir string) (*model.PushContext, *model.Proxy) {
	t.Helper()
	var spec proxySpec
	b, err := os.ReadFile(filepath.Join(dir, "proxy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	meshFile := filepath.Join(dir, "mesh.yaml")
	if _, err := os.Stat(meshFile); err != nil {
		meshFile = ""
	}
	meshConfig, err := mesh.Load(meshFile)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := file.LoadDir(dir, file.Options{Skip: []string{filepath.Join(dir, "proxy.yaml"), meshFile}})
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range loaded.Problems {
		if !pr.Warning {
			t.Errorf("input rejected (istiod accepted it): %v", pr)
		}
	}
	store := model.NewStore()
	for _, c := range loaded.Configs {
		store.Set(c)
	}
	pc := model.NewPushContext(store, meshConfig, model.DefaultOptions())
	if spec.Type == "" {
		spec.Type = string(model.SidecarProxy)
	}
	md := &model.NodeMetadata{
		Namespace: spec.Namespace, Labels: spec.Labels, IstioVersion: "1.31.1",
		ClusterID: "Kubernetes", InstanceIPs: []string{spec.IP}, Generator: spec.Generator,
	}
	id := spec.Type + "~" + spec.IP + "~" + spec.Pod + "." + spec.Namespace + "~" + spec.Namespace + ".svc.cluster.local"
	p, err := model.ParseServiceNode(id, md)
	if err != nil {
		t.Fatal(err)
	}
	pc.InitProxy(p)
	return pc, p
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func refreshGolden(t *testing.T, expected, golden string) {
	t.Helper()
	var doc struct {
		Routes json.RawMessage `json:"routes"`
	}
	readJSON(t, expected, &doc)
	var routes any
	if err := json.Unmarshal(doc.Routes, &routes); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(routes, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// validateDeep runs go-control-plane's ValidateAll on m and on every message packed in an
// Any inside it (ValidateAll does not look into Any).
func validateDeep(m protoreflect.Message) error {
	if v, ok := m.Interface().(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			return err
		}
	}
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return err
		}
		return validateDeep(inner.ProtoReflect())
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len() && err == nil; i++ {
				err = validateDeep(v.List().Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				err = validateDeep(mv.Message())
				return err == nil
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			err = validateDeep(v.Message())
		}
		return err == nil
	})
	return err
}

// TestInvalidReferences builds routes for VirtualServices that name hosts, subsets and
// delegates that do not exist: generation must go on, produce valid config, and name the
// clusters istiod would (they simply have no endpoints).
func TestInvalidReferences(t *testing.T) {
	pc, p := loadCase(t, "testdata/invalid-references")
	got := route.BuildRoutes(pc, p, []string{"9080", "9090", "http.8080"})
	clusters := map[string][]string{}
	for _, rc := range got {
		if err := validateDeep(rc.ProtoReflect()); err != nil {
			t.Errorf("route %q is invalid: %v", rc.GetName(), err)
		}
		for _, vh := range rc.GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				a := r.GetRoute()
				c := a.GetCluster()
				for _, m := range a.GetRequestMirrorPolicies() {
					c += " mirror " + m.GetCluster()
				}
				clusters[rc.GetName()+" "+vh.GetName()] = append(clusters[rc.GetName()+" "+vh.GetName()], c)
			}
		}
	}
	want := map[string][]string{
		"9080 reviews.default.svc.cluster.local:9080": {
			"outbound|9080|none|ghost.nowhere.svc.cluster.local mirror outbound|9080||shadow.default.svc.cluster.local",
			"outbound|9080|not-in-any-rule|reviews.default.svc.cluster.local",
		},
		// The wildcard VirtualService claims ratings; reviews has a more specific one.
		"9080 ratings.default.svc.cluster.local:9080": {"outbound|9080||ratings.default.svc.cluster.local"},
		"9080 allow_any": {"PassthroughCluster"},
		"9090 reviews.default.svc.cluster.local:9090": {
			"outbound|9090|none|ghost.nowhere.svc.cluster.local mirror outbound|9090||shadow.default.svc.cluster.local",
			"outbound|9090|not-in-any-rule|reviews.default.svc.cluster.local",
		},
		"9090 allow_any": {"PassthroughCluster"},
	}
	if d := cmp.Diff(want, clusters); d != "" {
		t.Errorf("clusters per virtual host (-want +got):\n%s", d)
	}
	if len(got) != 3 || got[2].GetName() != "http.8080" || len(got[2].GetVirtualHosts()) != 0 {
		t.Errorf("an unknown route name must give an empty configuration, got %v", got[len(got)-1])
	}
	reported := false
	for _, err := range pc.Errors {
		reported = reported || strings.Contains(err.Error(), "VirtualService default/reviews: delegate default/missing-delegate not found")
	}
	if !reported {
		t.Errorf("want the missing delegate reported, got %v", pc.Errors)
	}
}
