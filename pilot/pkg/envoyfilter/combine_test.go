package envoyfilter

import (
	"math/rand/v2"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// randomClusterPatch returns a MERGE value setting a random selection of scalar, Duration,
// wrapper, list, map and oneof fields, so that consecutive patches overlap.
func randomClusterPatch(rng *rand.Rand) *clusterv3.Cluster {
	v := &clusterv3.Cluster{}
	if rng.IntN(2) == 0 {
		v.ConnectTimeout = durationpb.New(time.Duration(rng.IntN(5)+1) * time.Second)
	}
	if rng.IntN(2) == 0 {
		v.PerConnectionBufferLimitBytes = wrapperspb.UInt32(uint32(rng.IntN(4)+1) * 1024)
	}
	if rng.IntN(2) == 0 {
		v.LbPolicy = clusterv3.Cluster_LbPolicy(rng.IntN(3))
	}
	if rng.IntN(2) == 0 {
		v.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
			MaxConnections: wrapperspb.UInt32(uint32(rng.IntN(100)))}}}
	}
	if rng.IntN(3) == 0 {
		v.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{
			MinimumRingSize: wrapperspb.UInt64(uint64(rng.IntN(1000)))}}
	} else if rng.IntN(3) == 0 {
		v.LbConfig = &clusterv3.Cluster_LeastRequestLbConfig_{LeastRequestLbConfig: &clusterv3.Cluster_LeastRequestLbConfig{
			ChoiceCount: wrapperspb.UInt32(uint32(rng.IntN(5) + 2))}}
	}
	if rng.IntN(3) == 0 {
		v.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"istio": {Fields: map[string]*structpb.Value{"k": structpb.NewNumberValue(float64(rng.IntN(3)))}}}}
	}
	if rng.IntN(2) == 0 {
		v.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{IdleTimeout: durationpb.New(time.Duration(rng.IntN(60)) * time.Second)}
	}
	return v
}

// TestCombinedMergesEqualSequentialMerges checks the memoised combination of MERGE
// patches against merging them one by one, on random overlapping patch sets.
func TestCombinedMergesEqualSequentialMerges(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	match := &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch{}
	for round := 0; round < 200; round++ {
		var patches []*Patch
		for i := 0; i < 2+rng.IntN(5); i++ {
			patches = append(patches, &Patch{Operation: opMerge, Match: match, Value: randomClusterPatch(rng)})
		}
		base := randomClusterPatch(rng)
		base.Name = "outbound|8080||a.example.com"
		want := proto.Clone(base).(*clusterv3.Cluster)
		for _, p := range patches {
			mergeCluster(p, want)
		}
		cp := &ClusterPatcher{patches: patches, ctx: SidecarOutbound}
		var key string
		for i := 0; i < 2; i++ { // the second time from the memo
			pl := cp.Plan(base.GetName(), nil)
			got := pl.Apply(base)
			if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
				t.Fatalf("round %d (pass %d): combined merge differs from sequential (-want +got):\n%s", round, i, d)
			}
			if key = pl.Key(); key == "" {
				t.Fatalf("round %d: combinable MERGE patches without a content key", round)
			}
		}
		// Another proxy's patcher over equal patches (other objects) keys the same content.
		var copies []*Patch
		for _, p := range patches {
			copies = append(copies, &Patch{Operation: opMerge, Match: match, Value: proto.Clone(p.Value)})
		}
		if other := (&ClusterPatcher{patches: copies, ctx: SidecarOutbound}).Plan(base.GetName(), nil).Key(); other != key {
			t.Fatalf("round %d: equal patch sets give different keys", round)
		}
		combined := cp.combined
		if len(combined) != 1 {
			t.Fatalf("round %d: %d combinations memoised, want 1", round, len(combined))
		}
	}
}
