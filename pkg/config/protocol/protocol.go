// Package protocol is Istio's notion of a port's application protocol: how it is named in
// Service port names, appProtocol and ServiceEntry ports, and what each implies for the
// listeners and clusters built for it.
package protocol

import "strings"

// Instance is a protocol as Istio names it.
type Instance string

// Protocols Istio knows. Unsupported means "not declared": Sextant, like istiod, sniffs it.
const (
	GRPC        Instance = "GRPC"
	GRPCWeb     Instance = "GRPC-Web"
	HTTP        Instance = "HTTP"
	HTTPProxy   Instance = "HTTP_PROXY"
	HTTP2       Instance = "HTTP2"
	HTTPS       Instance = "HTTPS"
	TCP         Instance = "TCP"
	TLS         Instance = "TLS"
	UDP         Instance = "UDP"
	Mongo       Instance = "Mongo"
	Redis       Instance = "Redis"
	MySQL       Instance = "MySQL"
	Unsupported Instance = "UnsupportedProtocol"
)

// Parse maps a protocol name (case-insensitive) to an Instance.
func Parse(s string) Instance {
	switch strings.ToLower(s) {
	case "tcp":
		return TCP
	case "udp":
		return UDP
	case "grpc":
		return GRPC
	case "grpc-web":
		return GRPCWeb
	case "http":
		return HTTP
	case "http_proxy":
		return HTTPProxy
	case "http2":
		return HTTP2
	case "https":
		return HTTPS
	case "tls":
		return TLS
	case "mongo":
		return Mongo
	case "redis":
		return Redis
	case "mysql":
		return MySQL
	}
	return Unsupported
}

// wellKnownTCPPorts are treated as TCP when their protocol is not declared: sniffing would
// break server-first protocols (SMTP, DNS, MySQL, MongoDB).
var wellKnownTCPPorts = map[int32]bool{25: true, 53: true, 3306: true, 27017: true}

// FromKubernetes derives the protocol of a Kubernetes Service port from its protocol,
// appProtocol and name prefix, as istiod does.
func FromKubernetes(port int32, name string, l4 string, appProtocol *string) Instance {
	if l4 == "UDP" {
		return UDP
	}
	if appProtocol != nil {
		name = *appProtocol
		switch name {
		case "kubernetes.io/h2c":
			return HTTP2
		case "kubernetes.io/ws":
			return HTTP
		case "kubernetes.io/wss":
			return HTTPS
		}
	}
	if len(name) >= len(GRPCWeb) && strings.EqualFold(name[:len(GRPCWeb)], string(GRPCWeb)) {
		return GRPCWeb
	}
	if i := strings.IndexByte(name, '-'); i >= 0 {
		name = name[:i]
	}
	p := Parse(name)
	if p == Unsupported && wellKnownTCPPorts[port] {
		return TCP
	}
	return p
}

// IsHTTP is true for protocols carried over HTTP.
func (i Instance) IsHTTP() bool {
	switch i {
	case HTTP, HTTP2, HTTPProxy, GRPC, GRPCWeb:
		return true
	}
	return false
}

// IsHTTP2 is true for protocols that require HTTP/2.
func (i Instance) IsHTTP2() bool {
	switch i {
	case HTTP2, GRPC, GRPCWeb:
		return true
	}
	return false
}

// IsGRPC is true for gRPC protocols.
func (i Instance) IsGRPC() bool { return i == GRPC || i == GRPCWeb }

// IsTCP is true for protocols carried over plain TCP (no HTTP processing).
func (i Instance) IsTCP() bool {
	switch i {
	case TCP, HTTPS, TLS, Mongo, Redis, MySQL:
		return true
	}
	return false
}

// IsTLS is true for protocols on top of TLS.
func (i Instance) IsTLS() bool { return i == HTTPS || i == TLS }

// IsUnsupported is true when the protocol was not declared and must be sniffed.
func (i Instance) IsUnsupported() bool { return i == Unsupported }

// IsHTTPOrSniffed is true for HTTP protocols and for undeclared ones, which may sniff as HTTP.
func (i Instance) IsHTTPOrSniffed() bool { return i.IsHTTP() || i.IsUnsupported() }
