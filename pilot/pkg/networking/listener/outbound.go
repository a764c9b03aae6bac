package listener

import (
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// binding is where an outbound listener listens: addresses (the first is primary) and
// whether it binds a real port or only matches redirected traffic by original destination.
type binding struct {
	addrs      []string
	bindToPort bool
}

func (b binding) primary() string {
	if len(b.addrs) == 0 {
		return ""
	}
	return b.addrs[0]
}

// outboundOpts are the inputs of one service port's outbound listener.
type outboundOpts struct {
	bind binding
	// cidrs are destination ranges to match when the service address is a CIDR.
	cidrs   []string
	port    *model.Port
	service *model.Service
}

// listenerKey identifies an outbound listener: bind address and port.
type listenerKey struct {
	bind string
	port int
}

// outboundEntry accumulates the filter chains of one outbound listener as services are
// added to it.
type outboundEntry struct {
	port *model.Port
	bind binding
	// locked entries come from a Sidecar egress listener with a port: the catch-all egress
	// listener adds nothing to them.
	locked bool
	chains []*chainOpts
	// protocol is the listener's protocol: a port protocol, or Unsupported once HTTP and
	// TCP chains share it behind protocol detection.
	protocol protocol.Instance
	// matched holds the match keys of chains, built on the first merge.
	matched map[string]bool
}

// outboundListeners builds a listener per (bind, port) for the services of each egress
// listener of the proxy's SidecarScope, in egress listener order.
func (b *builder) outboundListeners() []*listenerv3.Listener {
	entries := map[listenerKey]*outboundEntry{}
	var order []listenerKey
	add := func(o outboundOpts, vss []*config.Config) {
		if k, isNew := b.addOutbound(o, entries, vss); isNew {
			order = append(order, k)
		}
	}
	for _, el := range b.proxy.SidecarScope.EgressListeners {
		bind := b.egressBinding(el.IstioListener)
		if p := el.IstioListener.GetPort(); p != nil {
			port := &model.Port{Name: p.GetName(), Port: int(p.GetNumber()), Protocol: protocol.Parse(p.GetProtocol())}
			if !b.canBind(bind.bindToPort, bind.primary(), port.Port, port.Protocol, true) {
				continue
			}
			for _, s := range el.Services {
				add(outboundOpts{bind: bind, port: port, service: s}, el.VirtualServices)
			}
			continue
		}
		// The catch-all egress listener (no port) adds nothing to the ports an earlier
		// egress listener claimed: the Sidecar chose what those ports carry.
		for _, e := range entries {
			e.locked = true
		}
		for _, s := range el.Services {
			for _, port := range s.Ports {
				if !b.canBind(bind.bindToPort, bind.primary(), port.Port, port.Protocol, true) {
					continue
				}
				for _, o := range b.servicePortOpts(bind, s, port) {
					add(o, el.VirtualServices)
				}
			}
		}
	}
	out := make([]*listenerv3.Listener, 0, len(order))
	for _, k := range order {
		if e, ok := entries[k]; ok {
			out = append(out, b.outboundListener(e))
		}
	}
	return out
}

// egressBinding is the binding a Sidecar egress listener asks for: its bind address, and a
// real port when it disables capture, binds a Unix socket, or the proxy does not capture.
func (b *builder) egressBinding(l *networkingv1alpha3.IstioEgressListener) binding {
	var out binding
	switch {
	case b.interceptionMode() == interceptionNone:
		out.bindToPort = true
	case l.GetCaptureMode() == networkingv1alpha3.CaptureMode_NONE, strings.HasPrefix(l.GetBind(), unixPrefix):
		out.bindToPort = true
	}
	if l.GetBind() != "" {
		out.addrs = []string{l.GetBind()}
	} else if out.bindToPort {
		out.addrs = []string{localhostFor(b.wildcard)}
	}
	return out
}

// servicePortOpts returns the listener inputs of one service port. TCP (or undeclared)
// ports of services without an address that resolve by passthrough (headless services)
// get a listener per endpoint IP, except the proxy's own; a ServiceEntry with no
// endpoints and no selector falls back to one wildcard listener.
func (b *builder) servicePortOpts(bind binding, s *model.Service, port *model.Port) []outboundOpts {
	o := outboundOpts{bind: bind, port: port, service: s}
	if bind.primary() != "" || s.Resolution != model.Passthrough || s.DefaultAddress != "0.0.0.0" ||
		!(port.Protocol.IsTCP() || port.Protocol.IsUnsupported()) {
		return []outboundOpts{o}
	}
	eps := b.pc.Endpoints(s, port.Port)
	if s.Registry != model.Kubernetes && len(eps) == 0 && s.Selector == nil {
		return []outboundOpts{o}
	}
	var out []outboundOpts
	for _, ep := range eps {
		if !isIP(ep.Address) || (len(b.proxy.IPAddresses) > 0 && ep.Address == b.proxy.IPAddresses[0]) {
			continue
		}
		eo := o
		eo.bind.addrs = []string{ep.Address}
		out = append(out, eo)
	}
	return out
}

// httpProxyRoute is the route configuration of the HTTP proxy listener.
const httpProxyRoute = "http_proxy"

// httpProxyListener is the explicit HTTP proxy on localhost that meshConfig.proxyHttpPort
// asks for: applications send absolute-URL requests to it, routed by the http_proxy routes.
func (b *builder) httpProxyListener() *listenerv3.Listener {
	port := int(b.mesh.GetProxyHttpPort())
	if port == 0 {
		return nil
	}
	return b.outboundListener(&outboundEntry{
		port: &model.Port{Port: port, Protocol: protocol.HTTPProxy},
		bind: binding{addrs: []string{localhostFor(b.wildcard)}, bindToPort: true},
		chains: []*chainOpts{{http: &hcmOpts{
			class: classOutbound, rds: httpProxyRoute, protocol: protocol.HTTPProxy, httpProxy: true,
		}}},
	})
}
