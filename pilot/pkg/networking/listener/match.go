package listener

import (
	"net/netip"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config/protocol"
)

// chainProtocol is how a filter chain handles traffic: with an HTTP connection manager,
// with a TCP proxy, or both behind protocol detection (auto).
type chainProtocol int

const (
	chainHTTP chainProtocol = iota
	chainTCP
	chainAuto
)

// chainProtocolOf maps a port protocol to the chains it gets; ok is false for protocols
// sidecars do not proxy (UDP).
func chainProtocolOf(p protocol.Instance) (cp chainProtocol, ok bool) {
	switch {
	case p.IsHTTP():
		return chainHTTP, true
	case p.IsTCP():
		return chainTCP, true
	case p.IsUnsupported():
		return chainAuto, true
	}
	return 0, false
}

// Transport protocols and ALPN values filter chains match on.
const (
	transportTLS       = "tls"
	transportRawBuffer = "raw_buffer"
)

var (
	// plaintextHTTPALPNs are what the HTTP inspector reports for plaintext HTTP.
	plaintextHTTPALPNs = []string{"http/1.1", "h2c"}
	// mtlsHTTPALPNs are what a sidecar client sends for HTTP over mTLS.
	mtlsHTTPALPNs = []string{"istio-http/1.0", "istio-http/1.1", "istio-h2"}
	// allIstioMTLSALPNs are every ALPN a sidecar client sends over mTLS.
	allIstioMTLSALPNs = []string{"istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2"}
	// mtlsTCPALPNs are what a sidecar client sends for TCP over mTLS.
	mtlsTCPALPNs = []string{"istio-peer-exchange", "istio"}
)

// matchOption is one inbound filter chain for a port: what it matches and whether it
// terminates mesh mTLS.
type matchOption struct {
	alpn      []string
	transport string
	protocol  chainProtocol // chainHTTP or chainTCP
	tls       bool
}

// Inbound filter chain sets, by mTLS mode and port protocol, as istiod orders them.
var (
	permissiveAuto = []matchOption{
		{alpn: mtlsHTTPALPNs, transport: transportTLS, protocol: chainHTTP, tls: true},
		{alpn: plaintextHTTPALPNs, transport: transportRawBuffer, protocol: chainHTTP},
		{alpn: mtlsTCPALPNs, transport: transportTLS, protocol: chainTCP, tls: true},
		{transport: transportRawBuffer, protocol: chainTCP},
		{transport: transportTLS, protocol: chainTCP},
	}
	permissiveHTTP = []matchOption{
		{alpn: allIstioMTLSALPNs, transport: transportTLS, protocol: chainHTTP, tls: true},
		{transport: transportRawBuffer, protocol: chainHTTP},
	}
	permissiveTCP = []matchOption{
		{alpn: allIstioMTLSALPNs, transport: transportTLS, protocol: chainTCP, tls: true},
		{transport: transportTLS, protocol: chainTCP},
		{transport: transportRawBuffer, protocol: chainTCP},
	}
	strictAuto = []matchOption{
		{alpn: mtlsHTTPALPNs, transport: transportTLS, protocol: chainHTTP, tls: true},
		{transport: transportTLS, protocol: chainTCP, tls: true},
	}
	strictHTTP = []matchOption{{transport: transportTLS, protocol: chainHTTP, tls: true}}
	strictTCP  = []matchOption{{transport: transportTLS, protocol: chainTCP, tls: true}}
	plainAuto  = []matchOption{
		{alpn: plaintextHTTPALPNs, transport: transportRawBuffer, protocol: chainHTTP},
		{transport: transportRawBuffer, protocol: chainTCP},
	}
	plainHTTP = []matchOption{{transport: transportRawBuffer, protocol: chainHTTP}}
	plainTCP  = []matchOption{{transport: transportRawBuffer, protocol: chainTCP}}
)

// inboundMatchOptions returns the filter chains an inbound port gets: STRICT accepts only
// mTLS, PERMISSIVE mTLS and plaintext, DISABLE plaintext; auto-detected ports get both
// HTTP and TCP chains.
func inboundMatchOptions(mode model.MutualTLSMode, p chainProtocol) []matchOption {
	table := map[chainProtocol][3][]matchOption{
		chainHTTP: {strictHTTP, permissiveHTTP, plainHTTP},
		chainTCP:  {strictTCP, permissiveTCP, plainTCP},
		chainAuto: {strictAuto, permissiveAuto, plainAuto},
	}[p]
	switch mode {
	case model.MTLSStrict:
		return table[0]
	case model.MTLSPermissive:
		return table[1]
	}
	return table[2]
}

// inboundChainMatch is the match of an inbound chain: the option's protocols, and the
// target port unless it is a catch-all (port 0) chain.
func inboundChainMatch(o matchOption, targetPort uint32) *listenerv3.FilterChainMatch {
	m := &listenerv3.FilterChainMatch{ApplicationProtocols: o.alpn, TransportProtocol: o.transport}
	if targetPort > 0 {
		m.DestinationPort = wrapperspb.UInt32(targetPort)
	}
	return m
}

// isMatchAll reports whether an outbound chain matches every connection; such a chain
// becomes the listener's default chain.
func (c *chainOpts) isMatchAll() bool {
	return (len(c.sniHosts) == 0 || contains(c.sniHosts, "*")) &&
		len(c.alpn) == 0 && c.transport == "" && len(c.cidrs) == 0
}

// match converts an outbound chain's criteria to a FilterChainMatch: SNI names sorted (none
// if "*" is among them) and destination CIDRs sorted, the unspecified address dropped.
func (c *chainOpts) match() *listenerv3.FilterChainMatch {
	if c.isMatchAll() {
		return nil
	}
	m := &listenerv3.FilterChainMatch{ApplicationProtocols: c.alpn, TransportProtocol: c.transport}
	if len(c.sniHosts) > 0 && !contains(c.sniHosts, "*") {
		m.ServerNames = sortedCopy(c.sniHosts)
	}
	for _, d := range sortedCopy(c.cidrs) {
		if r := cidrRange(d); r != nil && r.GetAddressPrefix() != "0.0.0.0" {
			m.PrefixRanges = append(m.PrefixRanges, r)
		}
	}
	return m
}

// conflictsWith reports whether two outbound chains would match the same connections;
// the later one is then dropped when listeners merge.
func (c *chainOpts) conflictsWith(o *chainOpts) bool { return c.matchKey() == o.matchKey() }

// matchKey identifies what an outbound chain matches: transport, ALPN (in order), and the
// sets of SNI names (ignoring "*") and of destination prefixes (masked, so 1.2.3.4/8 and
// 1.5.6.7/8 are one). Chains with equal keys conflict.
func (c *chainOpts) matchKey() string {
	var sni, cidrs []string
	for _, h := range c.sniHosts {
		if h != "*" {
			sni = append(sni, h)
		}
	}
	for _, d := range c.cidrs {
		if p, err := parsePrefix(d); err == nil && !p.Addr().IsUnspecified() {
			cidrs = append(cidrs, p.Masked().String())
		}
	}
	return c.transport + "|" + strings.Join(c.alpn, ",") + "|" + strings.Join(distinctSorted(sni), ",") +
		"|" + strings.Join(distinctSorted(cidrs), ",")
}

func distinctSorted(in []string) []string {
	sort.Strings(in)
	out := in[:0]
	for i, s := range in {
		if i == 0 || s != in[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// parsePrefix parses a CIDR, or an address as a single-address prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// cidrRange converts a CIDR or address to Envoy's CidrRange (address kept unmasked).
func cidrRange(s string) *corev3.CidrRange {
	p, err := parsePrefix(s)
	if err != nil {
		return nil
	}
	return &corev3.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func sortedCopy(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}
