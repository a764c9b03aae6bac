package validation

import (
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// validateGateway applies istiod's Gateway rules: the name is a DNS label (routes refer
// to it as namespace/name), at least one server, each with hosts, a named port unique in
// the gateway, a bind address, and TLS settings consistent with its protocol.
func validateGateway(c *config.Config, r *report) {
	gw, ok := specAs[*networkingv1alpha3.Gateway](c, r)
	if !ok {
		return
	}
	gatewaySemantics := c.Annotations[annotationGatewaySemantics] == "gateway"
	if !isDNSLabel(c.Name) && !gatewaySemantics {
		r.errorf("metadata.name", "invalid gateway name: %q", c.Name)
	}
	if len(gw.Servers) == 0 {
		r.errorf("spec.servers", "gateway must have at least one server")
	}
	portNames := map[string]bool{}
	for i, s := range gw.Servers {
		p := path("spec.servers").index(i)
		if s == nil {
			r.errorf(p, "server may not be nil")
			continue
		}
		checkServer(r, p, s, gatewaySemantics)
		if s.Port == nil {
			continue
		}
		if portNames[s.Port.Name] {
			r.errorf(p.field("port.name"), "port names in servers must be unique: duplicate name %s", s.Port.Name)
		}
		portNames[s.Port.Name] = true
		if !protocol.Parse(s.Port.Protocol).IsHTTP() && s.GetTls().GetHttpsRedirect() {
			r.warnf(p.field("tls.httpsRedirect"), "tls.httpsRedirect should only be used with http servers")
		}
	}
}

func checkServer(r *report, p path, s *networkingv1alpha3.Server, gatewaySemantics bool) {
	if len(s.Hosts) == 0 {
		r.errorf(p.field("hosts"), "server config must contain at least one host")
	}
	for i, h := range s.Hosts {
		for _, err := range checkScopedHost(h, true, gatewaySemantics) {
			r.add(p.field("hosts").index(i), err)
		}
	}
	portOK := checkServerPort(r, p.field("port"), s.Port, s.Bind)
	checkServerBind(r, p, s.Port, s.Bind)
	checkServerTLS(r, p.field("tls"), s.Tls)
	if !portOK {
		return
	}
	proto := protocol.Parse(s.Port.Protocol)
	switch {
	case proto.IsTLS() && s.Tls == nil:
		r.errorf(p.field("tls"), "server must have TLS settings for HTTPS/TLS protocols")
	case proto.IsTLS() || s.Tls == nil:
	case !proto.IsHTTP():
		r.errorf(p.field("tls"), "server cannot have TLS settings for non HTTPS/TLS ports")
	case !isPassthrough(s.Tls) || s.Tls.CaCertificates != "" || s.Tls.PrivateKey != "" || s.Tls.ServerCertificate != "":
		// A plain HTTP server may only carry TLS settings to redirect to HTTPS.
		r.errorf(p.field("tls"), "server cannot have TLS settings for plain text HTTP ports")
	}
}

func isPassthrough(t *networkingv1alpha3.ServerTLSSettings) bool {
	return t.Mode == networkingv1alpha3.ServerTLSSettings_PASSTHROUGH || t.Mode == networkingv1alpha3.ServerTLSSettings_AUTO_PASSTHROUGH
}

// checkServerPort checks a server port (a number, except for a Unix socket bind; a known
// protocol; a name) and reports whether it is valid.
func checkServerPort(r *report, p path, port *networkingv1alpha3.Port, bind string) bool {
	if port == nil {
		r.errorf(p, "port is required")
		return false
	}
	n := len(r.errs)
	if protocol.Parse(port.Protocol) == protocol.Unsupported {
		r.errorf(p.field("protocol"), "invalid protocol %q, supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP", port.Protocol)
	}
	if port.Number > 0 || !strings.HasPrefix(bind, unixAddressPrefix) {
		r.add(p.field("number"), checkPort(int64(port.Number)))
	}
	if port.TargetPort > 0 { //nolint:staticcheck // deprecated, rejected
		r.errorf(p.field("targetPort"), "targetPort has no impact on Gateways")
	}
	if port.Name == "" {
		r.errorf(p.field("name"), "port name must be set")
	}
	return len(r.errs) == n
}

// checkServerBind checks the address a server binds to: an IP, or a Unix socket (with
// port number 0).
func checkServerBind(r *report, p path, port *networkingv1alpha3.Port, bind string) {
	if rest, ok := strings.CutPrefix(bind, unixAddressPrefix); ok {
		r.add(p.field("bind"), checkUnixAddress(rest))
		if port.GetNumber() != 0 {
			r.errorf(p.field("port.number"), "port number must be 0 for unix domain socket")
		}
		return
	}
	if bind != "" {
		r.add(p.field("bind"), checkIP(bind))
	}
}
