package xds

import (
	"strconv"

	"google.golang.org/grpc/encoding"
	gproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
)

// Responses go to gRPC as wire messages (sotwWire, deltaWire) that the codec writes
// directly: each resource's encoding, as the generator or a cache holds it, is copied once
// after the few bytes of framing it needs, into a buffer of the exact size taken from
// protoconv's pool and returned to it once gRPC has written it. grpc-go's proto codec
// would walk the response by reflection and marshal it into a buffer larger than its
// pool's largest size class (2 MB for a sidecar's clusters): 2 MB of garbage per proxy per
// push. Referencing the encodings instead of copying them costs more: an allocation per
// resource for its gRPC buffer, and the transport copies them into frames anyway.
//
// The codec replaces grpc-go's "proto" codec for the whole process (gRPC lets a codec
// registered at init override one of the same name) and hands every other message to the
// one it replaces, so clients and other services in the process see no difference. The
// codec returns pooled resource encodings (protoconv.Buffer) to their pool once copied.

func init() { encoding.RegisterCodecV2(codec{base: encoding.GetCodecV2(gproto.Name)}) }

type codec struct{ base encoding.CodecV2 }

func (codec) Name() string { return gproto.Name }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *sotwWire:
		return m.marshal(), nil
	case *deltaWire:
		return m.marshal(), nil
	}
	return c.base.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error { return c.base.Unmarshal(data, v) }

// sotwWire is an envoy.service.discovery.v3.DiscoveryResponse.
type sotwWire struct {
	versionInfo, typeURL, nonce, controlPlane string
	resources                                 []encoded
}

// deltaWire is an envoy.service.discovery.v3.DeltaDiscoveryResponse; each resource's
// version is its hash in hex.
type deltaWire struct {
	systemVersionInfo, typeURL, nonce, controlPlane string
	resources                                       []encoded
	removed                                         []string
}

// Field numbers, from envoy/service/discovery/v3/discovery.proto and google/protobuf/any.proto.
const (
	sotwVersionInfo  = 1
	sotwResources    = 2
	sotwTypeURL      = 4
	sotwNonce        = 5
	sotwControlPlane = 6

	deltaSystemVersionInfo = 1
	deltaResources         = 2
	deltaTypeURL           = 4
	deltaNonce             = 5
	deltaRemoved           = 6
	deltaControlPlane      = 7

	resourceVersion  = 1
	resourceResource = 2
	resourceName     = 3

	anyTypeURL = 1
	anyValue   = 2

	controlPlaneIdentifier = 1
)

// anySize is the encoded size of a resource's Any.
func anySize(e encoded) int {
	n := sizeString(anyTypeURL, e.any.GetTypeUrl())
	if v := len(e.any.GetValue()); v > 0 {
		n += sizeBytes(anyValue, v)
	}
	return n
}

func sizeString(num protowire.Number, s string) int {
	if s == "" {
		return 0
	}
	return sizeBytes(num, len(s))
}

func sizeBytes(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func controlPlaneSize(id string) int { return sizeString(controlPlaneIdentifier, id) }

// deltaResourceSize is the encoded size of a Delta resource, whose version is v.
func deltaResourceSize(e encoded, v string) int {
	return sizeString(resourceVersion, v) + sizeBytes(resourceResource, anySize(e)) + sizeString(resourceName, e.name)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendHeader starts a length-delimited field of n bytes.
func appendHeader(b []byte, num protowire.Number, n int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(n))
}

// appendAny appends a resource's Any as field num, and returns a pooled encoding to its
// pool once copied.
func appendAny(b []byte, num protowire.Number, e encoded) []byte {
	v := e.any.GetValue()
	b = appendHeader(b, num, anySize(e))
	b = appendString(b, anyTypeURL, e.any.GetTypeUrl())
	if len(v) > 0 {
		b = appendHeader(b, anyValue, len(v))
		b = append(b, v...)
	}
	if e.pooled {
		protoconv.Recycle(v)
	}
	return b
}

func appendControlPlane(b []byte, num protowire.Number, id string) []byte {
	if id == "" {
		return b
	}
	b = appendHeader(b, num, controlPlaneSize(id))
	return appendString(b, controlPlaneIdentifier, id)
}

// message wraps a marshalled message in a protoconv.Buffer for gRPC, which returns it to
// the pool once written.
func message(b []byte) mem.BufferSlice { return mem.BufferSlice{mem.NewBuffer(&b, recycler{})} }

func (m *sotwWire) marshal() mem.BufferSlice {
	n := sizeString(sotwVersionInfo, m.versionInfo) + sizeString(sotwTypeURL, m.typeURL) + sizeString(sotwNonce, m.nonce)
	if m.controlPlane != "" {
		n += sizeBytes(sotwControlPlane, controlPlaneSize(m.controlPlane))
	}
	for _, e := range m.resources {
		n += sizeBytes(sotwResources, anySize(e))
	}
	b := protoconv.Buffer(n)
	b = appendString(b, sotwVersionInfo, m.versionInfo)
	for _, e := range m.resources {
		b = appendAny(b, sotwResources, e)
	}
	b = appendString(b, sotwTypeURL, m.typeURL)
	b = appendString(b, sotwNonce, m.nonce)
	b = appendControlPlane(b, sotwControlPlane, m.controlPlane)
	return message(b)
}

func (m *deltaWire) marshal() mem.BufferSlice {
	versions := make([]string, len(m.resources))
	n := sizeString(deltaSystemVersionInfo, m.systemVersionInfo) + sizeString(deltaTypeURL, m.typeURL) + sizeString(deltaNonce, m.nonce)
	if m.controlPlane != "" {
		n += sizeBytes(deltaControlPlane, controlPlaneSize(m.controlPlane))
	}
	for i, e := range m.resources {
		versions[i] = strconv.FormatUint(e.hash, 16)
		n += sizeBytes(deltaResources, deltaResourceSize(e, versions[i]))
	}
	for _, name := range m.removed {
		n += sizeBytes(deltaRemoved, len(name))
	}
	b := protoconv.Buffer(n)
	b = appendString(b, deltaSystemVersionInfo, m.systemVersionInfo)
	for i, e := range m.resources {
		b = appendHeader(b, deltaResources, deltaResourceSize(e, versions[i]))
		b = appendString(b, resourceVersion, versions[i])
		b = appendAny(b, resourceResource, e)
		b = appendString(b, resourceName, e.name)
	}
	b = appendString(b, deltaTypeURL, m.typeURL)
	b = appendString(b, deltaNonce, m.nonce)
	for _, name := range m.removed {
		b = protowire.AppendTag(b, deltaRemoved, protowire.BytesType)
		b = protowire.AppendString(b, name)
	}
	b = appendControlPlane(b, deltaControlPlane, m.controlPlane)
	return message(b)
}

// recycler returns pooled resource encodings to protoconv's pool once gRPC has written
// them.
type recycler struct{}

func (recycler) Get(n int) *[]byte { b := protoconv.Buffer(n)[:n]; return &b }
func (recycler) Put(b *[]byte)     { protoconv.Recycle(*b) }
