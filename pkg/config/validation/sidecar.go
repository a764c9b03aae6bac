package validation

import (
	"net"
	"strconv"
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// validateSidecar applies istiod's Sidecar rules: a selector with labels, something to
// configure, ingress listeners (port, bind, default endpoint, TLS, connection pool),
// egress listeners (unique ports, one catch-all listener last, "namespace/host" hosts)
// and the outbound traffic policy.
func validateSidecar(c *config.Config, r *report) {
	sc, ok := specAs[*networkingv1alpha3.Sidecar](c, r)
	if !ok {
		return
	}
	if ws := sc.WorkloadSelector; ws != nil {
		checkSelectorLabels(r, "spec.workloadSelector.labels", ws.Labels)
		if len(ws.Labels) == 0 {
			r.warnf("spec.workloadSelector", "sidecar: workload selector specified without labels, "+
				"will be applied to all services in namespace")
		}
	}
	if len(sc.Egress) == 0 && len(sc.Ingress) == 0 && sc.OutboundTrafficPolicy == nil && sc.InboundConnectionPool == nil {
		r.errorf("spec", "sidecar: empty configuration provided")
		return
	}
	ports := map[uint32]bool{}
	for i, in := range sc.Ingress {
		checkSidecarIngress(r, path("spec.ingress").index(i), in, ports)
	}
	checkConnectionPool(r, "spec.inboundConnectionPool", sc.InboundConnectionPool)
	checkSidecarEgress(r, c.Namespace, sc.Egress)
	checkOutboundTrafficPolicy(r, "spec.outboundTrafficPolicy", sc.OutboundTrafficPolicy)
}

func checkSidecarIngress(r *report, p path, in *networkingv1alpha3.IstioIngressListener, ports map[uint32]bool) {
	if in == nil {
		r.errorf(p, "sidecar: ingress may not be null")
		return
	}
	if in.Port == nil {
		r.errorf(p.field("port"), "sidecar: port is required for ingress listeners")
		return
	}
	if in.Port.TargetPort > 0 { //nolint:staticcheck // deprecated, rejected
		r.errorf(p.field("port.targetPort"), "targetPort has no impact on Sidecars")
	}
	checkSidecarPort(r, p.field("port"), in.Port)
	r.add(p.field("port.number"), checkPort(int64(in.Port.Number)))
	if in.Bind != "" {
		r.add(p.field("bind"), checkIP(in.Bind))
	}
	if ports[in.Port.Number] {
		r.errorf(p.field("port.number"), "sidecar: ports on IP bound listeners must be unique")
	}
	ports[in.Port.Number] = true
	if in.DefaultEndpoint != "" {
		checkDefaultEndpoint(r, p.field("defaultEndpoint"), in.DefaultEndpoint)
	}
	if in.Tls != nil {
		checkSidecarIngressTLS(r, p.field("tls"), in)
	}
	checkConnectionPool(r, p.field("connectionPool"), in.ConnectionPool)
	if in.ConnectionPool.GetHttp() != nil && !protocol.Parse(in.Port.Protocol).IsHTTP() {
		r.warnf(p.field("connectionPool.http"), "sidecar: HTTP connection pool settings are configured for port %d (%q) "+
			"but its protocol is not HTTP (%s); only TCP settings will apply", in.Port.Number, in.Port.Name, in.Port.Protocol)
	}
}

// checkSidecarPort checks the name (optional) and protocol of a listener port.
func checkSidecarPort(r *report, p path, port *networkingv1alpha3.SidecarPort) {
	if port.Name != "" {
		r.add(p.field("name"), checkPortName(port.Name))
	}
	r.add(p.field("protocol"), checkProtocol(port.Protocol))
}

// loopbackHosts are the hosts an ingress default endpoint may forward to.
var loopbackHosts = map[string]bool{"": true, "127.0.0.1": true, "0.0.0.0": true, "::1": true, "::": true}

// checkDefaultEndpoint checks where an ingress listener forwards: a Unix socket or a
// loopback/any address and port ("127.0.0.1:8080", "[::1]:8080", ":8080").
func checkDefaultEndpoint(r *report, p path, ep string) {
	if rest, ok := strings.CutPrefix(ep, unixAddressPrefix); ok {
		r.add(p, checkUnixAddress(rest))
		return
	}
	h, port, err := net.SplitHostPort(ep)
	if err != nil {
		r.add(p, err)
	}
	if !loopbackHosts[h] {
		r.errorf(p, "sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,[::]:port,unix://filepath or unset")
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		r.errorf(p, "sidecar: defaultEndpoint port (%s) is not a number: %v", port, err)
		return
	}
	r.add(p, checkPort(int64(n)))
}

// checkSidecarIngressTLS checks the TLS a sidecar terminates for a port: no gateway-only
// settings, a TLS protocol, and sound server TLS.
func checkSidecarIngressTLS(r *report, p path, in *networkingv1alpha3.IstioIngressListener) {
	t := in.Tls
	for _, f := range []struct {
		set         bool
		field, what string
	}{
		{len(t.SubjectAltNames) > 0, "subjectAltNames", "sidecar: subjectAltNames is not supported in ingress tls"},
		{t.HttpsRedirect, "httpsRedirect", "sidecar: httpsRedirect is not supported"},
		{t.CredentialName != "", "credentialName", "sidecar: credentialName is not currently supported"},
		{len(t.CredentialNames) > 0, "credentialNames", "sidecar: credentialNames is not currently supported"},
		{len(t.TlsCertificates) > 0, "tlsCertificates", "sidecar: tls_certificates is not currently supported"},
	} {
		if f.set {
			r.errorf(p.field(f.field), "%s", f.what)
		}
	}
	if t.Mode == networkingv1alpha3.ServerTLSSettings_ISTIO_MUTUAL || t.Mode == networkingv1alpha3.ServerTLSSettings_AUTO_PASSTHROUGH {
		r.errorf(p.field("mode"), "configuration is invalid: cannot set mode to %s in sidecar ingress tls", t.Mode)
	}
	if !protocol.Parse(in.Port.Protocol).IsTLS() {
		r.errorf(p, "server cannot have TLS settings for non HTTPS/TLS ports")
	}
	checkServerTLS(r, p, t)
}

// checkSidecarEgress checks the egress listeners: ports unique (Unix socket binds unique
// for port 0), at most one listener without a port, and it last; hosts present and well
// formed, with warnings for hosts that repeat or are covered by another.
func checkSidecarEgress(r *report, namespace string, egress []*networkingv1alpha3.IstioEgressListener) {
	ports, sockets := map[uint32]bool{}, map[string]bool{}
	catchAll := false
	for i, e := range egress {
		p := path("spec.egress").index(i)
		if e == nil {
			r.errorf(p, "egress listener may not be null")
			continue
		}
		if e.Port == nil {
			if catchAll {
				r.errorf(p, "sidecar: egress can have only one listener with empty port")
				continue
			}
			if i == len(egress)-1 {
				catchAll = true
			} else {
				r.errorf(p, "sidecar: the egress listener with empty port should be the last listener in the list")
			}
		} else {
			checkEgressPort(r, p, e)
			if e.Port.Number == 0 {
				if sockets[e.Bind] {
					r.errorf(p.field("bind"), "sidecar: unix domain socket values for listeners must be unique")
				}
				sockets[e.Bind] = true
			} else {
				if ports[e.Port.Number] {
					r.errorf(p.field("port.number"), "sidecar: ports on IP bound listeners must be unique")
				}
				ports[e.Port.Number] = true
			}
		}
		checkEgressHosts(r, p.field("hosts"), namespace, e.Hosts)
	}
}

// checkEgressPort checks the port, bind and capture mode of an egress listener. Port 0
// means a Unix domain socket listener, bound with "unix://".
func checkEgressPort(r *report, p path, e *networkingv1alpha3.IstioEgressListener) {
	if e.Port.TargetPort > 0 { //nolint:staticcheck // deprecated, rejected
		r.errorf(p.field("port.targetPort"), "targetPort has no impact on Sidecars")
	}
	checkSidecarPort(r, p.field("port"), e.Port)
	if e.Port.Number != 0 {
		r.add(p.field("port.number"), checkPort(int64(e.Port.Number)))
		if e.Bind != "" {
			r.add(p.field("bind"), checkIP(e.Bind))
		}
		return
	}
	if rest, ok := strings.CutPrefix(e.Bind, unixAddressPrefix); ok {
		r.add(p.field("bind"), checkUnixAddress(rest))
	} else {
		r.errorf(p.field("bind"), "sidecar: ports with 0 value must have a unix domain socket bind address")
	}
	if e.CaptureMode != networkingv1alpha3.CaptureMode_DEFAULT && e.CaptureMode != networkingv1alpha3.CaptureMode_NONE {
		r.errorf(p.field("captureMode"), "sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners")
	}
}

// checkEgressHosts checks "namespace/dnsName" hosts, warning about repeats.
func checkEgressHosts(r *report, p path, namespace string, hosts []string) {
	if len(hosts) == 0 {
		r.errorf(p, "sidecar: egress listener must contain at least one host")
		return
	}
	byNamespace := map[string]map[string]bool{}
	for i, h := range hosts {
		hp := p.index(i)
		if ns, name, ok := strings.Cut(h, "/"); ok && !strings.HasPrefix(ns, "~") {
			if ns == "." {
				ns = namespace
			}
			names := byNamespace[ns]
			if names == nil {
				names = map[string]bool{}
				byNamespace[ns] = names
			}
			if (name != "*" && (names[name] || names["*"])) || (name == "*" && len(names) != 0) {
				r.warnf(hp, "duplicated egress host: %s", h)
			}
			names[name] = true
		}
		for _, err := range checkScopedHost(h, false, false) {
			r.add(hp, err)
		}
	}
	if byNamespace["*"]["*"] && len(byNamespace) != 1 {
		r.warnf(p, "`*/*` host select all resources, no other hosts can be added")
	}
}

// outboundAllowAnyDynamicDNS is MeshConfig's ALLOW_ANY_DYNAMIC_DNS mode number, which the
// Sidecar API does not name but a numeric mode can still carry.
const outboundAllowAnyDynamicDNS = 3

func checkOutboundTrafficPolicy(r *report, p path, tp *networkingv1alpha3.OutboundTrafficPolicy) {
	if tp == nil {
		return
	}
	if tp.Mode == outboundAllowAnyDynamicDNS {
		r.errorf(p.field("mode"), "sidecar: ALLOW_ANY_DYNAMIC_DNS mode is only supported in MeshConfig, not in Sidecar resource")
		return
	}
	ep := tp.EgressProxy
	if ep == nil {
		return
	}
	if tp.Mode != networkingv1alpha3.OutboundTrafficPolicy_ALLOW_ANY {
		r.errorf(p.field("egressProxy"), "sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode")
		return
	}
	r.add(p.field("egressProxy.host"), checkFQDN(ep.Host))
	if ep.Port == nil {
		r.errorf(p.field("egressProxy.port"), "sidecar: egress_proxy port must be non-nil")
		return
	}
	checkDestination(r, p.field("egressProxy"), ep)
}
