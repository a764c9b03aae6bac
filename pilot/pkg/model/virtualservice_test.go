package model_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/config/file"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
)

// pushContextFrom indexes the configs of one testdata file with istiod's mesh defaults.
func pushContextFrom(t *testing.T, name string) *model.PushContext {
	t.Helper()
	path := filepath.Join("testdata", "virtualservice", name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res := file.ParseFile(path, b, file.Options{DefaultNamespace: "default"})
	for _, p := range res.Errors() {
		t.Fatalf("%s: %v", path, p)
	}
	store := model.NewStore()
	for _, c := range res.Configs {
		store.Set(c)
	}
	return model.NewPushContext(store, mesh.Default(), model.DefaultOptions())
}

func TestVirtualServicesForGateway(t *testing.T) {
	pc := pushContextFrom(t, "exportto.yaml")
	tests := []struct {
		ns, gateway string
		want        []string
	}{
		// Private to the namespace first, then exported to it by name, then public.
		{"front", "mesh", []string{"front/b-private", "other/c-exported", "other/a-public", "front/e-gateway"}},
		// Exporting to the own namespace by name makes a VirtualService private.
		{"other", "mesh", []string{"other/c-exported", "other/a-public", "front/e-gateway"}},
		{"third", "mesh", []string{"other/a-public", "front/e-gateway"}},
		// Gateway references resolve to namespace/name: short, "./", and legacy FQDN.
		{"third", "front/ingress", []string{"front/e-gateway"}},
		{"third", "front/mesh-gw", []string{"front/e-gateway"}},
		{"third", "istio-system/gw", []string{"front/e-gateway"}},
		{"third", "ingress", nil},
	}
	for _, tt := range tests {
		t.Run(tt.ns+"/"+tt.gateway, func(t *testing.T) {
			var got []string
			for _, c := range pc.VirtualServicesForGateway(tt.ns, tt.gateway) {
				got = append(got, c.Namespace+"/"+c.Name)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestVirtualServiceShortNames(t *testing.T) {
	pc := pushContextFrom(t, "exportto.yaml")
	got := map[string]string{}
	for _, c := range pc.VirtualServicesForGateway("front", "mesh") {
		vs := c.Spec.(*networkingv1alpha3.VirtualService)
		got[c.Name] = vs.Hosts[0] + " -> " + vs.Http[0].Route[0].Destination.Host
		if c.Name == "e-gateway" {
			got["e-gateway match"] = strings.Join(vs.Http[0].Match[0].Gateways, ",")
		}
	}
	want := map[string]string{
		"a-public":        "public.other.svc.cluster.local -> public.other.svc.cluster.local",
		"b-private":       "private.front.svc.cluster.local -> private.front.svc.cluster.local",
		"c-exported":      "exported.other.svc.cluster.local -> exported.other.svc.cluster.local",
		"e-gateway":       "gw.example.com -> gw.front.svc.cluster.local",
		"e-gateway match": "front/ingress",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// TestDelegateMerge checks istiod's delegation semantics: delegate routes must narrow the
// root route's matches, inherit what they leave unset, and are dropped (with an error)
// when they conflict, are missing, or are not exported to the root's namespace.
func TestDelegateMerge(t *testing.T) {
	pc := pushContextFrom(t, "delegate.yaml")
	vses := pc.VirtualServicesForGateway("front", "mesh")
	if len(vses) != 1 {
		t.Fatalf("got %d VirtualServices, want the root only", len(vses))
	}
	var got []string
	for _, r := range vses[0].Spec.(*networkingv1alpha3.VirtualService).Http {
		r.Route[0].Weight = 0 // keep the rendering short
		got = append(got, protojson.MarshalOptions{}.Format(r))
	}
	want := []string{
		`{"name":"v2-deep","match":[{"name":"m","uri":{"prefix":"/v2/deep"},"headers":{"x-child":{"exact":"2"},"x-root":{"exact":"1"}}}],` +
			`"route":[{"destination":{"host":"reviews.team.svc.cluster.local","subset":"v2"}}],"timeout":"1s"}`,
		`{"name":"v2","match":[{"uri":{"prefix":"/v2"},"headers":{"x-root":{"exact":"1"}}}],` +
			`"route":[{"destination":{"host":"reviews.team.svc.cluster.local","subset":"v1"}}],"timeout":"5s"}`,
		`{"name":"rest","route":[{"destination":{"host":"reviews.team.svc.cluster.local"}}]}`,
	}
	for i := range got {
		got[i] = strings.Join(strings.Fields(got[i]), "")
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("merged routes (-want +got):\n%s", d)
	}
	var errs []string
	for _, e := range pc.Errors {
		errs = append(errs, e.Error())
	}
	wantErrs := []string{
		`VirtualService front/root: route "v2": delegate team/v2-routes route "conflict" matches conflict with the root's`,
		`VirtualService front/root: delegate team/private-routes is not exported to front`,
		`VirtualService front/root: delegate team/nowhere not found`,
	}
	if d := cmp.Diff(wantErrs, errs); d != "" {
		t.Errorf("errors (-want +got):\n%s", d)
	}
	if pc.Delegate("v2-routes", "team") == nil || pc.Delegate("root", "front") != nil {
		t.Error("Delegate finds delegates only")
	}
}
