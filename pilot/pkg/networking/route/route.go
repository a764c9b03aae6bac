package route

import (
	"net"
	"sort"
	"strconv"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/envoyfilter"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
)

// Names of the catch-all virtual hosts and routes, and of the cluster allow_any uses.
const (
	AllowAny           = "allow_any"
	BlockAll           = "block_all"
	PassthroughCluster = "PassthroughCluster"
)

// RDS names that are not a port: the HTTP proxy listener's, and Unix domain sockets'
// (followed by the socket path).
const (
	httpProxyRouteName = "http_proxy"
	unixAddressPrefix  = "unix://"
)

// maxDirectResponseBodySize is istiod's limit for direct_response bodies (1 MiB; Envoy's
// default is 4 KiB).
const maxDirectResponseBodySize = 1024 * 1024

// BuildRoutes returns, in order, one route configuration per name in names for proxy p.
// For sidecars a name is a listener port ("9080"), "host:port" for a sniffed service
// port, "http_proxy" or a Unix socket ("unix://..."); a name it cannot build yields an
// empty configuration, as istiod answers. The proxy's EnvoyFilter route patches
// (SIDECAR_OUTBOUND) are applied to the configurations built. Gateways are not served
// yet and get none.
func BuildRoutes(pc *model.PushContext, p *model.Proxy, names []string) []*routev3.RouteConfiguration {
	if p == nil || p.Type != model.SidecarProxy || p.SidecarScope == nil {
		return nil
	}
	patches := pc.EnvoyFilters(p)
	out := make([]*routev3.RouteConfiguration, 0, len(names))
	for _, name := range names {
		rc := envoyfilter.PatchRouteConfiguration(patches, envoyfilter.SidecarOutbound, buildSidecarRouteConfig(pc, p, name, freshRoutes{}))
		if rc == nil {
			rc = emptyRouteConfig(name)
		}
		out = append(out, rc)
	}
	return out
}

// emptyRouteConfig is what istiod answers for a route name it cannot build.
func emptyRouteConfig(name string) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{
		Name:             name,
		VirtualHosts:     []*routev3.VirtualHost{},
		ValidateClusters: wrapperspb.Bool(false),
	}
}

// buildSidecarRouteConfig builds the outbound route configuration called name, with the
// routes from src, or nil if the name names nothing.
func buildSidecarRouteConfig(pc *model.PushContext, p *model.Proxy, name string, src routeSource) *routev3.RouteConfiguration {
	port, sniffed, ok := parseRouteName(name)
	if !ok {
		return nil
	}
	vhosts, _ := outboundVirtualHosts(pc, p, name, port, src)
	if sniffed {
		vhosts = virtualHostsForSniffedPort(vhosts, name)
	}
	sort.SliceStable(vhosts, func(i, j int) bool { return vhosts[i].Name < vhosts[j].Name })
	if !sniffed {
		vhosts = append(vhosts, catchAllVirtualHost(pc, p))
	}
	rc := routeConfigShell(name)
	rc.VirtualHosts = vhosts
	return rc
}

// routeConfigShell is an outbound route configuration without its virtual hosts.
func routeConfigShell(name string) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{
		Name:                           name,
		ValidateClusters:               wrapperspb.Bool(false),
		MaxDirectResponseBodySizeBytes: wrapperspb.UInt32(maxDirectResponseBodySize),
		IgnorePortInHostMatching:       true,
	}
}

// parseRouteName returns the listener port a route name stands for (0 for the HTTP proxy
// and Unix sockets) and whether it is a sniffed "host:port" name.
func parseRouteName(name string) (port int, sniffed, ok bool) {
	if strings.HasPrefix(name, unixAddressPrefix) || name == httpProxyRouteName {
		return 0, false, true
	}
	portPart := name
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		portPart, sniffed = name[i+1:], true
	}
	port, err := strconv.Atoi(portPart)
	if err != nil || port < 0 {
		return 0, false, false
	}
	return port, sniffed, true
}

// virtualHostsForSniffedPort keeps the virtual hosts answering to the service of a
// "host:port" route name; a single match then takes every domain ("*").
func virtualHostsForSniffedPort(vhosts []*routev3.VirtualHost, name string) []*routev3.VirtualHost {
	hostOnly, _, _ := net.SplitHostPort(name)
	var out []*routev3.VirtualHost
	for _, vh := range vhosts {
		for _, d := range vh.Domains {
			if d == name || d == hostOnly {
				out = append(out, vh)
				break
			}
		}
	}
	if len(out) == 1 {
		out[0].Domains = []string{"*"}
	}
	return out
}

// catchAllVirtualHost answers requests for unknown hosts: passed through (or sent to the
// configured egress proxy) under ALLOW_ANY, rejected with 502 under REGISTRY_ONLY.
func catchAllVirtualHost(pc *model.PushContext, p *model.Proxy) *routev3.VirtualHost {
	headers := proxyHeadersFor(pc)
	policy := p.SidecarScope.OutboundTrafficPolicy
	if policy.GetMode() != networkingv1alpha3.OutboundTrafficPolicy_ALLOW_ANY {
		return &routev3.VirtualHost{
			Name:    BlockAll,
			Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Name:   BlockAll,
				Match:  catchAllMatch(),
				Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 502}},
			}},
			IncludeRequestAttemptCount: headers.includeAttemptCount,
		}
	}
	cluster := PassthroughCluster
	if egress := policy.GetEgressProxy(); egress != nil {
		cluster = DestinationCluster(egress, nil, 0)
	}
	return &routev3.VirtualHost{
		Name:    AllowAny,
		Domains: []string{"*"},
		Routes: []*routev3.Route{{
			Name:  AllowAny,
			Match: catchAllMatch(),
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier:     &routev3.RouteAction_Cluster{Cluster: cluster},
				Timeout:              durationpb.New(0),
				MaxGrpcTimeout:       durationpb.New(0),
				AppendXForwardedHost: headers.xForwardedHost,
			}},
		}},
		IncludeRequestAttemptCount: headers.includeAttemptCount,
	}
}

// proxyHeaders are the mesh's proxy header settings that change routes.
type proxyHeaders struct {
	includeAttemptCount bool
	xForwardedHost      bool
}

func proxyHeadersFor(pc *model.PushContext) proxyHeaders {
	ph := pc.Mesh.GetDefaultConfig().GetProxyHeaders()
	return proxyHeaders{
		includeAttemptCount: !ph.GetAttemptCount().GetDisabled().GetValue(),
		xForwardedHost:      ph.GetXForwardedHost().GetEnabled().GetValue(),
	}
}
