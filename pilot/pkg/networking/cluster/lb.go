package cluster

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// applyLoadBalancer sets the LB policy and locality behaviour of an outbound cluster.
// Unhealthy endpoints are sent by default (istiod's PILOT_AUTO_SEND_UNHEALTHY_ENDPOINTS),
// so the panic threshold is disabled unless outlier detection set one.
func (b *builder) applyLoadBalancer(d *draft, lb *networkingv1alpha3.LoadBalancerSettings) {
	c := d.c
	if c.LbPolicy == clusterv3.Cluster_CLUSTER_PROVIDED {
		return
	}
	if c.CommonLbConfig.HealthyPanicThreshold == nil {
		c.CommonLbConfig.HealthyPanicThreshold = &typev3.Percent{Value: 0}
	}
	b.applyLocality(d, lb)
	if c.GetType() == clusterv3.Cluster_ORIGINAL_DST {
		c.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
		return
	}
	switch lb.GetSimple() {
	case networkingv1alpha3.LoadBalancerSettings_LEAST_CONN, networkingv1alpha3.LoadBalancerSettings_LEAST_REQUEST: //nolint:staticcheck
		setLeastRequest(c, lb)
	case networkingv1alpha3.LoadBalancerSettings_RANDOM:
		c.LbPolicy = clusterv3.Cluster_RANDOM
	case networkingv1alpha3.LoadBalancerSettings_ROUND_ROBIN:
		setRoundRobin(c, lb)
	case networkingv1alpha3.LoadBalancerSettings_PASSTHROUGH:
		c.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}
		c.LoadAssignment = nil
	default:
		setLeastRequest(c, lb)
	}
	ApplyConsistentHash(c, lb)
}

func setRoundRobin(c *clusterv3.Cluster, lb *networkingv1alpha3.LoadBalancerSettings) {
	c.LbPolicy = clusterv3.Cluster_ROUND_ROBIN
	if ss := slowStart(lb); ss != nil {
		c.LbConfig = &clusterv3.Cluster_RoundRobinLbConfig_{RoundRobinLbConfig: &clusterv3.Cluster_RoundRobinLbConfig{SlowStartConfig: ss}}
	}
}

func setLeastRequest(c *clusterv3.Cluster, lb *networkingv1alpha3.LoadBalancerSettings) {
	c.LbPolicy = clusterv3.Cluster_LEAST_REQUEST
	if ss := slowStart(lb); ss != nil {
		c.LbConfig = &clusterv3.Cluster_LeastRequestLbConfig_{LeastRequestLbConfig: &clusterv3.Cluster_LeastRequestLbConfig{SlowStartConfig: ss}}
	}
}

// slowStart translates warmup (or the deprecated warmupDurationSecs).
func slowStart(lb *networkingv1alpha3.LoadBalancerSettings) *clusterv3.Cluster_SlowStartConfig {
	if w := lb.GetWarmup(); w != nil {
		aggression, minPct := 1.0, 10.0
		if w.Aggression != nil {
			aggression = w.Aggression.GetValue()
		}
		if w.MinimumPercent != nil {
			minPct = w.MinimumPercent.GetValue()
		}
		return &clusterv3.Cluster_SlowStartConfig{
			SlowStartWindow:  w.Duration,
			Aggression:       &corev3.RuntimeDouble{DefaultValue: aggression, RuntimeKey: "("},
			MinWeightPercent: &typev3.Percent{Value: minPct},
		}
	}
	if d := lb.GetWarmupDurationSecs(); d != nil { //nolint:staticcheck
		return &clusterv3.Cluster_SlowStartConfig{SlowStartWindow: d}
	}
	return nil
}

// ApplyConsistentHash switches c to MAGLEV or RING_HASH when lb asks for consistent
// hashing (the hash key itself is a route setting). It leaves c alone otherwise.
func ApplyConsistentHash(c *clusterv3.Cluster, lb *networkingv1alpha3.LoadBalancerSettings) {
	ch := lb.GetConsistentHash()
	if ch == nil {
		return
	}
	switch {
	case ch.GetMaglev() != nil:
		c.LbPolicy = clusterv3.Cluster_MAGLEV
		if n := ch.GetMaglev().TableSize; n != 0 {
			c.LbConfig = &clusterv3.Cluster_MaglevLbConfig_{MaglevLbConfig: &clusterv3.Cluster_MaglevLbConfig{TableSize: wrapperspb.UInt64(n)}}
		}
	case ch.GetRingHash() != nil:
		c.LbPolicy = clusterv3.Cluster_RING_HASH
		if n := ch.GetRingHash().MinimumRingSize; n != 0 {
			c.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{MinimumRingSize: wrapperspb.UInt64(n)}}
		}
	default:
		size := uint64(1024)
		if n := ch.MinimumRingSize; n != 0 { //nolint:staticcheck
			size = n
		}
		c.LbPolicy = clusterv3.Cluster_RING_HASH
		c.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{MinimumRingSize: wrapperspb.UInt64(size)}}
	}
}
