package cluster_test

import (
	"testing"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/cluster"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/tests/fixture"
	"github.com/sextant-mesh/sextant/tests/golden"
)

func kubeService(ns, name, ip string) *config.Config { return fixture.KubeService(ns, name, ip, 80) }

func rule(ns, name, h string, maxConns int32) *config.Config {
	return &config.Config{Meta: config.Meta{Kind: schema.DestinationRule, Namespace: ns, Name: name},
		Spec: &networkingv1alpha3.DestinationRule{Host: h, TrafficPolicy: &networkingv1alpha3.TrafficPolicy{
			ConnectionPool: &networkingv1alpha3.ConnectionPoolSettings{Tcp: &networkingv1alpha3.ConnectionPoolSettings_TCPSettings{MaxConnections: maxConns}},
		}, Subsets: []*networkingv1alpha3.Subset{{Name: "v1", Labels: map[string]string{"version": "v1"}}}}}
}

// timeoutFilter is a mesh-wide EnvoyFilter merging a connect timeout into every outbound
// cluster, or, with a selector, into the selected workloads' only.
func timeoutFilter(ns, name, timeout string, selector map[string]string) *config.Config {
	v, _ := structpb.NewStruct(map[string]any{"connect_timeout": timeout})
	ef := &networkingv1alpha3.EnvoyFilter{ConfigPatches: []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch{{
		ApplyTo: networkingv1alpha3.EnvoyFilter_CLUSTER,
		Match:   &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch{Context: networkingv1alpha3.EnvoyFilter_SIDECAR_OUTBOUND},
		Patch:   &networkingv1alpha3.EnvoyFilter_Patch{Operation: networkingv1alpha3.EnvoyFilter_Patch_MERGE, Value: v},
	}}}
	if selector != nil {
		ef.WorkloadSelector = &networkingv1alpha3.WorkloadSelector{Labels: selector}
	}
	return &config.Config{Meta: config.Meta{Kind: schema.EnvoyFilter, Namespace: ns, Name: name}, Spec: ef}
}

func sidecarIn(t *testing.T, pc *model.PushContext, ns, ip string, labels map[string]string) *model.Proxy {
	t.Helper()
	p, err := model.ParseServiceNode("sidecar~"+ip+"~app."+ns+"~"+ns+".svc.cluster.local",
		&model.NodeMetadata{Namespace: ns, Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	pc.InitProxy(p)
	return p
}

// encodings returns the proxy's clusters from the cache by name, checking them against
// a fresh build.
func encodings(t *testing.T, c *cluster.Cache, pc *model.PushContext, p *model.Proxy) map[string]*anypb.Any {
	t.Helper()
	got := c.Build(pc, p)
	if err := golden.SameEncodings(got, cluster.BuildClusters(pc, p)); err != nil {
		t.Fatalf("cluster cache: %v", err)
	}
	out := map[string]*anypb.Any{}
	for _, r := range got {
		out[r.Name] = r.Any
	}
	return out
}

// TestCacheSharesAndInvalidates checks that proxies share the encodings of the clusters
// they build alike, that a change rebuilds the clusters of what it touched only, and that
// a proxy whose EnvoyFilter patches differ gets its own encoding of what they change.
func TestCacheSharesAndInvalidates(t *testing.T) {
	store := model.NewStore()
	store.Set(kubeService("team-a", "web", "10.96.0.1"))
	store.Set(kubeService("team-b", "api", "10.96.0.2"))
	store.Set(rule("team-b", "api", "api.team-b.svc.cluster.local", 10))
	pc := model.NewPushContext(store, mesh.Default(), model.DefaultOptions())
	c := cluster.NewCache()
	web, api, apiV1 := "outbound|80||web.team-a.svc.cluster.local", "outbound|80||api.team-b.svc.cluster.local", "outbound|80|v1|api.team-b.svc.cluster.local"

	a := encodings(t, c, pc, sidecarIn(t, pc, "team-a", "10.0.0.1", nil))
	b := encodings(t, c, pc, sidecarIn(t, pc, "team-b", "10.0.0.2", nil))
	for _, n := range []string{web, api, apiV1} {
		if a[n] == nil || a[n] != b[n] {
			t.Errorf("%s: proxies in two namespaces do not share one encoding", n)
		}
	}

	// An unrelated change: every cluster still comes from the cache.
	store.Set(kubeService("team-c", "other", "10.96.0.3"))
	pc = pc.Derive(store, map[config.Key]struct{}{{Kind: schema.Service, Namespace: "team-c", Name: "other"}: {}})
	after := encodings(t, c, pc, sidecarIn(t, pc, "team-a", "10.0.0.1", nil))
	for _, n := range []string{web, api, apiV1} {
		if after[n] != a[n] {
			t.Errorf("%s: rebuilt after a change to another service", n)
		}
	}

	// The rule of api changes: its clusters are rebuilt once, web's are kept.
	store.Set(rule("team-b", "api", "api.team-b.svc.cluster.local", 20))
	pc = pc.Derive(store, map[config.Key]struct{}{{Kind: schema.DestinationRule, Namespace: "team-b", Name: "api"}: {}})
	a2 := encodings(t, c, pc, sidecarIn(t, pc, "team-a", "10.0.0.1", nil))
	b2 := encodings(t, c, pc, sidecarIn(t, pc, "team-b", "10.0.0.2", nil))
	if a2[web] != a[web] {
		t.Errorf("%s: rebuilt after a change to another service's rule", web)
	}
	for _, n := range []string{api, apiV1} {
		if a2[n] == a[n] {
			t.Errorf("%s: not rebuilt after its rule changed", n)
		}
		if a2[n] != b2[n] {
			t.Errorf("%s: the rebuilt cluster is not shared", n)
		}
	}

	// A mesh-wide patch: one patched encoding, kept from its second use and shared from
	// then on. A second patch selecting one workload: that proxy gets its own.
	store.Set(timeoutFilter("istio-system", "mesh-timeout", "3s", nil))
	store.Set(timeoutFilter("team-b", "slow", "9s", map[string]string{"app": "slow"}))
	pc = pc.Derive(store, map[config.Key]struct{}{
		{Kind: schema.EnvoyFilter, Namespace: "istio-system", Name: "mesh-timeout"}: {},
		{Kind: schema.EnvoyFilter, Namespace: "team-b", Name: "slow"}:               {},
	})
	a3 := encodings(t, c, pc, sidecarIn(t, pc, "team-a", "10.0.0.1", nil))
	b3 := encodings(t, c, pc, sidecarIn(t, pc, "team-b", "10.0.0.2", nil))
	a4 := encodings(t, c, pc, sidecarIn(t, pc, "team-a", "10.0.0.4", nil))
	slow := encodings(t, c, pc, sidecarIn(t, pc, "team-b", "10.0.0.3", map[string]string{"app": "slow"}))
	for _, n := range []string{web, api, apiV1} {
		if a3[n] == a2[n] {
			t.Errorf("%s: unpatched encoding served to a patched proxy", n)
		}
		if string(a3[n].GetValue()) != string(b3[n].GetValue()) || a4[n] != b3[n] {
			t.Errorf("%s: the mesh-wide patched cluster is not shared", n)
		}
		if slow[n] == a3[n] || string(slow[n].GetValue()) == string(a3[n].GetValue()) {
			t.Errorf("%s: the workload's own patch is not applied", n)
		}
	}
}
