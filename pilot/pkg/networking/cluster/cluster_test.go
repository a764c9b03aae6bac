package cluster_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/cluster"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/tests/golden"
	"github.com/sextant-mesh/sextant/tests/xdsvalidate"
)

// TestGolden generates the clusters of each testdata case and compares them, by name, with
// what istiod generated for it; every cluster must also pass Envoy's proto validation.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/clusters.golden.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, goldenPath := range dirs {
		dir := filepath.Dir(goldenPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			c := golden.Case(t, dir)
			got := cluster.BuildClusters(c.Push, c.Proxy)
			for _, cl := range got {
				if err := xdsvalidate.Resource("cluster", cl.GetName(), cl); err != nil {
					t.Errorf("invalid: %v", err)
				}
			}
			golden.Compare(t, "cluster", golden.Read(t, goldenPath), golden.JSON(t, got))
			// The ADS server serves these through a cluster.Cache: the same bytes.
			if err := golden.SameEncodings(cluster.NewCache().Build(c.Push, c.Proxy), got); err != nil {
				t.Errorf("cluster cache: %v", err)
			}
		})
	}
}

// TestBuildOutbound checks that BuildOutbound, called for each outbound cluster of a case,
// rebuilds exactly what BuildClusters emitted, and nil for unknown subsets and ports.
func TestBuildOutbound(t *testing.T) {
	for _, dir := range []string{"testdata/04-serviceentry-static-workloadentry", "testdata/12-dr-tls-portlevel-subset-exportto"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			c := golden.Case(t, dir)
			pc, p := c.Push, c.Proxy
			for _, want := range cluster.BuildClusters(pc, p) {
				parts := strings.Split(want.GetName(), "|")
				if parts[0] != "outbound" {
					continue
				}
				port, _ := strconv.Atoi(parts[1])
				svc := p.SidecarScope.ServiceForHostname(host.Name(parts[3]))
				got := cluster.BuildOutbound(pc, p, svc, port, parts[2])
				if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
					t.Errorf("BuildOutbound(%s) differs from BuildClusters:\n%s", want.GetName(), d)
				}
				if got := cluster.BuildOutbound(pc, p, svc, port, "no-such-subset"); got != nil {
					t.Errorf("BuildOutbound(%s, unknown subset) = %s, want nil", want.GetName(), got.GetName())
				}
				if got := cluster.BuildOutbound(pc, p, svc, 1, ""); got != nil {
					t.Errorf("BuildOutbound(%s, unknown port) = %s, want nil", want.GetName(), got.GetName())
				}
			}
		})
	}
}
