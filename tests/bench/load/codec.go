package load

import (
	"fmt"
	"math/bits"
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/encoding"
	gproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// clientCodec is the simulated clients' gRPC codec. It decodes discovery responses the way
// a client that only reads the resources it needs would: the resources' Any values alias
// one copy of the received message instead of being copied out one by one. The driver
// shares the machine with the server under test; grpc-go's default decode spends more
// CPU and garbage on a thousand clusters' bytes than the clients' own work, and that CPU
// is taken from the server while it serves the next client. Requests and any other
// message go through the standard codec.
type clientCodec struct{}

var standardCodec = encoding.GetCodecV2(gproto.Name)

func (clientCodec) Name() string { return gproto.Name }

func (clientCodec) Marshal(v any) (mem.BufferSlice, error) { return standardCodec.Marshal(v) }

func (clientCodec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *sotwResponse:
		m.release()
		m.buf = materialize(data)
		return m.decode()
	case *deltaResponse:
		m.release()
		m.buf = materialize(data)
		return decodeDelta(m.buf, &m.DeltaDiscoveryResponse)
	case *discoveryv3.DiscoveryResponse:
		return decodeSotW(data.Materialize(), m)
	case *discoveryv3.DeltaDiscoveryResponse:
		return decodeDelta(data.Materialize(), m)
	}
	return standardCodec.Unmarshal(data, v)
}

// sotwResponse and deltaResponse are responses whose resources alias a copy of the
// received bytes in a responseBuffers buffer, for a client that reads one response at a
// time: release returns the copy once the client has read the response (a stream
// receiving into the same value releases the previous one first). grpc-go hands a
// message over in its HTTP/2 frames' buffers; a fresh contiguous copy of each 2 MB
// response made the driver's collector work as hard as the server under test.
type sotwResponse struct {
	versionInfo, typeURL, nonce string
	// resources are the resources' values (the Anys' value fields), a list reused from
	// one response to the next: a thousand Anys allocated per response were the driver's
	// largest source of garbage.
	resources []resource
	buf       []byte
}

// decode reads buf: version_info, the resources' values, type_url and nonce.
func (r *sotwResponse) decode() error {
	clear(r.resources)
	r.resources = r.resources[:0]
	return sotwFields(r.buf, &r.versionInfo, &r.typeURL, &r.nonce, func(b []byte) error {
		res := resource{}
		err := fields(b, func(f field) error {
			if f.num == 2 {
				res.value = f.bytes
			}
			return nil
		})
		r.resources = append(r.resources, res)
		return err
	})
}

type deltaResponse struct {
	discoveryv3.DeltaDiscoveryResponse
	buf []byte
}

func (r *sotwResponse) release()  { recycle(&r.buf) }
func (r *deltaResponse) release() { recycle(&r.buf) }

// materialize copies data into one buffer of responses.
func materialize(data mem.BufferSlice) []byte {
	b := responses.get(data.Len())
	data.CopyTo(b)
	return b
}

func recycle(b *[]byte) {
	if *b != nil {
		responses.put(*b)
		*b = nil
	}
}

// responses are the buffers the simulated clients receive responses into and copy them
// into.
var responses responseBuffers

// responseBuffers are free lists of buffers by power-of-two size class, which keep what
// they are given (a sync.Pool's are dropped by collections). Before a change the driver
// reserves a buffer for each client it will reach, touched page by page: a buffer fresh
// from the kernel page-faults as it is first written, and the first changes of a run
// (30 clients receiving 2 MB each) cost the driver twice the CPU of later ones, which it
// took from the server under test on the same cores.
type responseBuffers struct {
	mu   sync.Mutex
	free [maxResponseShift + 1][][]byte
}

const maxResponseShift = 30

func responseClass(n int) int { return bits.Len(uint(max(n, 1) - 1)) }

// get returns a buffer of length n.
func (p *responseBuffers) get(n int) []byte {
	c := responseClass(n)
	if c > maxResponseShift {
		return make([]byte, n)
	}
	p.mu.Lock()
	if k := len(p.free[c]); k > 0 {
		b := p.free[c][k-1]
		p.free[c] = p.free[c][:k-1]
		p.mu.Unlock()
		return b[:n]
	}
	p.mu.Unlock()
	return make([]byte, n, 1<<c)
}

// put returns a buffer get returned.
func (p *responseBuffers) put(b []byte) {
	c := responseClass(cap(b))
	if cap(b) != 1<<c || c > maxResponseShift {
		return
	}
	p.mu.Lock()
	p.free[c] = append(p.free[c], b[:0])
	p.mu.Unlock()
}

// reserve makes sure a free buffer is ready for each size in sizes, touching the pages
// of those it allocates.
func (p *responseBuffers) reserve(sizes []int) {
	var want [maxResponseShift + 1]int
	for _, n := range sizes {
		if c := responseClass(n); c <= maxResponseShift {
			want[c]++
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for c, n := range want {
		for len(p.free[c]) < n {
			b := make([]byte, 1<<c)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			p.free[c] = append(p.free[c], b[:0])
		}
	}
}

// field is one field of an encoded message: its number and, for length-delimited fields,
// its bytes.
type field struct {
	num   protowire.Number
	bytes []byte
}

// fields calls f on each field of b, skipping those that are not length-delimited.
func fields(b []byte, f func(field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := f(field{num, v}); err != nil {
			return err
		}
	}
	return nil
}

// decodeSotW fills m with version_info, resources, type_url and nonce of an encoded
// DiscoveryResponse; the rest (control plane, canary) is not read.
func decodeSotW(b []byte, m *discoveryv3.DiscoveryResponse) error {
	proto.Reset(m)
	var typeURL string
	return sotwFields(b, &m.VersionInfo, &m.TypeUrl, &m.Nonce, func(b []byte) error {
		a, err := decodeAny(b, &typeURL)
		m.Resources = append(m.Resources, a)
		return err
	})
}

// sotwFields reads an encoded DiscoveryResponse's version_info, type_url and nonce into
// the strings given (empty when absent), and calls resource with each resource's Any.
func sotwFields(b []byte, version, typeURL, nonce *string, resource func([]byte) error) error {
	*version, *typeURL, *nonce = "", "", ""
	return fields(b, func(f field) error {
		switch f.num {
		case 1:
			*version = string(f.bytes)
		case 2:
			if err := resource(f.bytes); err != nil {
				return fmt.Errorf("DiscoveryResponse.resources: %w", err)
			}
		case 4:
			*typeURL = string(f.bytes)
		case 5:
			*nonce = string(f.bytes)
		}
		return nil
	})
}

// decodeDelta fills m with type_url, nonce, resources (name, version, resource) and
// removed_resources of an encoded DeltaDiscoveryResponse.
func decodeDelta(b []byte, m *discoveryv3.DeltaDiscoveryResponse) error {
	proto.Reset(m)
	var typeURL string
	return fields(b, func(f field) error {
		switch f.num {
		case 1:
			m.SystemVersionInfo = string(f.bytes)
		case 2:
			r := &discoveryv3.Resource{}
			err := fields(f.bytes, func(f field) error {
				switch f.num {
				case 1:
					r.Version = string(f.bytes)
				case 2:
					a, err := decodeAny(f.bytes, &typeURL)
					r.Resource = a
					return err
				case 3:
					r.Name = string(f.bytes)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("DeltaDiscoveryResponse.resources: %w", err)
			}
			m.Resources = append(m.Resources, r)
		case 4:
			m.TypeUrl = string(f.bytes)
		case 5:
			m.Nonce = string(f.bytes)
		case 6:
			m.RemovedResources = append(m.RemovedResources, string(f.bytes))
		}
		return nil
	})
}

// decodeAny returns an Any whose value aliases b. Its type URL is typeURL when they are
// equal: every resource of a response repeats it.
func decodeAny(b []byte, typeURL *string) (*anypb.Any, error) {
	a := &anypb.Any{}
	err := fields(b, func(f field) error {
		switch f.num {
		case 1:
			if string(f.bytes) != *typeURL {
				*typeURL = string(f.bytes)
			}
			a.TypeUrl = *typeURL
		case 2:
			a.Value = f.bytes
		}
		return nil
	})
	return a, err
}

// clientBuffers is the simulated clients' gRPC buffer pool, over the same free lists as
// their response copies: grpc-go's default zeroes each buffer it hands out, and the
// clients receive a sidecar's 2 MB of clusters into frame buffers on every push, all of
// them held until the message is complete. Frames are read over the whole buffer, so no
// stale byte is ever read.
type clientBuffers struct{}

func (clientBuffers) Get(n int) *[]byte {
	b := responses.get(n)
	return &b
}

func (clientBuffers) Put(b *[]byte) { responses.put(*b) }
