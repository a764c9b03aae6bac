package meshgen_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/pkg/meshgen"
	"github.com/sextant-mesh/sextant/tools/meshgen/meshdir"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func byKind(m *meshgen.Mesh) map[string][]*config.Config {
	out := map[string][]*config.Config{}
	for _, c := range m.Configs {
		out[c.Kind.Kind] = append(out[c.Kind.Kind], c)
	}
	return out
}

func counts(m *meshgen.Mesh) map[string]int {
	out := map[string]int{}
	for k, cs := range byKind(m) {
		out[k] = len(cs)
	}
	return out
}

// TestCounts: the knobs produce the objects they promise, and the default (Kubernetes
// services, no Sidecars) is what it was before ServiceEntryServices and Sidecars.
func TestCounts(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec meshgen.Spec
		want map[string]int
	}{{
		name: "kubernetes services",
		spec: meshgen.Spec{Namespaces: 4, Services: 40, VirtualServicePercent: 20, DestinationRulePercent: 50, ServiceEntries: 3, EnvoyFilters: 5},
		want: map[string]int{"Namespace": 4, "Service": 40, "EndpointSlice": 40, "Pod": 80, "VirtualService": 8,
			"DestinationRule": 20, "ServiceEntry": 3, "EnvoyFilter": 5},
	}, {
		name: "service entries as services",
		spec: meshgen.Spec{Namespaces: 4, Services: 40, ServiceEntryServices: true, VirtualServicePercent: 20,
			DestinationRulePercent: 50, ServiceEntries: 3, EnvoyFilters: 5, Sidecars: 10},
		want: map[string]int{"Namespace": 4, "Pod": 80, "VirtualService": 8, "DestinationRule": 20,
			"ServiceEntry": 43, "EnvoyFilter": 5, "Sidecar": 10},
	}, {
		name: "fewer sidecars than namespaces",
		spec: meshgen.Spec{Namespaces: 4, Services: 8, Sidecars: 3},
		want: map[string]int{"Namespace": 4, "Service": 8, "EndpointSlice": 8, "Pod": 16, "Sidecar": 3},
	}, {
		// 3 services per namespace: ranks 1 and 2 can be selected, rank 0 keeps the
		// namespace-wide Sidecar; 2 namespaces * 3 Sidecars at most.
		name: "sidecars capped at one per service",
		spec: meshgen.Spec{Namespaces: 2, Services: 6, Sidecars: 100},
		want: map[string]int{"Namespace": 2, "Service": 6, "EndpointSlice": 6, "Pod": 12, "Sidecar": 6},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, counts(meshgen.Generate(tc.spec))); d != "" {
				t.Errorf("objects by kind (-want +got):\n%s", d)
			}
		})
	}
}

// TestServiceEntryServices: each service is a MESH_INTERNAL STATIC ServiceEntry in its
// namespace whose inline endpoints are its pods, and the VirtualServices,
// DestinationRules and EnvoyFilters point at those hosts and workloads.
func TestServiceEntryServices(t *testing.T) {
	s := meshgen.Spec{Namespaces: 3, Services: 30, ServiceEntryServices: true, VirtualServicePercent: 50,
		DestinationRulePercent: 50, EnvoyFilters: 20}
	kinds := byKind(meshgen.Generate(s))
	podsByApp := map[string][]string{}
	for _, c := range kinds["Pod"] {
		p := c.Spec.(*corev1.Pod)
		podsByApp[p.Labels["app"]] = append(podsByApp[p.Labels["app"]], p.Status.PodIP)
	}
	hosts := map[string]bool{}
	for _, c := range kinds["ServiceEntry"] {
		se := c.Spec.(*networkingv1alpha3.ServiceEntry)
		if se.Location != networkingv1alpha3.ServiceEntry_MESH_INTERNAL || se.Resolution != networkingv1alpha3.ServiceEntry_STATIC {
			t.Errorf("%s: %v %v, want MESH_INTERNAL STATIC", c.Key(), se.Location, se.Resolution)
		}
		if want := c.Name + "." + c.Namespace + ".svc.cluster.local"; len(se.Hosts) != 1 || se.Hosts[0] != want {
			t.Errorf("%s: hosts %v, want [%s]", c.Key(), se.Hosts, want)
		}
		var addrs []string
		for _, e := range se.Endpoints {
			addrs = append(addrs, e.Address)
			if e.Labels["app"] != c.Name || e.Labels["version"] == "" {
				t.Errorf("%s: endpoint %s labels %v", c.Key(), e.Address, e.Labels)
			}
		}
		if d := cmp.Diff(podsByApp[c.Name], addrs); d != "" || len(addrs) != 2 {
			t.Errorf("%s: endpoints are not its 2 pods (-pods +endpoints):\n%s", c.Key(), d)
		}
		hosts[se.Hosts[0]] = true
	}
	for _, c := range kinds["VirtualService"] {
		if h := c.Spec.(*networkingv1alpha3.VirtualService).Hosts[0]; !hosts[h] || !strings.HasSuffix(h, "."+c.Namespace+".svc.cluster.local") {
			t.Errorf("%s: host %s is not a ServiceEntry of its namespace", c.Key(), h)
		}
	}
	for _, c := range kinds["DestinationRule"] {
		if h := c.Spec.(*networkingv1alpha3.DestinationRule).Host; !hosts[h] {
			t.Errorf("%s: host %s is not a ServiceEntry", c.Key(), h)
		}
	}
	for _, c := range kinds["EnvoyFilter"] {
		if sel := c.Spec.(*networkingv1alpha3.EnvoyFilter).WorkloadSelector; sel != nil && len(podsByApp[sel.Labels["app"]]) == 0 {
			t.Errorf("%s: selects app=%s, which has no pods", c.Key(), sel.Labels["app"])
		}
	}
}

// TestSidecars: one namespace-wide Sidecar per namespace, then Sidecars that each select
// one existing service of their namespace (never a namespace's first, never twice) and
// import their namespace, istio-system and one other namespace.
func TestSidecars(t *testing.T) {
	s := meshgen.Spec{Namespaces: 5, Services: 100, Sidecars: 40}
	m := meshgen.Generate(s)
	apps := map[string]string{} // app label -> namespace
	for _, c := range m.Configs {
		if c.Kind == schema.Pod {
			apps[c.Spec.(*corev1.Pod).Labels["app"]] = c.Namespace
		}
	}
	wide := map[string]int{}
	selected := map[string]bool{}
	perNS := map[string]int{}
	for _, c := range byKind(m)["Sidecar"] {
		sc := c.Spec.(*networkingv1alpha3.Sidecar)
		hosts := sc.Egress[0].Hosts
		if sc.WorkloadSelector == nil {
			wide[c.Namespace]++
			if d := cmp.Diff([]string{"./*", "istio-system/*"}, hosts); d != "" {
				t.Errorf("%s: namespace-wide egress (-want +got):\n%s", c.Key(), d)
			}
			continue
		}
		perNS[c.Namespace]++
		app := sc.WorkloadSelector.Labels["app"]
		if apps[app] != c.Namespace {
			t.Errorf("%s: selects app=%s, which has no pods in %s", c.Key(), app, c.Namespace)
		}
		if selected[app] {
			t.Errorf("%s: app=%s selected twice", c.Key(), app)
		}
		selected[app] = true
		for n := 0; n < s.Namespaces; n++ {
			if app == s.ServiceName(n) {
				t.Errorf("%s: selects the first service of its namespace", c.Key())
			}
		}
		if len(hosts) != 3 || hosts[0] != "./*" || hosts[1] != "istio-system/*" ||
			!strings.HasSuffix(hosts[2], "/*") || hosts[2] == c.Namespace+"/*" {
			t.Errorf("%s: egress %v, want ./*, istio-system/* and another namespace", c.Key(), hosts)
		}
	}
	for n := 0; n < s.Namespaces; n++ {
		ns := meshdir.Namespaces(m.Configs)[n]
		if wide[ns] != 1 {
			t.Errorf("%s: %d namespace-wide Sidecars, want 1", ns, wide[ns])
		}
		if perNS[ns] != 7 {
			t.Errorf("%s: %d selecting Sidecars, want 35/5", ns, perNS[ns])
		}
	}
	// The first clients of a load test (one pod per service, in order) get both kinds:
	// service 5 is namespace 0's second service.
	if !selected[s.ServiceName(5)] || selected[s.ServiceName(0)] {
		t.Errorf("services 0 and 5: selected %v and %v, want false and true", selected[s.ServiceName(0)], selected[s.ServiceName(5)])
	}
}

// TestDeterministic: the same Spec yields the same mesh.
func TestDeterministic(t *testing.T) {
	s := meshgen.Spec{Namespaces: 3, Services: 20, ServiceEntryServices: true, VirtualServicePercent: 30,
		DestinationRulePercent: 30, EnvoyFilters: 4, Sidecars: 6}
	if d := cmp.Diff(render(t, meshgen.Generate(s)), render(t, meshgen.Generate(s))); d != "" {
		t.Errorf("two generations differ:\n%s", d)
	}
}

// TestGolden pins a small ServiceEntry mesh with Sidecars as YAML; -update rewrites it.
func TestGolden(t *testing.T) {
	s := meshgen.Spec{Namespaces: 2, Services: 4, ServiceEntryServices: true, VirtualServicePercent: 50,
		DestinationRulePercent: 50, EnvoyFilters: 2, Sidecars: 3}
	got := render(t, meshgen.Generate(s))
	path := filepath.Join("testdata", "se-sidecars.golden.yaml")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s (-want +got; -update to accept):\n%s", path, d)
	}
}

func render(t *testing.T, m *meshgen.Mesh) string {
	t.Helper()
	var b bytes.Buffer
	for _, c := range m.Configs {
		y, err := meshdir.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.String()
}
