package envoyfilter

import (
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
)

// TestMergeValue pins istiod's MERGE semantics (proto.Merge with Durations replaced whole,
// MERGE_AND_REPLACE_LIST replacing lists); expectations reasoned from istiod's merge.
func TestMergeValue(t *testing.T) {
	meta := func(k string, v *structpb.Struct) *corev3.Metadata {
		return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{k: v}}
	}
	str := func(k, v string) *structpb.Struct {
		return &structpb.Struct{Fields: map[string]*structpb.Value{k: structpb.NewStringValue(v)}}
	}
	tsm := func(name string) *clusterv3.Cluster_TransportSocketMatch {
		return &clusterv3.Cluster_TransportSocketMatch{Name: name}
	}
	cases := []struct {
		name     string
		op       Operation
		dst, src proto.Message
		want     proto.Message
	}{{
		name: "set scalars overwrite, unset (zero) ones change nothing",
		op:   opMerge,
		dst:  &clusterv3.Cluster{Name: "a", AltStatName: "keep", RespectDnsTtl: true},
		src:  &clusterv3.Cluster{AltStatName: "new", RespectDnsTtl: false},
		want: &clusterv3.Cluster{Name: "a", AltStatName: "new", RespectDnsTtl: true},
	}, {
		name: "durations are replaced whole",
		op:   opMerge,
		dst:  &clusterv3.Cluster{ConnectTimeout: durationpb.New(2500 * time.Millisecond)},
		src:  &clusterv3.Cluster{ConnectTimeout: durationpb.New(500 * time.Millisecond)},
		want: &clusterv3.Cluster{ConnectTimeout: durationpb.New(500 * time.Millisecond)},
	}, {
		name: "a false wrapper does not unset a true one (its value field is unset)",
		op:   opMerge,
		dst:  &listenerv3.Listener{Transparent: wrapperspb.Bool(true)},
		src:  &listenerv3.Listener{Transparent: wrapperspb.Bool(false)},
		want: &listenerv3.Listener{Transparent: wrapperspb.Bool(true)},
	}, {
		name: "lists are appended",
		op:   opMerge,
		dst:  &clusterv3.Cluster{TransportSocketMatches: []*clusterv3.Cluster_TransportSocketMatch{tsm("a")}},
		src:  &clusterv3.Cluster{TransportSocketMatches: []*clusterv3.Cluster_TransportSocketMatch{tsm("b")}},
		want: &clusterv3.Cluster{TransportSocketMatches: []*clusterv3.Cluster_TransportSocketMatch{tsm("a"), tsm("b")}},
	}, {
		name: "MERGE_AND_REPLACE_LIST replaces lists, nested ones too",
		op:   opMergeReplaceLists,
		dst: &listenerv3.Listener{
			ListenerFilters: []*listenerv3.ListenerFilter{{Name: "a"}},
			FilterChains:    []*listenerv3.FilterChain{{Name: "x"}},
			Address:         &corev3.Address{},
		},
		src: &listenerv3.Listener{ListenerFilters: []*listenerv3.ListenerFilter{{Name: "b"}}},
		want: &listenerv3.Listener{
			ListenerFilters: []*listenerv3.ListenerFilter{{Name: "b"}},
			FilterChains:    []*listenerv3.FilterChain{{Name: "x"}},
			Address:         &corev3.Address{},
		},
	}, {
		name: "map entries are replaced, not merged",
		op:   opMerge,
		dst:  &clusterv3.Cluster{Metadata: meta("istio", str("a", "1"))},
		src:  &clusterv3.Cluster{Metadata: meta("istio", str("b", "2"))},
		want: &clusterv3.Cluster{Metadata: meta("istio", str("b", "2"))},
	}, {
		name: "another oneof member replaces the current one",
		op:   opMerge,
		dst:  &clusterv3.Cluster{ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}},
		src:  &clusterv3.Cluster{ClusterDiscoveryType: &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{Name: "c"}}},
		want: &clusterv3.Cluster{ClusterDiscoveryType: &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{Name: "c"}}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := proto.Clone(c.src)
			mergeValue(c.op, c.dst, src)
			if d := cmp.Diff(c.want, c.dst, protocmp.Transform()); d != "" {
				t.Errorf("merged (-want +got):\n%s", d)
			}
			if !proto.Equal(src, c.src) {
				t.Errorf("the patch value was altered")
			}
			// Nothing of the value may be shared with the result: later patches change it.
			proto.Reset(src)
			if d := cmp.Diff(c.want, c.dst, protocmp.Transform()); d != "" {
				t.Errorf("result shares the patch value (-want +got):\n%s", d)
			}
		})
	}
}

func TestMergeAny(t *testing.T) {
	dst := protoconv.MessageToAny(&tcpproxyv3.TcpProxy{StatPrefix: "a", ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "c"}})
	got, err := mergeAny(dst, &tcpproxyv3.TcpProxy{StatPrefix: "b"})
	if err != nil {
		t.Fatal(err)
	}
	want := &tcpproxyv3.TcpProxy{StatPrefix: "b", ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "c"}}
	if m, _ := got.UnmarshalNew(); !proto.Equal(m, want) {
		t.Errorf("merged = %v, want %v", m, want)
	}
	if _, err := mergeAny(dst, &routerv3.Router{}); err == nil {
		t.Errorf("merging a Router into a TcpProxy: no error")
	}
}
