// Package bench measures the translation engine on generated meshes: PushContext build
// from cold and per-proxy generation, at 1k, 5k and 10k services. Run with `make bench`;
// figures go in issue notes, never in assertions.
package bench

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/generate"
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

// BenchmarkPushContextDerive measures re-indexing after one change at 10k services (and
// 500 EnvoyFilters): only the indexes that read the changed kind are rebuilt. The
// EnvoyFilter change is a new object each time, so it is compiled again, as an edit is.
func BenchmarkPushContextDerive(b *testing.B) {
	m := meshgen.Generate(spec(10000))
	st := store(m)
	pc := model.NewPushContext(st, mesh.Default(), model.DefaultOptions())
	for _, kind := range []config.Kind{schema.VirtualService, schema.DestinationRule, schema.EndpointSlice, schema.Pod, schema.ServiceEntry, schema.Sidecar, schema.EnvoyFilter} {
		var key config.Key
		for _, c := range m.Configs {
			if c.Kind == kind {
				key = c.Key()
				break
			}
		}
		b.Run(kind.Kind, func(b *testing.B) {
			changed := map[config.Key]struct{}{key: {}}
			orig := st.Get(key)
			for i := 0; i < b.N; i++ {
				if kind == schema.EnvoyFilter {
					edited := *orig
					edited.ResourceVersion = strconv.Itoa(i)
					st.Set(&edited)
				}
				pc.Derive(st, changed)
			}
		})
	}
}
