package listener

import (
	"sort"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	httpinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	originaldstv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	originalsrcv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_src/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
)

// Listener filter names.
const (
	originalDstName   = "envoy.filters.listener.original_dst"
	originalSrcName   = "envoy.filters.listener.original_src"
	tlsInspectorName  = "envoy.filters.listener.tls_inspector"
	httpInspectorName = "envoy.filters.listener.http_inspector"
)

func listenerFilter(name string, m proto.Message) *listenerv3.ListenerFilter {
	return &listenerv3.ListenerFilter{Name: name, ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: protoconv.MessageToAny(m)}}
}

func originalDstFilter() *listenerv3.ListenerFilter {
	return listenerFilter(originalDstName, &originaldstv3.OriginalDst{})
}

// originalSrcFilter keeps the client address on TPROXY-captured inbound traffic; 1337 is
// the mark istio-iptables routes back through the proxy.
func originalSrcFilter() *listenerv3.ListenerFilter {
	return listenerFilter(originalSrcName, &originalsrcv3.OriginalSrc{Mark: 1337})
}

// tlsInspectorFilter reads SNI and ALPN; a small initial buffer is enough for a ClientHello
// prefix and bounds memory (Envoy's default is 64KiB).
func tlsInspectorFilter() *listenerv3.ListenerFilter {
	return listenerFilter(tlsInspectorName, &tlsinspectorv3.TlsInspector{
		InitialReadBufferSize: wrapperspb.UInt32(512),
	})
}

func httpInspectorFilter() *listenerv3.ListenerFilter {
	return listenerFilter(httpInspectorName, &httpinspectorv3.HttpInspector{})
}

// inspectorNeeds records, per destination port of a listener's chains (0 for chains
// without a port), which inspectors some chain needs.
type inspectorNeeds map[uint32]struct{ tls, http bool }

// needsOf collects the inspectors inbound chains need: TLS for chains matching the tls
// transport, HTTP for chains matching plaintext HTTP ALPNs.
func needsOf(chains []*listenerv3.FilterChain) inspectorNeeds {
	needs := inspectorNeeds{}
	for _, fc := range chains {
		m := fc.GetFilterChainMatch()
		n := needs[m.GetDestinationPort().GetValue()]
		n.tls = n.tls || m.GetTransportProtocol() == transportTLS
		for _, a := range m.GetApplicationProtocols() {
			n.http = n.http || a == "http/1.1" || a == "h2c"
		}
		needs[m.GetDestinationPort().GetValue()] = n
	}
	return needs
}

// inboundListenerFilters are the listener filters of an inbound listener: original_dst for
// captured traffic, then TLS and HTTP inspectors enabled only on the ports whose chains
// need them. The TLS inspector must run first: the HTTP inspector skips TLS connections.
func (b *builder) inboundListenerFilters(chains []*listenerv3.FilterChain, bindToPort bool) []*listenerv3.ListenerFilter {
	var out []*listenerv3.ListenerFilter
	if !bindToPort {
		out = append(out, originalDstFilter())
		if b.interceptionMode() == interceptionTProxy {
			out = append(out, originalSrcFilter())
		}
	}
	needs := needsOf(chains)
	if f := tlsInspectorFor(needs); f != nil {
		out = append(out, f)
	}
	if f := httpInspectorFor(needs); f != nil {
		out = append(out, f)
	}
	return out
}

// tlsInspectorFor enables the TLS inspector where needed. When catch-all chains need it,
// it is on by default and disabled on ports that do not; otherwise it is enabled only on
// the ports that do.
func tlsInspectorFor(needs inspectorNeeds) *listenerv3.ListenerFilter {
	byDefault := needs[0].tls
	var ports []uint32
	anyNeed := false
	for p, n := range needs {
		anyNeed = anyNeed || n.tls
		if p != 0 && n.tls != byDefault {
			ports = append(ports, p)
		}
	}
	if !anyNeed {
		return nil
	}
	f := tlsInspectorFilter()
	switch {
	case len(ports) == 0:
	case byDefault:
		f.FilterDisabled = portsPredicate(ports)
	default:
		f.FilterDisabled = &listenerv3.ListenerFilterChainMatchPredicate{Rule: &listenerv3.ListenerFilterChainMatchPredicate_NotMatch{
			NotMatch: portsPredicate(ports),
		}}
	}
	return f
}

// httpInspectorFor enables the HTTP inspector on every port except those (including the
// catch-all port 0) whose chains do not match plaintext HTTP.
func httpInspectorFor(needs inspectorNeeds) *listenerv3.ListenerFilter {
	var ports []uint32
	anyNeed := false
	for p, n := range needs {
		anyNeed = anyNeed || n.http
		if !n.http {
			ports = append(ports, p)
		}
	}
	if !anyNeed {
		return nil
	}
	f := httpInspectorFilter()
	if len(ports) > 0 {
		f.FilterDisabled = portsPredicate(ports)
	}
	return f
}

// portsPredicate matches connections to any of the ports (sorted, as [p, p+1) ranges).
func portsPredicate(ports []uint32) *listenerv3.ListenerFilterChainMatchPredicate {
	sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
	rules := make([]*listenerv3.ListenerFilterChainMatchPredicate, 0, len(ports))
	for _, p := range ports {
		rules = append(rules, &listenerv3.ListenerFilterChainMatchPredicate{
			Rule: &listenerv3.ListenerFilterChainMatchPredicate_DestinationPortRange{
				DestinationPortRange: &typev3.Int32Range{Start: int32(p), End: int32(p) + 1},
			},
		})
	}
	if len(rules) == 1 {
		return rules[0]
	}
	return &listenerv3.ListenerFilterChainMatchPredicate{Rule: &listenerv3.ListenerFilterChainMatchPredicate_OrMatch{
		OrMatch: &listenerv3.ListenerFilterChainMatchPredicate_MatchSet{Rules: rules},
	}}
}
