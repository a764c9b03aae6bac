package load

import (
	"bytes"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/google/go-cmp/cmp"
)

func clusterAny(t *testing.T, name string) *anypb.Any {
	t.Helper()
	a, err := anypb.New(&clusterv3.Cluster{Name: name, AltStatName: name + ";"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The client codec decodes what it reads as proto.Unmarshal does.
func TestClientCodecDecodesResponses(t *testing.T) {
	sotw := &discoveryv3.DiscoveryResponse{
		VersionInfo: "v7", TypeUrl: ClusterType, Nonce: "n3",
		Resources:    []*anypb.Any{clusterAny(t, "a"), clusterAny(t, "b"), {TypeUrl: "other", Value: []byte{1}}},
		ControlPlane: &corev3.ControlPlane{Identifier: "cp"},
	}
	delta := &discoveryv3.DeltaDiscoveryResponse{
		SystemVersionInfo: "s", TypeUrl: ClusterType, Nonce: "n4",
		Resources: []*discoveryv3.Resource{
			{Name: "a", Version: "1", Resource: clusterAny(t, "a")},
			{Name: "b", Version: "2", Resource: clusterAny(t, "b"), Aliases: []string{"x"}},
		},
		RemovedResources: []string{"c", "d"},
	}
	for _, tc := range []struct {
		in, out proto.Message
		// unread fields are cleared before comparing.
		unread func(proto.Message)
	}{
		{sotw, &discoveryv3.DiscoveryResponse{Nonce: "stale"}, func(m proto.Message) { m.(*discoveryv3.DiscoveryResponse).ControlPlane = nil }},
		{delta, &discoveryv3.DeltaDiscoveryResponse{}, func(m proto.Message) {
			for _, r := range m.(*discoveryv3.DeltaDiscoveryResponse).Resources {
				r.Aliases = nil
			}
		}},
	} {
		b, err := proto.Marshal(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if err := (clientCodec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, tc.out); err != nil {
			t.Fatal(err)
		}
		want := proto.Clone(tc.in)
		tc.unread(want)
		if d := cmp.Diff(want, tc.out, protocmp.Transform()); d != "" {
			t.Errorf("decoded (-want +got):\n%s", d)
		}
		if err := (clientCodec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(b[:len(b)-1])}, tc.out); err == nil {
			t.Errorf("%T: a truncated message decoded", tc.in)
		}
	}
	// Into the pooled wrappers, from several buffers, twice into the same value.
	b1, b2 := mustMarshal(t, sotw), mustMarshal(t, delta)
	var s sotwResponse
	var d deltaResponse
	for range 2 {
		if err := (clientCodec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(b1[:7]), mem.SliceBuffer(b1[7:])}, &s); err != nil {
			t.Fatal(err)
		}
		if err := (clientCodec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(b2[:9]), mem.SliceBuffer(b2[9:])}, &d); err != nil {
			t.Fatal(err)
		}
		if len(s.buf) != len(b1) || len(d.buf) != len(b2) {
			t.Errorf("buffers of %d and %d bytes for %d and %d", len(s.buf), len(d.buf), len(b1), len(b2))
		}
		if len(s.resources) != len(sotw.GetResources()) || !bytes.Equal(s.resources[1].value, sotw.GetResources()[1].GetValue()) ||
			s.nonce != "n3" || s.versionInfo != sotw.GetVersionInfo() || s.typeURL != sotw.GetTypeUrl() {
			t.Errorf("sotw response decoded as %+v", s)
		}
		if got := d.GetResources()[1]; got.GetName() != "b" || !proto.Equal(got.GetResource(), delta.GetResources()[1].GetResource()) {
			t.Errorf("delta response decoded as %v", &d.DeltaDiscoveryResponse)
		}
	}
	s.release()
	d.release()
	if s.buf != nil || d.buf != nil {
		t.Error("release kept the buffers")
	}
}

func TestResponseBuffersReserve(t *testing.T) {
	var p responseBuffers
	p.reserve([]int{3 << 20, 3 << 20, 100})
	if got := len(p.free[responseClass(3<<20)]); got != 2 {
		t.Fatalf("reserved %d buffers of 4 MiB, want 2", got)
	}
	a, b := p.get(3<<20), p.get(2<<20+1)
	if len(a) != 3<<20 || len(b) != 2<<20+1 || cap(a) != 4<<20 || cap(b) != 4<<20 {
		t.Fatalf("get: len/cap %d/%d and %d/%d", len(a), cap(a), len(b), cap(b))
	}
	if a[4096] != 1 {
		t.Error("a reserved buffer was not touched")
	}
	if len(p.free[responseClass(3<<20)]) != 0 {
		t.Error("get did not take the reserved buffers")
	}
	p.put(a)
	p.reserve([]int{3 << 20})
	if got := len(p.free[responseClass(3<<20)]); got != 1 {
		t.Errorf("reserve with a free buffer: %d free, want 1 (nothing allocated)", got)
	}
	p.put(make([]byte, 10, 12)) // not from get: dropped
	if len(p.free[responseClass(12)]) != 0 {
		t.Error("kept a buffer whose capacity is not a class size")
	}
}
