package listener

import (
	"net/netip"
	"sort"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/envoyfilter"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// inboundChain describes the filter chains of one inbound port: a port the workload serves
// (from a Service or a Sidecar ingress listener), or a passthrough catch-all.
type inboundChain struct {
	// cluster is where traffic goes: inbound|<targetPort>|| or InboundPassthroughCluster.
	cluster string
	// port is the service (or Sidecar ingress) port; its number names route decorators.
	port *model.Port
	// targetPort is the workload port matched on; 0 for the catch-all chains.
	targetPort uint32
	// bind names the chains (bind_targetPort) and, with bindToPort, is the listen address.
	bind       string
	bindToPort bool
	// passthrough marks the catch-all chains, which have fixed names.
	passthrough bool
	// hostname identifies the destination in trace decorators.
	hostname string
	// source is the Sidecar the chain comes from, recorded in chain metadata.
	source *config.Meta
}

// name is the filter chain name: fixed names for passthrough chains, bind_port otherwise.
func (c *inboundChain) name(p chainProtocol) string {
	if c.passthrough {
		if p == chainHTTP {
			return virtualInboundCatchAllHTTP
		}
		return VirtualInboundListenerName
	}
	return listenerName(c.bind, int(c.targetPort))
}

// httpStatPrefix is the HCM stat prefix: the cluster for passthrough, inbound_<name> else.
func (c *inboundChain) httpStatPrefix() string {
	if c.passthrough {
		return c.cluster + ";"
	}
	return "inbound_" + c.name(chainHTTP) + ";"
}

// inboundListeners returns virtualInbound (unless the proxy does not capture traffic) and
// a listener for each inbound port configured to bind to a real port.
func (b *builder) inboundListeners() []*listenerv3.Listener {
	var virtualChains []*listenerv3.FilterChain
	var out []*listenerv3.Listener
	for _, c := range b.inboundChainConfigs() {
		chains := b.inboundFilterChains(c, b.peerAuthn.ModeForPort(c.targetPort))
		if c.bindToPort {
			out = append(out, b.customInboundListener(c, chains))
			continue
		}
		virtualChains = append(virtualChains, chains...)
	}
	if b.interceptionMode() != interceptionNone {
		out = append([]*listenerv3.Listener{b.virtualInboundListener(virtualChains)}, out...)
	}
	return out
}

// inboundChainConfigs lists the workload's inbound ports in target port order: those of the
// Sidecar's ingress listeners if it has any, else those of the services that select it.
// When several claim a target port, the first (oldest service) wins.
func (b *builder) inboundChainConfigs() []*inboundChain {
	var all []*inboundChain
	if ingress := b.proxy.SidecarScope.Sidecar.GetIngress(); len(ingress) > 0 {
		for _, il := range ingress {
			c := b.sidecarIngressChain(il)
			if b.canBind(c.bindToPort, il.GetBind(), c.port.Port, c.port.Protocol, false) {
				all = append(all, c)
			}
		}
	} else if b.interceptionMode() != interceptionNone {
		for _, t := range b.proxy.ServiceTargets {
			c := b.serviceTargetChain(t)
			if b.canBind(c.bindToPort, b.wildcard, t.TargetPort, t.Port.Protocol, true) {
				all = append(all, c)
			}
		}
	}
	byPort := map[uint32]bool{}
	var out []*inboundChain
	for _, c := range all {
		if byPort[c.targetPort] {
			continue
		}
		byPort[c.targetPort] = true
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].targetPort < out[j].targetPort })
	return out
}

func (b *builder) serviceTargetChain(t model.ServiceTarget) *inboundChain {
	return &inboundChain{
		cluster:    inboundCluster(t.TargetPort),
		port:       t.Port,
		targetPort: uint32(t.TargetPort),
		bind:       b.wildcard,
		hostname:   string(t.Service.Hostname),
	}
}

// sidecarIngressChain is the chain of a Sidecar ingress listener. Without an explicit bind
// it binds to the proxy's IP; the Sidecar (name.namespace) stands in for the hostname.
func (b *builder) sidecarIngressChain(il *networkingv1alpha3.IstioIngressListener) *inboundChain {
	scope := b.proxy.SidecarScope
	port := &model.Port{
		Name:     il.GetPort().GetName(),
		Port:     int(il.GetPort().GetNumber()),
		Protocol: protocol.Parse(il.GetPort().GetProtocol()),
	}
	c := &inboundChain{
		cluster:    inboundCluster(port.Port),
		port:       port,
		targetPort: il.GetPort().GetNumber(),
		bind:       il.GetBind(),
		bindToPort: b.bindToPort(il.GetCaptureMode()),
		hostname:   scope.Name + "." + scope.Namespace,
	}
	if scope.Config != nil {
		c.source = &scope.Config.Meta
	}
	if c.bind == "" {
		c.bind = b.inboundBindIP()
	}
	return c
}

// bindToPort decides whether a Sidecar listener binds a real port: its capture mode if
// set, else whether the proxy captures traffic at all.
func (b *builder) bindToPort(mode networkingv1alpha3.CaptureMode) bool {
	if mode == networkingv1alpha3.CaptureMode_DEFAULT {
		return b.interceptionMode() == interceptionNone
	}
	return mode == networkingv1alpha3.CaptureMode_NONE
}

// inboundBindIP is the proxy's first global unicast IP, else the wildcard.
func (b *builder) inboundBindIP() string {
	for _, ip := range b.proxy.IPAddresses {
		if a, err := netip.ParseAddr(ip); err == nil && a.IsGlobalUnicast() {
			return ip
		}
	}
	return b.wildcard
}

func inboundCluster(port int) string { return "inbound|" + strconv.Itoa(port) + "||" }

// inboundFilterChains builds the chains of one inbound port for its mTLS mode.
func (b *builder) inboundFilterChains(c *inboundChain, mode model.MutualTLSMode) []*listenerv3.FilterChain {
	cp, ok := chainProtocolOf(c.port.Protocol)
	if !ok {
		cp = chainTCP
	}
	var out []*listenerv3.FilterChain
	for _, o := range inboundMatchOptions(mode, cp) {
		fc := &listenerv3.FilterChain{
			FilterChainMatch: inboundChainMatch(o, c.targetPort),
			Name:             c.name(o.protocol),
		}
		if o.tls {
			fc.TransportSocket = tlsTransportSocket(b.inboundTLS(mode, o.protocol))
		}
		if o.protocol == chainHTTP {
			fc.Filters = b.inboundHTTPFilters(c)
		} else {
			fc.Filters = b.inboundTCPFilters(c)
		}
		if c.source != nil {
			fc.Metadata = configMetadata(c.source)
		}
		out = append(out, fc)
	}
	return out
}

// inboundHTTPFilters are the network filters of an inbound HTTP chain: metadata exchange,
// then the HTTP connection manager with an inline route to the inbound cluster.
func (b *builder) inboundHTTPFilters(c *inboundChain) []*listenerv3.Filter {
	return []*listenerv3.Filter{
		tcpMetadataExchangeFilter(),
		b.hcmFilter(hcmOpts{
			class:       classInbound,
			statPrefix:  c.httpStatPrefix(),
			routeConfig: envoyfilter.PatchRouteConfiguration(b.patches, envoyfilter.SidecarInbound, inboundRouteConfig(c)),
			protocol:    c.port.Protocol,
		}),
	}
}

// inboundTCPFilters are the network filters of an inbound TCP chain: metadata exchange,
// telemetry, and the protocol's proxy filters ending in tcp_proxy to the inbound cluster.
func (b *builder) inboundTCPFilters(c *inboundChain) []*listenerv3.Filter {
	tcp := &tcpproxyv3.TcpProxy{
		StatPrefix:       c.cluster,
		ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: c.cluster},
	}
	out := []*listenerv3.Filter{tcpMetadataExchangeFilter()}
	out = append(out, b.telemetry.tcp(classInbound)...)
	return append(out, protocolFilters(c.port.Protocol, tcp)...)
}

// customInboundListener is a real listener for an inbound port that binds to its port.
func (b *builder) customInboundListener(c *inboundChain, chains []*listenerv3.FilterChain) *listenerv3.Listener {
	return b.inboundListener(c.name(chainTCP), c.bind, c.targetPort, true, chains)
}

// inboundListener builds an inbound listener around its chains.
func (b *builder) inboundListener(name, bind string, port uint32, bindToPort bool, chains []*listenerv3.FilterChain) *listenerv3.Listener {
	l := &listenerv3.Listener{
		Name:                                 name,
		Address:                              socketAddress(bind, port),
		TrafficDirection:                     corev3.TrafficDirection_INBOUND,
		ContinueOnListenerFiltersTimeout:     true,
		MaxConnectionsToAcceptPerSocketEvent: maxConnectionsPerSocketEvent(),
		FilterChains:                         chains,
		ListenerFiltersTimeout:               b.mesh.GetProtocolDetectionTimeout(),
	}
	if !bindToPort && b.interceptionMode() == interceptionTProxy {
		l.Transparent = boolValue(true)
	}
	l.ListenerFilters = b.inboundListenerFilters(chains, bindToPort)
	return l
}
