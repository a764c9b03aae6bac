package cluster

import (
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// Addresses inbound clusters bind to or deliver to. The 127.0.0.6/::6 source address
// marks traffic the sidecar sends to its own workload, so iptables does not redirect it
// back to the sidecar.
const (
	localhostV4     = "127.0.0.1"
	localhostV6     = "::1"
	passthroughV4   = "127.0.0.6"
	passthroughV6   = "::6"
	unixPrefix      = "unix://"
	podIPPrefix     = "0.0.0.0"
	podIPv6Prefix   = "::"
	inboundNameHead = "inbound|"
)

// inboundName is inbound|PORT||, the cluster for one workload port.
func inboundName(port int) string { return inboundNameHead + strconv.Itoa(port) + "||" }

// inboundClusters builds one cluster per port the workload serves, or, when its Sidecar
// declares ingress listeners, one per listener. Workloads intercepting nothing (NONE)
// get none without a Sidecar.
func (b *builder) inboundClusters() []*clusterv3.Cluster {
	sc := b.proxy.SidecarScope
	if sc == nil || len(sc.Sidecar.GetIngress()) == 0 {
		if b.proxy.Metadata != nil && b.proxy.Metadata.InterceptionMode == "NONE" {
			return nil
		}
		return b.inboundFromTargets()
	}
	return b.inboundFromSidecar(sc)
}

// inboundFromTargets groups the proxy's service targets by workload port; the first target
// of a port decides the cluster, all of them label it.
func (b *builder) inboundFromTargets() []*clusterv3.Cluster {
	byPort := map[int][]model.ServiceTarget{}
	var ports []int
	for _, t := range b.proxy.ServiceTargets {
		if _, ok := byPort[t.TargetPort]; !ok {
			ports = append(ports, t.TargetPort)
		}
		byPort[t.TargetPort] = append(byPort[t.TargetPort], t)
	}
	sort.Ints(ports)
	bind := ""
	if b.mesh.GetInboundTrafficPolicy().GetMode() != meshv1alpha1.MeshConfig_InboundTrafficPolicy_PASSTHROUGH {
		bind = b.localhosts()[0]
	}
	var out []*clusterv3.Cluster
	for _, port := range ports {
		if c := b.inboundCluster(port, bind, byPort[port]); c != nil {
			b.recordHosts(c, byPort[port])
			out = append(out, c)
		}
	}
	return out
}

// inboundFromSidecar builds the clusters of a Sidecar's ingress listeners, delivering to
// their defaultEndpoint (ORIGINAL_DST when unset).
func (b *builder) inboundFromSidecar(sc *model.SidecarScope) []*clusterv3.Cluster {
	var out []*clusterv3.Cluster
	for _, in := range sc.Sidecar.GetIngress() {
		addr, port, ok := b.defaultEndpoint(in.GetDefaultEndpoint())
		if !ok {
			continue
		}
		svc := b.ingressService(in, sc)
		t := model.ServiceTarget{
			Service:    svc,
			Port:       &model.Port{Name: in.GetPort().GetName(), Port: int(in.GetPort().GetNumber()), Protocol: protocol.Parse(in.GetPort().GetProtocol())},
			TargetPort: port,
		}
		if c := b.inboundCluster(int(in.GetPort().GetNumber()), addr, []model.ServiceTarget{t}); c != nil {
			b.recordHosts(c, []model.ServiceTarget{t})
			out = append(out, c)
		}
	}
	return out
}

// recordHosts remembers the services an inbound cluster serves: its name does not say,
// and EnvoyFilter cluster matches on a service need them.
func (b *builder) recordHosts(c *clusterv3.Cluster, targets []model.ServiceTarget) {
	if b.inboundHosts == nil {
		b.inboundHosts = map[string][]string{}
	}
	for _, t := range targets {
		b.inboundHosts[c.GetName()] = append(b.inboundHosts[c.GetName()], string(t.Service.Hostname))
	}
}

// servedHosts returns the hostnames of the services an inbound cluster serves.
func (b *builder) servedHosts(c *clusterv3.Cluster) []string { return b.inboundHosts[c.GetName()] }

// defaultEndpoint resolves an ingress listener's defaultEndpoint: "unix://..." as is,
// 127.0.0.1/::1 to the proxy's loopback, 0.0.0.0/:: to its IP, "" to ORIGINAL_DST.
func (b *builder) defaultEndpoint(ep string) (string, int, bool) {
	if ep == "" {
		return "", 0, true
	}
	if strings.HasPrefix(ep, unixPrefix) {
		return ep, 0, true
	}
	h, p, err := net.SplitHostPort(ep)
	if err != nil || p == "" {
		return "", 0, false
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, false
	}
	switch h {
	case podIPPrefix:
		return b.proxyIP(true, localhostV4), port, true
	case podIPv6Prefix:
		return b.proxyIP(false, localhostV6), port, true
	case localhostV4:
		return b.loopback(true), port, true
	case localhostV6:
		return b.loopback(false), port, true
	}
	return "", port, true
}

// proxyIP returns the proxy's first IP of the family, or fallback.
func (b *builder) proxyIP(v4 bool, fallback string) string {
	for _, ip := range b.proxy.IPAddresses {
		if a, err := netip.ParseAddr(ip); err == nil && (a.Is4() || a.Is4In6()) == v4 {
			return ip
		}
	}
	return fallback
}

// loopback returns the proxy's loopback of the preferred family, else the other one.
func (b *builder) loopback(v4 bool) string {
	var other string
	for _, h := range b.localhosts() {
		if (h == localhostV4) == v4 {
			return h
		}
		other = h
	}
	return other
}

// localhosts are the loopback addresses of the proxy's IP families, IPv4 first.
func (b *builder) localhosts() []string {
	switch {
	case b.ipv4 && b.ipv6:
		return []string{localhostV4, localhostV6}
	case b.ipv6:
		return []string{localhostV6}
	}
	return []string{localhostV4}
}

// ingressService is the service a Sidecar ingress listener serves: the proxy's service
// whose target port is the listener's port, else a stand-in named after the Sidecar.
func (b *builder) ingressService(in *networkingv1alpha3.IstioIngressListener, sc *model.SidecarScope) *model.Service {
	for _, t := range b.proxy.ServiceTargets {
		if t.TargetPort == int(in.GetPort().GetNumber()) {
			return t.Service
		}
	}
	return &model.Service{
		Hostname:     host.Name(sc.Name + "." + sc.Namespace),
		Name:         sc.Name,
		Namespace:    sc.Namespace,
		MeshExternal: true,
	}
}

// inboundCluster builds inbound|port|| delivering to bind:targetPort (STATIC) or, without
// bind, to the original destination.
func (b *builder) inboundCluster(port int, bind string, targets []model.ServiceTarget) *clusterv3.Cluster {
	first := targets[0]
	typ, lle := clusterv3.Cluster_ORIGINAL_DST, []*endpointv3.LocalityLbEndpoints(nil)
	if bind != "" {
		typ = clusterv3.Cluster_STATIC
		lle = []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: inboundAddress(bind, first.TargetPort)}},
		}}}}
	}
	d := b.newDraft(inboundName(port), typ, lle)
	if d == nil {
		return nil
	}
	b.setUpstreamProtocol(d, first.Port)
	setInboundServices(d.c, first, targets)
	if pattern := b.mesh.GetInboundClusterStatName(); pattern != "" {
		d.c.AltStatName = statPrefix(pattern, first.Service, "", first.Port, port) + ";"
	}
	if typ == clusterv3.Cluster_ORIGINAL_DST {
		d.c.CleanupInterval = durationpb.New(maxCleanupSeconds * 1e9)
	}
	b.applyInboundPolicy(d, port, first)
	if d.c.GetType() == clusterv3.Cluster_ORIGINAL_DST {
		d.c.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
	}
	if bind != localhostV4 && bind != localhostV6 {
		d.c.UpstreamBindConfig = &corev3.BindConfig{SourceAddress: socketAddress(b.passthroughBindIPs()[0], 0).GetSocketAddress()}
	}
	return d.finish()
}

// setInboundServices labels an inbound cluster with the distinct services of its port;
// stand-in services of Sidecar ingress listeners are not labelled.
func setInboundServices(c *clusterv3.Cluster, first model.ServiceTarget, targets []model.ServiceTarget) {
	if first.Service.MeshExternal {
		return
	}
	seen := map[host.Name]bool{}
	var svcs []*model.Service
	for _, t := range targets {
		if t.Port.Port != first.Port.Port || seen[t.Service.Hostname] {
			continue
		}
		seen[t.Service.Hostname] = true
		svcs = append(svcs, t.Service)
	}
	setServices(c, svcs...)
}

// applyInboundPolicy applies the connection pool of the served service's DestinationRule
// (server-side circuit breakers), overridden by the Sidecar's inbound connection pool.
func (b *builder) applyInboundPolicy(d *draft, port int, t model.ServiceTarget) {
	var policy *networkingv1alpha3.TrafficPolicy
	var cdr *model.ConsolidatedDestinationRule
	if b.proxy.SidecarScope != nil {
		cdr = b.proxy.SidecarScope.DestinationRule(t.Service.Hostname)
	}
	if cdr != nil && cdr.Spec().GetTrafficPolicy() != nil {
		policy, _ = model.PortTrafficPolicy(cdr.Spec().GetTrafficPolicy(), t.Port.Port)
		if d.c.Metadata != nil {
			setConfigPath(d.c, cdr.Rule)
		}
	}
	policy = withMeshDefaults(b.mesh, policy)
	pool := policy.GetConnectionPool()
	if sp := inboundPool(b.proxy.SidecarScope, port); sp != nil {
		pool = sp
	}
	if pool == nil {
		pool = &networkingv1alpha3.ConnectionPoolSettings{}
	}
	b.applyConnectionPool(d, pool, policy.GetRetryBudget())
}

// inboundPool is the Sidecar's connection pool for an ingress port, else its
// inboundConnectionPool.
func inboundPool(sc *model.SidecarScope, port int) *networkingv1alpha3.ConnectionPoolSettings {
	if sc == nil || sc.Sidecar == nil {
		return nil
	}
	for _, in := range sc.Sidecar.GetIngress() {
		if int(in.GetPort().GetNumber()) == port && in.GetConnectionPool() != nil {
			return in.GetConnectionPool()
		}
	}
	return sc.Sidecar.GetInboundConnectionPool()
}

func inboundAddress(bind string, port int) *corev3.Address {
	if strings.HasPrefix(bind, unixPrefix) {
		return &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: strings.TrimPrefix(bind, unixPrefix)}}}
	}
	return socketAddress(bind, port)
}

// passthroughBindIPs are the source addresses for traffic to the workload itself (IPv4
// only for dual-stack proxies, as istiod without ISTIO_DUAL_STACK).
func (b *builder) passthroughBindIPs() []string {
	if b.ipv6 && !b.ipv4 {
		return []string{passthroughV6}
	}
	return []string{passthroughV4}
}
