package xds

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/encoding"
	gproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
)

// wireResources are resources of several sizes (varint lengths of one to three bytes),
// empty, pooled (returned to the pool by the codec) and shared (protoconv.Shared: sent by
// reference), shared ones first, last and next to each other.
func wireResources() []Resource {
	value := func(n int, pooled bool) []byte {
		b := []byte(strings.Repeat("x", n))
		if pooled {
			b = append(protoconv.Buffer(n), b...)
		}
		return b
	}
	var out []Resource
	for i, r := range []struct {
		n              int
		pooled, shared bool
	}{
		{10, false, true}, {0, false, false}, {10, false, false}, {511, true, false}, {0, false, true}, {512, false, false},
		{200, false, true}, {5000, false, true}, {5000, false, false}, {70000, true, false}, {300, false, false}, {130, false, true},
	} {
		if r.shared {
			cl := &clusterv3.Cluster{}
			if r.n > 0 {
				cl.Name = strings.Repeat("c", r.n)
			}
			res := protoconv.Shared("r"+strconv.Itoa(i), cl)
			out = append(out, res)
			continue
		}
		v := value(r.n, r.pooled)
		out = append(out, Resource{
			Name: "r" + strconv.Itoa(i), Any: &anypb.Any{TypeUrl: ClusterType, Value: v},
			Hash: protoconv.Hash(v), Pooled: r.pooled,
		})
	}
	return out
}

// The codec writes exactly what proto.Marshal writes for the same response.
func TestCodecMatchesProtoMarshal(t *testing.T) {
	c := encoding.GetCodecV2(gproto.Name)
	if _, ok := c.(codec); !ok {
		t.Fatalf("the registered proto codec is %T", c)
	}
	for _, tc := range []struct {
		name string
		wire any
		want func([]Resource) proto.Message
	}{
		{"sotw", &sotwWire{typeURL: ClusterType, versionInfo: "2026-12-02T00:00:00Z/7", nonce: "n1", controlPlane: "istiod"}, func(es []Resource) proto.Message {
			as := make([]*anypb.Any, len(es))
			for i, e := range es {
				as[i] = e.Any
			}
			return &discoveryv3.DiscoveryResponse{
				TypeUrl: ClusterType, VersionInfo: "2026-12-02T00:00:00Z/7", Nonce: "n1", Resources: as,
				ControlPlane: &corev3.ControlPlane{Identifier: "istiod"},
			}
		}},
		{"delta", &deltaWire{typeURL: ClusterType, systemVersionInfo: "v", nonce: "n2", removed: []string{"gone", ""}}, func(es []Resource) proto.Message {
			rs := make([]*discoveryv3.Resource, len(es))
			for i, e := range es {
				rs[i] = &discoveryv3.Resource{Name: e.Name, Version: strconv.FormatUint(e.Hash, 16), Resource: e.Any}
			}
			return &discoveryv3.DeltaDiscoveryResponse{
				TypeUrl: ClusterType, SystemVersionInfo: "v", Nonce: "n2", Resources: rs, RemovedResources: []string{"gone", ""},
			}
		}},
		{"empty sotw", &sotwWire{typeURL: ClusterType}, func([]Resource) proto.Message {
			return &discoveryv3.DiscoveryResponse{TypeUrl: ClusterType}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The expected bytes first: the codec recycles pooled values.
			es := wireResources()
			if strings.HasPrefix(tc.name, "empty") {
				es = nil
			}
			want, err := proto.Marshal(tc.want(es))
			if err != nil {
				t.Fatal(err)
			}
			switch w := tc.wire.(type) {
			case *sotwWire:
				w.resources = es
			case *deltaWire:
				w.resources = es
			}
			data, err := c.Marshal(tc.wire)
			if err != nil {
				t.Fatal(err)
			}
			// Shared resources and large pooled ones are referenced, not copied; small
			// pooled ones are copied.
			for _, e := range es {
				referenced := slices.ContainsFunc(data, func(b mem.Buffer) bool {
					return unsafe.SliceData(b.ReadOnlyData()) == unsafe.SliceData(e.Any.GetValue()) ||
						e.Wire != nil && unsafe.SliceData(b.ReadOnlyData()) == unsafe.SliceData(e.Wire.ReadOnlyData())
				})
				if want := e.Wire != nil || e.Pooled && len(e.Any.GetValue()) >= 64<<10; referenced != want && len(e.Any.GetValue()) > 0 {
					t.Errorf("%s: %s (%d bytes, pooled %v, shared %v) referenced: %v", tc.name, e.Name, len(e.Any.GetValue()), e.Pooled, e.Wire != nil, referenced)
				}
			}
			got := data.Materialize()
			data.Free()
			if !bytes.Equal(got, want) {
				t.Fatalf("codec wrote %d bytes that differ from proto.Marshal's %d", len(got), len(want))
			}
			// And decodes back with the base codec.
			var back discoveryv3.DiscoveryResponse
			if tc.name == "sotw" {
				if err := proto.Unmarshal(got, &back); err != nil || len(back.GetResources()) != len(es) {
					t.Fatalf("decoding: %v, %d resources", err, len(back.GetResources()))
				}
			}
		})
	}
}
