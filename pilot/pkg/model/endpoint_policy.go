package model

import (
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// PortTrafficPolicy returns the policy that applies to service port number port: the
// policy's port-level settings for that port when it has some (they replace the
// destination-level connection pool, load balancer, outlier detection and TLS settings
// rather than inherit them), else the policy itself. The second result reports whether
// port-level settings were found. The result must not be altered.
func PortTrafficPolicy(tp *networkingv1alpha3.TrafficPolicy, port int) (*networkingv1alpha3.TrafficPolicy, bool) {
	if tp == nil {
		return nil, false
	}
	for _, pl := range tp.GetPortLevelSettings() {
		if pl.GetPort() != nil && int(pl.GetPort().GetNumber()) == port {
			return &networkingv1alpha3.TrafficPolicy{
				ConnectionPool:   pl.ConnectionPool,
				LoadBalancer:     pl.LoadBalancer,
				OutlierDetection: pl.OutlierDetection,
				Tls:              pl.Tls,
			}, true
		}
	}
	return tp, false
}

// SubsetTrafficPolicy returns the effective traffic policy of a DestinationRule for one
// subset ("" for none) on service port number port: the rule's policy for the port,
// overridden field by field by the subset's policy for the port. A subset's port-level
// settings replace the rule's connection pool, load balancer, outlier detection and TLS
// settings even when they leave them empty. dr may be nil. The result must not be altered.
func SubsetTrafficPolicy(dr *networkingv1alpha3.DestinationRule, subset string, port int) *networkingv1alpha3.TrafficPolicy {
	if dr == nil {
		return nil
	}
	base, _ := PortTrafficPolicy(dr.GetTrafficPolicy(), port)
	var sub *networkingv1alpha3.TrafficPolicy
	if s := FindSubset(dr, subset); s != nil {
		sub = s.GetTrafficPolicy()
	}
	if sub == nil {
		return base
	}
	sub, portLevel := PortTrafficPolicy(sub, port)
	if base == nil {
		return sub
	}
	merged := &networkingv1alpha3.TrafficPolicy{
		ConnectionPool:   base.ConnectionPool,
		LoadBalancer:     base.LoadBalancer,
		OutlierDetection: base.OutlierDetection,
		Tls:              base.Tls,
		Tunnel:           base.Tunnel,
		ProxyProtocol:    base.ProxyProtocol,
		RetryBudget:      base.RetryBudget,
	}
	if sub.ConnectionPool != nil || portLevel {
		merged.ConnectionPool = sub.ConnectionPool
	}
	if sub.OutlierDetection != nil || portLevel {
		merged.OutlierDetection = sub.OutlierDetection
	}
	if sub.LoadBalancer != nil || portLevel {
		merged.LoadBalancer = sub.LoadBalancer
	}
	if sub.Tls != nil || portLevel {
		merged.Tls = sub.Tls
	}
	if sub.Tunnel != nil {
		merged.Tunnel = sub.Tunnel
	}
	if sub.ProxyProtocol != nil {
		merged.ProxyProtocol = sub.ProxyProtocol
	}
	if sub.RetryBudget != nil {
		merged.RetryBudget = sub.RetryBudget
	}
	return merged
}

// FindSubset returns the first subset of dr named name, or nil (also for name "").
func FindSubset(dr *networkingv1alpha3.DestinationRule, name string) *networkingv1alpha3.Subset {
	if name == "" {
		return nil
	}
	for _, s := range dr.GetSubsets() {
		if s.GetName() == name {
			return s
		}
	}
	return nil
}
