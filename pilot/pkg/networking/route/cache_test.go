package route_test

import (
	"bytes"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/route"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/tests/fixture"
	"github.com/sextant-mesh/sextant/tests/golden"
)

func httpService(ns, name, ip string) *config.Config { return fixture.KubeService(ns, name, ip, 8080) }

// hashRule asks for consistent hashing on a header: the routes to the host change.
func hashRule(ns, name, h, header string) *config.Config {
	return &config.Config{Meta: config.Meta{Kind: schema.DestinationRule, Namespace: ns, Name: name},
		Spec: &networkingv1alpha3.DestinationRule{Host: h, TrafficPolicy: &networkingv1alpha3.TrafficPolicy{
			LoadBalancer: &networkingv1alpha3.LoadBalancerSettings{LbPolicy: &networkingv1alpha3.LoadBalancerSettings_ConsistentHash{
				ConsistentHash: &networkingv1alpha3.LoadBalancerSettings_ConsistentHashLB{
					HashKey: &networkingv1alpha3.LoadBalancerSettings_ConsistentHashLB_HttpHeaderName{HttpHeaderName: header},
				},
			}},
		}}}
}

// splitVS sends web's traffic to api, with a canary route for the workloads labelled
// track=canary.
func splitVS() *config.Config {
	dest := func(h string) []*networkingv1alpha3.HTTPRouteDestination {
		return []*networkingv1alpha3.HTTPRouteDestination{{Destination: &networkingv1alpha3.Destination{Host: h}}}
	}
	return &config.Config{Meta: config.Meta{Kind: schema.VirtualService, Namespace: "team-a", Name: "web"},
		Spec: &networkingv1alpha3.VirtualService{Hosts: []string{"web.team-a.svc.cluster.local"}, Http: []*networkingv1alpha3.HTTPRoute{
			{Match: []*networkingv1alpha3.HTTPMatchRequest{{SourceLabels: map[string]string{"track": "canary"}}}, Route: dest("api.team-b.svc.cluster.local")},
			{Route: dest("web.team-a.svc.cluster.local")},
		}}}
}

func sidecar(t *testing.T, pc *model.PushContext, ns, ip string, labels map[string]string) *model.Proxy {
	t.Helper()
	p, err := model.ParseServiceNode("sidecar~"+ip+"~app."+ns+"~"+ns+".svc.cluster.local", &model.NodeMetadata{Namespace: ns, Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	pc.InitProxy(p)
	return p
}

// sameAsFresh checks the cache's encodings against fresh builds and returns them.
func sameAsFresh(t *testing.T, c *route.Cache, pc *model.PushContext, p *model.Proxy) [][]byte {
	t.Helper()
	names := []string{"8080"}
	got := c.Build(pc, p, names)
	if err := golden.SameEncodings(got, route.BuildRoutes(pc, p, names)); err != nil {
		t.Fatalf("route cache: %v", err)
	}
	var out [][]byte
	for _, r := range got {
		b, _ := r.Encoding()
		out = append(out, b)
	}
	return out
}

// TestCacheFollowsWhatRoutesRead changes, one at a time, what cached routes read - a
// destination's DestinationRule, the default route's, the proxy's labels under a
// sourceLabels match - and checks the cache against fresh builds after each, and that
// proxies alike share the cached routes.
func TestCacheFollowsWhatRoutesRead(t *testing.T) {
	store := model.NewStore()
	store.Set(httpService("team-a", "web", "10.96.0.1"))
	store.Set(httpService("team-b", "api", "10.96.0.2"))
	store.Set(splitVS())
	pc := model.NewPushContext(store, mesh.Default(), model.DefaultOptions())
	c := route.NewCache()

	plain := sameAsFresh(t, c, pc, sidecar(t, pc, "team-c", "10.0.0.1", map[string]string{"app": "x"}))
	n := c.Len()
	sameAsFresh(t, c, pc, sidecar(t, pc, "team-c", "10.0.0.2", map[string]string{"app": "x"}))
	if c.Len() != n {
		t.Errorf("a second proxy alike added %d route groups, want them shared", c.Len()-n)
	}
	// Elsewhere with other labels: only the VirtualService matching on labels is its own.
	sameAsFresh(t, c, pc, sidecar(t, pc, "team-d", "10.0.0.4", map[string]string{"app": "y"}))
	if c.Len() != n+1 {
		t.Errorf("a proxy with other labels added %d route groups, want 1 (the sourceLabels VirtualService)", c.Len()-n)
	}
	canary := sameAsFresh(t, c, pc, sidecar(t, pc, "team-c", "10.0.0.3", map[string]string{"track": "canary"}))
	if bytes.Equal(plain[0], canary[0]) {
		t.Fatal("the sourceLabels match did not change the canary's routes: the test proves nothing")
	}

	// The destination's rule changes, then the default route's.
	for i, h := range []string{"api.team-b.svc.cluster.local", "web.team-a.svc.cluster.local"} {
		for _, header := range []string{"x-user", "x-session"} {
			r := hashRule("team-b", "hash", h, header)
			if i == 1 {
				r.Namespace = "team-a"
			}
			store.Set(r)
			pc = pc.Derive(store, map[config.Key]struct{}{r.Key(): {}})
			before := append(canary, plain...)
			canary = sameAsFresh(t, c, pc, sidecar(t, pc, "team-c", "10.0.0.3", map[string]string{"track": "canary"}))
			plain = sameAsFresh(t, c, pc, sidecar(t, pc, "team-c", "10.0.0.1", map[string]string{"app": "x"}))
			if bytes.Equal(bytes.Join(before, nil), bytes.Join(append(canary, plain...), nil)) {
				t.Fatalf("%s hashed on %s: routes unchanged, the test proves nothing", h, header)
			}
		}
	}
}

// TestCacheDomainsPerProxyContext checks that the shared virtual-host domains follow what
// they read of the proxy: short names depend on its namespace, a dual-stack service's
// addresses on its IP families. Each proxy gets what a fresh build gives it.
func TestCacheDomainsPerProxyContext(t *testing.T) {
	store := model.NewStore()
	web := httpService("team-a", "web", "10.96.0.1")
	web.Spec.(*corev1.Service).Spec.ClusterIPs = []string{"10.96.0.1", "fd00::1"}
	store.Set(web)
	pc := model.NewPushContext(store, mesh.Default(), model.DefaultOptions())
	c := route.NewCache()
	var got [][]byte
	for _, p := range []struct{ ns, ip string }{
		{"team-a", "10.0.0.1"}, {"team-c", "10.0.0.2"}, {"team-a", "fd00::5"}, {"team-a", "10.0.0.3"},
	} {
		got = append(got, sameAsFresh(t, c, pc, sidecar(t, pc, p.ns, p.ip, map[string]string{"app": "x"}))[0])
	}
	if bytes.Equal(got[0], got[1]) || bytes.Equal(got[0], got[2]) {
		t.Fatal("namespace or IP family did not change the domains: the test proves nothing")
	}
	if !bytes.Equal(got[0], got[3]) {
		t.Error("two proxies alike got different route configurations")
	}
}

// routeTo is a VirtualService in team-a for hosts, routing to dest.
func routeTo(name, dest string, hosts ...string) *config.Config {
	return &config.Config{Meta: config.Meta{Kind: schema.VirtualService, Namespace: "team-a", Name: name},
		Spec: &networkingv1alpha3.VirtualService{Hosts: hosts, Http: []*networkingv1alpha3.HTTPRoute{{
			Route: []*networkingv1alpha3.HTTPRouteDestination{{Destination: &networkingv1alpha3.Destination{Host: dest}}},
		}}}}
}

// TestCachePatchesLastBuild follows one connection's route configuration through a
// sequence of VirtualService changes and others. After each, the configuration must be
// what a fresh build gives; VirtualService changes naming services must be patched into
// the last build, the others built in full.
func TestCachePatchesLastBuild(t *testing.T) {
	store := model.NewStore()
	for i, n := range []string{"a", "b", "c", "d", "e"} {
		store.Set(httpService("team-a", n, "10.96.0."+string(rune('1'+i))))
	}
	pc := model.NewPushContext(store, mesh.Default(), model.DefaultOptions())
	c := route.NewCache()
	memo := model.NewMemo()
	proxy := func() *model.Proxy {
		p := sidecar(t, pc, "team-a", "10.0.0.1", map[string]string{"app": "x"})
		p.Memo = memo
		return p
	}
	last := sameAsFresh(t, c, pc, proxy())
	const (
		a = "a.team-a.svc.cluster.local"
		b = "b.team-a.svc.cluster.local"
		e = "e.team-a.svc.cluster.local"
	)
	older := routeTo("older", b, a)
	older.CreationTimestamp = older.CreationTimestamp.Add(-time.Hour)
	steps := []struct {
		what    string
		set     *config.Config
		del     *config.Config
		patched bool
		same    bool // the configuration stays as it was
	}{
		{what: "a VirtualService for a", set: routeTo("vs1", b, a), patched: true},
		{what: "its routes edited", set: routeTo("vs1", "c.team-a.svc.cluster.local", a), patched: true},
		{what: "its hosts moved from a to d", set: routeTo("vs1", b, "d.team-a.svc.cluster.local"), patched: true},
		{what: "an older VirtualService for a, taking it", set: older, patched: true},
		{what: "a second one for a, which the older keeps", set: routeTo("vs2", e, a), patched: true, same: true},
		{what: "the older one deleted: the second takes a", del: older, patched: true},
		{what: "a wildcard host", set: routeTo("wild", e, "*.team-a.svc.cluster.local"), patched: false},
		{what: "the wildcard gone", del: routeTo("wild", e, "*.team-a.svc.cluster.local"), patched: false},
		{what: "a host that is no service", set: routeTo("vs3", e, "example.com", b), patched: false},
		{what: "back to services only", set: routeTo("vs3", e, b), patched: false}, // the last build had example.com's
		{what: "and again", set: routeTo("vs3", a, b), patched: true},
		{what: "a DestinationRule", set: hashRule("team-a", "hash", e, "x-user"), patched: false},
	}
	for _, s := range steps {
		var key config.Key
		if s.set != nil {
			store.Set(s.set)
			key = s.set.Key()
		} else {
			store.Delete(s.del.Key())
			key = s.del.Key()
		}
		pc = pc.Derive(store, map[config.Key]struct{}{key: {}})
		_, before := c.Builds()
		got := sameAsFresh(t, c, pc, proxy())
		if _, after := c.Builds(); (after > before) != s.patched {
			t.Errorf("%s: patched %v, want %v", s.what, after > before, s.patched)
		}
		if bytes.Equal(got[0], last[0]) != s.same {
			t.Fatalf("%s: the route configuration changed: %v, want %v", s.what, !bytes.Equal(got[0], last[0]), !s.same)
		}
		last = got
	}
}

// headerFilter is an EnvoyFilter adding a request header to the route configurations on
// port 8080, for the workloads labelled app=selector (all of the namespace's when empty).
func headerFilter(t *testing.T, ns, name, selector, value string) *config.Config {
	t.Helper()
	v, err := structpb.NewStruct(map[string]any{"request_headers_to_add": []any{map[string]any{
		"header": map[string]any{"key": "x-" + name, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ef := &networkingv1alpha3.EnvoyFilter{ConfigPatches: []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch{{
		ApplyTo: networkingv1alpha3.EnvoyFilter_ROUTE_CONFIGURATION,
		Match: &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch{
			Context: networkingv1alpha3.EnvoyFilter_SIDECAR_OUTBOUND,
			ObjectTypes: &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch_RouteConfiguration{
				RouteConfiguration: &networkingv1alpha3.EnvoyFilter_RouteConfigurationMatch{PortNumber: 8080},
			},
		},
		Patch: &networkingv1alpha3.EnvoyFilter_Patch{Operation: networkingv1alpha3.EnvoyFilter_Patch_MERGE, Value: v},
	}}}
	if selector != "" {
		ef.WorkloadSelector = &networkingv1alpha3.WorkloadSelector{Labels: map[string]string{"app": selector}}
	}
	return &config.Config{Meta: config.Meta{Kind: schema.EnvoyFilter, Namespace: ns, Name: name}, Spec: ef}
}

// TestCacheShellFollowsRouteConfigurationPatches checks the patched configurations the
// cache keeps without their virtual hosts against fresh builds: proxies with the same
// patches share one, a workload's own patch and an edited filter get theirs.
func TestCacheShellFollowsRouteConfigurationPatches(t *testing.T) {
	store := model.NewStore()
	store.Set(httpService("team-a", "web", "10.96.0.1"))
	store.Set(headerFilter(t, "istio-system", "mesh", "", "1"))
	store.Set(headerFilter(t, "team-c", "own", "x", "1"))
	pc := model.NewPushContext(store, mesh.Default(), model.DefaultOptions())
	c := route.NewCache()

	other := sameAsFresh(t, c, pc, sidecar(t, pc, "team-c", "10.0.0.1", map[string]string{"app": "y"}))
	n := c.Len()
	own := sameAsFresh(t, c, pc, sidecar(t, pc, "team-c", "10.0.0.2", map[string]string{"app": "x"}))
	if bytes.Equal(other[0], own[0]) {
		t.Fatal("the workload's filter changed nothing: the test proves nothing")
	}
	if again := sameAsFresh(t, c, pc, sidecar(t, pc, "team-c", "10.0.0.3", map[string]string{"app": "y"})); !bytes.Equal(again[0], other[0]) {
		t.Error("two proxies with the same patches got different configurations")
	}
	if c.Len() != n {
		t.Errorf("proxies with other patches added %d route groups, want the routes shared", c.Len()-n)
	}
	// edit sets filter name (in ns) to value and checks the configuration of the proxy
	// labelled app=label changed from last.
	edit := func(ns, name, value, label string, last [][]byte) [][]byte {
		t.Helper()
		ef := headerFilter(t, ns, name, "", value)
		store.Set(ef)
		pc = pc.Derive(store, map[config.Key]struct{}{ef.Key(): {}})
		ip := map[string]string{"y": "10.0.0.1", "x": "10.0.0.2"}[label]
		edited := sameAsFresh(t, c, pc, sidecar(t, pc, "team-c", ip, map[string]string{"app": label}))
		if bytes.Equal(edited[0], last[0]) {
			t.Fatalf("filter %s/%s set to %s: configuration unchanged", ns, name, value)
		}
		return edited
	}
	for _, value := range []string{"2", "3"} {
		other = edit("istio-system", "mesh", value, "y", other)
		own = sameAsFresh(t, c, pc, sidecar(t, pc, "team-c", "10.0.0.2", map[string]string{"app": "x"}))
	}
	// A namespace's filter between the mesh's and the workload's: editing it changes
	// neither the first nor the last patch of the workload's proxy.
	for _, value := range []string{"1", "2"} {
		own = edit("team-c", "namespace", value, "x", own)
	}
}
