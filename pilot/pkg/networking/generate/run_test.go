package generate

import (
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// TestBadInputIsReportedAndTheRestServed: every broken document is reported with its file,
// object and field, and everything else is still rendered.
func TestBadInputIsReportedAndTheRestServed(t *testing.T) {
	res, err := Run(Request{ConfigDir: "testdata/bad-input", ProxyFile: "testdata/bad-input/proxy.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ where, what string }{
		{"testdata/bad-input/broken.yaml#1", "malformed YAML"},
		{"testdata/bad-input/istio.yaml#2 VirtualService default/reviews-bad-regex", "spec.http[0].match[0].uri.regex"},
		{"testdata/bad-input/istio.yaml#3 VirtualService default/details-zero-weights", "spec.http[0].route: total destination weight = 0"},
		{"testdata/bad-input/istio.yaml#4", "unknown kind networking.istio.io/v1 Gizmo"},
	}
	var errs []string
	for _, p := range res.Problems {
		if !p.Warning {
			errs = append(errs, p.Error())
		}
	}
	if len(errs) != len(want) {
		t.Fatalf("problems:\n%s\nwant %d", strings.Join(errs, "\n"), len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(errs[i], w.where) || !strings.Contains(errs[i], w.what) {
			t.Errorf("problem %d = %q\nwant it at %q mentioning %q", i, errs[i], w.where, w.what)
		}
	}
	// The valid VirtualService and every service are still served.
	var rc *routev3.RouteConfiguration
	for _, r := range res.Output.Routes {
		if r.GetName() == "9080" {
			rc = r
		}
	}
	if rc == nil {
		t.Fatal("route 9080 missing")
	}
	hosts := map[string]*routev3.VirtualHost{}
	for _, vh := range rc.GetVirtualHosts() {
		hosts[vh.GetName()] = vh
	}
	for _, h := range []string{"details", "productpage", "ratings", "reviews"} {
		if hosts[h+".default.svc.cluster.local:9080"] == nil {
			t.Errorf("virtual host for %s missing", h)
		}
	}
	if got := hosts["ratings.default.svc.cluster.local:9080"].GetRoutes()[0].GetRoute().GetTimeout().AsDuration().String(); got != "2s" {
		t.Errorf("ratings timeout = %s, want the valid VirtualService's 2s", got)
	}
	if n := len(res.Output.Clusters); n != 8 {
		t.Errorf("clusters = %d, want the 8 of the healthy mesh", n)
	}
}
