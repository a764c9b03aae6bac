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
