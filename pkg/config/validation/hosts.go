package validation

import (
	"errors"
	"fmt"
	"net/netip"
	pathpkg "path"
	"regexp"
	"strconv"
	"strings"
)

// Istio's DNS label syntax. Unlike Kubernetes object names, Istio accepts upper case in
// hostnames and labels of its specs.
const (
	maxLabelLength  = 63
	maxDomainLength = 255
	dnsLabelFmt     = "[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?"
)

var (
	dnsLabelRE = regexp.MustCompile("^" + dnsLabelFmt + "$")
	// A wildcard label is "*", or a label with a leading "*" or "*-".
	wildcardLabelRE = regexp.MustCompile(`^(\*|(\*|\*-)?` + dnsLabelFmt + `)$`)
)

// isDNSLabel reports whether s is a DNS-1123 label as Istio spells them.
func isDNSLabel(s string) bool { return len(s) <= maxLabelLength && dnsLabelRE.MatchString(s) }

// isWildcardLabel is isDNSLabel, also accepting "*" and a "*" or "*-" prefix.
func isWildcardLabel(s string) bool {
	return len(s) <= maxLabelLength && wildcardLabelRE.MatchString(s)
}

// isIP reports whether s is an IPv4 or IPv6 address (no prefix length).
func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// checkDomainLength applies the checks common to FQDNs and wildcard domains.
func checkDomainLength(name string) error {
	if len(name) > maxDomainLength {
		return fmt.Errorf("domain name %q too long (max %d)", name, maxDomainLength)
	}
	if name == "" {
		return errors.New("empty domain name not allowed")
	}
	return nil
}

// checkDomainLabels checks every dot-separated label of labels, the part of domain
// after any wildcard label. A trailing dot is allowed ("istio.io."); an all-numeric
// top-level label is not.
func checkDomainLabels(domain, labels string) error {
	parts := strings.Split(labels, ".")
	tld := parts[len(parts)-1]
	if _, err := strconv.Atoi(tld); err == nil {
		return fmt.Errorf("domain name %q invalid (top level domain %q cannot be all-numeric)", domain, tld)
	}
	for i, l := range parts {
		if i == len(parts)-1 && l == "" {
			return nil
		}
		if !isDNSLabel(l) {
			return fmt.Errorf("domain name %q invalid (label %q invalid)", domain, l)
		}
	}
	return nil
}

// checkFQDN checks a domain name without wildcards.
func checkFQDN(name string) error {
	if err := checkDomainLength(name); err != nil {
		return err
	}
	return checkDomainLabels(name, name)
}

// checkWildcardDomain checks a domain name that may have a wildcard first label:
// "*", "*.example.com", "*-svc.example.com", or a plain FQDN or short name.
func checkWildcardDomain(name string) error {
	if err := checkDomainLength(name); err != nil {
		return err
	}
	first, rest, hasRest := strings.Cut(name, ".")
	if !isWildcardLabel(first) {
		return fmt.Errorf("domain name %q invalid (label %q invalid)", name, first)
	}
	if hasRest {
		return checkDomainLabels(name, rest)
	}
	return nil
}

// checkPartialWildcard rejects wildcards other than "*" and a leading "*." label.
func checkPartialWildcard(name string) error {
	if strings.Contains(name, "*") && name != "*" && !strings.HasPrefix(name, "*.") {
		return fmt.Errorf("partial wildcard %q not allowed", name)
	}
	return nil
}

// checkGatewayRouteHost checks a host of a VirtualService bound to gateways. With sni,
// it also accepts the names Envoy gives AUTO_PASSTHROUGH traffic,
// "outbound_.<port>_._.<hostname>".
func checkGatewayRouteHost(sni bool, name string) error {
	if err := checkDomainLength(name); err != nil {
		return err
	}
	if !sni || !strings.HasPrefix(name, "outbound_") {
		return checkWildcardDomain(name)
	}
	const format = "outbound_.<PORT>_._.<HOSTNAME>"
	parts := strings.Split(name, "_")
	if len(parts) < 4 {
		return fmt.Errorf("domain name %s invalid, should follow '%s' format", name, format)
	}
	port, hostname := strings.Trim(parts[1], "."), strings.Trim(parts[3], ".")
	if !strings.ContainsAny(port, "0123456789") {
		return fmt.Errorf("domain name %q invalid (label %q invalid). should follow %s format", name, port, format)
	}
	if !strings.ContainsFunc(hostname, isASCIILetter) {
		return fmt.Errorf("domain name %q invalid (label %q invalid). should follow %s format", name, hostname, format)
	}
	return nil
}

func isASCIILetter(c rune) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// checkScopedHost checks a "namespace/dnsName" host of a Sidecar egress listener or a
// Gateway server. Gateways also accept a bare dnsName (all namespaces) and an IP address;
// Gateway API translations (gatewaySemantics) also accept the namespace "~".
func checkScopedHost(host string, isGateway, gatewaySemantics bool) []error {
	ns, name, ok := strings.Cut(host, "/")
	if !ok {
		if isGateway {
			return checkScopedHostName(host, true)
		}
		return []error{errors.New("host must be of form namespace/dnsName")}
	}
	var errs []error
	if ns == "" || name == "" {
		errs = append(errs, errors.New("config namespace and dnsName in host entry cannot be empty"))
	}
	if !isGateway {
		// The namespace is *, ., or a namespace name, optionally ~-prefixed to exclude it.
		n := strings.TrimPrefix(ns, "~")
		if n != "" && n != "*" && n != "." && !isDNSLabel(n) {
			errs = append(errs, fmt.Errorf("invalid namespace value %q in sidecar", ns))
		}
	} else if ns != "*" && ns != "." && (ns != "~" || !gatewaySemantics) && !isDNSLabel(ns) {
		errs = append(errs, fmt.Errorf("invalid namespace value %q in gateway", ns))
	}
	return append(errs, checkScopedHostName(name, isGateway)...)
}

// checkScopedHostName checks the dnsName part of a namespace/dnsName host: a FQDN or a
// "*." wildcard (no short names, no partial wildcards); gateways also accept an IP.
func checkScopedHostName(name string, isGateway bool) []error {
	var errs []error
	if name != "*" && !strings.Contains(name, ".") {
		errs = append(errs, errors.New("short names (non FQDN) are not allowed"))
	}
	if err := checkWildcardDomain(name); err != nil && !(isGateway && isIP(name)) {
		errs = append(errs, err)
	}
	if err := checkPartialWildcard(name); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// checkIP checks an IP address without prefix length.
func checkIP(s string) error {
	if !isIP(s) {
		return fmt.Errorf("%v is not a valid IP", s)
	}
	return nil
}

// checkIPOrCIDR checks an IP address, or a CIDR block when s has a "/".
func checkIPOrCIDR(s string) error {
	if strings.Count(s, "/") == 1 {
		if _, err := netip.ParsePrefix(s); err != nil {
			return fmt.Errorf("%v is not a valid CIDR block", s)
		}
		return nil
	}
	return checkIP(s)
}

// unixAddressPrefix marks a Unix domain socket address ("unix:///var/run/sock").
const unixAddressPrefix = "unix://"

// checkUnixAddress checks the path of a Unix domain socket: absolute and not a
// directory, or abstract ("@name").
func checkUnixAddress(addr string) error {
	if addr == "" {
		return errors.New("unix address must not be empty")
	}
	if strings.HasPrefix(addr, "@") {
		return nil
	}
	if !pathpkg.IsAbs(addr) || strings.HasSuffix(addr, "/") {
		return fmt.Errorf("%s is not an absolute path to a file", addr)
	}
	return nil
}

// checkGatewayNames checks the gateways a route binds to: "namespace/name", a legacy
// "name.namespace" FQDN (with a warning), or "mesh". Like istiod, it stops at the first
// name without a namespace, so that Sextant accepts every list istiod accepts.
func checkGatewayNames(r *report, p path, names []string, gatewaySemantics bool) {
	for i, g := range names {
		gp := p.index(i)
		ns, name, ok := strings.Cut(g, "/")
		if !ok {
			if parts := strings.Split(g, "."); len(parts) > 1 {
				r.warnf(gp, "using legacy gatewayName format %q; prefer the <namespace>/<name> format: %q",
					g, parts[1]+"/"+parts[0])
			}
			r.add(gp, checkFQDN(g))
			return
		}
		if ns == "" || name == "" {
			r.errorf(gp, "config namespace and gateway name cannot be empty")
		}
		if !isDNSLabel(ns) {
			r.errorf(gp, "invalid value for namespace: %q", ns)
		}
		if !isDNSLabel(name) && !gatewaySemantics {
			r.errorf(gp, "invalid value for gateway name: %q", name)
		}
	}
}
