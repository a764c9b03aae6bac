package listener

import (
	"sort"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// maxConnectionsPerSocketEvent is istiod's default for listeners that accept connections
// themselves: one connection per socket event, for fairness across worker threads.
func maxConnectionsPerSocketEvent() *wrapperspb.UInt32Value { return wrapperspb.UInt32(1) }

func boolValue(v bool) *wrapperspb.BoolValue { return wrapperspb.Bool(v) }

// tcpProxyFilter is a tcp_proxy to one cluster, its stats named after the cluster.
func tcpProxyFilter(cluster string) *listenerv3.Filter {
	return networkFilter(tcpProxyName, &tcpproxyv3.TcpProxy{
		StatPrefix:       cluster,
		ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster},
	})
}

// allowAny reports whether traffic to unknown destinations passes through.
func (b *builder) allowAny() bool {
	return b.proxy.SidecarScope.OutboundTrafficPolicy.GetMode() != networkingv1alpha3.OutboundTrafficPolicy_REGISTRY_ONLY
}

// catchAllFilters send traffic no listener claims to PassthroughCluster (ALLOW_ANY) or
// BlackHoleCluster (REGISTRY_ONLY), with outbound telemetry.
func (b *builder) catchAllFilters() []*listenerv3.Filter {
	cluster := BlackHoleCluster
	if b.allowAny() {
		cluster = PassthroughCluster
	}
	return append(b.telemetry.tcp(classOutbound), tcpProxyFilter(cluster))
}

// virtualOutboundListener is the listener iptables redirects outbound traffic to. It hands
// connections to the listener of their original destination; what none claims takes the
// catch-all chain. Connections addressed to 15001 itself are dropped to avoid loops.
func (b *builder) virtualOutboundListener() *listenerv3.Listener {
	if b.interceptionMode() == interceptionNone {
		return nil
	}
	port := uint32(b.mesh.GetProxyListenPort())
	l := &listenerv3.Listener{
		Name:             VirtualOutboundListenerName,
		Address:          socketAddress(b.wildcard, port),
		UseOriginalDst:   boolValue(true),
		TrafficDirection: corev3.TrafficDirection_OUTBOUND,
		FilterChains: []*listenerv3.FilterChain{
			{
				Name:             virtualOutboundBlackholeChain,
				FilterChainMatch: &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(port)},
				Filters:          append(b.telemetry.tcp(classOutbound), tcpProxyFilter(BlackHoleCluster)),
			},
			{Name: virtualOutboundCatchAllChain, Filters: b.catchAllFilters()},
		},
		MaxConnectionsToAcceptPerSocketEvent: maxConnectionsPerSocketEvent(),
	}
	if b.interceptionMode() == interceptionTProxy {
		l.Transparent = boolValue(true)
	}
	return l
}

// virtualInboundListener is the listener iptables redirects inbound traffic to: a
// blackhole for connections to 15006 itself, the passthrough chains for ports no service
// declares, then the chains of the workload's ports.
func (b *builder) virtualInboundListener(portChains []*listenerv3.FilterChain) *listenerv3.Listener {
	chains := []*listenerv3.FilterChain{b.inboundBlackhole()}
	chains = append(chains, b.passthroughChains()...)
	chains = append(chains, portChains...)
	return b.inboundListener(VirtualInboundListenerName, b.wildcard, uint32(b.mesh.GetProxyInboundListenPort()), false, chains)
}

func (b *builder) inboundBlackhole() *listenerv3.FilterChain {
	filters := []*listenerv3.Filter{tcpMetadataExchangeFilter()}
	filters = append(filters, b.telemetry.tcp(classInbound)...)
	return &listenerv3.FilterChain{
		Name:             virtualInboundBlackholeChain,
		FilterChainMatch: &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(uint32(b.mesh.GetProxyInboundListenPort()))},
		Filters:          append(filters, tcpProxyFilter(BlackHoleCluster)),
	}
}

// passthroughChains accept inbound traffic to ports the workload's services do not
// declare, in the workload's mTLS mode; ports with their own PeerAuthentication mode that
// no declared port covers get their own passthrough chains.
func (b *builder) passthroughChains() []*listenerv3.FilterChain {
	chains := b.inboundFilterChains(passthroughChain(0), b.peerAuthn.ModeForPort(0))
	for _, port := range b.undeclaredPolicyPorts() {
		chains = append(chains, b.inboundFilterChains(passthroughChain(port), b.peerAuthn.ModeForPort(port))...)
	}
	return chains
}

func passthroughChain(targetPort uint32) *inboundChain {
	return &inboundChain{
		cluster:     InboundPassthroughCluster,
		port:        &model.Port{Name: VirtualInboundListenerName, Port: 0, Protocol: protocol.Unsupported},
		targetPort:  targetPort,
		passthrough: true,
	}
}

// undeclaredPolicyPorts lists, sorted, the ports with a port-level mTLS setting that
// neither the Sidecar's ingress (if it has any) nor the workload's services declare.
func (b *builder) undeclaredPolicyPorts() []uint32 {
	declared := map[uint32]bool{}
	if ingress := b.proxy.SidecarScope.Sidecar.GetIngress(); len(ingress) > 0 {
		for _, il := range ingress {
			declared[il.GetPort().GetNumber()] = true
		}
	} else {
		for _, t := range b.proxy.ServiceTargets {
			declared[uint32(t.TargetPort)] = true
		}
	}
	var out []uint32
	for port := range b.peerAuthn.PerPort {
		if !declared[port] {
			out = append(out, port)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
