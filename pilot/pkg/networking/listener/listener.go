package listener

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"github.com/sextant-mesh/sextant/pilot/pkg/envoyfilter"
	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// Well-known names istiod gives listeners, filter chains and clusters.
const (
	VirtualOutboundListenerName = "virtualOutbound"
	VirtualInboundListenerName  = "virtualInbound"

	virtualOutboundBlackholeChain = "virtualOutbound-blackhole"
	virtualOutboundCatchAllChain  = "virtualOutbound-catchall-tcp"
	virtualInboundBlackholeChain  = "virtualInbound-blackhole"
	virtualInboundCatchAllHTTP    = "virtualInbound-catchall-http"
	passthroughFilterChain        = "PassthroughFilterChain"

	PassthroughCluster        = "PassthroughCluster"
	BlackHoleCluster          = "BlackHoleCluster"
	InboundPassthroughCluster = "InboundPassthroughCluster"
)

// class is the direction a filter chain serves; it picks filter variants and defaults.
type class int

const (
	classInbound class = iota
	classOutbound
)

// Interception modes, as istio-agent reports them in INTERCEPTION_MODE.
const (
	interceptionRedirect = "REDIRECT"
	interceptionTProxy   = "TPROXY"
	interceptionNone     = "NONE"
)

// BuildListeners returns the listeners of a sidecar proxy: outbound listeners, the HTTP
// proxy listener if the mesh enables it, virtualOutbound, then virtualInbound and any
// inbound listeners that bind to a port. The proxy's EnvoyFilter listener patches are
// applied in each listener's context (inbound route configurations are patched as they
// are built); listeners that patches add follow the outbound and the inbound ones.
// Other proxy types get none (gateways are built elsewhere).
func BuildListeners(pc *model.PushContext, p *model.Proxy) []*listenerv3.Listener {
	if p.Type != model.SidecarProxy || p.SidecarScope == nil || pc.Mesh.GetProxyListenPort() <= 0 {
		return nil
	}
	b := newBuilder(pc, p)
	out := envoyfilter.PatchListeners(b.patches, envoyfilter.SidecarOutbound, b.outboundListeners())
	if hp := envoyfilter.PatchListener(b.patches, envoyfilter.SidecarOutbound, b.httpProxyListener()); hp != nil {
		out = append(out, hp)
	}
	if vo := envoyfilter.PatchListener(b.patches, envoyfilter.SidecarOutbound, b.virtualOutboundListener()); vo != nil {
		out = append(out, vo)
	}
	return append(out, envoyfilter.PatchListeners(b.patches, envoyfilter.SidecarInbound, b.inboundListeners())...)
}

// builder carries what every part of a proxy's LDS reads, computed once per call.
type builder struct {
	pc    *model.PushContext
	proxy *model.Proxy
	mesh  *meshv1alpha1.MeshConfig

	// wildcard is the address listeners bind to when they are not service-specific.
	wildcard string
	// peerAuthn is the PeerAuthentication in effect for the proxy's workload.
	peerAuthn model.PeerAuthnPolicy
	// headers are the proxy header settings of the mesh's default ProxyConfig.
	headers proxyHeaders
	// telemetry holds the stats filters for each class.
	telemetry telemetryFilters
	// patches are the EnvoyFilter patches that apply to the proxy.
	patches *envoyfilter.Patches
}

func newBuilder(pc *model.PushContext, p *model.Proxy) *builder {
	b := &builder{pc: pc, proxy: p, mesh: pc.Mesh, wildcard: wildcardFor(p)}
	b.peerAuthn = pc.PeerAuthentication(p.ConfigNamespace, p.Labels)
	b.headers = proxyHeadersFrom(pc.Mesh.GetDefaultConfig().GetProxyHeaders())
	b.telemetry = newTelemetryFilters(pc.Mesh)
	b.patches = pc.EnvoyFilters(p)
	return b
}

// interceptionMode is the proxy's traffic capture mode, REDIRECT unless it says otherwise.
func (b *builder) interceptionMode() string {
	if md := b.proxy.Metadata; md != nil && md.InterceptionMode != "" {
		return strings.ToUpper(md.InterceptionMode)
	}
	return interceptionRedirect
}

// wildcardFor is 0.0.0.0, or :: for a proxy with only IPv6 addresses.
func wildcardFor(p *model.Proxy) string {
	for _, ip := range p.IPAddresses {
		if a, err := netip.ParseAddr(ip); err == nil && a.Is4() {
			return "0.0.0.0"
		}
	}
	if len(p.IPAddresses) > 0 {
		return "::"
	}
	return "0.0.0.0"
}

// localhostFor is the loopback address matching the proxy's wildcard.
func localhostFor(wildcard string) string {
	if wildcard == "::" {
		return "::1"
	}
	return "127.0.0.1"
}

// listenerName is istiod's name for a listener or filter chain on bind:port.
func listenerName(bind string, port int) string { return bind + "_" + strconv.Itoa(port) }

// unixPrefix marks a bind address that is a Unix domain socket.
const unixPrefix = "unix://"

// socketAddress builds a listener address: a TCP socket, or a pipe for unix:// binds.
func socketAddress(bind string, port uint32) *corev3.Address {
	if strings.HasPrefix(bind, unixPrefix) {
		return &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: strings.TrimPrefix(bind, unixPrefix)}}}
	}
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       bind,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// isIP reports whether s is an IP address (not a CIDR or hostname).
func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// canBind reports whether a listener on bind:port may be generated: an unprivileged proxy
// cannot bind a real port below 1024, and a listener on the wildcard (or an HTTP listener,
// which defaults to it) must not take the ports of the proxy's own static listeners
// (status, Prometheus) or, when checkVirtual, of the two capture listeners.
func (b *builder) canBind(bindToPort bool, bind string, port int, p protocol.Instance, checkVirtual bool) bool {
	if bindToPort && port < 1024 && b.unprivileged() {
		return false
	}
	if bind != b.wildcard && (bind != "" || !p.IsHTTP()) {
		return true
	}
	for _, reserved := range b.staticListenerPorts() {
		if port == reserved {
			return false
		}
	}
	return !checkVirtual || (port != int(b.mesh.GetProxyListenPort()) && port != int(b.mesh.GetProxyInboundListenPort()))
}

// staticListenerPorts are the bootstrap listener ports istio-agent reports in node
// metadata (ENVOY_STATUS_PORT, ENVOY_PROMETHEUS_PORT and the secure metrics ports).
func (b *builder) staticListenerPorts() []int {
	var out []int
	if b.proxy.Metadata == nil {
		return nil
	}
	for _, k := range []string{"ENVOY_STATUS_PORT", "ENVOY_PROMETHEUS_PORT", "ENVOY_SECURE_METRICS_PORT", "ENVOY_SECURE_MERGED_METRICS_PORT"} {
		if n := metadataInt(b.proxy.Metadata.Raw[k]); n > 0 {
			out = append(out, n)
		}
	}
	return out
}

// unprivileged reports whether the proxy runs without the capability to bind low ports.
func (b *builder) unprivileged() bool {
	if b.proxy.Metadata == nil {
		return false
	}
	v, err := strconv.ParseBool(fmt.Sprint(b.proxy.Metadata.Raw["UNPRIVILEGED_POD"]))
	return err == nil && v
}

// metadataInt reads a number from node metadata, sent as a JSON number or a string.
func metadataInt(v any) int {
	switch n := v.(type) {
	case float64:
		return int(n)
	case string:
		i, _ := strconv.Atoi(n)
		return i
	}
	return 0
}
