package load

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/pkg/meshgen"
	"github.com/sextant-mesh/sextant/tools/meshgen/meshdir"
)

func sidecar(ns, name string, selector map[string]string, hosts ...string) *config.Config {
	sc := &networkingv1alpha3.Sidecar{}
	if selector != nil {
		sc.WorkloadSelector = &networkingv1alpha3.WorkloadSelector{Labels: selector}
	}
	if hosts != nil {
		sc.Egress = []*networkingv1alpha3.IstioEgressListener{{Hosts: hosts}}
	}
	return &config.Config{Meta: config.Meta{Kind: schema.Sidecar, Namespace: ns, Name: name}, Spec: sc}
}

func TestImports(t *testing.T) {
	for _, tc := range []struct {
		name         string
		sc           *config.Config
		hostNS, host string
		want         bool
	}{
		{"no sidecar", nil, "b", "x.b.svc.cluster.local", true},
		{"no egress", sidecar("a", "s", nil), "b", "x.b.svc.cluster.local", true},
		{"own namespace", sidecar("a", "s", nil, "./*"), "a", "x.a.svc.cluster.local", true},
		{"other namespace", sidecar("a", "s", nil, "./*", "istio-system/*"), "b", "x.b.svc.cluster.local", false},
		{"named namespace", sidecar("a", "s", nil, "./*", "b/*"), "b", "x.b.svc.cluster.local", true},
		{"any namespace", sidecar("a", "s", nil, "*/*"), "b", "x.b.svc.cluster.local", true},
		{"no namespace", sidecar("a", "s", nil, "~/*"), "a", "x.a.svc.cluster.local", false},
		{"exact host", sidecar("a", "s", nil, "b/x.b.svc.cluster.local"), "b", "x.b.svc.cluster.local", true},
		{"other host", sidecar("a", "s", nil, "b/y.b.svc.cluster.local"), "b", "x.b.svc.cluster.local", false},
		{"wildcard host", sidecar("a", "s", nil, "b/*.svc.cluster.local"), "b", "x.b.svc.cluster.local", true},
		{"wildcard other domain", sidecar("a", "s", nil, "b/*.example.com"), "b", "x.b.svc.cluster.local", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := imports(tc.sc, tc.hostNS, tc.host); got != tc.want {
				t.Errorf("imports = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSidecarPrecedence: a selecting Sidecar of the proxy's namespace, else the
// namespace-wide one, else the root namespace's, else none.
func TestSidecarPrecedence(t *testing.T) {
	s := newScopes([]*config.Config{
		sidecar("a", "default", nil, "./*"),
		sidecar("a", "zz", map[string]string{"app": "x"}, "*/*"),
		sidecar("a", "web", map[string]string{"app": "web"}, "b/*"),
		sidecar("istio-system", "default", nil, "~/*"),
		sidecar("istio-system", "sel", map[string]string{"app": "x"}, "*/*"), // root selectors apply to root workloads only
	}, "istio-system")
	for _, tc := range []struct {
		ns, app, want string
	}{
		{"a", "web", "a/web"},
		{"a", "x", "a/zz"},
		{"a", "other", "a/default"},
		{"c", "x", "istio-system/default"},
	} {
		got := s.sidecar(tc.ns, map[string]string{"app": tc.app})
		if got == nil || got.Namespace+"/"+got.Name != tc.want {
			t.Errorf("proxy %s app=%s uses %v, want %s", tc.ns, tc.app, got, tc.want)
		}
	}
	if got := newScopes(nil, "istio-system").sidecar("a", nil); got != nil {
		t.Errorf("without Sidecars a proxy uses %v, want none", got)
	}
}

// TestAffectedFromGeneratedSidecars: on a generated mesh, the clients a change reaches are
// those of its namespace and those whose per-workload Sidecar imports it. 3 namespaces
// of 4 services (ranks 0-3); 6 Sidecars: the 3 namespace-wide ones and one selecting
// each namespace's rank-1 service (services 3, 4, 5) importing the next namespace.
// Changes go to ns-002: services 2, 5, 8, 11 are there, and service 4 (ns-001) imports it.
func TestAffectedFromGeneratedSidecars(t *testing.T) {
	for _, kube := range []bool{false, true} {
		s := meshgen.Spec{Namespaces: 3, Services: 12, ServiceEntryServices: !kube, VirtualServicePercent: 100,
			DestinationRulePercent: 100, Sidecars: 6}
		m := meshgen.Generate(s)
		ids, err := identities(m.Configs, 12)
		if err != nil {
			t.Fatal(err)
		}
		sc := newScopes(m.Configs, meshgen.RootNamespace)
		var sidecars []*config.Config
		for _, id := range ids {
			sidecars = append(sidecars, sc.sidecar(id.Namespace, id.Labels))
		}
		dir, err := meshdir.Write(t.TempDir(), m.Configs)
		if err != nil {
			t.Fatal(err)
		}
		p := newPlanner(dir, "ns-002")
		kinds := []ChangeKind{VirtualServiceEdit, DestinationRuleEdit, ServiceEntryEndpointEdit}
		if kube {
			kinds[2] = EndpointSliceEdit
		}
		for _, k := range kinds {
			ch, err := p.next(k)
			if err != nil {
				t.Fatal(err)
			}
			affected, n := affectedBy(sidecars, ch)
			var got []string
			for i, a := range affected {
				if a {
					got = append(got, ids[i].Labels["app"])
				}
			}
			var want []string
			for _, i := range []int{2, 4, 5, 8, 11} {
				want = append(want, s.ServiceName(i))
			}
			if d := cmp.Diff(want, got); d != "" || n != len(want) {
				t.Errorf("kube=%v %s of %s: affected clients (-want +got):\n%s", kube, k, ch.host, d)
			}
		}
	}
}
