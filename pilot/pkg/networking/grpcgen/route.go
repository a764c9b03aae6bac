package grpcgen

import (
	"net"
	"strconv"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/route"
	"github.com/sextant-mesh/sextant/pkg/config/host"
)

// BuildRoutes returns the route configurations named in names, "outbound|port||host" as
// the API listeners name them, in the order of names. Each holds the virtual hosts a
// sidecar would get on that port whose domains serve host (gRPC clients watch one route
// configuration per target, so the others would only cause needless pushes). Names that
// do not parse are skipped.
func BuildRoutes(pc *model.PushContext, p *model.Proxy, names []string) []*routev3.RouteConfiguration {
	out := make([]*routev3.RouteConfiguration, 0, len(names))
	for _, name := range names {
		hostname, port, ok := parseRouteName(name)
		if !ok {
			continue
		}
		vhosts := route.BuildOutboundVirtualHosts(pc, p, name, port)
		out = append(out, &routev3.RouteConfiguration{
			Name:         name,
			VirtualHosts: vhostsFor(vhosts, hostname, port),
		})
	}
	return out
}

// parseRouteName splits "direction|port|subset|host".
func parseRouteName(name string) (hostname string, port int, ok bool) {
	parts := strings.Split(name, "|")
	if len(parts) != 4 || parts[3] == "" {
		return "", 0, false
	}
	port, err := strconv.Atoi(parts[1])
	if err != nil || port == 0 {
		return "", 0, false
	}
	return parts[3], port, true
}

// vhostsFor keeps the virtual hosts with a domain serving hostname on port: the hostname
// itself, with or without the port, or a wildcard domain matching it (on that port or on
// any).
func vhostsFor(vhosts []*routev3.VirtualHost, hostname string, port int) []*routev3.VirtualHost {
	want := strings.ToLower(hostname)
	wantPort := strconv.Itoa(port)
	var out []*routev3.VirtualHost
	for _, vh := range vhosts {
		for _, d := range vh.GetDomains() {
			if domainServes(strings.ToLower(d), want, wantPort) {
				out = append(out, vh)
				break
			}
		}
	}
	return out
}

func domainServes(domain, hostname, port string) bool {
	if domain == bracketIPv6(hostname) || domain == net.JoinHostPort(hostname, port) {
		return true
	}
	h, p, err := net.SplitHostPort(domain)
	if err != nil {
		h, p = domain, ""
	}
	if p != "" && p != port {
		return false
	}
	if hn := host.Name(h); hn.IsWildcard() {
		return hn.Matches(host.Name(hostname))
	}
	return h == hostname
}

// bracketIPv6 writes an IPv6 address as domains carry it, "[addr]".
func bracketIPv6(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}
