// Package bench measures the translation engine on generated meshes: PushContext build
// from cold and per-proxy generation, at 1k, 5k and 10k services. Run with `make bench-go`
// (`make bench` adds the side-by-side runs against istiod); figures go in issue notes,
// never in assertions.
package bench

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/cluster"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/generate"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/listener"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/route"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/pkg/meshgen"
)

var sizes = []int{1000, 5000, 10000}

func spec(n int) meshgen.Spec {
	return meshgen.Spec{
		Namespaces: 50, Services: n, EndpointsPerService: 2,
		VirtualServicePercent: 20, DestinationRulePercent: 20, ServiceEntries: n / 10,
		EnvoyFilters: n / 20,
	}
}

func store(m *meshgen.Mesh) *model.Store {
	s := model.NewStore()
	for _, c := range m.Configs {
		s.Set(c)
	}
	return s
}

func BenchmarkPushContextBuild(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			st := store(meshgen.Generate(spec(n)))
			mc := mesh.Default()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				model.NewPushContext(st, mc, model.DefaultOptions())
			}
		})
	}
}

func BenchmarkGenerateSidecar(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			m := meshgen.Generate(spec(n))
			pc := model.NewPushContext(store(m), mesh.Default(), model.DefaultOptions())
			ps := &generate.ProxySpec{IP: m.ClientIP, Namespace: m.ClientNamespace, Pod: m.ClientPod, Labels: m.ClientLabels}
			b.ResetTimer()
			var resources int
			for i := 0; i < b.N; i++ {
				p, err := ps.Proxy()
				if err != nil {
					b.Fatal(err)
				}
				pc.InitProxy(p)
				out := generate.ForProxy(pc, p, nil)
				resources = len(out.Clusters) + len(out.Listeners) + len(out.Routes) + len(out.Endpoints)
			}
			b.ReportMetric(float64(resources), "resources/op")
		})
	}
}

func TestGeneratedMeshIsServed(t *testing.T) {
	m := meshgen.Generate(spec(200))
	pc := model.NewPushContext(store(m), mesh.Default(), model.DefaultOptions())
	if len(pc.Errors) > 0 {
		t.Errorf("generated mesh has errors: %v", pc.Errors)
	}
	if got := len(pc.Services()); got != 220 {
		t.Fatalf("services = %d, want 200 Kubernetes + 20 ServiceEntry hosts", got)
	}
	ps := &generate.ProxySpec{IP: m.ClientIP, Namespace: m.ClientNamespace, Pod: m.ClientPod, Labels: m.ClientLabels}
	p, err := ps.Proxy()
	if err != nil {
		t.Fatal(err)
	}
	pc.InitProxy(p)
	if len(p.ServiceTargets) != 2 {
		t.Errorf("client serves %d ports, want 2", len(p.ServiceTargets))
	}
	if got := len(p.SidecarScope.Services()); got != 220 {
		t.Errorf("sidecar scope imports %d services, want 220", got)
	}
}

// issueSpec is the mesh issue 5 measures: 10k ServiceEntries (the mesh's services, with
// inline endpoints), 2k VirtualServices, 2k DestinationRules, 500 EnvoyFilters and 1k
// Sidecars over 50 namespaces. tools/meshgen and adsload write the same mesh for the
// side-by-side runs against istiod.
func issueSpec() meshgen.Spec {
	return meshgen.Spec{
		Namespaces: 50, Services: 10000, EndpointsPerService: 2, ServiceEntryServices: true,
		VirtualServicePercent: 20, DestinationRulePercent: 20, EnvoyFilters: 500, Sidecars: 1000,
	}
}

// BenchmarkIssueMeshBuild is the cold PushContext build of issueSpec.
func BenchmarkIssueMeshBuild(b *testing.B) {
	st := store(meshgen.Generate(issueSpec()))
	mc := mesh.Default()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		model.NewPushContext(st, mc, model.DefaultOptions())
	}
}

// scopeProxies returns one proxy per (namespace, Sidecar) pair of the mesh: a workload
// each workload-selected Sidecar selects, and an unselected one per namespace.
func scopeProxies(b *testing.B, m *meshgen.Mesh) []*model.Proxy {
	var out []*model.Proxy
	add := func(ns string, labels map[string]string) {
		p, err := (&generate.ProxySpec{IP: "127.0.0.1", Namespace: ns, Pod: "bench", Labels: labels}).Proxy()
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, p)
	}
	seen := map[string]bool{}
	for _, c := range m.Configs {
		if c.Kind == schema.Namespace && !seen[c.Name] {
			seen[c.Name] = true
			add(c.Name, map[string]string{"app": "none"})
		}
		if sc, ok := c.Spec.(*networkingv1alpha3.Sidecar); ok && sc.GetWorkloadSelector() != nil {
			add(c.Namespace, sc.GetWorkloadSelector().GetLabels())
		}
	}
	return out
}

// BenchmarkSidecarScopes measures computing every SidecarScope of the issue mesh from
// cold (what the first push after a full build costs), and a proxy's lookup once they
// are memoised (what every later proxy of the same pair costs).
func BenchmarkSidecarScopes(b *testing.B) {
	m := meshgen.Generate(issueSpec())
	st := store(m)
	proxies := scopeProxies(b, m)
	b.Run("cold-all", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			pc := model.NewPushContext(st, mesh.Default(), model.DefaultOptions())
			b.StartTimer()
			for _, p := range proxies {
				pc.SidecarScopeFor(p)
			}
			b.StopTimer()
			b.ReportMetric(float64(pc.SidecarScopes()), "scopes")
		}
	})
	b.Run("memoised", func(b *testing.B) {
		pc := model.NewPushContext(st, mesh.Default(), model.DefaultOptions())
		for _, p := range proxies {
			pc.SidecarScopeFor(p)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			pc.SidecarScopeFor(proxies[i%len(proxies)])
		}
	})
}

// BenchmarkPushContextDerive measures re-indexing the issue mesh after one edit of each
// kind, SidecarScopes included: the previous context has every scope computed, the
// derived one carries those the edit cannot alter (reported as carried scopes). Each
// iteration writes a new version of the object, as an edit does.
func BenchmarkPushContextDerive(b *testing.B) {
	m := meshgen.Generate(issueSpec())
	st := store(m)
	proxies := scopeProxies(b, m)
	base := model.NewPushContext(st, mesh.Default(), model.DefaultOptions())
	for _, p := range proxies {
		base.SidecarScopeFor(p)
	}
	edits := []struct {
		name string
		kind config.Kind
		edit func(c *config.Config, i int)
	}{
		{"VirtualService", schema.VirtualService, func(c *config.Config, i int) {
			vs := proto.Clone(c.Spec.(*networkingv1alpha3.VirtualService)).(*networkingv1alpha3.VirtualService)
			vs.Http[0].Timeout = durationpb.New(time.Duration(i+1) * time.Second)
			c.Spec = vs
		}},
		{"DestinationRule", schema.DestinationRule, func(c *config.Config, i int) {
			dr := proto.Clone(c.Spec.(*networkingv1alpha3.DestinationRule)).(*networkingv1alpha3.DestinationRule)
			dr.TrafficPolicy = &networkingv1alpha3.TrafficPolicy{ConnectionPool: &networkingv1alpha3.ConnectionPoolSettings{
				Http: &networkingv1alpha3.ConnectionPoolSettings_HTTPSettings{Http1MaxPendingRequests: int32(i + 1)}}}
			c.Spec = dr
		}},
		{"ServiceEntry-endpoint", schema.ServiceEntry, func(c *config.Config, i int) {
			se := proto.Clone(c.Spec.(*networkingv1alpha3.ServiceEntry)).(*networkingv1alpha3.ServiceEntry)
			se.Endpoints[0].Address = fmt.Sprintf("127.8.%d.%d", i/250%250, i%250+1)
			c.Spec = se
		}},
		{"ServiceEntry-port", schema.ServiceEntry, func(c *config.Config, i int) {
			se := proto.Clone(c.Spec.(*networkingv1alpha3.ServiceEntry)).(*networkingv1alpha3.ServiceEntry)
			se.Ports = append(se.Ports, &networkingv1alpha3.ServicePort{Number: uint32(20000 + i%1000), Name: "tcp-x", Protocol: "TCP"})
			c.Spec = se
		}},
		{"Sidecar", schema.Sidecar, func(c *config.Config, i int) {}},
		{"EnvoyFilter", schema.EnvoyFilter, func(c *config.Config, i int) {}},
	}
	for _, e := range edits {
		var orig *config.Config
		for _, c := range m.Configs {
			if c.Kind == e.kind && c.Namespace == "ns-049" {
				orig = c
				break
			}
		}
		if orig == nil {
			b.Fatalf("no %s in ns-049", e.kind)
		}
		b.Run(e.name, func(b *testing.B) {
			defer st.Set(orig)
			carried := 0
			for i := 0; i < b.N; i++ {
				edited := *orig
				edited.ResourceVersion = strconv.Itoa(i)
				e.edit(&edited, i)
				st.Set(&edited)
				next := base.Derive(st, map[config.Key]struct{}{orig.Key(): {}})
				carried = next.SidecarScopes()
			}
			b.ReportMetric(float64(carried), "carried-scopes")
		})
	}
}

// BenchmarkGenerateIssueSidecar is one proxy's full generation (CDS+LDS+RDS+EDS) in the
// issue mesh, for a proxy under a workload-selected Sidecar (three namespaces imported).
func BenchmarkGenerateIssueSidecar(b *testing.B) {
	m := meshgen.Generate(issueSpec())
	pc := model.NewPushContext(store(m), mesh.Default(), model.DefaultOptions())
	ps := &generate.ProxySpec{IP: m.ClientIP, Namespace: m.ClientNamespace, Pod: m.ClientPod, Labels: m.ClientLabels}
	b.ResetTimer()
	var resources int
	for i := 0; i < b.N; i++ {
		p, err := ps.Proxy()
		if err != nil {
			b.Fatal(err)
		}
		pc.InitProxy(p)
		out := generate.ForProxy(pc, p, nil)
		resources = len(out.Clusters) + len(out.Listeners) + len(out.Routes) + len(out.Endpoints)
	}
	b.ReportMetric(float64(resources), "resources/op")
}

// sampleProxies returns one in twenty of the mesh's (namespace, Sidecar) proxies,
// initialised against pc.
func sampleProxies(b *testing.B, m *meshgen.Mesh, pc *model.PushContext) []*model.Proxy {
	var out []*model.Proxy
	for i, p := range scopeProxies(b, m) {
		if i%20 == 0 {
			pc.InitProxy(p)
			out = append(out, p)
		}
	}
	return out
}

// reportPerProxy reports the time per proxy of a run over proxies, and count per proxy
// under unit when count is known (positive).
func reportPerProxy(b *testing.B, proxies, count int, unit string) {
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*proxies), "ms/proxy")
	if count > 0 {
		b.ReportMetric(float64(count)/float64(proxies), unit)
	}
}

// BenchmarkIssueClusters measures what a push's CDS costs per proxy in the issue mesh,
// encoded for the wire, over a sample of the mesh's (namespace, Sidecar) proxies: built
// afresh for each proxy (fresh), by each proxy's second build from a cluster.Cache
// (second), drawn from a warm cache shared by the proxies (cached), and from the cache right after a DestinationRule edit (after-dr-edit: the
// edited rule's clusters are rebuilt once, by the first proxy that needs them).
func BenchmarkIssueClusters(b *testing.B) {
	m := meshgen.Generate(issueSpec())
	st := store(m)
	pc := model.NewPushContext(st, mesh.Default(), model.DefaultOptions())
	proxies := sampleProxies(b, m, pc)
	perProxy := func(b *testing.B, clusters int) { reportPerProxy(b, len(proxies), clusters, "clusters/proxy") }
	b.Run("fresh", func(b *testing.B) {
		n := 0
		for i := 0; i < b.N; i++ {
			n = 0
			for _, p := range proxies {
				for _, c := range cluster.BuildClusters(pc, p) {
					if _, err := (proto.MarshalOptions{Deterministic: true}).Marshal(c); err != nil {
						b.Fatal(err)
					}
					n++
				}
			}
		}
		perProxy(b, n)
	})
	// second measures each proxy's second build from a cache its first build filled: the
	// clusters patched for the proxy alone are patched again (the cache keeps them from
	// their second use), as in a connection's first whole push after it connected.
	b.Run("second", func(b *testing.B) {
		n := 0
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			cache := cluster.NewCache()
			for _, p := range proxies {
				cache.Build(pc, p)
			}
			b.StartTimer()
			n = 0
			for _, p := range proxies {
				n += len(cache.Build(pc, p))
			}
		}
		perProxy(b, n)
	})
	cache := cluster.NewCache()
	for _, p := range proxies {
		cache.Build(pc, p)
	}
	b.Run("cached", func(b *testing.B) {
		n := 0
		for i := 0; i < b.N; i++ {
			n = 0
			for _, p := range proxies {
				n += len(cache.Build(pc, p))
			}
		}
		perProxy(b, n)
	})
	var orig *config.Config
	for _, c := range m.Configs {
		if c.Kind == schema.DestinationRule && c.Namespace == "ns-049" {
			orig = c
			break
		}
	}
	// edits measures the builds after each of b.N edits of the rule: from the shared
	// cache alone, or (withMemo) by connections keeping their last builds (the proxies'
	// Memo), the clusters of the services nothing changed for kept.
	edits := func(b *testing.B, withMemo bool) {
		defer st.Set(orig)
		prev := pc
		if withMemo {
			for _, p := range proxies {
				p.Memo = model.NewMemo()
				cache.Build(pc, p)
			}
			defer func() {
				for _, p := range proxies {
					p.Memo = nil
				}
			}()
		}
		n := 0
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			edited := *orig
			edited.ResourceVersion = fmt.Sprintf("%v-%d", withMemo, i)
			dr := proto.Clone(orig.Spec.(*networkingv1alpha3.DestinationRule)).(*networkingv1alpha3.DestinationRule)
			dr.TrafficPolicy = &networkingv1alpha3.TrafficPolicy{ConnectionPool: &networkingv1alpha3.ConnectionPoolSettings{
				Http: &networkingv1alpha3.ConnectionPoolSettings_HTTPSettings{Http1MaxPendingRequests: int32(i + 1)}}}
			edited.Spec = dr
			st.Set(&edited)
			next := prev.Derive(st, map[config.Key]struct{}{orig.Key(): {}})
			for _, p := range proxies {
				p.SidecarScope = nil
				if !withMemo {
					p.ServiceTargets = nil
				}
				next.InitProxy(p)
			}
			if withMemo {
				prev = next
			}
			b.StartTimer()
			n = 0
			for _, p := range proxies {
				n += len(cache.Build(next, p))
			}
		}
		perProxy(b, n)
	}
	b.Run("after-dr-edit", func(b *testing.B) { edits(b, false) })
	b.Run("connection-after-dr-edit", func(b *testing.B) { edits(b, true) })
}

// BenchmarkIssueRoutes measures a push's RDS per proxy in the issue mesh, encoded for the
// wire, over the same sample of proxies as BenchmarkIssueClusters: built afresh (fresh)
// and assembled from a warm route.Cache (cached: routes of virtual hosts shared, names and
// domains per proxy).
func BenchmarkIssueRoutes(b *testing.B) {
	m := meshgen.Generate(issueSpec())
	pc := model.NewPushContext(store(m), mesh.Default(), model.DefaultOptions())
	type proxyRoutes struct {
		p     *model.Proxy
		names []string
	}
	var proxies []proxyRoutes
	for _, p := range sampleProxies(b, m, pc) {
		proxies = append(proxies, proxyRoutes{p, generate.RouteNames(listener.BuildListeners(pc, p))})
	}
	perProxy := func(b *testing.B, vhosts int) { reportPerProxy(b, len(proxies), vhosts, "vhosts/proxy") }
	b.Run("fresh", func(b *testing.B) {
		n := 0
		for i := 0; i < b.N; i++ {
			n = 0
			for _, pr := range proxies {
				for _, rc := range route.BuildRoutes(pc, pr.p, pr.names) {
					if _, err := (proto.MarshalOptions{Deterministic: true}).Marshal(rc); err != nil {
						b.Fatal(err)
					}
					n += len(rc.GetVirtualHosts())
				}
			}
		}
		perProxy(b, n)
	})
	cache := route.NewCache()
	for _, pr := range proxies {
		cache.Build(pc, pr.p, pr.names)
	}
	b.Run("cached", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, pr := range proxies {
				cache.Build(pc, pr.p, pr.names)
			}
		}
		perProxy(b, 0)
	})
}
