package route

import (
	"fmt"
	"strings"
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// TestOwnersOfMatchesMostSpecific checks that the owners patchLast computes for a few
// hostnames are those the full build computes for every service.
func TestOwnersOfMatchesMostSpecific(t *testing.T) {
	var vses []*config.Config
	for i, hosts := range [][]string{
		{"*.svc.cluster.local"},
		{"Web.app.svc.cluster.local"}, // not an exact owner: VirtualService hosts match as written
		{"*.app.svc.cluster.local", "api.b.svc.cluster.local"},
		{"web.app.svc.cluster.local"},
		{"*.app.svc.cluster.local"}, // the same wildcard again: the first keeps it
		{"*.example.com"},
		{"api.b.svc.cluster.local"},
	} {
		vses = append(vses, &config.Config{Meta: config.Meta{Kind: schema.VirtualService, Namespace: "app", Name: fmt.Sprint("vs", i)},
			Spec: &networkingv1alpha3.VirtualService{Hosts: hosts}})
	}
	var svcs []*model.Service
	var hosts []host.Name
	for _, h := range []string{"web.app.svc.cluster.local", "db.app.svc.cluster.local", "api.b.svc.cluster.local",
		"x.c.svc.cluster.local", "*.example.com", "a.example.com", "other.org"} {
		svcs = append(svcs, &model.Service{Hostname: host.Name(h)})
		hosts = append(hosts, host.Name(strings.ToLower(h)))
	}
	want := mostSpecificVirtualServices(vses, svcs)
	got := ownersOf(vses, hosts)
	if len(got) != len(want) {
		t.Fatalf("owners of %d hosts, want %d", len(got), len(want))
	}
	for h, c := range want {
		if got[h] != c {
			t.Errorf("%s: owner %v, want %v", h, got[h].Key(), c.Key())
		}
	}
	// A few hostnames take another path (ownersOfFew).
	for _, h := range hosts {
		if got := ownersOf(vses, []host.Name{h}); got[h] != want[h] {
			t.Errorf("%s alone: owner %v, want %v", h, got[h], want[h])
		}
	}
	if got := ownersOf(vses, hosts[:2]); got[hosts[0]] != want[hosts[0]] || got[hosts[1]] != want[hosts[1]] {
		t.Errorf("%v: owners %v, want %v and %v", hosts[:2], got, want[hosts[0]], want[hosts[1]])
	}
	if want["web.app.svc.cluster.local"].Name != "vs3" || want["db.app.svc.cluster.local"].Name != "vs2" {
		t.Fatal("the cases do not cover exact and wildcard owners: the test proves nothing")
	}
}
