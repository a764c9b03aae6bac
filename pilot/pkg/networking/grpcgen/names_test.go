package grpcgen

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTargetFilter(t *testing.T) {
	f := newTargetFilter([]string{
		"reviews:9080", "reviews.default:9081", "ratings", "ratings:9080", "details.default.svc:80",
		"other.example.com:443", "xds.istio.io/grpc/lds/inbound/0.0.0.0:8080",
	}, "default.svc.cluster.local", "default")
	type view struct {
		Names []string
		Ports map[int]bool
	}
	got := map[string]view{}
	for h, tg := range f {
		got[h] = view{tg.sortedNames(), tg.ports}
	}
	want := map[string]view{
		"reviews":                           {[]string{"reviews"}, map[int]bool{9080: true}},
		"reviews.default":                   {[]string{"reviews.default"}, map[int]bool{9081: true}},
		"reviews.default.svc.cluster.local": {[]string{"reviews", "reviews.default"}, map[int]bool{9080: true, 9081: true}},
		// A portless request asks for every port, and later ports do not narrow it.
		"ratings":                           {[]string{"ratings"}, nil},
		"ratings.default.svc.cluster.local": {[]string{"ratings"}, nil},
		"details.default.svc":               {[]string{"details.default.svc"}, map[int]bool{80: true}},
		"details.default.svc.cluster.local": {[]string{"details.default.svc"}, map[int]bool{80: true}},
		"other.example.com":                 {[]string{"other.example.com"}, map[int]bool{443: true}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("newTargetFilter (-want +got):\n%s", d)
	}
}

func TestDomainServes(t *testing.T) {
	cases := []struct {
		domain string
		want   bool
	}{
		{"reviews.default.svc.cluster.local", true},
		{"reviews.default.svc.cluster.local:9080", true},
		{"reviews.default.svc.cluster.local:9081", false},
		{"*.svc.cluster.local", true},
		{"*.svc.cluster.local:9080", true},
		{"*.svc.cluster.local:80", false},
		{"*.example.com", false},
		{"reviews", false},
		{"*", true},
	}
	for _, c := range cases {
		if got := domainServes(c.domain, "reviews.default.svc.cluster.local", "9080"); got != c.want {
			t.Errorf("domainServes(%q) = %v, want %v", c.domain, got, c.want)
		}
	}
}
