// Package protoconv wraps proto messages for xDS: Any for typed_config, and TypedStruct for
// Istio's extension filters whose protos Envoy knows but go-control-plane does not ship.
package protoconv

import (
	"math/bits"
	"sync"

	"github.com/cespare/xxhash/v2"
	udpav1 "github.com/cncf/xds/go/udpa/type/v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// MessageToAny wraps m in an Any, marshalled deterministically: the same message always
// gives the same bytes, so unchanged config hashes the same and is not pushed again. It
// panics only if m cannot be marshalled, which for the messages Sextant builds is a
// programming error.
func MessageToAny(m proto.Message) *anypb.Any {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic("protoconv: " + err.Error())
	}
	return &anypb.Any{TypeUrl: TypeURL(m), Value: b}
}

// TypedStruct wraps a JSON-like value as udpa.type.v1.TypedStruct with the given type URL,
// inside an Any, as istiod does for istio.* filters.
func TypedStruct(typeURL string, value map[string]any) *anypb.Any {
	v, err := structpb.NewStruct(value)
	if err != nil {
		panic("protoconv: " + err.Error())
	}
	return MessageToAny(&udpav1.TypedStruct{TypeUrl: typeURL, Value: v})
}

// Hash returns the hash of an encoded resource (xxHash64), by which pushes tell what
// changed. Every generator and the ADS server use it, so a resource hashes alike whichever
// path encoded it; it is stable across processes, so Delta resource versions survive a
// restart or a move to another replica.
func Hash(b []byte) uint64 { return xxhash.Sum64(b) }

// HashString is Hash of a string's bytes, without copying them.
func HashString(s string) uint64 { return xxhash.Sum64String(s) }

// Resource is one generated xDS resource: its message, or a ready-made Any (a resource a
// generator keeps encoded, or istiod's debug payloads, which are not protos), with Hash
// the Hash of Any.Value when the generator has it (0: computed when sent).
type Resource struct {
	Name    string
	Message proto.Message
	Any     *anypb.Any
	Hash    uint64
	// Pooled says Any.Value came from Buffer and nothing else holds it: the server may
	// Recycle it once the response carrying it is sent.
	Pooled bool
	// Wire, set by Shared, is the resource as a response carries it, Any.Value last.
	Wire mem.Buffer
	// NameHash, set by Shared, is HashString(Name): generators that merge thousands of
	// cached resources by name compare hashes without reading the names.
	NameHash uint64
}

// Wire format of a resource in a response: field 2 of a DiscoveryResponse (resources) and
// of a Delta Resource (resource) holds an Any, whose field 1 is the type URL and field 2
// the encoded message (envoy/service/discovery/v3/discovery.proto, google/protobuf/any.proto).
const (
	ResourceField = 2
	anyTypeURL    = 1
	anyValue      = 2
)

// Shared encodes m once for many responses: a cached resource that proxies share. Beside
// its Any it carries Wire, the same bytes framed as a response's resource field (the Any
// is a view into it), which the ADS server hands to gRPC to write without copying: a
// sidecar's 2 MB of clusters are then referenced by its response instead of copied into
// it. The encoding must not be modified afterwards.
func Shared(name string, m proto.Message) Resource {
	url := TypeURL(m)
	opts := proto.MarshalOptions{Deterministic: true, UseCachedSize: true}
	b, start := frame(url, opts.Size(m))
	b, err := opts.MarshalAppend(b, m)
	if err != nil {
		panic("protoconv: " + err.Error())
	}
	return shared(name, url, b, start)
}

// SharedMerged is Shared for a message given as a shared resource's encoding followed by
// more of its fields (which a parser merges into it): a cached resource patched without
// decoding it. The suffix is copied.
func SharedMerged(base Resource, suffix []byte) Resource {
	url, value := base.Any.GetTypeUrl(), base.Any.GetValue()
	b, start := frame(url, len(value)+len(suffix))
	b = append(append(b, value...), suffix...)
	return shared(base.Name, url, b, start)
}

// frame returns a buffer holding a response's resource field and its Any up to a value
// of size bytes, with room for the value, which starts at start.
func frame(url string, size int) (b []byte, start int) {
	anyLen := protowire.SizeTag(anyTypeURL) + protowire.SizeBytes(len(url))
	if size > 0 {
		anyLen += protowire.SizeTag(anyValue) + protowire.SizeBytes(size)
	}
	b = make([]byte, 0, protowire.SizeTag(ResourceField)+protowire.SizeBytes(anyLen))
	b = protowire.AppendTag(b, ResourceField, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(anyLen))
	b = protowire.AppendTag(b, anyTypeURL, protowire.BytesType)
	b = protowire.AppendString(b, url)
	if size > 0 {
		b = protowire.AppendTag(b, anyValue, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(size))
	}
	return b, len(b)
}

// shared returns the resource framed in b (frame), its value from start on.
func shared(name, url string, b []byte, start int) Resource {
	value := b[start:len(b):len(b)]
	return Resource{Name: name, Any: &anypb.Any{TypeUrl: url, Value: value}, Hash: Hash(value), Wire: mem.SliceBuffer(b), NameHash: HashString(name)}
}

// TypeURL is the type URL of m's Any; one string per message type, shared by every Any
// that carries one.
func TypeURL(m proto.Message) string {
	name := m.ProtoReflect().Descriptor().FullName()
	if url, ok := typeURLs.Load(name); ok {
		return url.(string)
	}
	url, _ := typeURLs.LoadOrStore(name, "type.googleapis.com/"+string(name))
	return url.(string)
}

var typeURLs sync.Map // protoreflect.FullName -> string

// Large encodings are written into buffers reused from pools, one per power-of-two size
// class: a route configuration of hundreds of virtual hosts is rebuilt for every proxy a
// change reaches, and a sidecar's clusters (2 MB) are framed into one response per push;
// writing into memory just freed costs less than into fresh pages, and leaves no garbage.
// Smaller buffers (under 64 KiB) are left to the collector.
var buffers = classedPool[byte]{min: 16, max: 26} // 64 KiB to 64 MiB

// Buffer returns an empty slice with capacity at least n, reused when one is pooled.
func Buffer(n int) []byte { return buffers.get(n) }

// Recycle returns a Buffer to the pool. The caller must not use b afterwards, nor must
// anything else hold it.
func Recycle(b []byte) { buffers.put(b) }

// classedPool pools slices by capacity, one sync.Pool per power of two from 1<<min to
// 1<<max; other sizes are left to the collector.
type classedPool[T any] struct {
	min, max int
	pools    [32]sync.Pool
}

// get returns an empty slice with capacity at least n.
func (c *classedPool[T]) get(n int) []T {
	shift := bits.Len(uint(n - 1)) // the smallest class holding n
	if n <= 0 || shift < c.min || shift > c.max {
		return make([]T, 0, n)
	}
	if s, ok := c.pools[shift].Get().(*[]T); ok {
		return (*s)[:0]
	}
	return make([]T, 0, 1<<shift)
}

// put pools s by the largest class its capacity holds.
func (c *classedPool[T]) put(s []T) {
	shift := bits.Len(uint(cap(s))) - 1
	if shift < c.min || shift > c.max {
		return
	}
	s = s[:0]
	c.pools[shift].Put(&s)
}

// Encoding returns the resource's deterministic encoding.
func (r Resource) Encoding() ([]byte, error) {
	if r.Any != nil {
		return r.Any.GetValue(), nil
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(r.Message)
}

// Resource lists of a push are pooled like encodings: a sidecar's thousand clusters are
// listed anew for each of its pushes (~100 KB of Resources), the ADS server encodes them
// in place and drops the list once sent, and a DestinationRule edit lists the clusters of
// every sidecar it reaches. Shorter lists (under 256) are left to the collector.
var resourceLists = classedPool[Resource]{min: 8, max: 16} // 256 to 65,536 resources

// Resources returns an empty list with capacity at least n, reused when one is pooled.
func Resources(n int) []Resource { return resourceLists.get(n) }

// RecycleResources returns a list to the pool, cleared to its capacity. The caller must
// not use rs afterwards, nor must anything else hold it; the resources themselves may
// live on.
func RecycleResources(rs []Resource) {
	clear(rs[:cap(rs)])
	resourceLists.put(rs)
}
