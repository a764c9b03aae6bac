package cluster

import (
	"math"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

// shallowCopy copies a policy's top-level fields, dropping port-level settings.
func shallowCopy(p *networkingv1alpha3.TrafficPolicy) *networkingv1alpha3.TrafficPolicy {
	return &networkingv1alpha3.TrafficPolicy{
		ConnectionPool:   p.ConnectionPool,
		LoadBalancer:     p.LoadBalancer,
		OutlierDetection: p.OutlierDetection,
		Tls:              p.Tls,
		Tunnel:           p.Tunnel,
		ProxyProtocol:    p.ProxyProtocol,
		RetryBudget:      p.RetryBudget,
	}
}

// withMeshDefaults fills the connection pool and outlier detection a policy leaves unset
// from the mesh's defaultTrafficPolicy.
func withMeshDefaults(mesh *meshv1alpha1.MeshConfig, p *networkingv1alpha3.TrafficPolicy) *networkingv1alpha3.TrafficPolicy {
	def := mesh.GetDefaultTrafficPolicy()
	needPool := def.GetConnectionPool() != nil && p.GetConnectionPool() == nil
	needOutlier := def.GetOutlierDetection() != nil && p.GetOutlierDetection() == nil
	if !needPool && !needOutlier {
		return p
	}
	if p == nil {
		p = &networkingv1alpha3.TrafficPolicy{}
	} else {
		p = shallowCopy(p)
	}
	if needPool {
		p.ConnectionPool = def.GetConnectionPool()
	}
	if needOutlier {
		p.OutlierDetection = def.GetOutlierDetection()
	}
	return p
}

// defaultThresholds are istiod's circuit breaker defaults: effectively unlimited.
func defaultThresholds() *clusterv3.CircuitBreakers_Thresholds {
	return &clusterv3.CircuitBreakers_Thresholds{
		MaxRetries:         wrapperspb.UInt32(math.MaxUint32),
		MaxRequests:        wrapperspb.UInt32(math.MaxUint32),
		MaxConnections:     wrapperspb.UInt32(math.MaxUint32),
		MaxPendingRequests: wrapperspb.UInt32(math.MaxUint32),
	}
}

// applyConnectionPool sets the connect timeout, circuit breakers, keepalive and HTTP
// connection limits from settings (nil means none, leaving the cluster untouched).
func (b *builder) applyConnectionPool(d *draft, settings *networkingv1alpha3.ConnectionPoolSettings, budget *networkingv1alpha3.TrafficPolicy_RetryBudget) {
	if settings == nil {
		return
	}
	th := defaultThresholds()
	applyRetryBudget(th, budget)
	h, tcp := settings.GetHttp(), settings.GetTcp()
	if h.GetHttp2MaxRequests() > 0 {
		th.MaxRequests = wrapperspb.UInt32(uint32(h.GetHttp2MaxRequests()))
	}
	if h.GetHttp1MaxPendingRequests() > 0 {
		th.MaxPendingRequests = wrapperspb.UInt32(uint32(h.GetHttp1MaxPendingRequests()))
	}
	if h.GetMaxRetries() > 0 {
		th.MaxRetries = wrapperspb.UInt32(uint32(h.GetMaxRetries()))
	}
	d.c.ConnectTimeout = proto.Clone(b.mesh.GetConnectTimeout()).(*durationpb.Duration)
	if tcp.GetConnectTimeout() != nil {
		d.c.ConnectTimeout = tcp.GetConnectTimeout()
	}
	if tcp.GetMaxConnections() > 0 {
		th.MaxConnections = wrapperspb.UInt32(uint32(tcp.GetMaxConnections()))
	}
	idle := h.GetIdleTimeout()
	if idle == nil {
		idle = tcp.GetIdleTimeout()
	}
	setKeepalive(d.c, b.mesh.GetTcpKeepalive())
	setKeepalive(d.c, tcp.GetTcpKeepalive())
	d.c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{th}}
	applyHTTPLimits(d, idle, tcp.GetMaxConnectionDuration(), h)
	if h.GetUseClientProtocol() {
		d.useDownstreamProtocol()
	}
}

// applyHTTPLimits sets the per-connection HTTP limits of a connection pool.
func applyHTTPLimits(d *draft, idle, maxDuration *durationpb.Duration, h *networkingv1alpha3.ConnectionPoolSettings_HTTPSettings) {
	perConn, streams, ka := h.GetMaxRequestsPerConnection(), h.GetMaxConcurrentStreams(), h.GetHttp2KeepAlive()
	if idle == nil && maxDuration == nil && perConn <= 0 && streams <= 0 && ka == nil {
		return
	}
	o := d.options()
	if o.CommonHttpProtocolOptions == nil {
		o.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{}
	}
	common := o.CommonHttpProtocolOptions
	if idle != nil {
		common.IdleTimeout = idle
	}
	if perConn > 0 {
		common.MaxRequestsPerConnection = wrapperspb.UInt32(uint32(perConn))
	}
	if maxDuration != nil {
		common.MaxConnectionDuration = maxDuration
	}
	if h2 := o.GetExplicitHttpConfig().GetHttp2ProtocolOptions(); h2 != nil {
		if streams > 0 {
			h2.MaxConcurrentStreams = wrapperspb.UInt32(uint32(streams))
		}
		if ka != nil {
			h2.ConnectionKeepalive = &corev3.KeepaliveSettings{Interval: ka.Interval, Timeout: ka.Timeout}
		}
	}
}

func applyRetryBudget(th *clusterv3.CircuitBreakers_Thresholds, rb *networkingv1alpha3.TrafficPolicy_RetryBudget) {
	if rb == nil {
		return
	}
	pct := &typev3.Percent{Value: 20}
	if rb.Percent != nil {
		pct = &typev3.Percent{Value: rb.Percent.GetValue()}
	}
	minConc := wrapperspb.UInt32(3)
	if rb.MinRetryConcurrency > 0 {
		minConc = wrapperspb.UInt32(rb.MinRetryConcurrency)
	}
	th.RetryBudget = &clusterv3.CircuitBreakers_Thresholds_RetryBudget{
		BudgetPercent:       pct,
		BudgetInterval:      rb.BudgetInterval,
		MinRetryConcurrency: minConc,
	}
}

// setKeepalive enables TCP keepalive with the fields ka sets (nil leaves it alone).
func setKeepalive(c *clusterv3.Cluster, ka *networkingv1alpha3.ConnectionPoolSettings_TCPSettings_TcpKeepalive) {
	if ka == nil {
		return
	}
	if c.UpstreamConnectionOptions == nil {
		c.UpstreamConnectionOptions = &clusterv3.UpstreamConnectionOptions{TcpKeepalive: &corev3.TcpKeepalive{}}
	}
	k := c.UpstreamConnectionOptions.TcpKeepalive
	if ka.Probes > 0 {
		k.KeepaliveProbes = wrapperspb.UInt32(ka.Probes)
	}
	if ka.Time != nil {
		k.KeepaliveTime = wrapperspb.UInt32(uint32(ka.Time.Seconds))
	}
	if ka.Interval != nil {
		k.KeepaliveInterval = wrapperspb.UInt32(uint32(ka.Interval.Seconds))
	}
}

// shouldUpgradeH2 applies the connection pool's h2UpgradePolicy, else the mesh's, to
// declared HTTP ports only (sniffed ports keep the downstream protocol).
func shouldUpgradeH2(port *model.Port, mesh *meshv1alpha1.MeshConfig, pool *networkingv1alpha3.ConnectionPoolSettings) bool {
	if h := pool.GetHttp(); h != nil {
		if h.UseClientProtocol {
			return false
		}
		switch h.H2UpgradePolicy {
		case networkingv1alpha3.ConnectionPoolSettings_HTTPSettings_UPGRADE:
			return true
		case networkingv1alpha3.ConnectionPoolSettings_HTTPSettings_DO_NOT_UPGRADE:
			return false
		}
	}
	if port != nil && !port.Protocol.IsHTTP() {
		return false
	}
	return mesh.GetH2UpgradePolicy() == meshv1alpha1.MeshConfig_UPGRADE
}

// applyOutlierDetection translates outlierDetection; success-rate ejection stays off and
// the panic threshold becomes minHealthPercent.
func applyOutlierDetection(c *clusterv3.Cluster, od *networkingv1alpha3.OutlierDetection) {
	if od == nil {
		return
	}
	out := &clusterv3.OutlierDetection{EnforcingSuccessRate: wrapperspb.UInt32(0)}
	if e := od.Consecutive_5XxErrors; e != nil {
		out.Consecutive_5Xx = wrapperspb.UInt32(e.GetValue())
		out.EnforcingConsecutive_5Xx = wrapperspb.UInt32(enforcing(e.GetValue()))
	}
	if e := od.ConsecutiveGatewayErrors; e != nil {
		out.ConsecutiveGatewayFailure = wrapperspb.UInt32(e.GetValue())
		out.EnforcingConsecutiveGatewayFailure = wrapperspb.UInt32(enforcing(e.GetValue()))
	}
	out.Interval = od.Interval
	out.BaseEjectionTime = od.BaseEjectionTime
	if od.MaxEjectionPercent > 0 {
		out.MaxEjectionPercent = wrapperspb.UInt32(uint32(od.MaxEjectionPercent))
	}
	if od.SplitExternalLocalOriginErrors {
		out.SplitExternalLocalOriginErrors = true
		if od.ConsecutiveLocalOriginFailures.GetValue() > 0 {
			out.ConsecutiveLocalOriginFailure = wrapperspb.UInt32(od.ConsecutiveLocalOriginFailures.GetValue())
			out.EnforcingConsecutiveLocalOriginFailure = wrapperspb.UInt32(100)
		}
		out.EnforcingLocalOriginSuccessRate = wrapperspb.UInt32(0)
	}
	c.OutlierDetection = out
	if od.MinHealthPercent >= 0 {
		c.CommonLbConfig.HealthyPanicThreshold = &typev3.Percent{Value: float64(od.MinHealthPercent)}
	}
}

func enforcing(v uint32) uint32 {
	if v > 0 {
		return 100
	}
	return 0
}
