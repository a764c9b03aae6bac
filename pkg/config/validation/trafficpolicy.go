package validation

import (
	"google.golang.org/protobuf/types/known/durationpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// checkTrafficPolicy checks a DestinationRule traffic policy (top level or subset): not
// empty, and each of its parts.
func checkTrafficPolicy(r *report, p path, namespace string, tp *networkingv1alpha3.TrafficPolicy) {
	if tp == nil {
		return
	}
	if tp.OutlierDetection == nil && tp.ConnectionPool == nil && tp.LoadBalancer == nil && tp.Tls == nil &&
		tp.PortLevelSettings == nil && tp.Tunnel == nil && tp.ProxyProtocol == nil && tp.RetryBudget == nil {
		r.errorf(p, "traffic policy must have at least one field")
		return
	}
	if tp.Tunnel != nil && tp.ProxyProtocol != nil {
		r.errorf(p, "tunnel and proxyProtocol must not be set together")
		return
	}
	checkOutlierDetection(r, p.field("outlierDetection"), tp.OutlierDetection)
	checkConnectionPool(r, p.field("connectionPool"), tp.ConnectionPool)
	checkLoadBalancer(r, p.field("loadBalancer"), tp.LoadBalancer, tp.OutlierDetection)
	checkClientTLS(r, p.field("tls"), namespace, tp.Tls)
	for i, pl := range tp.PortLevelSettings {
		checkPortTrafficPolicy(r, p.field("portLevelSettings").index(i), namespace, pl)
	}
	checkTunnel(r, p.field("tunnel"), tp.Tunnel)
	if pp := tp.ProxyProtocol; pp != nil && pp.Version != 0 && pp.Version != 1 {
		r.errorf(p.field("proxyProtocol.version"), "proxy protocol version is invalid: %d", pp.Version)
	}
}

func checkPortTrafficPolicy(r *report, p path, namespace string, pl *networkingv1alpha3.TrafficPolicy_PortTrafficPolicy) {
	if pl == nil {
		r.errorf(p, "traffic policy may not be null")
		return
	}
	if pl.Port == nil {
		r.errorf(p.field("port"), "portTrafficPolicy must have valid port")
	}
	if pl.OutlierDetection == nil && pl.ConnectionPool == nil && pl.LoadBalancer == nil && pl.Tls == nil {
		r.errorf(p, "port traffic policy must have at least one field")
		return
	}
	checkOutlierDetection(r, p.field("outlierDetection"), pl.OutlierDetection)
	checkConnectionPool(r, p.field("connectionPool"), pl.ConnectionPool)
	checkLoadBalancer(r, p.field("loadBalancer"), pl.LoadBalancer, pl.OutlierDetection)
	checkClientTLS(r, p.field("tls"), namespace, pl.Tls)
}

func checkTunnel(r *report, p path, t *networkingv1alpha3.TrafficPolicy_TunnelSettings) {
	if t == nil {
		return
	}
	if t.Protocol != "" && t.Protocol != "CONNECT" && t.Protocol != "POST" {
		r.errorf(p.field("protocol"), `tunnel protocol must be "CONNECT" or "POST"`)
	}
	if fqdnErr, ipErr := checkFQDN(t.TargetHost), checkIP(t.TargetHost); fqdnErr != nil && ipErr != nil {
		r.errorf(p.field("targetHost"), "tunnel target host must be valid FQDN or IP address: %s; %s", fqdnErr, ipErr)
	}
	if err := checkPort(int64(t.TargetPort)); err != nil {
		r.errorf(p.field("targetPort"), "tunnel target port is invalid: %s", err)
	}
}

func checkOutlierDetection(r *report, p path, o *networkingv1alpha3.OutlierDetection) {
	if o == nil {
		return
	}
	checkOptionalDuration(r, p.field("baseEjectionTime"), o.BaseEjectionTime)
	if o.ConsecutiveErrors != 0 { //nolint:staticcheck // deprecated, still accepted
		r.warnf(p.field("consecutiveErrors"), "outlier detection consecutive errors is deprecated, "+
			"use consecutiveGatewayErrors or consecutive5xxErrors instead")
	}
	if !o.SplitExternalLocalOriginErrors && o.ConsecutiveLocalOriginFailures.GetValue() > 0 {
		r.errorf(p.field("consecutiveLocalOriginFailures"), "outlier detection consecutive local origin failures is "+
			"specified, but split external local origin errors is set to false")
	}
	checkOptionalDuration(r, p.field("interval"), o.Interval)
	r.add(p.field("maxEjectionPercent"), checkPercent(o.MaxEjectionPercent))
	r.add(p.field("minHealthPercent"), checkPercent(o.MinHealthPercent))
}

// checkConnectionPool checks connection pool settings of a DestinationRule or a Sidecar
// ingress listener: not empty, no negative limits, valid durations.
func checkConnectionPool(r *report, p path, cp *networkingv1alpha3.ConnectionPoolSettings) {
	if cp == nil {
		return
	}
	if cp.Http == nil && cp.Tcp == nil {
		r.errorf(p, "connection pool must have at least one field")
		return
	}
	if h := cp.Http; h != nil {
		hp := p.field("http")
		nonNegative(r, hp.field("http1MaxPendingRequests"), h.Http1MaxPendingRequests, "http1 max pending requests")
		nonNegative(r, hp.field("http2MaxRequests"), h.Http2MaxRequests, "http2 max requests")
		nonNegative(r, hp.field("maxRequestsPerConnection"), h.MaxRequestsPerConnection, "max requests per connection")
		nonNegative(r, hp.field("maxRetries"), h.MaxRetries, "max retries")
		checkOptionalDuration(r, hp.field("idleTimeout"), h.IdleTimeout)
		if h.H2UpgradePolicy == networkingv1alpha3.ConnectionPoolSettings_HTTPSettings_UPGRADE && h.UseClientProtocol {
			r.errorf(hp.field("useClientProtocol"), "use client protocol must not be true when H2UpgradePolicy is UPGRADE")
		}
		nonNegative(r, hp.field("maxConcurrentStreams"), h.MaxConcurrentStreams, "max concurrent streams")
		if ka := h.Http2KeepAlive; ka != nil {
			kp := hp.field("http2KeepAlive")
			requiredDuration(r, kp, "interval", ka.Interval, "http2 keepalive interval is required")
			requiredDuration(r, kp, "timeout", ka.Timeout, "http2 keepalive timeout is required")
		}
	}
	if t := cp.Tcp; t != nil {
		tp := p.field("tcp")
		nonNegative(r, tp.field("maxConnections"), t.MaxConnections, "max connections")
		checkOptionalDuration(r, tp.field("connectTimeout"), t.ConnectTimeout)
		checkOptionalDuration(r, tp.field("maxConnectionDuration"), t.MaxConnectionDuration)
		// An idle timeout of 0s disables it.
		if t.IdleTimeout != nil && t.IdleTimeout.AsDuration().Milliseconds() != 0 {
			r.add(tp.field("idleTimeout"), checkDuration(t.IdleTimeout))
		}
		if ka := t.TcpKeepalive; ka != nil {
			checkOptionalDuration(r, tp.field("tcpKeepalive.time"), ka.Time)
			checkOptionalDuration(r, tp.field("tcpKeepalive.interval"), ka.Interval)
		}
	}
}

func nonNegative(r *report, p path, v int32, what string) {
	if v < 0 {
		r.errorf(p, "%s must be non-negative", what)
	}
}

// requiredDuration checks the duration field of the message at p is set and valid.
func requiredDuration(r *report, p path, field string, d *durationpb.Duration, missing string) {
	if d == nil {
		r.errorf(p.field(field), "%s", missing)
		return
	}
	r.add(p.field(field), checkDuration(d))
}
