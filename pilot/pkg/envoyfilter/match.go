package envoyfilter

import (
	"slices"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

func isVirtualListener(l *listenerv3.Listener) bool {
	return l.GetName() == virtualInboundListener || l.GetName() == virtualOutboundListener
}

// listenerMatches applies match.listener's name and port. The virtual listeners carry
// every port in their filter chains: below the listener itself, the port is matched
// against a chain's destination port instead (filterChainMatches).
func listenerMatches(l *listenerv3.Listener, p *Patch) bool {
	m := p.Match.GetListener()
	if m == nil {
		return true
	}
	if m.GetName() != "" && m.GetName() != l.GetName() {
		return false
	}
	if p.ApplyTo != networkingv1alpha3.EnvoyFilter_LISTENER && isVirtualListener(l) {
		return true
	}
	if m.GetPortNumber() != 0 {
		sa := l.GetAddress().GetSocketAddress()
		if sa == nil || sa.GetPortValue() != m.GetPortNumber() {
			return false
		}
	}
	return true
}

// filterChainMatches applies match.listener.filterChain (and, in the virtual listeners,
// match.listener.portNumber) to a chain of a listener listenerMatches accepted.
func filterChainMatches(l *listenerv3.Listener, fc *listenerv3.FilterChain, p *Patch) bool {
	m := p.Match.GetListener()
	if m == nil {
		return true
	}
	fcm := fc.GetFilterChainMatch()
	if isVirtualListener(l) && m.GetPortNumber() > 0 && fcm.GetDestinationPort().GetValue() != m.GetPortNumber() {
		return false
	}
	want := m.GetFilterChain()
	if want == nil {
		return true
	}
	if want.GetName() != "" && want.GetName() != fc.GetName() {
		return false
	}
	if want.GetSni() != "" && !slices.Contains(fcm.GetServerNames(), want.GetSni()) {
		return false
	}
	if want.GetTransportProtocol() != "" && (fcm == nil || fcm.GetTransportProtocol() != want.GetTransportProtocol()) {
		return false
	}
	if want.GetApplicationProtocols() != "" {
		if fcm == nil {
			return false
		}
		for _, proto := range strings.Split(want.GetApplicationProtocols(), ",") {
			if !slices.Contains(fcm.GetApplicationProtocols(), proto) {
				return false
			}
		}
	}
	if want.GetDestinationPort() > 0 && (fcm.GetDestinationPort() == nil || fcm.GetDestinationPort().GetValue() != want.GetDestinationPort()) {
		return false
	}
	return true
}

func listenerFilterMatches(lf *listenerv3.ListenerFilter, p *Patch) bool {
	name := p.Match.GetListener().GetListenerFilter()
	return name == "" || name == lf.GetName()
}

// hasNetworkFilterMatch reports whether the patch names a network filter.
func hasNetworkFilterMatch(p *Patch) bool {
	return p.Match.GetListener().GetFilterChain().GetFilter() != nil
}

func networkFilterMatches(f *listenerv3.Filter, p *Patch) bool {
	if !hasNetworkFilterMatch(p) {
		return true
	}
	return p.Match.GetListener().GetFilterChain().GetFilter().GetName() == f.GetName()
}

// hasHTTPFilterMatch reports whether the patch names an HTTP filter (a sub filter of a
// named network filter).
func hasHTTPFilterMatch(p *Patch) bool {
	return hasNetworkFilterMatch(p) && p.Match.GetListener().GetFilterChain().GetFilter().GetSubFilter() != nil
}

func httpFilterMatches(hf *hcmv3.HttpFilter, p *Patch) bool {
	if !hasHTTPFilterMatch(p) {
		return true
	}
	return p.Match.GetListener().GetFilterChain().GetFilter().GetSubFilter().GetName() == hf.GetName()
}
