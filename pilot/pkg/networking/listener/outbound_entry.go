package listener

import (
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// transportSocketConnectTimeout bounds TLS handshakes on outbound listener chains, against
// slow-handshake attacks (istiod's PILOT_GATEWAY_TRANSPORT_SOCKET_CONNECT_TIMEOUT).
const transportSocketConnectTimeout = 15 * time.Second

// chainOpts describes one outbound filter chain before it is built: what it matches, and
// either an HTTP connection manager or a network filter stack.
type chainOpts struct {
	sniHosts  []string
	cidrs     []string
	alpn      []string
	transport string
	metadata  *corev3.Metadata
	// http is set for HTTP chains; its stat prefix is filled in when the listener is built.
	http *hcmOpts
	// filters are the network filters of TCP chains.
	filters []*listenerv3.Filter
}

// conflict is how a service port's listener relates to one already on its key.
type conflict int

const (
	noConflict conflict = iota
	httpOverTCP
	tcpOverHTTP
	tcpOverTCP
	tcpOverAuto
	autoOverHTTP
	autoOverTCP
)

// addOutbound adds a service port's chains to the listener on its (bind, port), creating
// it, merging into it or skipping as istiod resolves conflicts: HTTP shares one listener
// per port through RDS, TCP chains merge when their matches differ, HTTP and TCP on one
// port turn into protocol detection, and MySQL/MongoDB ports never share. It returns the
// key and whether the key is new.
func (b *builder) addOutbound(o outboundOpts, entries map[listenerKey]*outboundEntry, vss []*config.Config) (listenerKey, bool) {
	if o.service != nil && o.service.ExternalName != "" {
		return listenerKey{}, false // ExternalName services are aliases: no listeners
	}
	cp, ok := chainProtocolOf(o.port.Protocol)
	if !ok {
		return listenerKey{}, false
	}
	o = b.resolveBind(o, cp)
	key := listenerKey{o.bind.primary(), o.port.Port}
	cur := entries[key]
	if cur != nil && cur.locked {
		return key, false
	}
	chains, listenerProtocol, kind, skip := b.outboundChains(o, cp, cur, vss)
	if skip || (cur != nil && conflictsOnWellKnownPort(o.port.Protocol, cur.protocol, kind)) {
		return key, false
	}
	switch kind {
	case noConflict, autoOverHTTP:
		entries[key] = &outboundEntry{port: o.port, bind: o.bind, chains: chains, protocol: listenerProtocol}
		return key, cur == nil
	case httpOverTCP, tcpOverHTTP, autoOverTCP:
		cur.merge(chains)
		cur.protocol = protocol.Unsupported
	default:
		cur.merge(chains)
	}
	return key, false
}

// resolveBind picks the listen address when the egress listener set none: the service's
// address for TCP and detected ports (the wildcard plus a CIDR match for CIDR addresses),
// the wildcard for HTTP, which shares one listener per port.
func (b *builder) resolveBind(o outboundOpts, cp chainProtocol) outboundOpts {
	if o.bind.primary() != "" {
		return o
	}
	if cp == chainHTTP {
		o.bind.addrs = []string{b.wildcard}
		return o
	}
	addr := o.service.DefaultAddress
	switch {
	case addr == "":
	case strings.Contains(addr, "/"):
		o.bind.addrs = []string{b.wildcard}
		o.cidrs = []string{addr}
	default:
		o.bind.addrs = []string{addr}
	}
	return o
}

// outboundChains builds the chains a service port contributes, the protocol the listener
// then has, and how it conflicts with the current entry; skip means the port adds nothing.
func (b *builder) outboundChains(o outboundOpts, cp chainProtocol, cur *outboundEntry, vss []*config.Config) (
	chains []*chainOpts, listenerProtocol protocol.Instance, kind conflict, skip bool,
) {
	listenerProtocol = o.port.Protocol
	if o.port.Protocol == protocol.HTTPProxy {
		return []*chainOpts{b.httpChain(o, cp)}, listenerProtocol, noConflict, false
	}
	switch cp {
	case chainHTTP:
		if cur != nil {
			if !cur.protocol.IsTCP() {
				return nil, "", noConflict, true
			}
			kind = httpOverTCP
		}
		chain := b.httpChain(o, cp)
		if o.bind.primary() == b.wildcard {
			// Behind the HTTP inspector, so other TCP traffic to this port passes through.
			chain.alpn, chain.transport = plaintextHTTPALPNs, transportRawBuffer
			listenerProtocol = protocol.Unsupported
		}
		return []*chainOpts{chain}, listenerProtocol, kind, false
	case chainTCP:
		if cur != nil {
			kind = tcpOverAuto
			if cur.protocol.IsHTTP() {
				kind = tcpOverHTTP
			} else if cur.protocol.IsTCP() {
				kind = tcpOverTCP
			}
		}
		return b.tcpChains(o, vss), listenerProtocol, kind, false
	}
	if cur != nil {
		if !cur.protocol.IsHTTP() && !cur.protocol.IsTCP() {
			return nil, "", noConflict, true
		}
		kind = autoOverTCP
		if cur.protocol.IsHTTP() {
			kind = autoOverHTTP
		}
	}
	chain := b.httpChain(o, cp)
	chain.alpn, chain.transport = plaintextHTTPALPNs, transportRawBuffer
	return append(b.tcpChains(o, vss), chain), listenerProtocol, kind, false
}

// httpChain is the HTTP chain of a service port. Its routes come over RDS: one route
// configuration per port, except for detected ports on a service's own address, which get
// one per service ("host:port"); Unix socket listeners are named by their socket.
func (b *builder) httpChain(o outboundOpts, cp chainProtocol) *chainOpts {
	rds := strconv.Itoa(o.port.Port)
	switch {
	case o.port.Port == 0:
		rds = o.bind.primary()
	case cp == chainAuto && o.bind.primary() != b.wildcard && o.service != nil:
		rds = string(o.service.Hostname) + ":" + strconv.Itoa(o.port.Port)
	}
	return &chainOpts{http: &hcmOpts{
		class:     classOutbound,
		rds:       rds,
		protocol:  o.port.Protocol,
		httpProxy: o.port.Protocol == protocol.HTTPProxy,
	}}
}

// conflictsOnWellKnownPort reports whether a conflict involves MySQL or MongoDB, which
// are server-first and break behind protocol detection, with another protocol.
func conflictsOnWellKnownPort(incoming, existing protocol.Instance, kind conflict) bool {
	if kind == noConflict {
		return false
	}
	serverFirst := func(p protocol.Instance) bool { return p == protocol.MySQL || p == protocol.Mongo }
	return (serverFirst(incoming) || serverFirst(existing)) && incoming != existing
}

// merge appends the incoming chains whose matches no chain of the entry already has.
func (e *outboundEntry) merge(incoming []*chainOpts) {
	if e.matched == nil {
		e.matched = make(map[string]bool, len(e.chains))
		for _, c := range e.chains {
			e.matched[c.matchKey()] = true
		}
	}
	for _, c := range incoming {
		if k := c.matchKey(); !e.matched[k] {
			e.matched[k] = true
			e.chains = append(e.chains, c)
		}
	}
}

// outboundListener builds the listener of an entry. A chain matching everything becomes
// the default chain (kept as the only chain if it is alone); without one, unmatched
// traffic takes the catch-all PassthroughFilterChain.
func (b *builder) outboundListener(e *outboundEntry) *listenerv3.Listener {
	name := listenerName(e.bind.primary(), e.port.Port)
	l := &listenerv3.Listener{
		Name:                             name,
		Address:                          socketAddress(e.bind.primary(), uint32(e.port.Port)),
		TrafficDirection:                 corev3.TrafficDirection_OUTBOUND,
		ContinueOnListenerFiltersTimeout: true,
		ListenerFilters:                  outboundListenerFilters(e.chains),
		ListenerFiltersTimeout:           durationpb.New(0),
	}
	if e.bind.bindToPort {
		l.MaxConnectionsToAcceptPerSocketEvent = maxConnectionsPerSocketEvent()
	} else {
		l.BindToPort = boolValue(false)
	}
	if hasHTTPInspector(l.ListenerFilters) {
		// Only detection waits on the client; the mesh decides for how long.
		l.ListenerFiltersTimeout = b.mesh.GetProtocolDetectionTimeout()
	}
	for _, c := range e.chains {
		fc := &listenerv3.FilterChain{
			Metadata:                      c.metadata,
			TransportSocketConnectTimeout: durationpb.New(transportSocketConnectTimeout),
			Filters:                       c.filters,
		}
		if c.http != nil {
			o := *c.http
			o.statPrefix = "outbound_" + name + ";"
			fc.Filters = []*listenerv3.Filter{b.hcmFilter(o)}
		}
		if c.isMatchAll() {
			l.DefaultFilterChain = fc
			continue
		}
		fc.FilterChainMatch = c.match()
		l.FilterChains = append(l.FilterChains, fc)
	}
	switch {
	case l.DefaultFilterChain != nil && len(l.FilterChains) == 0:
		l.FilterChains, l.DefaultFilterChain = []*listenerv3.FilterChain{l.DefaultFilterChain}, nil
	case l.DefaultFilterChain == nil:
		l.DefaultFilterChain = &listenerv3.FilterChain{
			FilterChainMatch: &listenerv3.FilterChainMatch{},
			Name:             passthroughFilterChain,
			Filters:          b.catchAllFilters(),
		}
	}
	return l
}

// outboundListenerFilters adds the TLS inspector when a chain matches SNI, and the HTTP
// inspector when one matches plaintext HTTP ALPNs.
func outboundListenerFilters(chains []*chainOpts) []*listenerv3.ListenerFilter {
	needTLS, needHTTP := false, false
	for _, c := range chains {
		needTLS = needTLS || len(c.sniHosts) > 0
		needHTTP = needHTTP || len(c.alpn) > 0
	}
	var out []*listenerv3.ListenerFilter
	if needTLS {
		out = append(out, tlsInspectorFilter())
	}
	if needHTTP {
		out = append(out, httpInspectorFilter())
	}
	return out
}

func hasHTTPInspector(fs []*listenerv3.ListenerFilter) bool {
	for _, f := range fs {
		if f.GetName() == httpInspectorName {
			return true
		}
	}
	return false
}
