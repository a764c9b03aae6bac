package load

import (
	"fmt"
	"testing"

	"github.com/go-logr/logr"
	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/config/file"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
	"github.com/sextant-mesh/sextant/pkg/meshgen"
	"github.com/sextant-mesh/sextant/tools/meshgen/meshdir"
)

// BenchmarkConfigDirSync measures the config-dir source's work for one edited
// VirtualService: what every change pays between the file write and the debounce, on the
// path the load driver measures.
func BenchmarkConfigDirSync(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			m := meshgen.Generate(meshgen.Spec{Namespaces: 50, Services: n, EndpointsPerService: 2,
				VirtualServicePercent: 20, DestinationRulePercent: 20, ServiceEntries: n / 10})
			dir, err := meshdir.Write(b.TempDir(), m.Configs)
			if err != nil {
				b.Fatal(err)
			}
			src := file.NewSource(dir.Path, file.Options{}, model.NewStore(), func(map[config.Key]struct{}) {}, logr.Discard())
			if _, err := src.Sync(); err != nil {
				b.Fatal(err)
			}
			key := dir.Keys(schema.VirtualService)[0]
			b.ReportMetric(float64(len(m.Configs)), "objects")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				vs := proto.Clone(dir.Get(key).Spec.(proto.Message)).(*networkingv1alpha3.VirtualService)
				vs.Http[len(vs.Http)-1].Route[0].Weight = int32(i%50 + 1)
				vs.Http[len(vs.Http)-1].Route[1].Weight = 100 - int32(i%50+1)
				if err := dir.Update(edited(dir.Get(key), vs)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				changed, err := src.Sync()
				if err != nil || len(changed) != 1 {
					b.Fatalf("sync: %d changed, %v", len(changed), err)
				}
			}
		})
	}
}
