package grpcgen

import (
	"net"
	"sort"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
)

// inboundPrefix starts the names of the listeners a gRPC server asks for.
const inboundPrefix = "xds.istio.io/grpc/lds/inbound/"

// BuildListeners returns the API listeners for the targets in names, "host" or
// "host:port", where host may be a short name ("reviews", "reviews.ns", "reviews.ns.svc")
// resolved against the proxy's DNS domain. One listener is built per requested name and
// service port (all ports when no port is given), named as requested, for every service
// the proxy's SidecarScope imports, in its order. An empty names selects every service.
// Server-side (inbound) names are ignored; see the package documentation.
func BuildListeners(pc *model.PushContext, p *model.Proxy, names []string) []*listenerv3.Listener {
	if p.SidecarScope == nil {
		return nil
	}
	filter := newTargetFilter(names, p.DNSDomain, p.ConfigNamespace)
	var out []*listenerv3.Listener
	for _, svc := range p.SidecarScope.Services() {
		t, ok := filter.lookup(string(svc.Hostname))
		if !ok {
			continue
		}
		for _, requested := range t.sortedNames() {
			for _, port := range svc.Ports {
				if t.includesPort(port.Port) {
					out = append(out, apiListener(svc, requested, port.Port))
				}
			}
		}
	}
	return out
}

// apiListener is the listener for target requested (a name of svc) on port.
func apiListener(svc *model.Service, requested string, port int) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsConfigSource(),
			RouteConfigName: outboundName("", string(svc.Hostname), port),
		}},
		HttpFilters: []*hcmv3.HttpFilter{
			{Name: "envoy.filters.http.fault", ConfigType: &hcmv3.HttpFilter_TypedConfig{
				TypedConfig: protoconv.MessageToAny(&faultv3.HTTPFault{}),
			}},
			{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{
				TypedConfig: protoconv.MessageToAny(&routerv3.Router{}),
			}},
		},
	}
	return &listenerv3.Listener{
		Name: net.JoinHostPort(requested, strconv.Itoa(port)),
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address:       serviceAddress(svc),
			PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)},
		}}},
		ApiListener: &listenerv3.ApiListener{ApiListener: protoconv.MessageToAny(hcm)},
	}
}

func serviceAddress(svc *model.Service) string {
	if svc.DefaultAddress == "" {
		return "0.0.0.0"
	}
	return svc.DefaultAddress
}

func adsConfigSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
}

// outboundName is the cluster (and gRPC route configuration) name of a service port and
// subset.
func outboundName(subset, hostname string, port int) string {
	return "outbound|" + strconv.Itoa(port) + "|" + subset + "|" + hostname
}

// target is what the client asked for one hostname: the names it used and the ports (nil
// for all).
type target struct {
	names map[string]bool
	ports map[int]bool
}

func (t *target) includesPort(port int) bool { return t.ports == nil || t.ports[port] }

func (t *target) sortedNames() []string {
	out := make([]string, 0, len(t.names))
	for n := range t.names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// targetFilter maps hostnames (as requested and as fully qualified) to targets; empty
// means everything.
type targetFilter map[string]*target

func (f targetFilter) lookup(hostname string) (*target, bool) {
	if len(f) == 0 {
		return &target{names: map[string]bool{hostname: true}}, true
	}
	t, ok := f[hostname]
	return t, ok
}

// newTargetFilter indexes the requested listener names. A name with a port adds that port
// unless an earlier portless request for the host asked for all ports; a portless name
// asks for all ports.
func newTargetFilter(names []string, dnsDomain, ns string) targetFilter {
	f := targetFilter{}
	for _, name := range names {
		if strings.HasPrefix(name, inboundPrefix) {
			continue
		}
		requested, portStr, err := net.SplitHostPort(name)
		hasPort := err == nil
		if !hasPort {
			requested = name
		}
		port, _ := strconv.Atoi(portStr)
		keys := []string{requested}
		if fqdn := expandShortName(requested, dnsDomain, ns); fqdn != "" {
			keys = append(keys, fqdn)
		}
		for _, k := range keys {
			t, seen := f[k]
			if !seen {
				t = &target{names: map[string]bool{}}
				f[k] = t
			}
			t.names[requested] = true
			switch {
			case hasPort && (!seen || t.ports != nil):
				if t.ports == nil {
					t.ports = map[int]bool{}
				}
				t.ports[port] = true
			case !hasPort:
				t.ports = nil
			}
		}
	}
	return f
}

// expandShortName qualifies a short name as the client's resolver would in namespace ns
// ("reviews", "reviews.ns", "reviews.ns.svc"), or returns "".
func expandShortName(name, dnsDomain, ns string) string {
	if !strings.Contains(name, ".") {
		return name + "." + dnsDomain
	}
	for _, suffix := range []string{ns, ns + ".svc"} {
		short := strings.TrimSuffix(name, "."+suffix)
		if short != name && strings.HasPrefix(dnsDomain, suffix) {
			return short + "." + dnsDomain
		}
	}
	return ""
}
