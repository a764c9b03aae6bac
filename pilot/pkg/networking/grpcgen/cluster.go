package grpcgen

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/cluster"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
	"github.com/sextant-mesh/sextant/pkg/config/host"
)

// BuildClusters returns the clusters named in names ("outbound|port|subset|host"): for
// each service port, the default cluster if asked for, then the asked-for subsets in the
// DestinationRule's order. Services are taken in the order names first mention them;
// names of services or ports the proxy does not see are skipped.
func BuildClusters(pc *model.PushContext, p *model.Proxy, names []string) []*clusterv3.Cluster {
	var out []*clusterv3.Cluster
	for _, g := range groupClusterNames(names) {
		out = append(out, buildServiceClusters(pc, p, g)...)
	}
	return out
}

// clusterGroup is the requested clusters of one service port.
type clusterGroup struct {
	hostname  host.Name
	port      int
	requested map[string]bool
}

func groupClusterNames(names []string) []*clusterGroup {
	byDefault := map[string]*clusterGroup{}
	var out []*clusterGroup
	for _, name := range names {
		hostname, port, ok := parseRouteName(name)
		if !ok {
			continue
		}
		key := outboundName("", hostname, port)
		g := byDefault[key]
		if g == nil {
			g = &clusterGroup{hostname: host.Name(hostname), port: port, requested: map[string]bool{}}
			byDefault[key] = g
			out = append(out, g)
		}
		g.requested[name] = true
	}
	return out
}

func buildServiceClusters(pc *model.PushContext, p *model.Proxy, g *clusterGroup) []*clusterv3.Cluster {
	svc := pc.ServiceForHostname(p, g.hostname)
	if svc == nil || svc.Port(g.port) == nil {
		return nil
	}
	dr := pc.OutboundDestinationRule(p, svc).Spec()
	var out []*clusterv3.Cluster
	if name := outboundName("", string(g.hostname), g.port); g.requested[name] {
		c := edsCluster(name)
		if svc.KeepsDrainingEndpoints() {
			// Persistent sessions must keep reaching hosts that are draining.
			c.CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{OverrideHostStatus: &corev3.HealthStatusSet{
				Statuses: []corev3.HealthStatus{
					corev3.HealthStatus_HEALTHY, corev3.HealthStatus_DRAINING,
					corev3.HealthStatus_UNKNOWN, corev3.HealthStatus_DEGRADED,
				},
			}}
		}
		applyTrafficPolicy(pc, svc, c, model.SubsetTrafficPolicy(dr, "", g.port))
		out = append(out, c)
	}
	for _, s := range dr.GetSubsets() {
		name := outboundName(s.GetName(), string(g.hostname), g.port)
		if !g.requested[name] {
			continue
		}
		c := edsCluster(name)
		applyTrafficPolicy(pc, svc, c, model.SubsetTrafficPolicy(dr, s.GetName(), g.port))
		out = append(out, c)
	}
	return out
}

// edsCluster is a cluster reading its endpoints over ADS.
func edsCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		AltStatName:          name + ";",
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{
			ServiceName: name,
			EdsConfig:   adsConfigSource(),
		},
	}
}

// applyTrafficPolicy sets what gRPC implements of a traffic policy: Istio mTLS, the load
// balancer, and the maximum of concurrent requests (gRFC A32's only circuit breaker).
func applyTrafficPolicy(pc *model.PushContext, svc *model.Service, c *clusterv3.Cluster, tp *networkingv1alpha3.TrafficPolicy) {
	if tp == nil {
		return
	}
	if tp.GetTls().GetMode() == networkingv1alpha3.ClientTLSSettings_ISTIO_MUTUAL {
		// Only explicit ISTIO_MUTUAL: gRPC cannot do auto mTLS (it cannot tell whether the
		// client uses xDS credentials, nor reach PERMISSIVE servers), and SIMPLE/MUTUAL
		// are not supported by gRPC's xDS TLS yet.
		c.TransportSocket = &corev3.TransportSocket{
			Name:       transportSocketName,
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: protoconv.MessageToAny(upstreamTLSContext(pc.ServiceAccounts(svc)))},
		}
	}
	if lb := tp.GetLoadBalancer(); lb.GetConsistentHash() != nil {
		cluster.ApplyConsistentHash(c, lb)
	} else if lb.GetSimple() == networkingv1alpha3.LoadBalancerSettings_LEAST_REQUEST {
		// ROUND_ROBIN is gRPC's default; other policies are not supported.
		c.LbPolicy = clusterv3.Cluster_LEAST_REQUEST
	}
	if n := tp.GetConnectionPool().GetHttp().GetHttp2MaxRequests(); n > 0 {
		c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{
			{MaxRequests: wrapperspb.UInt32(uint32(n))},
		}}
	}
}
