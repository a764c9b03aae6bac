package grpcgen_test

import (
	"encoding/json"
	"fmt"
	"github.com/sextant-mesh/sextant/tests/xdsvalidate"
	"os"
	"path/filepath"
	"sort"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/sextant-mesh/sextant/pilot/pkg/config/file"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/endpoint"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/grpcgen"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
)

// TestGolden asks for each case's targets the way a gRPC client does - the listeners,
// the routes they name, the clusters the routes use, the endpoints of EDS clusters - and
// compares every resource, by name, with what istiod sent; each must pass Envoy's proto
// validation (including what is packed in Any).
func TestGolden(t *testing.T) {
	goldens, err := filepath.Glob("testdata/*/expected.json")
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, golden := range goldens {
		dir := filepath.Dir(golden)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			pc, p, targets := load(t, dir)
			got := map[string][]named{}
			ls := grpcgen.BuildListeners(pc, p, targets)
			got["listeners"] = collect(ls, func(l *listenerv3.Listener) string { return l.GetName() })
			rs := grpcgen.BuildRoutes(pc, p, routeNames(ls))
			got["routes"] = collect(rs, func(r *routev3.RouteConfiguration) string { return r.GetName() })
			cs := grpcgen.BuildClusters(pc, p, clusterNames(rs))
			got["clusters"] = collect(cs, func(c *clusterv3.Cluster) string { return c.GetName() })
			es := endpoint.BuildEndpoints(pc, p, edsNames(cs))
			got["endpoints"] = collect(es, func(e *endpointv3.ClusterLoadAssignment) string { return e.GetClusterName() })
			want := readExpected(t, golden)
			for _, kind := range []string{"listeners", "routes", "clusters", "endpoints"} {
				compareKind(t, kind, want[kind], got[kind])
			}
		})
	}
}

// named is one generated resource.
type named struct {
	name string
	msg  proto.Message
}

func collect[T proto.Message](ms []T, name func(T) string) []named {
	out := make([]named, 0, len(ms))
	for _, m := range ms {
		out = append(out, named{name(m), m})
	}
	return out
}

// compareKind checks names, validity and content of one resource type.
func compareKind(t *testing.T, kind string, want map[string]any, got []named) {
	t.Helper()
	var wantNames, gotNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	for _, g := range got {
		gotNames = append(gotNames, g.name)
	}
	sort.Strings(wantNames)
	sort.Strings(gotNames)
	if d := cmp.Diff(wantNames, gotNames); d != "" {
		t.Errorf("%s names (-istiod +sextant):\n%s", kind, d)
	}
	for _, g := range got {
		if v, ok := g.msg.(interface{ ValidateAll() error }); !ok || v.ValidateAll() != nil {
			t.Errorf("%s %s fails ValidateAll", kind, g.name)
		}
		if err := xdsvalidate.GRPCResource(kind, g.name, g.msg); err != nil {
			t.Errorf("invalid: %v", err)
		}
		w, ok := want[g.name]
		if !ok {
			continue
		}
		if d := cmp.Diff(w, toJSON(t, g.msg)); d != "" {
			t.Errorf("%s %s differs from istiod (-istiod +sextant):\n%s", kind, g.name, d)
		}
	}
}

// routeNames are the route configurations the API listeners name.
func routeNames(ls []*listenerv3.Listener) []string {
	var out []string
	for _, l := range ls {
		hcm := &hcmv3.HttpConnectionManager{}
		if l.GetApiListener().GetApiListener().UnmarshalTo(hcm) == nil && hcm.GetRds() != nil {
			out = append(out, hcm.GetRds().GetRouteConfigName())
		}
	}
	return out
}

// clusterNames are the distinct clusters routes send to, in order of first use.
func clusterNames(rs []*routev3.RouteConfiguration) []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, rc := range rs {
		for _, vh := range rc.GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				add(r.GetRoute().GetCluster())
				for _, w := range r.GetRoute().GetWeightedClusters().GetClusters() {
					add(w.GetName())
				}
			}
		}
	}
	return out
}

func edsNames(cs []*clusterv3.Cluster) []string {
	var out []string
	for _, c := range cs {
		if c.GetType() == clusterv3.Cluster_EDS {
			out = append(out, c.GetName())
		}
	}
	return out
}

// load indexes a case directory and initialises its proxy; it returns the targets the
// client asks for.
func load(t *testing.T, dir string) (*model.PushContext, *model.Proxy, []string) {
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
	p, targets := readProxy(t, proxyFile)
	pc.InitProxy(p)
	return pc, p, targets
}

// readProxy builds the proxyless client a case's proxy.yaml describes, with the node id
// and metadata the oracle sends.
func readProxy(t *testing.T, path string) (*model.Proxy, []string) {
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
	id := fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", spec.IP, spec.Pod, spec.Namespace, spec.Namespace)
	p, err := model.ParseServiceNode(id, &model.NodeMetadata{
		Namespace: spec.Namespace, Labels: spec.Labels, IstioVersion: "1.31.1", ClusterID: "Kubernetes",
		InstanceIPs: []string{spec.IP}, Generator: spec.Generator,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !p.IsProxylessGRPC() {
		t.Fatalf("%s: not a proxyless gRPC client", path)
	}
	return p, spec.Listeners
}

// readExpected returns the oracle's resources by type and name, as generic JSON.
func readExpected(t *testing.T, path string) map[string]map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for kind, nameField := range map[string]string{"listeners": "name", "routes": "name", "clusters": "name", "endpoints": "cluster_name"} {
		var items []map[string]any
		if err := json.Unmarshal(doc[kind], &items); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		out[kind] = map[string]any{}
		for _, it := range items {
			out[kind][it[nameField].(string)] = any(it)
		}
	}
	return out
}

// toJSON renders m as the oracle does (protojson, proto field names) and decodes it.
func toJSON(t *testing.T, m proto.Message) any {
	t.Helper()
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}
