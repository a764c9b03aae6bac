package golden

import (
	"bytes"
	"fmt"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
)

// NamedMessage is an xDS resource message with a name.
type NamedMessage interface {
	proto.Message
	GetName() string
}

// SameEncodings reports the first difference between resources a generator served (as
// messages or encodings, from a cache) and the messages built afresh: count, order and
// names must be equal, and each encoding the deterministic encoding of the fresh message
// or, when a cache patched it by appending fields (protoconv.SharedMerged), one that
// decodes to the same message.
func SameEncodings[T NamedMessage](got []protoconv.Resource, want []T) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d resources, a fresh build has %d", len(got), len(want))
	}
	for i, w := range want {
		wb, err := proto.MarshalOptions{Deterministic: true}.Marshal(w)
		if err != nil {
			return err
		}
		gb, err := got[i].Encoding()
		if err != nil {
			return err
		}
		if got[i].Name != w.GetName() || !SameEncoding(gb, wb, w) {
			return fmt.Errorf("resource %d (%s) differs from the fresh build of %s", i, got[i].Name, w.GetName())
		}
	}
	return nil
}

// SameEncoding reports whether got is want, the deterministic encoding of m, or decodes
// to a message equal to m.
func SameEncoding(got, want []byte, m proto.Message) bool {
	if bytes.Equal(got, want) {
		return true
	}
	g := m.ProtoReflect().New().Interface()
	return proto.Unmarshal(got, g) == nil && proto.Equal(g, m)
}

// namedAssignment names a load assignment by its cluster, for SameEncodings.
type namedAssignment struct {
	*endpointv3.ClusterLoadAssignment
}

func (a namedAssignment) GetName() string { return a.GetClusterName() }

// SameAssignments is SameEncodings for load assignments, which are named by cluster.
func SameAssignments(got []protoconv.Resource, want []*endpointv3.ClusterLoadAssignment) error {
	named := make([]namedAssignment, len(want))
	for i, w := range want {
		named[i] = namedAssignment{w}
	}
	return SameEncodings(got, named)
}
