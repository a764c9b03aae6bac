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
