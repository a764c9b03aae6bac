package load

import (
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEDSNameOfSerializedClusters(t *testing.T) {
	ads := &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
	for _, tc := range []struct {
		name    string
		cluster *clusterv3.Cluster
		want    string
	}{
		{"eds with service name", &clusterv3.Cluster{
			Name:                 "outbound|8080||a.ns.svc.cluster.local",
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
			EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads, ServiceName: "outbound|8080||a.ns.svc.cluster.local"},
		}, "outbound|8080||a.ns.svc.cluster.local"},
		{"eds without service name", &clusterv3.Cluster{
			Name:                 "c",
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
			EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads},
		}, "c"},
		{"strict dns", &clusterv3.Cluster{Name: "d", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}}, ""},
		{"static (type omitted on the wire)", &clusterv3.Cluster{Name: "BlackHoleCluster"}, ""},
		{"original dst", &clusterv3.Cluster{Name: "PassthroughCluster", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mustMarshal(t, tc.cluster)
			if got := edsName(b); got != tc.want {
				t.Errorf("edsName = %q, want %q", got, tc.want)
			}
			if got := resourceName(b); got != tc.cluster.Name {
				t.Errorf("resourceName = %q, want %q", got, tc.cluster.Name)
			}
		})
	}
}

func TestRouteNamesOfSerializedListener(t *testing.T) {
	hcm := func(route string) *listenerv3.Filter {
		h := &hcmv3.HttpConnectionManager{RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{RouteConfigName: route}}}
		a, err := anypb.New(h)
		if err != nil {
			t.Fatal(err)
		}
		return &listenerv3.Filter{Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: a}}
	}
	inline, _ := anypb.New(&hcmv3.HttpConnectionManager{})
	l := &listenerv3.Listener{
		Name: "0.0.0.0_8080",
		FilterChains: []*listenerv3.FilterChain{
			{Filters: []*listenerv3.Filter{hcm("8080")}},
			{Filters: []*listenerv3.Filter{{Name: "inline", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: inline}}}},
		},
		DefaultFilterChain: &listenerv3.FilterChain{Filters: []*listenerv3.Filter{hcm("fallback")}},
	}
	got, err := routeNames(mustMarshal(t, l))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"8080", "fallback"}, got); diff != "" {
		t.Errorf("route names (-want +got):\n%s", diff)
	}
}

func TestPercentileNearestRank(t *testing.T) {
	ds := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {0, 1}} {
		if got := Percentile(ds, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
}

// A CDS response's EDS names are the previous subscription itself when they are the same
// set, and a new sorted set when a cluster joins, leaves or changes its EDS name.
func TestClusterEDSNames(t *testing.T) {
	ads := &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
	eds := func(name, svc string) resource {
		return resource{value: mustMarshal(t, &clusterv3.Cluster{
			Name:                 name,
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
			EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads, ServiceName: svc},
		})}
	}
	static := resource{value: mustMarshal(t, &clusterv3.Cluster{Name: "BlackHoleCluster"})}
	base := []resource{eds("c", "c"), static, eds("a", ""), eds("b", "b"), eds("b2", "b")}
	prev := clusterEDSNames(base, nil)
	if want := []string{"a", "b", "c"}; !cmp.Equal(prev, want) {
		t.Fatalf("names = %v, want %v", prev, want)
	}
	if got := clusterEDSNames([]resource{eds("a", ""), eds("b", ""), static, eds("c", "")}, prev); &got[0] != &prev[0] {
		t.Errorf("the same names (reordered) gave a new slice %v", got)
	}
	// A patch appended to a cached encoding merges into it (protoconv.SharedMerged).
	merged := func(r resource, patch *clusterv3.Cluster) resource {
		return resource{value: append(append([]byte(nil), r.value...), mustMarshal(t, patch)...)}
	}
	for _, tc := range []struct {
		name string
		rs   []resource
		want []string
	}{
		{"one more", append(base[:len(base):len(base)], eds("d", "")), []string{"a", "b", "c", "d"}},
		{"merged patches", []resource{
			merged(eds("a", "a1"), &clusterv3.Cluster{EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads}}),
			merged(eds("b", ""), &clusterv3.Cluster{EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{ServiceName: "b1"}}),
			merged(static, &clusterv3.Cluster{ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}}),
		}, []string{"BlackHoleCluster", "a1", "b1"}},
		{"one fewer", []resource{eds("a", ""), eds("b", "b")}, []string{"a", "b"}},
		{"renamed", []resource{eds("a", ""), eds("b", "b"), eds("c", "c2")}, []string{"a", "b", "c2"}},
		{"none", []resource{static}, []string{}},
	} {
		if got := clusterEDSNames(tc.rs, prev); !cmp.Equal(got, tc.want) {
			t.Errorf("%s: names = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The tracker follows a stream's CDS responses to the same names as clusterEDSNames:
// unchanged clusters, a cluster changed with the same EDS name, renamed, reordered, one
// more and one fewer.
func TestEDSTrackerFollowsResponses(t *testing.T) {
	ads := &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
	eds := func(name, svc string, timeout int64) resource {
		return resource{value: mustMarshal(t, &clusterv3.Cluster{
			Name:                 name,
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
			EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads, ServiceName: svc},
			ConnectTimeout:       durationpb.New(time.Duration(timeout) * time.Second),
		})}
	}
	static := resource{value: mustMarshal(t, &clusterv3.Cluster{Name: "BlackHoleCluster"})}
	steps := [][]resource{
		{eds("a", "", 1), static, eds("b", "b", 1)},
		{eds("a", "", 1), static, eds("b", "b", 1)},
		{eds("a", "", 2), static, eds("b", "b", 1)},
		{eds("a", "a2", 2), static, eds("b", "b", 1)},
		{eds("b", "b", 1), static, eds("a", "a2", 2)},
		{eds("b", "b", 1), static, eds("a", "a2", 2), eds("c", "", 1)},
		{eds("b", "b", 1), static},
		{eds("b", "b", 1), eds("x", "", 1)},
	}
	var tr edsTracker
	var names []string
	for i, rs := range steps {
		want := clusterEDSNames(rs, names)
		got := tr.names(rs, names)
		if !cmp.Equal(got, want) {
			t.Fatalf("step %d: names = %v, want %v", i, got, want)
		}
		names = got
	}
}
