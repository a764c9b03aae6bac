package envoyfilter

import (
	"sync"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// TestClusterPatchersShare checks that proxies with the same patch objects share one
// patcher, others get their own, and that a shared patcher's memoised plans - made
// concurrently - are each cluster's own.
func TestClusterPatchersShare(t *testing.T) {
	onlyA := &Patch{Operation: opMerge, Value: &clusterv3.Cluster{ConnectTimeout: durationpb.New(7)},
		Match: &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch{ObjectTypes: &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch_Cluster{
			Cluster: &networkingv1alpha3.EnvoyFilter_ClusterMatch{Service: "a.example.com"}}}}
	every := &Patch{Operation: opMerge, Value: &clusterv3.Cluster{ConnectTimeout: durationpb.New(3)},
		Match: &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch{}}
	patches := func(ps ...*Patch) *Patches {
		out := &Patches{}
		out.byApplyTo[networkingv1alpha3.EnvoyFilter_CLUSTER] = ps
		return out
	}
	var cs ClusterPatchers
	shared := cs.For(patches(every, onlyA), SidecarOutbound)
	if cs.For(patches(every, onlyA), SidecarOutbound) != shared {
		t.Error("equal patches (the same objects) got another patcher")
	}
	if cs.For(patches(onlyA, every), SidecarOutbound) == shared || cs.For(patches(every), SidecarOutbound) == shared ||
		cs.For(patches(every, onlyA), SidecarInbound) == shared {
		t.Error("other patches, order or context got the shared patcher")
	}
	names := map[string]int64{"outbound|80||a.example.com": 7, "outbound|80||b.example.com": 3}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name, want := range names {
				c := shared.Plan(name, nil).Apply(&clusterv3.Cluster{Name: name})
				if got := c.GetConnectTimeout().GetNanos(); int64(got) != want {
					t.Errorf("%s: connect timeout %dns, want %dns", name, got, want)
				}
			}
		}()
	}
	wg.Wait()
}

// TestClusterPlansByPort checks that a patcher whose patches match clusters by port only
// memoises one plan per port, and that every cluster still gets its own plan (as made
// afresh); a patcher matching by service keeps one per name.
func TestClusterPlansByPort(t *testing.T) {
	byPort := &Patch{Operation: opMerge, Value: &clusterv3.Cluster{ConnectTimeout: durationpb.New(7)},
		Match: &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch{ObjectTypes: &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch_Cluster{
			Cluster: &networkingv1alpha3.EnvoyFilter_ClusterMatch{PortNumber: 8080}}}}
	every := &Patch{Operation: opMerge, Value: &clusterv3.Cluster{ConnectTimeout: durationpb.New(3)},
		Match: &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch{}}
	byService := &Patch{Operation: opRemove,
		Match: &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch{ObjectTypes: &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch_Cluster{
			Cluster: &networkingv1alpha3.EnvoyFilter_ClusterMatch{Service: "b.example.com"}}}}
	names := []string{"outbound|8080||a.example.com", "outbound|8080|v1|a.example.com", "outbound|8080||b.example.com",
		"outbound|9090||a.example.com", "outbound_.8080_.v1_.b.example.com", "BlackHoleCluster", "inbound|8080||"}
	for _, tc := range []struct {
		patches []*Patch
		memos   int // plans memoised for names
	}{
		{[]*Patch{every, byPort}, 3}, // ports 8080, 9090 and none
		{[]*Patch{every, byPort, byService}, len(names)},
	} {
		cp := newClusterPatcher(tc.patches, SidecarOutbound)
		fresh := newClusterPatcher(tc.patches, SidecarOutbound)
		for range 2 {
			for _, n := range names {
				got, want := cp.Plan(n, nil), fresh.plan(n, nil)
				if got.remove != want.remove || got.Key() != want.Key() {
					t.Errorf("%d patches, %s: plan (remove %v, %q), fresh (remove %v, %q)", len(tc.patches), n, got.remove, got.Key(), want.remove, want.Key())
				}
			}
		}
		if n := len(cp.plans) + len(cp.portPlans); n != tc.memos {
			t.Errorf("%d patches: %d plans memoised, want %d", len(tc.patches), n, tc.memos)
		}
	}
}
