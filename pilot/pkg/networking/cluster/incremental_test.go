package cluster_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/cluster"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/mesh"
)

// TestCacheKeepsLastBuild follows one connection through changes: a build keeps the
// clusters of the services nothing changed for and builds the others, and each build
// equals a fresh one (encodings checks it).
func TestCacheKeepsLastBuild(t *testing.T) {
	store := model.NewStore()
	store.Set(kubeService("team-a", "web", "10.96.0.1"))
	store.Set(kubeService("team-b", "api", "10.96.0.2"))
	store.Set(kubeService("team-b", "db", "10.96.0.3"))
	store.Set(rule("team-b", "api", "api.team-b.svc.cluster.local", 10))
	pc := model.NewPushContext(store, mesh.Default(), model.DefaultOptions())
	c := cluster.NewCache()
	memo := model.NewMemo()
	api := "outbound|80||api.team-b.svc.cluster.local"
	db := "outbound|80||db.team-b.svc.cluster.local"

	var last map[string]*anypb.Any
	step := func(name string, change *config.Config, remove *config.Config, wantKept, wantBuilt int64) map[string]*anypb.Any {
		t.Helper()
		switch {
		case change != nil:
			store.Set(change)
			pc = pc.Derive(store, map[config.Key]struct{}{change.Key(): {}})
		case remove != nil:
			store.Delete(remove.Key())
			pc = pc.Derive(store, map[config.Key]struct{}{remove.Key(): {}})
		}
		p := sidecarIn(t, pc, "team-a", "10.0.0.1", map[string]string{"app": "web"})
		p.Memo = memo
		k0, b0 := c.Kept()
		got := encodings(t, c, pc, p)
		if k, b := c.Kept(); k-k0 != wantKept || b-b0 != wantBuilt {
			t.Errorf("%s: kept %d and built %d services, want %d and %d", name, k-k0, b-b0, wantKept, wantBuilt)
		}
		last = got
		return got
	}
	step("first build", nil, nil, 0, 3)
	before := last
	step("again", nil, nil, 3, 0)
	if last[api] != before[api] || last[db] != before[db] {
		t.Error("a build without changes did not keep the encodings")
	}

	// A rule edit builds its host's clusters only.
	after := step("api rule edit", rule("team-b", "api", "api.team-b.svc.cluster.local", 20), nil, 2, 1)
	if proto.Equal(after[api], before[api]) {
		t.Error("the api rule edit did not change api's cluster")
	}
	if after[db] != before[db] {
		t.Error("the api rule edit rebuilt db's cluster")
	}

	// A rule of the proxy's namespace selecting it: outbound rules no longer come from the
	// scope alone, and db's cluster must follow the new rule.
	selecting := rule("team-a", "db-for-web", "db.team-b.svc.cluster.local", 7)
	selecting.Spec.(*networkingv1alpha3.DestinationRule).WorkloadSelector = &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"app": "web"}}
	withSelector := step("selecting rule added", selecting, nil, 0, 3)
	if proto.Equal(withSelector[db], after[db]) {
		t.Error("the selecting rule did not change db's cluster")
	}
	step("selecting rule removed", nil, selecting, 0, 3)
	step("unchanged after", nil, nil, 3, 0)
}
