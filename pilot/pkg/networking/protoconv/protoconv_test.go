package protoconv

import (
	"bytes"
	"testing"

	udpav1 "github.com/cncf/xds/go/udpa/type/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func TestMessageToAnyIsDeterministic(t *testing.T) {
	value := map[string]any{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		value[k] = map[string]any{"x": k, "y": true}
	}
	first := TypedStruct("type.googleapis.com/example.Config", value)
	for i := 0; i < 50; i++ {
		if again := TypedStruct("type.googleapis.com/example.Config", value); !bytes.Equal(first.Value, again.Value) {
			t.Fatal("the same message marshalled to different bytes")
		}
	}
	ts := &udpav1.TypedStruct{}
	if err := first.UnmarshalTo(ts); err != nil || ts.TypeUrl != "type.googleapis.com/example.Config" {
		t.Fatalf("round trip: %v %v", ts, err)
	}
}

// Buffers come back from the pool of their size class, never smaller than asked.
func TestBufferClasses(t *testing.T) {
	for _, n := range []int{0, 1, 1000, 1 << 16, 1<<16 + 1, 3 << 20, 1 << 26, 1<<26 + 1} {
		b := Buffer(n)
		if len(b) != 0 || cap(b) < n {
			t.Fatalf("Buffer(%d): len %d cap %d", n, len(b), cap(b))
		}
		Recycle(append(b, 1))
		if again := Buffer(n); len(again) != 0 || cap(again) < n {
			t.Fatalf("Buffer(%d) after a Recycle: len %d cap %d", n, len(again), cap(again))
		}
	}
	// A buffer larger than its class (a make of odd size) serves the class below.
	Recycle(make([]byte, 0, 3<<16))
	if b := Buffer(1<<17 + 1); cap(b) < 1<<17+1 {
		t.Fatalf("cap %d", cap(b))
	}
}

// Shared's Any is MessageToAny's, and its wire bytes are that Any as field 2 of a
// message: what proto.Marshal writes for a DiscoveryResponse-shaped wrapper of it.
func TestShared(t *testing.T) {
	for _, m := range []*udpav1.TypedStruct{{}, {TypeUrl: "x"}, {TypeUrl: string(bytes.Repeat([]byte("y"), 300))}} {
		r := Shared("n", m)
		want := MessageToAny(m)
		if r.Name != "n" || r.Any.GetTypeUrl() != want.GetTypeUrl() || !bytes.Equal(r.Any.GetValue(), want.GetValue()) || r.Hash != Hash(want.GetValue()) {
			t.Errorf("Shared(%v) = %v, want %v", m, r.Any, want)
		}
		anyBytes, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		field := protowire.AppendBytes(protowire.AppendTag(nil, ResourceField, protowire.BytesType), anyBytes)
		if got := r.Wire.ReadOnlyData(); !bytes.Equal(got, field) {
			t.Errorf("wire bytes %x, want %x", got, field)
		}
		if TypeURL(m) != want.GetTypeUrl() {
			t.Errorf("TypeURL = %q", TypeURL(m))
		}
	}
}

// Pooled resource lists come back empty, large enough and cleared to their capacity: a
// list a generator truncated (deduplication, name filters) must not keep the resources
// past its length alive from the pool.
func TestResourcesClasses(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 257, 1000, 1 << 16, 1<<16 + 1} {
		rs := Resources(n)
		if len(rs) != 0 || cap(rs) < n {
			t.Fatalf("Resources(%d): len %d cap %d", n, len(rs), cap(rs))
		}
		rs = rs[:cap(rs)]
		for i := range rs {
			rs[i] = Resource{Name: "r", Message: &udpav1.TypedStruct{}}
		}
		RecycleResources(rs[:min(1, len(rs))])
		again := Resources(n)
		if len(again) != 0 || cap(again) < n {
			t.Fatalf("Resources(%d) after a recycle: len %d cap %d", n, len(again), cap(again))
		}
		for i, r := range again[:cap(again)] {
			if r.Name != "" || r.Message != nil {
				t.Fatalf("Resources(%d): element %d of a recycled list was not cleared", n, i)
			}
		}
	}
}
