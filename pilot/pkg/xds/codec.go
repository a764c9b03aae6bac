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
// directly. Resources that caches share across proxies (protoconv.Shared: clusters and
// load assignments) carry their encoding already framed as a response's resource field;
// the codec hands those to gRPC by reference, between segments of one buffer holding the
// rest of the response: its fields, the framing of the other resources and their
// encodings, copied once. grpc-go's transport copies every piece into HTTP/2 frames, so a
// sidecar's 2 MB of shared clusters cost one copy instead of two, and no 2 MB buffer per
// push. grpc-go's own proto codec would walk the response by reflection and marshal it
// into a buffer larger than its pool's largest size class: 2 MB of garbage per proxy per
// push.
//
// SotW requests come in as sotwRequest, their resource names left encoded (request.go).
//
// The codec replaces grpc-go's "proto" codec for the whole process (gRPC lets a codec
// registered at init override one of the same name) and hands every other message to the
// one it replaces, so clients and other services in the process see no difference. The
// codec returns small pooled resource encodings (protoconv.Buffer) to their pool once
// copied; large ones (handOverMin) it hands to gRPC like shared ones, to be returned to the
// pool once written. A response's own buffer goes back to the pool once gRPC has written
// it when nothing is referenced from it (gRPC frees the pieces one by one).

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

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*sotwRequest); ok {
		return r.unmarshal(data)
	}
	return c.base.Unmarshal(data, v)
}

// sotwWire is an envoy.service.discovery.v3.DiscoveryResponse.
type sotwWire struct {
	versionInfo, typeURL, nonce, controlPlane string
	resources                                 []Resource
}

// deltaWire is an envoy.service.discovery.v3.DeltaDiscoveryResponse; each resource's
// version is its hash in hex.
type deltaWire struct {
	systemVersionInfo, typeURL, nonce, controlPlane string
	resources                                       []Resource
	removed                                         []string
}

// Field numbers, from envoy/service/discovery/v3/discovery.proto and google/protobuf/any.proto.
const (
	// Both responses: version (system version in Delta), resources, type URL, nonce.
	versionField   = 1
	resourcesField = protoconv.ResourceField
	typeURLField   = 4
	nonceField     = 5

	sotwControlPlane  = 6
	deltaRemoved      = 6
	deltaControlPlane = 7

	resourceVersion  = 1
	resourceResource = protoconv.ResourceField
	resourceName     = 3

	anyTypeURL = 1
	anyValue   = 2

	controlPlaneIdentifier = 1
)

// anySize is the encoded size of a resource's Any.
func anySize(e Resource) int {
	n := sizeString(anyTypeURL, e.Any.GetTypeUrl())
	if v := len(e.Any.GetValue()); v > 0 {
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
func deltaResourceSize(e Resource, v string) int {
	return sizeString(resourceVersion, v) + sizeBytes(resourceResource, anySize(e)) + sizeString(resourceName, e.Name)
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
func appendAny(b []byte, num protowire.Number, e Resource) []byte {
	v := e.Any.GetValue()
	b = appendHeader(b, num, anySize(e))
	b = appendString(b, anyTypeURL, e.Any.GetTypeUrl())
	if len(v) > 0 {
		b = appendHeader(b, anyValue, len(v))
		b = append(b, v...)
	}
	if e.Pooled {
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

// wireWriter writes a response as gRPC buffers: its own bytes in b, sized exactly, and
// shared resources' wire encodings as references between segments of b.
type wireWriter struct {
	b     []byte
	start int // where the segment of b not yet in out begins
	out   mem.BufferSlice
}

// size is the size of b for a response of n bytes whose resources are es: the bytes of
// the wire encodings are not in it.
func (w *wireWriter) size(n int, es []Resource) {
	shared := 0
	for _, e := range es {
		switch {
		case e.Wire != nil:
			n -= e.Wire.Len()
			shared++
		case handedOver(e):
			n -= len(e.Any.GetValue())
			shared++
		}
	}
	w.b = protoconv.Buffer(n)
	if shared > 0 {
		w.out = make(mem.BufferSlice, 0, 2*shared+1)
	}
}

// handOverMin is the size from which a pooled encoding (a sidecar's route configuration,
// hundreds of kilobytes) is handed to gRPC, which returns it to the pool once written,
// instead of copied.
const handOverMin = 64 << 10

func handedOver(e Resource) bool { return e.Pooled && len(e.Any.GetValue()) >= handOverMin }

// resource appends a resource as field num (protoconv.ResourceField): its wire encoding by
// reference, a large pooled encoding after its framing, or its Any copied into b.
func (w *wireWriter) resource(num protowire.Number, e Resource) {
	switch {
	case e.Wire != nil:
		w.cut()
		w.out = append(w.out, e.Wire)
	case handedOver(e):
		v := e.Any.GetValue()
		w.b = appendHeader(w.b, num, anySize(e))
		w.b = appendString(w.b, anyTypeURL, e.Any.GetTypeUrl())
		w.b = appendHeader(w.b, anyValue, len(v))
		w.cut()
		w.out = append(w.out, mem.NewBuffer(&v, recycler{}))
	default:
		w.b = appendAny(w.b, num, e)
	}
}

// cut ends the current segment of b.
func (w *wireWriter) cut() {
	if len(w.b) > w.start {
		w.out = append(w.out, mem.SliceBuffer(w.b[w.start:len(w.b):len(w.b)]))
		w.start = len(w.b)
	}
}

// done returns the response. Without shared or handed-over pieces it is one buffer,
// returned to the pool once written; with them, b is left to the collector, as gRPC frees
// the segments separately.
func (w *wireWriter) done() mem.BufferSlice {
	if w.out == nil {
		return message(w.b)
	}
	w.cut()
	return w.out
}

// trailer is what both kinds of response end with, in field order: type URL (4), nonce
// (5), the names of removed resources (6, Delta only) and the control plane (6 in SotW, 7
// in Delta).
type trailer struct {
	typeURL, nonce    string
	removed           []string
	controlPlane      string
	controlPlaneField protowire.Number
}

func (t trailer) size() int {
	n := sizeString(typeURLField, t.typeURL) + sizeString(nonceField, t.nonce)
	for _, name := range t.removed {
		n += sizeBytes(deltaRemoved, len(name))
	}
	if t.controlPlane != "" {
		n += sizeBytes(t.controlPlaneField, controlPlaneSize(t.controlPlane))
	}
	return n
}

func (t trailer) appendTo(b []byte) []byte {
	b = appendString(b, typeURLField, t.typeURL)
	b = appendString(b, nonceField, t.nonce)
	for _, name := range t.removed {
		b = protowire.AppendTag(b, deltaRemoved, protowire.BytesType)
		b = protowire.AppendString(b, name)
	}
	return appendControlPlane(b, t.controlPlaneField, t.controlPlane)
}

func (m *sotwWire) marshal() mem.BufferSlice {
	end := trailer{typeURL: m.typeURL, nonce: m.nonce, controlPlane: m.controlPlane, controlPlaneField: sotwControlPlane}
	n := sizeString(versionField, m.versionInfo) + end.size()
	for _, e := range m.resources {
		n += sizeBytes(resourcesField, anySize(e))
	}
	var w wireWriter
	w.size(n, m.resources)
	w.b = appendString(w.b, versionField, m.versionInfo)
	for _, e := range m.resources {
		w.resource(resourcesField, e)
	}
	w.b = end.appendTo(w.b)
	return w.done()
}

func (m *deltaWire) marshal() mem.BufferSlice {
	versions := make([]string, len(m.resources))
	end := trailer{typeURL: m.typeURL, nonce: m.nonce, removed: m.removed, controlPlane: m.controlPlane, controlPlaneField: deltaControlPlane}
	n := sizeString(versionField, m.systemVersionInfo) + end.size()
	for i, e := range m.resources {
		versions[i] = strconv.FormatUint(e.Hash, 16)
		n += sizeBytes(resourcesField, deltaResourceSize(e, versions[i]))
	}
	var w wireWriter
	w.size(n, m.resources)
	w.b = appendString(w.b, versionField, m.systemVersionInfo)
	for i, e := range m.resources {
		w.b = appendHeader(w.b, resourcesField, deltaResourceSize(e, versions[i]))
		w.b = appendString(w.b, resourceVersion, versions[i])
		w.resource(resourceResource, e)
		w.b = appendString(w.b, resourceName, e.Name)
	}
	w.b = end.appendTo(w.b)
	return w.done()
}

// recycler returns pooled resource encodings to protoconv's pool once gRPC has written
// them.
type recycler struct{}

func (recycler) Get(n int) *[]byte { b := protoconv.Buffer(n)[:n]; return &b }
func (recycler) Put(b *[]byte)     { protoconv.Recycle(*b) }
