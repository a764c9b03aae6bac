package model

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

func serviceEntry(name string, created time.Time, sa string) *config.Config {
	return &config.Config{
		Meta: config.Meta{Kind: schema.ServiceEntry, Namespace: "ns", Name: name, CreationTimestamp: created},
		Spec: &networkingv1alpha3.ServiceEntry{
			Hosts:     []string{name + ".example.com"},
			Ports:     []*networkingv1alpha3.ServicePort{{Number: 80, Name: "http", Protocol: "HTTP"}},
			Endpoints: []*networkingv1alpha3.WorkloadEntry{{Address: "10.0.0.1", ServiceAccount: sa}},
		},
	}
}

// TestStoreCompiles checks that the store keeps exactly one compilation per stored
// object - made when it is stored, dropped when it is replaced or deleted - and that its
// sorted listings follow every write.
func TestStoreCompiles(t *testing.T) {
	s := NewStore()
	t0 := time.Unix(1000, 0)
	a1, b := serviceEntry("a", t0, "sa"), serviceEntry("b", t0.Add(time.Second), "sa")
	s.Set(a1)
	s.Set(b)
	if got := len(s.compiled); got != 2 {
		t.Fatalf("%d compiled objects, want 2", got)
	}
	first := s.compiled[a1]
	if first == nil || first.(*compiledEntry).entries[0].svc.Hostname != "a.example.com" {
		t.Fatalf("compiled a = %v", first)
	}
	if s.compiledFor(a1, s.ctx) != first {
		t.Error("compiledFor recompiled a stored object")
	}
	a2 := serviceEntry("a", t0, "other")
	s.Set(a2)
	if _, ok := s.compiled[a1]; ok || s.compiled[a2] == nil || len(s.compiled) != 2 {
		t.Errorf("after replacing a: compiled a1 kept=%v, a2 present=%v, %d objects", ok, s.compiled[a2] != nil, len(s.compiled))
	}
	names := func() (out []string) {
		for _, c := range s.List(schema.ServiceEntry, "") {
			out = append(out, c.Name)
		}
		return out
	}
	if d := cmp.Diff([]string{"a", "b"}, names()); d != "" {
		t.Errorf("listing (-want +got):\n%s", d)
	}
	s.Set(serviceEntry("c", t0.Add(-time.Second), "sa")) // oldest: listed first
	if d := cmp.Diff([]string{"c", "a", "b"}, names()); d != "" {
		t.Errorf("listing after adding c (-want +got):\n%s", d)
	}
	s.Delete(a2.Key())
	if _, ok := s.compiled[a2]; ok || len(s.compiled) != 2 {
		t.Errorf("deleted a still compiled (%d objects)", len(s.compiled))
	}
	if d := cmp.Diff([]string{"c", "b"}, names()); d != "" {
		t.Errorf("listing after deleting a (-want +got):\n%s", d)
	}
}

// TestCompiledForOtherContext checks that a PushContext whose trust domain is not the
// one the store compiled for gets its own compilation: endpoint identities in its trust
// domain.
func TestCompiledForOtherContext(t *testing.T) {
	s := NewStore()
	s.Set(serviceEntry("a", time.Unix(1000, 0), "sa"))
	for _, td := range []string{"", "example.org"} {
		mc := mesh.Default()
		mc.TrustDomain = td
		pc := NewPushContext(s, mc, DefaultOptions())
		svc := pc.services.all[0]
		eps := pc.Endpoints(svc, 80)
		want := "spiffe://" + pc.TrustDomain() + "/ns/ns/sa/sa"
		if len(eps) != 1 || eps[0].ServiceAccount != want {
			t.Errorf("trust domain %q: endpoints %v, want one with identity %s", td, eps, want)
		}
	}
}

// TestDelegateRootsKeepCompiledCopy checks that merging delegates into a root
// VirtualService never alters the store's compiled copy of the root: every PushContext
// built from the store merges the same routes.
func TestDelegateRootsKeepCompiledCopy(t *testing.T) {
	vs := func(ns, name string, spec *networkingv1alpha3.VirtualService) *config.Config {
		return &config.Config{Meta: config.Meta{Kind: schema.VirtualService, Namespace: ns, Name: name}, Spec: spec}
	}
	dest := func(h string) []*networkingv1alpha3.HTTPRouteDestination {
		return []*networkingv1alpha3.HTTPRouteDestination{{Destination: &networkingv1alpha3.Destination{Host: h}}}
	}
	s := NewStore()
	root := vs("front", "root", &networkingv1alpha3.VirtualService{
		Hosts: []string{"reviews.team.svc.cluster.local"},
		Http: []*networkingv1alpha3.HTTPRoute{
			{Name: "v2", Match: []*networkingv1alpha3.HTTPMatchRequest{{Uri: &networkingv1alpha3.StringMatch{
				MatchType: &networkingv1alpha3.StringMatch_Prefix{Prefix: "/v2"}}}},
				Delegate: &networkingv1alpha3.Delegate{Name: "child", Namespace: "team"}},
			{Name: "rest", Route: dest("reviews.team.svc.cluster.local")},
		},
	})
	s.Set(root)
	s.Set(vs("team", "child", &networkingv1alpha3.VirtualService{
		Http: []*networkingv1alpha3.HTTPRoute{{Name: "child", Route: dest("reviews")}},
	}))
	compiled := proto.Clone(s.compiled[root].(*resolvedVirtualService).vs.Spec.(*networkingv1alpha3.VirtualService))
	var merged []*networkingv1alpha3.VirtualService
	for range 2 {
		pc := NewPushContext(s, mesh.Default(), DefaultOptions())
		if len(pc.Errors) > 0 {
			t.Fatal(pc.Errors)
		}
		for _, c := range pc.VirtualServicesForGateway("front", "mesh") {
			merged = append(merged, c.Spec.(*networkingv1alpha3.VirtualService))
		}
	}
	if len(merged) != 2 || merged[0].Http[0].Delegate != nil || !proto.Equal(merged[0], merged[1]) {
		t.Errorf("two builds merged different roots, or did not merge: %v", merged)
	}
	if got := s.compiled[root].(*resolvedVirtualService).vs.Spec.(*networkingv1alpha3.VirtualService); !proto.Equal(got, compiled) {
		t.Errorf("merging altered the compiled root:\n got %v\nwant %v", got, compiled)
	}
}

// A full build's ServiceEntry services by object (indexed on first use from the list it
// collected) are what indexing each entry gives: every host of a multi-host entry.
func TestEntryMapOfFullBuild(t *testing.T) {
	s := NewStore()
	t0 := time.Unix(1000, 0)
	multi := serviceEntry("multi", t0, "sa")
	multi.Spec.(*networkingv1alpha3.ServiceEntry).Hosts = []string{"m1.example.com", "m2.example.com", "m3.example.com"}
	for _, c := range []*config.Config{serviceEntry("a", t0, "sa"), multi, serviceEntry("z", t0, "sa")} {
		s.Set(c)
	}
	pc := NewPushContext(s, mesh.Default(), DefaultOptions())
	got := pc.services.entryMap()
	for _, c := range s.List(schema.ServiceEntry, "") {
		want := s.compiled[c].(*compiledEntry).entries
		if rs := got[c.Key()]; len(rs) != len(want) || (len(rs) > 0 && rs[0].svc != want[0].svc) {
			t.Errorf("%s: %d services, want %d", c.Key(), len(rs), len(want))
		}
	}
	if len(got[multi.Key()]) != 3 {
		t.Errorf("the multi-host entry has %d services, want 3", len(got[multi.Key()]))
	}
}
