package listener

import (
	"sort"
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config"
)

// tcpChains are the chains of a TCP outbound listener entry for one service: SNI-routed
// chains for TLS ports, destination-routed chains otherwise, each from the service's
// VirtualService routes when they match, else straight to the service's cluster.
func (b *builder) tcpChains(o outboundOpts, vss []*config.Config) []*chainOpts {
	configs := vss
	if o.service != nil {
		configs = virtualServicesForHost(o.service.Hostname, vss)
	}
	if o.port.Protocol.IsTLS() {
		return b.tlsChains(o, configs)
	}
	return b.plainTCPChains(o, configs)
}

// defaultServiceCluster names the cluster a TCP/TLS chain without a route uses.
func defaultServiceCluster(o outboundOpts) string {
	port := o.port.Port
	if len(o.service.Ports) == 1 {
		port = o.service.Ports[0].Port
	}
	return outboundCluster(port, "", o.service.Hostname)
}

// tlsChains routes TLS by SNI. Each TLS route match that applies to this proxy and port
// yields a chain, unless an earlier one had the same SNI hosts and destination subnets.
// Without any, the service gets one chain; it matches its hostname as SNI when the
// listener cannot tell services apart by address (no VIP, or a CIDR).
func (b *builder) tlsChains(o outboundOpts, configs []*config.Config) []*chainOpts {
	var out []*chainOpts
	seen := map[string]bool{}
	cidrs := o.cidrs
	for _, c := range configs {
		for _, tls := range c.Spec.(*networkingv1alpha3.VirtualService).GetTls() {
			if len(tls.GetRoute()) == 0 {
				continue
			}
			for _, m := range tls.GetMatch() {
				if !b.matches(staticMatch{m.GetGateways(), m.GetSourceLabels(), m.GetPort(), m.GetSourceNamespace()}, o.port.Port) {
					continue
				}
				// As in istiod, a match's subnets replace the service's CIDRs for this and
				// the following matches.
				if len(m.GetDestinationSubnets()) > 0 && o.port.Port > 0 {
					cidrs = m.GetDestinationSubnets()
				}
				key := strings.Join(m.GetSniHosts(), ",") + "|" + strings.Join(m.GetDestinationSubnets(), ",")
				if seen[key] {
					continue
				}
				seen[key] = true
				out = append(out, &chainOpts{
					metadata: configMetadata(&c.Meta),
					sniHosts: m.GetSniHosts(),
					cidrs:    cidrs,
					filters:  b.routeFilters(tls.GetRoute(), o.port, c),
				})
			}
		}
	}
	if len(out) > 0 || o.service == nil {
		return out
	}
	cluster := defaultServiceCluster(o)
	chain := &chainOpts{cidrs: cidrs, filters: b.singleDestinationFilters(cluster, "", o.port, b.destinationRule(o.service.Hostname))}
	addr := o.service.DefaultAddress
	if strings.Contains(addr, "/") {
		addr = ""
	}
	if len(cidrs) > 0 || addr == "" || (addr == b.wildcard && o.bind.primary() == b.wildcard) {
		chain.sniHosts = []string{string(o.service.Hostname)}
	}
	return append(out, chain)
}

// plainTCPChains routes TCP by destination. The first TCP route that applies without a
// destination subnet is terminal; routes with subnets add CIDR-matched chains before it.
// Without a terminal route, the service's own cluster is the default.
func (b *builder) plainTCPChains(o outboundOpts, configs []*config.Config) []*chainOpts {
	var out []*chainOpts
	defaultAdded := false
routes:
	for _, c := range configs {
		for _, tcp := range c.Spec.(*networkingv1alpha3.VirtualService).GetTcp() {
			if len(tcp.GetRoute()) == 0 {
				continue
			}
			chain, terminal := b.tcpRouteChain(o, c, tcp)
			if chain != nil {
				out = append(out, chain)
			}
			if terminal {
				defaultAdded = true
				break routes
			}
			// A subnet chain matching exactly the service's own CIDRs would duplicate the
			// default chain's match, which Envoy rejects.
			if chain != nil && sameStrings(chain.cidrs, o.cidrs) {
				defaultAdded = true
			}
		}
	}
	if defaultAdded || o.service == nil {
		return out
	}
	cluster := defaultServiceCluster(o)
	return append(out, &chainOpts{cidrs: o.cidrs, filters: b.singleDestinationFilters(cluster, "", o.port, b.destinationRule(o.service.Hostname))})
}

// tcpRouteChain is the chain of one TCP route: terminal (matching the listener's own
// destinations) when it has no match or an applicable match without subnets; otherwise
// matching the union of its applicable matches' subnets, or nil if none applies.
func (b *builder) tcpRouteChain(o outboundOpts, c *config.Config, tcp *networkingv1alpha3.TCPRoute) (chain *chainOpts, terminal bool) {
	terminalChain := func() *chainOpts {
		return &chainOpts{metadata: configMetadata(&c.Meta), cidrs: o.cidrs, filters: b.routeFilters(tcp.GetRoute(), o.port, c)}
	}
	if len(tcp.GetMatch()) == 0 {
		return terminalChain(), true
	}
	var subnets []string
	for _, m := range tcp.GetMatch() {
		if !b.matches(staticMatch{m.GetGateways(), m.GetSourceLabels(), m.GetPort(), m.GetSourceNamespace()}, o.port.Port) {
			continue
		}
		if len(m.GetDestinationSubnets()) == 0 || o.port.Port == 0 {
			return terminalChain(), true
		}
		subnets = append(subnets, m.GetDestinationSubnets()...)
	}
	if len(subnets) == 0 {
		return nil, false
	}
	return &chainOpts{cidrs: subnets, filters: b.routeFilters(tcp.GetRoute(), o.port, c)}, false
}

// sameStrings compares two lists as sets of sorted values.
func sameStrings(a, b []string) bool {
	as, bs := append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(as)
	sort.Strings(bs)
	return strings.Join(as, ",") == strings.Join(bs, ",")
}
