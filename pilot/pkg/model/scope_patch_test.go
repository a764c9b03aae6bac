package model_test

import (
	"slices"
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/tests/fixture"
)

func k8sService(ns, name, ip string) *config.Config { return fixture.KubeService(ns, name, ip, 8080) }

// TestPatchedScopesEqualComputed follows the scope of a proxy whose Sidecar imports only
// its own namespace through VirtualService and DestinationRule edits: a VirtualService's
// destinations are imported too, so retargeting it changes the scope's services. After
// each edit the derived PushContext's scope must hold what a full build's holds.
func TestPatchedScopesEqualComputed(t *testing.T) {
	store := model.NewStore()
	store.Set(k8sService("app", "web", "10.96.0.1"))
	store.Set(k8sService("b", "api", "10.96.0.2"))
	store.Set(k8sService("c", "db", "10.96.0.3"))
	store.Set(&config.Config{Meta: config.Meta{Kind: schema.Sidecar, Namespace: "app", Name: "default"},
		Spec: &networkingv1alpha3.Sidecar{Egress: []*networkingv1alpha3.IstioEgressListener{{Hosts: []string{"./*"}}}}})
	vs := func(dest string) *config.Config {
		return &config.Config{Meta: config.Meta{Kind: schema.VirtualService, Namespace: "app", Name: "web"},
			Spec: &networkingv1alpha3.VirtualService{Hosts: []string{"web.app.svc.cluster.local"}, Http: []*networkingv1alpha3.HTTPRoute{{
				Route: []*networkingv1alpha3.HTTPRouteDestination{{Destination: &networkingv1alpha3.Destination{Host: dest}}},
			}}}}
	}
	namedDR := func(name, h string, lb networkingv1alpha3.LoadBalancerSettings_SimpleLB) *config.Config {
		return &config.Config{Meta: config.Meta{Kind: schema.DestinationRule, Namespace: "app", Name: name},
			Spec: &networkingv1alpha3.DestinationRule{Host: h, TrafficPolicy: &networkingv1alpha3.TrafficPolicy{
				LoadBalancer: &networkingv1alpha3.LoadBalancerSettings{LbPolicy: &networkingv1alpha3.LoadBalancerSettings_Simple{Simple: lb}},
			}}}
	}
	dr := func(h string, lb networkingv1alpha3.LoadBalancerSettings_SimpleLB) *config.Config {
		return namedDR("rule", h, lb)
	}
	pc := model.NewPushContext(store, mesh.Default(), model.DefaultOptions())
	scopeOf := func(pc *model.PushContext) *model.SidecarScope {
		p, err := model.ParseServiceNode("sidecar~10.0.0.1~web-0.app~app.svc.cluster.local", &model.NodeMetadata{Namespace: "app"})
		if err != nil {
			t.Fatal(err)
		}
		return pc.SidecarScopeFor(p)
	}
	scopeOf(pc)
	const api, db = "api.b.svc.cluster.local", "db.c.svc.cluster.local"
	const web = "web.app.svc.cluster.local"
	for _, s := range []struct {
		what    string
		set     []*config.Config // each its own change; the scope is computed after the last
		imports string           // a service the scope must import through the VirtualService
	}{
		{"a VirtualService routing to b", []*config.Config{vs(api)}, api},
		{"retargeted to c", []*config.Config{vs(db)}, db},
		{"a rule for the destination", []*config.Config{dr(db, networkingv1alpha3.LoadBalancerSettings_LEAST_REQUEST)}, db},
		{"the rule edited", []*config.Config{dr(db, networkingv1alpha3.LoadBalancerSettings_RANDOM)}, db},
		{"the rule moved to web", []*config.Config{dr(web, networkingv1alpha3.LoadBalancerSettings_RANDOM)}, db},
		{"two rules edited before the scope is used", []*config.Config{
			namedDR("db", db, networkingv1alpha3.LoadBalancerSettings_LEAST_REQUEST),
			dr(web, networkingv1alpha3.LoadBalancerSettings_LEAST_REQUEST),
		}, db},
		{"a wildcard rule", []*config.Config{namedDR("wild", "*.c.svc.cluster.local", networkingv1alpha3.LoadBalancerSettings_ROUND_ROBIN)}, db},
		{"retargeted to b with the rule's host elsewhere", []*config.Config{vs(api)}, api},
	} {
		for _, c := range s.set {
			store.Set(c)
			pc = pc.Derive(store, map[config.Key]struct{}{c.Key(): {}})
		}
		got, want := scopeOf(pc), scopeOf(model.NewPushContext(store, pc.Mesh, pc.Options))
		if got.ServiceForHostname(host.Name(s.imports)) == nil {
			t.Fatalf("%s: the scope does not import %s", s.what, s.imports)
		}
		if !slices.EqualFunc(got.Services(), want.Services(), func(a, b *model.Service) bool { return a.Hostname == b.Hostname }) {
			t.Fatalf("%s: scope services %v, a full build's %v", s.what, hostnames(got), hostnames(want))
		}
		for _, svc := range want.Services() {
			g, w := got.DestinationRule(svc.Hostname), want.DestinationRule(svc.Hostname)
			if (g == nil) != (w == nil) || (g != nil && g.Rule.Name != w.Rule.Name) {
				t.Fatalf("%s: %s: rule %v, a full build's %v", s.what, svc.Hostname, g, w)
			}
			if g != nil && g.Spec().GetTrafficPolicy().GetLoadBalancer().GetSimple() != w.Spec().GetTrafficPolicy().GetLoadBalancer().GetSimple() {
				t.Fatalf("%s: %s: the scope holds a stale rule", s.what, svc.Hostname)
			}
		}
		for i, l := range want.EgressListeners {
			if !slices.Equal(keysOf(got.EgressListeners[i].VirtualServices), keysOf(l.VirtualServices)) {
				t.Fatalf("%s: listener %d VirtualServices differ from a full build's", s.what, i)
			}
		}
	}
}

func hostnames(sc *model.SidecarScope) []host.Name {
	var out []host.Name
	for _, s := range sc.Services() {
		out = append(out, s.Hostname)
	}
	return out
}

func keysOf(cs []*config.Config) []config.Key {
	var out []config.Key
	for _, c := range cs {
		out = append(out, c.Key())
	}
	return out
}

// TestWorkloadSelectorRulesFollowDerive checks that a DestinationRule selecting workloads
// applies to the proxies it selects after it is added by a derived PushContext, and keeps
// applying after changes to rules of other namespaces.
func TestWorkloadSelectorRulesFollowDerive(t *testing.T) {
	store := model.NewStore()
	store.Set(k8sService("app", "web", "10.96.0.1"))
	store.Set(k8sService("b", "api", "10.96.0.2"))
	pc := model.NewPushContext(store, mesh.Default(), model.DefaultOptions())
	ruleFor := func(pc *model.PushContext, labels map[string]string) string {
		p, err := model.ParseServiceNode("sidecar~10.0.0.1~web-0.app~app.svc.cluster.local", &model.NodeMetadata{Namespace: "app", Labels: labels})
		if err != nil {
			t.Fatal(err)
		}
		pc.InitProxy(p)
		r := pc.OutboundDestinationRule(p, pc.ServiceForHostname(p, "web.app.svc.cluster.local"))
		if r == nil {
			return ""
		}
		return r.Rule.Name
	}
	derive := func(c *config.Config) {
		store.Set(c)
		pc = pc.Derive(store, map[config.Key]struct{}{c.Key(): {}})
	}
	rule := func(ns, name, h string, selector map[string]string) *config.Config {
		dr := &networkingv1alpha3.DestinationRule{Host: h}
		if selector != nil {
			dr.WorkloadSelector = &typev1beta1.WorkloadSelector{MatchLabels: selector}
		}
		return &config.Config{Meta: config.Meta{Kind: schema.DestinationRule, Namespace: ns, Name: name}, Spec: dr}
	}
	canary := map[string]string{"track": "canary"}
	derive(rule("app", "all", "web.app.svc.cluster.local", nil))
	derive(rule("app", "canary", "web.app.svc.cluster.local", canary))
	if got := ruleFor(pc, canary); got != "canary" {
		t.Fatalf("after adding the selecting rule: %q applies to the canary, want canary", got)
	}
	derive(rule("b", "api", "api.b.svc.cluster.local", nil))
	if got := ruleFor(pc, canary); got != "canary" {
		t.Fatalf("after a rule of another namespace changed: %q applies to the canary, want canary", got)
	}
	if got := ruleFor(pc, map[string]string{"track": "stable"}); got != "all" {
		t.Fatalf("%q applies to a workload the selector does not select, want all", got)
	}
}
