package listener

import (
	"net"
	"strconv"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	mongov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/mongo_proxy/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/route"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/labels"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

const tcpProxyName = "envoy.filters.network.tcp_proxy"

// protocolFilters is the terminal filter stack for a port's protocol: tcp_proxy, preceded
// by mongo_proxy (named like the TCP stats) for MongoDB ports.
func protocolFilters(p protocol.Instance, tcp *tcpproxyv3.TcpProxy) []*listenerv3.Filter {
	proxy := networkFilter(tcpProxyName, tcp)
	if p == protocol.Mongo {
		return []*listenerv3.Filter{networkFilter("envoy.filters.network.mongo_proxy", &mongov3.MongoProxy{StatPrefix: tcp.GetStatPrefix()}), proxy}
	}
	return []*listenerv3.Filter{proxy}
}

// outboundNetworkFilters completes an outbound terminal stack with outbound telemetry.
func (b *builder) outboundNetworkFilters(stack []*listenerv3.Filter) []*listenerv3.Filter {
	return append(b.telemetry.tcp(classOutbound), stack...)
}

// destinationRule is the DestinationRule spec that applies to host h, or nil.
func (b *builder) destinationRule(h host.Name) *networkingv1alpha3.DestinationRule {
	if dr := b.proxy.SidecarScope.DestinationRule(h); dr != nil {
		return dr.Spec()
	}
	return nil
}

// outboundCluster is istiod's outbound cluster name: outbound|port|subset|host.
func outboundCluster(port int, subset string, h host.Name) string {
	return "outbound|" + strconv.Itoa(port) + "|" + subset + "|" + string(h)
}

// singleDestinationFilters proxy to one cluster, with the DestinationRule's TCP settings.
func (b *builder) singleDestinationFilters(cluster, subset string, port *model.Port, dr *networkingv1alpha3.DestinationRule) []*listenerv3.Filter {
	tcp := &tcpproxyv3.TcpProxy{
		StatPrefix:                      cluster,
		ClusterSpecifier:                &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster},
		IdleTimeout:                     dr.GetTrafficPolicy().GetConnectionPool().GetTcp().GetIdleTimeout(),
		MaxDownstreamConnectionDuration: dr.GetTrafficPolicy().GetConnectionPool().GetTcp().GetMaxConnectionDuration(),
	}
	applyHashPolicy(tcp, dr, subset)
	applyTunnel(tcp, dr, subset)
	return b.outboundNetworkFilters(protocolFilters(port.Protocol, tcp))
}

// routeFilters proxy to a VirtualService route's destinations: one cluster, or weighted
// clusters (stats named name.namespace of the VirtualService). The DestinationRule of the
// first destination applies.
func (b *builder) routeFilters(routes []*networkingv1alpha3.RouteDestination, port *model.Port, vs *config.Config) []*listenerv3.Filter {
	svc := b.pc.ServiceForHostname(b.proxy, host.Name(routes[0].GetDestination().GetHost()))
	var dr *networkingv1alpha3.DestinationRule
	if svc != nil {
		dr = b.destinationRule(svc.Hostname)
	}
	if len(routes) == 1 {
		d := routes[0].GetDestination()
		return b.singleDestinationFilters(route.DestinationCluster(d, svc, port.Port), d.GetSubset(), port, dr)
	}
	weighted := &tcpproxyv3.TcpProxy_WeightedCluster{}
	for _, r := range routes {
		if r.GetWeight() <= 0 {
			continue
		}
		rs := b.pc.ServiceForHostname(b.proxy, host.Name(r.GetDestination().GetHost()))
		weighted.Clusters = append(weighted.Clusters, &tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{
			Name:   route.DestinationCluster(r.GetDestination(), rs, port.Port),
			Weight: uint32(r.GetWeight()),
		})
	}
	tcp := &tcpproxyv3.TcpProxy{
		StatPrefix:                      vs.Name + "." + vs.Namespace,
		ClusterSpecifier:                &tcpproxyv3.TcpProxy_WeightedClusters{WeightedClusters: weighted},
		IdleTimeout:                     dr.GetTrafficPolicy().GetConnectionPool().GetTcp().GetIdleTimeout(),
		MaxDownstreamConnectionDuration: dr.GetTrafficPolicy().GetConnectionPool().GetTcp().GetMaxConnectionDuration(),
	}
	applyHashPolicy(tcp, dr, "")
	applyTunnel(tcp, dr, "")
	return b.outboundNetworkFilters(protocolFilters(port.Protocol, tcp))
}

// applyHashPolicy hashes on the source IP when the DestinationRule (or the subset's own
// load balancer, which overrides it) asks for consistent hashing on the source IP.
func applyHashPolicy(tcp *tcpproxyv3.TcpProxy, dr *networkingv1alpha3.DestinationRule, subset string) {
	if dr == nil {
		return
	}
	useSourceIP := dr.GetTrafficPolicy().GetLoadBalancer().GetConsistentHash().GetUseSourceIp()
	for _, s := range dr.GetSubsets() {
		if s.GetName() != subset {
			continue
		}
		if lb := s.GetTrafficPolicy().GetLoadBalancer(); lb != nil {
			useSourceIP = lb.GetConsistentHash().GetUseSourceIp()
		}
		break
	}
	if useSourceIP {
		tcp.HashPolicy = []*typev3.HashPolicy{{PolicySpecifier: &typev3.HashPolicy_SourceIp_{SourceIp: &typev3.HashPolicy_SourceIp{}}}}
	}
}

// applyTunnel tunnels the connection (HTTP CONNECT or POST) when the DestinationRule, or
// the subset's, configures a tunnel.
func applyTunnel(tcp *tcpproxyv3.TcpProxy, dr *networkingv1alpha3.DestinationRule, subset string) {
	t := dr.GetTrafficPolicy().GetTunnel()
	if subset != "" {
		t = nil
		for _, s := range dr.GetSubsets() {
			if s.GetName() == subset {
				t = s.GetTrafficPolicy().GetTunnel()
				break
			}
		}
	}
	if t == nil {
		return
	}
	tcp.TunnelingConfig = &tcpproxyv3.TcpProxy_TunnelingConfig{
		Hostname: net.JoinHostPort(t.GetTargetHost(), strconv.Itoa(int(t.GetTargetPort()))),
		UsePost:  t.GetProtocol() == "POST",
	}
}

// virtualServicesForHost keeps the VirtualServices with a host overlapping h.
func virtualServicesForHost(h host.Name, vss []*config.Config) []*config.Config {
	var out []*config.Config
	for _, c := range vss {
		for _, vh := range c.Spec.(*networkingv1alpha3.VirtualService).GetHosts() {
			if host.Name(vh).Intersects(h) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// staticMatch evaluates what a sidecar can decide at generation time about an L4 or TLS
// match: the gateway (mesh), source labels and namespace, and the listener port.
type staticMatch struct {
	gateways        []string
	sourceLabels    map[string]string
	port            uint32
	sourceNamespace string
}

func (b *builder) matches(m staticMatch, port int) bool {
	gatewayOK := len(m.gateways) == 0 || contains(m.gateways, model.MeshGateway)
	return gatewayOK &&
		labels.Instance(m.sourceLabels).SubsetOf(b.proxy.Labels) &&
		(m.port == 0 || m.port == uint32(port)) &&
		(m.sourceNamespace == "" || m.sourceNamespace == b.proxy.ConfigNamespace)
}
