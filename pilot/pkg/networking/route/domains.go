package route

import (
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

// noPort asks the domain helpers for names without a ":port" variant.
const noPort = 0

// ignorePort reports whether the proxy's route configurations ignore the port in Host
// headers (ignore_port_in_host_matching), so domains need no ":port" variants. Proxyless
// gRPC clients do not support it.
func ignorePort(p *model.Proxy) bool { return !p.IsProxylessGRPC() }

// domainContext is what domainsFor reads of a proxy.
type domainContext struct {
	// dnsDomain is the proxy's "namespace.svc.cluster.local".
	dnsDomain string
	// ignorePort: the proxy's route configurations ignore the port in Host headers.
	ignorePort bool
	// v4 and v6 are the IP families the proxy has addresses in.
	v4, v6 bool
}

func domainContextOf(p *model.Proxy) domainContext {
	v4, v6 := ipFamilies(p)
	return domainContext{dnsDomain: p.DNSDomain, ignorePort: ignorePort(p), v4: v4, v6: v6}
}

// domainsFor returns the domains of the virtual host of service s on port for a proxy
// described by dc: its hostname and those of its aliases, each with the absolute name
// (trailing dot) and the short names a client in the proxy's namespace may use,
// "*."-prefixed variants for headless Kubernetes services, and its addresses; each also
// with ":port" unless the port is ignored. alt lists the generated (non-hostname) names.
func domainsFor(s *model.Service, listenerPort, port int, dc domainContext) (domains, alt []string) {
	if dc.ignorePort && listenerPort != 0 {
		port = noPort
	}
	names := []string{string(s.Hostname)}
	for _, a := range s.Aliases {
		names = append(names, string(a.Hostname))
	}
	for _, name := range names {
		a := altHostnames(name, port, dc.dnsDomain)
		domains = appendDomain(domains, name, port)
		domains = append(domains, a...)
		alt = append(alt, a...)
	}
	if s.Resolution == model.Passthrough && s.Registry == model.Kubernetes {
		for _, d := range domains[:len(domains):len(domains)] {
			domains = append(domains, "*."+d)
		}
	}
	for _, a := range serviceAddresses(s, dc.v4, dc.v6) {
		if a != "" && a != "0.0.0.0" {
			domains = appendDomain(domains, a, port)
		}
	}
	return domains, alt
}

// appendDomain appends d and, unless port is noPort, d:port.
func appendDomain(domains []string, d string, port int) []string {
	if port == noPort {
		return append(domains, ipv6Compliant(d))
	}
	return append(domains, ipv6Compliant(d), net.JoinHostPort(d, strconv.Itoa(port)))
}

func ipv6Compliant(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

// altHostnames returns the other names a client with DNS search domain proxyDomain
// (ns.svc.cluster.local) may use for hostname: the absolute name, then for a Kubernetes
// service "name", "name.ns.svc" and "name.ns" in the proxy's namespace, or "name.ns"
// and "name.ns.svc" in another. Outside Kubernetes domains, the part not shared with
// the proxy domain is used.
func altHostnames(hostname string, port int, proxyDomain string) []string {
	var out []string
	if _, err := netip.ParseAddr(hostname); err != nil {
		out = append(out, hostname+".")
	}
	if port != noPort {
		out = append(out, net.JoinHostPort(hostname+".", strconv.Itoa(port)))
	}
	if strings.Contains(proxyDomain, ".svc.") {
		if strings.HasSuffix(hostname, clusterDomainOf(proxyDomain)) {
			return append(out, kubernetesAltHostnames(hostname, port, proxyDomain)...)
		}
		return out
	}
	unique, shared := splitSharedSuffix(hostname, proxyDomain)
	if len(shared) == 0 {
		return out
	}
	u := strings.Join(unique, ".")
	out = appendDomain(out, u, port)
	if len(unique) == 2 {
		out = appendDomain(out, u+"."+shared[0], port)
	}
	return out
}

// domainClass returns what of a proxy's DNS domain (proxyDomain) the generated names of
// hostname depend on (see altHostnames): for a Kubernetes proxy ("ns.svc.<cluster
// domain>"), only whether the hostname is a service of its namespace - hostnames of other
// namespaces and outside the cluster domain get the same names in every namespace; the
// whole domain otherwise. Proxies whose domains have one class get the same names.
func domainClass(hostname, proxyDomain string) string {
	i := strings.Index(proxyDomain, ".svc.")
	if i <= 0 {
		return proxyDomain
	}
	cd := proxyDomain[i:]
	if !strings.HasSuffix(hostname, cd) {
		return cd
	}
	svcIdx, nsIdx := strings.Index(hostname, ".svc."), strings.Index(hostname, ".")
	if svcIdx > 0 && nsIdx+1 < svcIdx && hostname[nsIdx+1:svcIdx] == proxyDomain[:i] {
		return proxyDomain
	}
	return cd
}

// clusterDomainOf strips the namespace from "ns.svc.cluster.local", keeping
// ".svc.cluster.local".
func clusterDomainOf(proxyDomain string) string {
	if i := strings.Index(proxyDomain, ".svc."); i > 0 {
		return proxyDomain[i:]
	}
	return proxyDomain
}

func kubernetesAltHostnames(hostname string, port int, proxyDomain string) []string {
	proxyNS, _, _ := strings.Cut(proxyDomain, ".svc.")
	svcIdx := strings.Index(hostname, ".svc.")
	if svcIdx <= 0 {
		return nil
	}
	nsIdx := strings.Index(hostname, ".")
	if nsIdx+1 >= len(hostname) || nsIdx+1 > svcIdx {
		return nil
	}
	short, withNS := hostname[:nsIdx], hostname[:svcIdx]
	var names []string
	if hostname[nsIdx+1:svcIdx] == proxyNS {
		names = []string{short, withNS + ".svc", withNS}
	} else {
		names = []string{withNS, withNS + ".svc"}
	}
	var out []string
	for _, n := range names {
		out = appendDomain(out, n, port)
	}
	return out
}

// splitSharedSuffix splits hostname into the labels it does not share with proxyDomain
// and the shared trailing labels.
func splitSharedSuffix(hostname, proxyDomain string) (unique, shared []string) {
	h, d := strings.Split(hostname, "."), strings.Split(proxyDomain, ".")
	n := 0
	for n < len(h) && n < len(d) && h[len(h)-1-n] == d[len(d)-1-n] {
		n++
	}
	return h[:len(h)-n], h[len(h)-n:]
}

// serviceAddresses returns the addresses of s a proxy with addresses in the IP families
// v4 and v6 may use: a Kubernetes service's cluster IPs of those families, else its
// default address.
func serviceAddresses(s *model.Service, v4, v6 bool) []string {
	if s.Registry == model.Kubernetes {
		addrs := s.Addresses
		if len(addrs) == 0 {
			addrs = []string{s.DefaultAddress}
		}
		var out []string
		for _, a := range addrs {
			ip, err := netip.ParseAddr(a)
			if err != nil || (ip.Is4() && v4) || (ip.Is6() && v6) {
				out = append(out, a)
			}
		}
		return out
	}
	if s.DefaultAddress == "" {
		return nil
	}
	return []string{s.DefaultAddress}
}

// ipFamilies reports which IP families the proxy has addresses in (both if unknown).
func ipFamilies(p *model.Proxy) (v4, v6 bool) {
	for _, a := range p.IPAddresses {
		if ip, err := netip.ParseAddr(a); err == nil {
			v4 = v4 || ip.Is4()
			v6 = v6 || ip.Is6()
		}
	}
	if !v4 && !v6 {
		return true, true
	}
	return v4, v6
}
