package load

import (
	"net/netip"
	"strings"
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/pkg/meshgen"
	"github.com/sextant-mesh/sextant/tools/meshgen/meshdir"
)

func plannerFor(t *testing.T, s meshgen.Spec) (*planner, *meshdir.Dir) {
	t.Helper()
	dir, err := meshdir.Write(t.TempDir(), meshgen.Generate(s).Configs)
	if err != nil {
		t.Fatal(err)
	}
	return newPlanner(dir, "ns-002"), dir
}

var seSpec = meshgen.Spec{Namespaces: 3, Services: 30, ServiceEntryServices: true, VirtualServicePercent: 20,
	DestinationRulePercent: 20, ServiceEntries: 3, Sidecars: 6}

// TestPlannerServiceEntryMesh: on a mesh without Kubernetes Services, VirtualService and
// DestinationRule edits find objects of the change namespace for its ServiceEntry hosts,
// and se-eds adds one fresh endpoint per edit to a STATIC ServiceEntry there.
func TestPlannerServiceEntryMesh(t *testing.T) {
	p, dir := plannerFor(t, seSpec)
	hosts := map[string]bool{}
	for _, k := range dir.Keys(schema.ServiceEntry) {
		if se := dir.Get(k).Spec.(*networkingv1alpha3.ServiceEntry); se.Location == networkingv1alpha3.ServiceEntry_MESH_INTERNAL {
			hosts[se.Hosts[0]] = true
		}
	}
	for _, k := range []ChangeKind{VirtualServiceEdit, DestinationRuleEdit} {
		ch, err := p.next(k)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if ch.obj.Namespace != "ns-002" || !hosts[ch.host] || !strings.HasSuffix(ch.host, ".ns-002.svc.cluster.local") {
			t.Errorf("%s: edits %s for host %s, want a ServiceEntry host of ns-002", k, ch.obj.Key(), ch.host)
		}
	}
	seen := map[string]bool{}
	for n := 3; n <= 4; n++ {
		ch, err := p.next(ServiceEntryEndpointEdit)
		if err != nil {
			t.Fatal(err)
		}
		se := ch.obj.Spec.(*networkingv1alpha3.ServiceEntry)
		if ch.obj.Kind != schema.ServiceEntry || ch.obj.Namespace != "ns-002" || se.Resolution != networkingv1alpha3.ServiceEntry_STATIC {
			t.Fatalf("se-eds edits %s (%v)", ch.obj.Key(), se.Resolution)
		}
		if len(se.Endpoints) != n {
			t.Errorf("edit %d: %d endpoints, want %d (one more each edit)", n-2, len(se.Endpoints), n)
		}
		added := se.Endpoints[len(se.Endpoints)-1]
		addr := netip.MustParseAddr(added.Address)
		if seen[added.Address] || addr.As4()[0] != 12 || added.Labels["version"] == "" {
			t.Errorf("edit %d: added %v, want a fresh 12/8 address labelled as the others", n-2, added)
		}
		seen[added.Address] = true
		if want := "outbound|8080||" + se.Hosts[0]; ch.exp.TypeURL != EndpointType || ch.exp.Name != want || ch.host != se.Hosts[0] {
			t.Errorf("expects %s %s for host %s, want EDS %s", ch.exp.TypeURL, ch.exp.Name, ch.host, want)
		}
		if !ch.exp.Match([]byte("..."+added.Address+"...")) || ch.exp.Match([]byte("11.0.0.1")) {
			t.Error("the expectation does not recognise the added address alone")
		}
		if err := dir.Update(ch.obj); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.next(EndpointSliceEdit); err == nil {
		t.Error("eds on a mesh without EndpointSlices: no error")
	}
}

func TestPlannerKubernetesMesh(t *testing.T) {
	s := seSpec
	s.ServiceEntryServices = false
	p, _ := plannerFor(t, s)
	ch, err := p.next(EndpointSliceEdit)
	if err != nil {
		t.Fatal(err)
	}
	if ch.host != "svc-00002.ns-002.svc.cluster.local" {
		t.Errorf("eds changes host %s", ch.host)
	}
	// The mesh's only ServiceEntries are external DNS ones: adding an endpoint there is a
	// cluster change, not an endpoint-only one.
	if _, err := p.next(ServiceEntryEndpointEdit); err == nil {
		t.Error("se-eds without STATIC ServiceEntries: no error")
	}
}

func TestConfigCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"sextant eds", func(c *Config) {}, true},
		{"istiod se-eds", func(c *Config) {
			c.Server.Mode, c.Spec.ServiceEntryServices, c.Changes = "istiod", true, []ChangeKind{ServiceEntryEndpointEdit}
		}, true},
		{"istiod eds", func(c *Config) { c.Server.Mode = "istiod" }, false},
		{"isolated and sidecars", func(c *Config) { c.Spec.Sidecars = 20 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := smallConfig(false)
			tc.edit(&c)
			if err := c.check(); (err == nil) != tc.ok {
				t.Errorf("check() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestParseChangeKind(t *testing.T) {
	for _, s := range []string{"vs", "dr", "eds", "se-eds"} {
		if k, err := ParseChangeKind(s); err != nil || string(k) != s {
			t.Errorf("ParseChangeKind(%q) = %q, %v", s, k, err)
		}
	}
	if _, err := ParseChangeKind("pods"); err == nil {
		t.Error("ParseChangeKind(pods): no error")
	}
	if !ServiceEntryEndpointEdit.EndpointOnly() || VirtualServiceEdit.EndpointOnly() {
		t.Error("EndpointOnly: se-eds must be endpoint-only, vs not")
	}
}
