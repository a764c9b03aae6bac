package envoyfilter

import (
	"math/rand/v2"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
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

// TestMergeEncodingMergesAsMergeValue checks that a cluster's encoding followed by a
// value's merge encoding decodes as the cluster with the value merged by mergeValue, for
// random clusters and values: every field kind, oneof members replacing each other,
// Durations partly zero, lists, maps, wrappers and nested messages, to a depth of four.
func TestMergeEncodingMergesAsMergeValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	durations := 0
	for i := 0; i < 3000; i++ {
		dst, src := &clusterv3.Cluster{}, &clusterv3.Cluster{}
		fillRandom(rng, dst.ProtoReflect(), 0)
		fillRandom(rng, src.ProtoReflect(), 0)
		if src.GetConnectTimeout() != nil || src.GetCommonLbConfig().GetUpdateMergeWindow() != nil {
			durations++
		}
		base, err := proto.MarshalOptions{Deterministic: true}.Marshal(dst)
		if err != nil {
			t.Fatal(err)
		}
		suffix, err := mergeEncoding(src)
		if err != nil {
			t.Fatal(err)
		}
		got := &clusterv3.Cluster{}
		if err := proto.Unmarshal(append(base, suffix...), got); err != nil {
			t.Fatalf("case %d: decoding: %v", i, err)
		}
		mergeValue(opMerge, dst, src)
		if d := cmp.Diff(dst, got, protocmp.Transform()); d != "" {
			t.Fatalf("case %d: merged by encoding differs from mergeValue (-mergeValue +encoding):\n%s\npatch: %v", i, d, src)
		}
	}
	if durations < 100 {
		t.Errorf("only %d patches set a Duration", durations)
	}
}

// fillRandom sets random fields of m, recursing into messages up to a depth of four.
func fillRandom(rng *rand.Rand, m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	p := []float64{0.3, 0.15, 0.3, 0.5, 0.6}[depth]
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if rng.Float64() > p || (fd.Message() != nil && depth >= 4) {
			continue
		}
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for n := rng.IntN(3); n > 0; n-- {
				if fd.Message() != nil {
					l.Append(protoreflect.ValueOfMessage(randomMessage(rng, l.NewElement().Message(), depth)))
				} else {
					l.Append(randomScalar(rng, fd))
				}
			}
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for n := rng.IntN(3); n > 0; n-- {
				k := randomScalar(rng, fd.MapKey()).MapKey()
				if fd.MapValue().Message() != nil {
					mp.Set(k, protoreflect.ValueOfMessage(randomMessage(rng, mp.NewValue().Message(), depth)))
				} else {
					mp.Set(k, randomScalar(rng, fd.MapValue()))
				}
			}
		case fd.Message() != nil:
			m.Set(fd, protoreflect.ValueOfMessage(randomMessage(rng, m.NewField(fd).Message(), depth)))
		default:
			m.Set(fd, randomScalar(rng, fd))
		}
	}
}

func randomMessage(rng *rand.Rand, m protoreflect.Message, depth int) protoreflect.Message {
	if m.Descriptor().FullName() == durationName {
		// Zero seconds or nanos half the time: what a merged Duration gets wrong.
		m.Set(m.Descriptor().Fields().ByNumber(1), protoreflect.ValueOfInt64(int64(rng.IntN(3))))
		m.Set(m.Descriptor().Fields().ByNumber(2), protoreflect.ValueOfInt32(int32(rng.IntN(2)*500_000_000)))
		return m
	}
	fillRandom(rng, m, depth+1)
	return m
}

func randomScalar(rng *rand.Rand, fd protoreflect.FieldDescriptor) protoreflect.Value {
	n := rng.IntN(3) // small values, zero included
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(n > 0)
	case protoreflect.EnumKind:
		vs := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vs.Get(rng.IntN(vs.Len())).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(n - 1))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(n - 1))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(n))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(n) / 2)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(float64(n) / 2)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString([]string{"", "a", "b"}[n])
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte([]string{"", "a", "b"}[n]))
	}
	panic("unexpected kind " + fd.Kind().String())
}
