package route_test

import (
	"flag"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/route"
	"github.com/sextant-mesh/sextant/tests/golden"
	"github.com/sextant-mesh/sextant/tests/xdsvalidate"
)

// corpus re-extracts every testdata/<case>/routes.golden.json from <corpus>/<case>/expected.json
// (the routes istiod generated), e.g. -corpus ../../../../../shared/compat/cases.
var corpus = flag.String("corpus", "", "compat corpus to refresh the golden files from")

// TestGolden builds the routes each testdata case's golden file names and compares them,
// resource by resource, with what istiod generated for the same inputs. Proxyless gRPC
// cases compare the virtual host of each per-service route configuration.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/routes.golden.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, goldenPath := range dirs {
		dir := filepath.Dir(goldenPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			if *corpus != "" {
				golden.Refresh(t, filepath.Join(*corpus, filepath.Base(dir), "expected.json"), "routes", goldenPath)
			}
			want := golden.Read(t, goldenPath)
			c := golden.Case(t, dir)
			got := build(c.Push, c.Proxy, want)
			for _, rc := range got {
				if err := xdsvalidate.Resource("route", rc.GetName(), rc); err != nil {
					t.Errorf("invalid: %v", err)
				}
			}
			golden.Compare(t, "route", want, golden.JSON(t, got))
			if !c.Proxy.IsProxylessGRPC() {
				// The ADS server serves these through a route.Cache: the same bytes.
				if err := golden.SameEncodings(route.NewCache().Build(c.Push, c.Proxy, names(want)), got); err != nil {
					t.Errorf("route cache: %v", err)
				}
			}
		})
	}
}

func names(want map[string]any) []string {
	var out []string
	for n := range want {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func build(pc *model.PushContext, p *model.Proxy, want map[string]any) []*routev3.RouteConfiguration {
	if !p.IsProxylessGRPC() {
		return route.BuildRoutes(pc, p, names(want))
	}
	var out []*routev3.RouteConfiguration
	for _, n := range names(want) {
		// outbound|port||hostname: the virtual host for hostname:port.
		parts := strings.Split(n, "|")
		port, _ := strconv.Atoi(parts[1])
		rc := &routev3.RouteConfiguration{Name: n}
		for _, vh := range route.BuildOutboundVirtualHosts(pc, p, n, port) {
			if vh.Name == parts[3]+":"+parts[1] {
				rc.VirtualHosts = append(rc.VirtualHosts, vh)
			}
		}
		out = append(out, rc)
	}
	return out
}

// TestInvalidReferences builds routes for VirtualServices that name hosts, subsets and
// delegates that do not exist: generation must go on, produce valid config, and name the
// clusters istiod would (they simply have no endpoints).
func TestInvalidReferences(t *testing.T) {
	c := golden.Case(t, "testdata/invalid-references")
	pc, p := c.Push, c.Proxy
	got := route.BuildRoutes(pc, p, []string{"9080", "9090", "http.8080"})
	clusters := map[string][]string{}
	for _, rc := range got {
		if err := xdsvalidate.Resource("route", rc.GetName(), rc); err != nil {
			t.Errorf("invalid: %v", err)
		}
		for _, vh := range rc.GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				a := r.GetRoute()
				c := a.GetCluster()
				for _, m := range a.GetRequestMirrorPolicies() {
					c += " mirror " + m.GetCluster()
				}
				clusters[rc.GetName()+" "+vh.GetName()] = append(clusters[rc.GetName()+" "+vh.GetName()], c)
			}
		}
	}
	want := map[string][]string{
		"9080 reviews.default.svc.cluster.local:9080": {
			"outbound|9080|none|ghost.nowhere.svc.cluster.local mirror outbound|9080||shadow.default.svc.cluster.local",
			"outbound|9080|not-in-any-rule|reviews.default.svc.cluster.local",
		},
		// The wildcard VirtualService claims ratings; reviews has a more specific one.
		"9080 ratings.default.svc.cluster.local:9080": {"outbound|9080||ratings.default.svc.cluster.local"},
		"9080 allow_any": {"PassthroughCluster"},
		"9090 reviews.default.svc.cluster.local:9090": {
			"outbound|9090|none|ghost.nowhere.svc.cluster.local mirror outbound|9090||shadow.default.svc.cluster.local",
			"outbound|9090|not-in-any-rule|reviews.default.svc.cluster.local",
		},
		"9090 allow_any": {"PassthroughCluster"},
	}
	if d := cmp.Diff(want, clusters); d != "" {
		t.Errorf("clusters per virtual host (-want +got):\n%s", d)
	}
	if len(got) != 3 || got[2].GetName() != "http.8080" || len(got[2].GetVirtualHosts()) != 0 {
		t.Errorf("an unknown route name must give an empty configuration, got %v", got[len(got)-1])
	}
	reported := false
	for _, err := range pc.Errors {
		reported = reported || strings.Contains(err.Error(), "VirtualService default/reviews: delegate default/missing-delegate not found")
	}
	if !reported {
		t.Errorf("want the missing delegate reported, got %v", pc.Errors)
	}
}
