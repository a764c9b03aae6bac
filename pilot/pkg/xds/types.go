package xds

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
)

// Type URLs served.
const (
	ClusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	RouteType    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	EndpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	SecretType   = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
	// DebugType is istiod's debug resource type: a request names a debug endpoint.
	DebugType = "istio.io/debug"
	// SynczType is istiod's syncz type (ClientConfig per connected proxy), used by istioctl.
	SynczType = "istio.io/debug/syncz"
)

// pushOrder is the order types are pushed in on a full push: clusters before the
// endpoints they use, listeners before the routes they name (Envoy's make-before-break).
var pushOrder = []string{ClusterType, EndpointType, ListenerType, RouteType, SecretType}

// ShortName is the xDS type's short name (cds, lds, ...) for logs and metrics.
func ShortName(typeURL string) string {
	switch typeURL {
	case ClusterType:
		return "cds"
	case ListenerType:
		return "lds"
	case RouteType:
		return "rds"
	case EndpointType:
		return "eds"
	case SecretType:
		return "sds"
	case DebugType:
		return "debug"
	case SynczType:
		return "syncz"
	}
	return typeURL
}

// Resource is one generated resource (protoconv.Resource): a message, or a ready-made Any
// with its hash.
type Resource = protoconv.Resource

// Generator produces one type of resource for a proxy. names are the names the proxy
// subscribed to; nil means all (wildcard). Generators must be pure functions of their
// inputs and safe for concurrent use. The list a generator returns is the server's: it
// encodes the resources in place and, once they are sent, returns the list to
// protoconv's pool (protoconv.Resources), which generators may draw it from.
type Generator interface {
	Generate(pc *model.PushContext, p *model.Proxy, names []string, req *model.PushRequest) ([]Resource, error)
}

// DeltaGenerator is a Generator that can also answer with changes: what istiod's delta
// generators do for CDS. Delta xDS pushes then send what changed without the generator
// producing, and the server comparing, the thousands of resources that did not.
type DeltaGenerator interface {
	Generator
	// GenerateDelta returns the resources that may have changed since the generator's
	// last answer on the connection (p.Memo), Generate's or GenerateDelta's, with the
	// names of those gone, and true; or, when it cannot tell, every resource and false,
	// as Generate. The server asks only when the client was sent that last answer.
	GenerateDelta(pc *model.PushContext, p *model.Proxy, names []string, req *model.PushRequest) (rs []Resource, removed []string, delta bool, err error)
}

// GeneratorFunc adapts a function to Generator.
type GeneratorFunc func(pc *model.PushContext, p *model.Proxy, names []string, req *model.PushRequest) ([]Resource, error)

// Generate calls f.
func (f GeneratorFunc) Generate(pc *model.PushContext, p *model.Proxy, names []string, req *model.PushRequest) ([]Resource, error) {
	return f(pc, p, names, req)
}

// recycle returns the pooled encodings to their pool: es must not be used afterwards.
// Only a response that was sent (gRPC copied it) or skipped may be recycled.
func recycle(es []Resource) {
	for _, e := range es {
		if e.Pooled {
			protoconv.Recycle(e.Any.Value)
		}
	}
}

// discard drops a generated response that is not sent: its pooled encodings and its
// list go back to their pools.
func discard(es []Resource) {
	recycle(es)
	protoconv.RecycleResources(es)
}

// encode readies a generator's resources for the wire, in place (a generator's list is
// the server's): each gets its Any, marshalled from its message when it has none, and
// the hash of its encoding.
func encode(rs []Resource) error {
	for i := range rs {
		r := &rs[i]
		if r.Any != nil {
			if r.Hash == 0 {
				r.Hash = protoconv.Hash(r.Any.Value)
			}
			continue
		}
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r.Message)
		if err != nil {
			return err
		}
		r.Any = &anypb.Any{TypeUrl: protoconv.TypeURL(r.Message), Value: b}
		r.Hash, r.Pooled, r.Wire = protoconv.Hash(b), false, nil
	}
	return nil
}

// setHash hashes a whole response: names and content, order-independent.
func setHash(es []Resource) uint64 {
	var sum uint64
	for _, e := range es {
		nh := e.NameHash
		if nh == 0 {
			nh = protoconv.HashString(e.Name)
		}
		sum += nh ^ e.Hash
	}
	return sum + uint64(len(es))
}
