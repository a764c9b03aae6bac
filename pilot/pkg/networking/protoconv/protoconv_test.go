package protoconv

import (
	"bytes"
	"testing"

	udpav1 "github.com/cncf/xds/go/udpa/type/v1"
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
