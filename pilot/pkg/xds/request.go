package xds

import (
	"errors"
	"unicode/utf8"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
)

// sotwRequest is a DiscoveryRequest as the codec decodes it for the SotW stream: every
// field but resource_names decoded, those kept as received. A sidecar's EDS request
// names its ~1,000 clusters and every ACK repeats them: decoded, that is ~70 KB of
// strings per request, which the server only compares with the names it watches
// (handleSotW). The names are decoded only when they differ.
type sotwRequest struct {
	*discoveryv3.DiscoveryRequest
	names rawNames
}

// resourceNamesField is DiscoveryRequest.resource_names
// (envoy/service/discovery/v3/discovery.proto).
const resourceNamesField = 3

// rawNames are resource_names fields as encoded (tag, length, name; repeated), in a
// protoconv.Buffer.
type rawNames []byte

// equal reports whether the names are names, in order, without decoding them.
func (r rawNames) equal(names []string) bool {
	b := []byte(r)
	for _, n := range names {
		_, _, tl := protowire.ConsumeTag(b)
		if tl < 0 {
			return false // fewer names
		}
		v, vl := protowire.ConsumeBytes(b[tl:])
		if vl < 0 || string(v) != n {
			return false
		}
		b = b[tl+vl:]
	}
	return len(b) == 0
}

// strings decodes the names.
func (r rawNames) strings() []string {
	var out []string
	b := []byte(r)
	for len(b) > 0 { // well formed: unmarshal wrote it
		_, _, tl := protowire.ConsumeTag(b)
		v, vl := protowire.ConsumeBytes(b[tl:])
		out = append(out, string(v))
		b = b[tl+vl:]
	}
	return out
}

// release returns the names' buffer to its pool; the request must not be used after.
func (r *sotwRequest) release() {
	if r.names != nil {
		protoconv.Recycle(r.names)
		r.names = nil
	}
}

var errBadNames = errors.New("xds: resource_names: invalid UTF-8")

// unmarshal decodes data into r: the names into r.names, the rest into
// r.DiscoveryRequest, validated as proto.Unmarshal does (strings are UTF-8).
func (r *sotwRequest) unmarshal(data mem.BufferSlice) error {
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	b := buf.ReadOnlyData()
	var names, rest []byte
	for off := 0; off < len(b); {
		num, typ, tl := protowire.ConsumeTag(b[off:])
		if tl < 0 {
			return protowire.ParseError(tl)
		}
		fl := protowire.ConsumeFieldValue(num, typ, b[off+tl:])
		if fl < 0 {
			return protowire.ParseError(fl)
		}
		field := b[off : off+tl+fl]
		off += tl + fl
		if num != resourceNamesField || typ != protowire.BytesType {
			rest = append(rest, field...)
			continue
		}
		if v, _ := protowire.ConsumeBytes(field[tl:]); !utf8.Valid(v) {
			return errBadNames
		}
		if names == nil {
			names = protoconv.Buffer(len(b))
		}
		names = append(names, field...)
	}
	r.DiscoveryRequest = &discoveryv3.DiscoveryRequest{}
	if err := proto.Unmarshal(rest, r.DiscoveryRequest); err != nil {
		protoconv.Recycle(names)
		return err
	}
	r.names = names
	return nil
}
