package xds

import (
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// decodeSotW decodes b as the codec does for the SotW stream, from two buffers (gRPC
// hands a message over in pieces).
func decodeSotW(t *testing.T, b []byte) (*sotwRequest, error) {
	t.Helper()
	half := len(b) / 2
	r := &sotwRequest{}
	err := codec{}.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b[:half]), mem.SliceBuffer(b[half:])}, r)
	return r, err
}

func TestSotWRequestKeepsNamesEncoded(t *testing.T) {
	want := &discoveryv3.DiscoveryRequest{
		VersionInfo:   "7",
		Node:          &corev3.Node{Id: "sidecar~10.0.0.1~a.ns~ns.svc.cluster.local"},
		ResourceNames: []string{"outbound|8080||a.ns.svc.cluster.local", "outbound|9090||b.ns.svc.cluster.local", "é"},
		TypeUrl:       EndpointType,
		ResponseNonce: "n1",
		ErrorDetail:   &status.Status{Code: 3, Message: "rejected"},
	}
	b, err := proto.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	r, err := decodeSotW(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.names.strings(); !slices.Equal(got, want.ResourceNames) {
		t.Errorf("names: got %q, want %q", got, want.ResourceNames)
	}
	rest := proto.Clone(want).(*discoveryv3.DiscoveryRequest)
	rest.ResourceNames = nil
	if !proto.Equal(r.DiscoveryRequest, rest) {
		t.Errorf("other fields: got %v, want %v", r.DiscoveryRequest, rest)
	}
	for _, c := range []struct {
		names []string
		equal bool
	}{
		{want.ResourceNames, true},
		{want.ResourceNames[:2], false},
		{append(slices.Clone(want.ResourceNames), "c"), false},
		{[]string{want.ResourceNames[1], want.ResourceNames[0], want.ResourceNames[2]}, false},
		{nil, false},
	} {
		if got := r.names.equal(c.names); got != c.equal {
			t.Errorf("equal(%q) = %v, want %v", c.names, got, c.equal)
		}
	}
	r.release()

	// No names: a wildcard request.
	b, _ = proto.Marshal(&discoveryv3.DiscoveryRequest{TypeUrl: ClusterType})
	if r, err = decodeSotW(t, b); err != nil || r.names != nil || !r.names.equal(nil) || r.GetTypeUrl() != ClusterType {
		t.Errorf("wildcard request: names %q, type %q, err %v", r.names.strings(), r.GetTypeUrl(), err)
	}
}

func TestSotWRequestNamesBetweenOtherFields(t *testing.T) {
	var b []byte
	name := func(n string) {
		b = protowire.AppendTag(b, resourceNamesField, protowire.BytesType)
		b = protowire.AppendString(b, n)
	}
	name("a")
	b = protowire.AppendTag(b, 4, protowire.BytesType) // type_url
	b = protowire.AppendString(b, RouteType)
	name("b")
	r, err := decodeSotW(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if !r.names.equal([]string{"a", "b"}) || r.GetTypeUrl() != RouteType {
		t.Errorf("got names %q, type %q", r.names.strings(), r.GetTypeUrl())
	}

	bad := protowire.AppendString(protowire.AppendTag(nil, resourceNamesField, protowire.BytesType), "\xff")
	if _, err := decodeSotW(t, bad); err == nil {
		t.Error("a name that is not UTF-8 was accepted")
	}
	if _, err := decodeSotW(t, b[:len(b)-1]); err == nil {
		t.Error("a truncated request was accepted")
	}
}
