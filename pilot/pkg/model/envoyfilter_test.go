package model_test

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"github.com/google/go-cmp/cmp"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/config/file"
	"github.com/sextant-mesh/sextant/pilot/pkg/envoyfilter"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

func clusterPatches(ps *envoyfilter.Patches) (names []string, patches []*envoyfilter.Patch) {
	patches = ps.For(networkingv1alpha3.EnvoyFilter_CLUSTER)
	for _, p := range patches {
		names = append(names, p.Value.(*clusterv3.Cluster).GetName())
	}
	return names, patches
}

// TestEnvoyFilterIndex checks that an EnvoyFilter the schema accepts but whose patch value
// cannot be decoded is reported in Errors (object and field named) without stopping its
// other patches or other filters, and that deriving after one EnvoyFilter change compiles
// only that object: the other filters' compiled patches are shared with the previous
// PushContext.
func TestEnvoyFilterIndex(t *testing.T) {
	res, err := file.LoadDir("testdata/envoyfilter", file.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Problems {
		if !p.Warning {
			t.Fatalf("rejected by validation: %v", p)
		}
	}
	store := model.NewStore()
	for _, c := range res.Configs {
		store.Set(c)
	}
	pc := model.NewPushContext(store, mesh.Default(), model.DefaultOptions())
	if len(pc.Errors) != 1 || !strings.Contains(pc.Errors[0].Error(),
		"EnvoyFilter default/bad-value: spec.configPatches[0].patch.value: cannot decode as envoy.config.listener.v3.Filter") {
		t.Fatalf("errors = %v, want one naming default/bad-value's first patch value", pc.Errors)
	}
	proxy := &model.Proxy{ConfigNamespace: "default", Metadata: &model.NodeMetadata{IstioVersion: "1.31.1"}}
	names, before := clusterPatches(pc.EnvoyFilters(proxy))
	if d := cmp.Diff([]string{"mesh-wide", "bad-value-second", "good"}, names); d != "" {
		t.Fatalf("patches (-want +got):\n%s", d)
	}

	// Edit default/good: a new object, recompiled; the others are reused as they were.
	good := store.Get(config.Key{Kind: schema.EnvoyFilter, Namespace: "default", Name: "good"})
	edited := *good
	edited.Labels = map[string]string{"edited": "true"}
	store.Set(&edited)
	next := pc.Derive(store, map[config.Key]struct{}{edited.Key(): {}})
	names, after := clusterPatches(next.EnvoyFilters(proxy))
	if d := cmp.Diff([]string{"mesh-wide", "bad-value-second", "good"}, names); d != "" {
		t.Fatalf("patches after the edit (-want +got):\n%s", d)
	}
	if after[0] != before[0] || after[1] != before[1] {
		t.Errorf("unchanged EnvoyFilters were compiled again")
	}
	if after[2] == before[2] {
		t.Errorf("the edited EnvoyFilter was not compiled again")
	}
	if len(next.Errors) != 1 {
		t.Errorf("errors after the edit = %v, want default/bad-value's", next.Errors)
	}

	// Delete the bad filter: its error goes with it.
	store.Delete(config.Key{Kind: schema.EnvoyFilter, Namespace: "default", Name: "bad-value"})
	next = next.Derive(store, map[config.Key]struct{}{{Kind: schema.EnvoyFilter, Namespace: "default", Name: "bad-value"}: {}})
	if len(next.Errors) != 0 {
		t.Errorf("errors after deleting default/bad-value = %v", next.Errors)
	}
	names, _ = clusterPatches(next.EnvoyFilters(proxy))
	if d := cmp.Diff([]string{"mesh-wide", "good"}, names); d != "" {
		t.Errorf("patches after the delete (-want +got):\n%s", d)
	}
}
