package cluster

import (
	"strconv"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// OutboundName is the name of the outbound cluster for port of host h and a
// DestinationRule subset ("" for the whole service): outbound|PORT|SUBSET|HOST.
func OutboundName(subset string, h host.Name, port int) string {
	return "outbound|" + strconv.Itoa(port) + "|" + subset + "|" + string(h)
}

// istioSNI is the SNI Istio mTLS uses for a cluster: outbound_.PORT_.SUBSET_.HOST.
func istioSNI(subset string, h host.Name, port int) string {
	return "outbound_." + strconv.Itoa(port) + "_." + subset + "_." + string(h)
}

// BuildOutbound builds the sidecar cluster for port of svc and a DestinationRule subset
// ("" for the service's default cluster), exactly as BuildClusters emits it for proxy p:
// DestinationRule traffic policy, auto mTLS and metadata included. It returns nil when
// istiod emits no such cluster: an unknown port or subset, a UDP port, an alias service, or
// a DNS cluster without endpoints.
func BuildOutbound(pc *model.PushContext, p *model.Proxy, svc *model.Service, port int, subset string) *clusterv3.Cluster {
	sp := svc.Port(port)
	if sp == nil || sp.Protocol == protocol.UDP || svc.Resolution == model.Alias {
		return nil
	}
	b := newBuilder(pc, p)
	for _, c := range b.outboundClusters(b.outbound(svc, sp)) {
		if c.Name == OutboundName(subset, svc.Hostname, port) {
			return c
		}
	}
	return nil
}

// outbound is one service port being turned into clusters.
type outbound struct {
	svc  *model.Service
	port *model.Port
	rule *model.ConsolidatedDestinationRule
	sans []string
}

// outbound resolves what the clusters of a service port read besides the service: the
// DestinationRule that applies from the proxy and the service accounts behind it.
func (b *builder) outbound(svc *model.Service, port *model.Port) *outbound {
	return &outbound{svc: svc, port: port, rule: b.pc.OutboundDestinationRule(b.proxy, svc), sans: b.pc.ServiceAccounts(svc)}
}

// outboundClusters builds the default cluster of a service port followed by one cluster
// per subset of its DestinationRule. A DNS service without endpoints yields nothing.
func (b *builder) outboundClusters(o *outbound) []*clusterv3.Cluster {
	svc, port := o.svc, o.port
	dr := o.rule.Spec()
	policy, _ := model.PortTrafficPolicy(dr.GetTrafficPolicy(), port.Port)
	passthroughLB := isPassthroughLB(dr.GetTrafficPolicy())
	d := b.outboundDraft(o, "", b.discoveryType(svc))
	if d == nil {
		return nil
	}
	if svc.KeepsDrainingEndpoints() {
		// Persistent sessions must keep reaching hosts that are draining.
		d.c.CommonLbConfig.OverrideHostStatus = &corev3.HealthStatusSet{Statuses: []corev3.HealthStatus{
			corev3.HealthStatus_HEALTHY, corev3.HealthStatus_DRAINING, corev3.HealthStatus_UNKNOWN, corev3.HealthStatus_DEGRADED,
		}}
	}
	b.configureOutbound(d, o, withMeshDefaults(b.mesh, policy), "", b.pc.ServiceMTLSMode(svc, port.Port, passthroughLB))
	if svc.MeshExternal {
		istioMetadata(d.c).Fields["external"] = structpb.NewBoolValue(true)
	}
	out := []*clusterv3.Cluster{d.finish()}
	for _, s := range dr.GetSubsets() {
		if c := b.subsetCluster(o, s, d.c.GetType()); c != nil {
			out = append(out, c)
		}
	}
	return out
}

// subsetCluster builds the cluster of one DestinationRule subset; it inherits the default
// cluster's discovery type unless the subset asks for PASSTHROUGH load balancing.
func (b *builder) subsetCluster(o *outbound, s *networkingv1alpha3.Subset, typ clusterv3.Cluster_DiscoveryType) *clusterv3.Cluster {
	passthroughLB := isPassthroughLB(s.GetTrafficPolicy())
	if passthroughLB {
		typ = clusterv3.Cluster_ORIGINAL_DST
	}
	d := b.outboundDraft(o, s.GetName(), typ)
	if d == nil {
		return nil
	}
	policy := withMeshDefaults(b.mesh, model.SubsetTrafficPolicy(o.rule.Spec(), s.GetName(), o.port.Port))
	b.configureOutbound(d, o, policy, s.GetName(), b.pc.ServiceMTLSMode(o.svc, o.port.Port, passthroughLB))
	istioMetadata(d.c).Fields["subset"] = structpb.NewStringValue(s.GetName())
	return d.finish()
}

// outboundDraft starts an outbound cluster: type, endpoints for DNS clusters, upstream
// protocol, service metadata and alternate stat name.
func (b *builder) outboundDraft(o *outbound, subset string, typ clusterv3.Cluster_DiscoveryType) *draft {
	name := OutboundName(subset, o.svc.Hostname, o.port.Port)
	var dns *dnsEndpoints
	if typ == clusterv3.Cluster_STRICT_DNS || typ == clusterv3.Cluster_LOGICAL_DNS {
		dns = b.dnsEndpoints(o, subset)
	}
	d := b.newDraft(name, typ, dns.localities())
	if d == nil {
		return nil
	}
	if subset == "" {
		// istiod ranks DNS endpoints by failover priority labels for default clusters only.
		d.endpoints = dns.ordered()
	}
	if typ == clusterv3.Cluster_ORIGINAL_DST && o.svc.Registry == model.External && o.svc.Resolution == model.Passthrough {
		if tp, ok := o.svc.TargetPorts[o.port.Port]; ok {
			d.c.LbConfig = &clusterv3.Cluster_OriginalDstLbConfig_{OriginalDstLbConfig: &clusterv3.Cluster_OriginalDstLbConfig{
				UpstreamPortOverride: wrapUInt32(tp),
			}}
		}
	}
	b.setUpstreamProtocol(d, o.port)
	setServices(d.c, o.svc)
	if pattern := b.mesh.GetOutboundClusterStatName(); pattern != "" {
		d.c.AltStatName = statPrefix(pattern, o.svc, subset, o.port, 0) + ";"
	}
	return d
}

// configureOutbound applies a resolved traffic policy to an outbound cluster, then EDS,
// metadata exchange and the DestinationRule metadata.
func (b *builder) configureOutbound(d *draft, o *outbound, policy *networkingv1alpha3.TrafficPolicy, subset string, mode model.MutualTLSMode) {
	pool := policy.GetConnectionPool()
	if pool == nil {
		pool = &networkingv1alpha3.ConnectionPoolSettings{}
	}
	if shouldUpgradeH2(o.port, b.mesh, pool) {
		d.setH2()
	}
	b.applyConnectionPool(d, pool, policy.GetRetryBudget())
	applyOutlierDetection(d.c, policy.GetOutlierDetection())
	b.applyLoadBalancer(d, policy.GetLoadBalancer())
	b.applyTLS(d, policy.GetTls(), tlsTarget{
		sans:             o.sans,
		sni:              istioSNI(subset, o.svc.Hostname, o.port.Port),
		external:         o.svc.MeshExternal,
		registryExternal: o.svc.Registry == model.External,
		mode:             mode,
	})
	applyProxyProtocol(d.c, policy.GetProxyProtocol())
	if d.c.GetType() == clusterv3.Cluster_ORIGINAL_DST {
		d.c.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
	}
	applyEDS(d.c)
	addMetadataExchange(d.c)
	if o.rule != nil {
		setConfigPath(d.c, o.rule.Rule)
		setALPNOverride(d.c, policy.GetTls().GetMode())
	}
}

// discoveryType maps a service's resolution to a cluster discovery type. Gateways cannot
// use ORIGINAL_DST, so passthrough services are EDS for them.
func (b *builder) discoveryType(svc *model.Service) clusterv3.Cluster_DiscoveryType {
	switch svc.Resolution {
	case model.DNSLB:
		return clusterv3.Cluster_STRICT_DNS
	case model.DNSRoundRobinLB:
		return clusterv3.Cluster_LOGICAL_DNS
	case model.Passthrough:
		if b.proxy.Type != model.SidecarProxy {
			return clusterv3.Cluster_EDS
		}
		return clusterv3.Cluster_ORIGINAL_DST
	}
	return clusterv3.Cluster_EDS
}
