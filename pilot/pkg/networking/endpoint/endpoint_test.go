package endpoint_test

import (
	"path/filepath"
	"sort"
	"testing"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/endpoint"
	"github.com/sextant-mesh/sextant/tests/golden"
	"github.com/sextant-mesh/sextant/tests/xdsvalidate"
)

// TestGolden builds, for each testdata case, the load assignments of the clusters istiod
// sent endpoints for, and compares them with istiod's; each must pass Envoy's proto
// validation.
func TestGolden(t *testing.T) {
	goldens, err := filepath.Glob("testdata/*/endpoints.golden.json")
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, goldenPath := range goldens {
		dir := filepath.Dir(goldenPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			c := golden.Case(t, dir)
			want := golden.Read(t, goldenPath)
			names := make([]string, 0, len(want))
			for n := range want {
				names = append(names, n)
			}
			sort.Strings(names)
			got := endpoint.BuildEndpoints(c.Push, c.Proxy, names)
			for i, cla := range got {
				if cla.GetClusterName() != names[i] {
					t.Errorf("assignment %d is for %q, want %q", i, cla.GetClusterName(), names[i])
				}
				if err := xdsvalidate.Resource("endpoints", names[i], cla); err != nil {
					t.Errorf("invalid: %v", err)
				}
			}
			golden.Compare(t, "endpoints", want, golden.JSON(t, got))
		})
	}
}

// TestNoEndpoints checks the names that get an assignment without endpoints: unparsable,
// unknown service or port, and DNS-resolved (ExternalName) service.
func TestNoEndpoints(t *testing.T) {
	c := golden.Case(t, "testdata/28-k8s-externalname-tlsmode-unready")
	pc, p := c.Push, c.Proxy
	names := []string{
		"BlackHoleCluster",
		"outbound|80||nosuch.shop.svc.cluster.local",
		"outbound|81||web.shop.svc.cluster.local",
		"outbound|443||payments.shop.svc.cluster.local",
	}
	for i, cla := range endpoint.BuildEndpoints(pc, p, names) {
		if cla.GetClusterName() != names[i] || len(cla.GetEndpoints()) != 0 {
			t.Errorf("BuildEndpoints(%q) = %s, want an empty assignment", names[i], cla)
		}
	}
	if got := endpoint.BuildEndpoints(pc, p, []string{"outbound|80||web.shop.svc.cluster.local"}); len(got[0].GetEndpoints()) == 0 {
		t.Errorf("the control name has no endpoints; the test would prove nothing")
	}
}
