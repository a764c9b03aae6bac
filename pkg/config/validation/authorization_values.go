package validation

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// checkAuthzIP checks an IP address or CIDR block of an authorization source.
func checkAuthzIP(v string) error {
	if strings.Contains(v, "/") {
		if _, err := netip.ParsePrefix(v); err != nil {
			return fmt.Errorf("bad CIDR range (%s): %v", v, err)
		}
		return nil
	}
	if _, err := netip.ParseAddr(v); err != nil {
		return fmt.Errorf("bad IP address (%s)", v)
	}
	return nil
}

// checkAuthzPort checks a port of an authorization operation or condition.
func checkAuthzPort(v string) error {
	p, err := strconv.ParseUint(v, 10, 32)
	if err != nil || p > 65535 {
		return fmt.Errorf("bad port (%s): %v", v, err)
	}
	return nil
}

// maxServiceAccountLength bounds "namespace/name" service account values.
const maxServiceAccountLength = 320

// checkServiceAccount checks a "serviceAccount" or "namespace/serviceAccount" value.
func checkServiceAccount(v string) error {
	const format = "expected format 'serviceAccount' or 'namespace/serviceAccount'"
	if strings.Contains(v, "*") {
		return fmt.Errorf("wildcard not allowed, found %q", v)
	}
	if n := strings.Count(v, "/"); n > 1 {
		return fmt.Errorf("%s, found %q", format, v)
	}
	if len(v) > maxServiceAccountLength {
		return fmt.Errorf("value cannot exceed %d characters, found %q", maxServiceAccountLength, v)
	}
	if ns, sa, ok := strings.Cut(v, "/"); ok {
		if ns == "" {
			return fmt.Errorf("%s, found empty namespace %q", format, v)
		}
		if sa == "" {
			return fmt.Errorf("%s, found empty serviceAccount %q", format, v)
		}
	}
	return nil
}

// checkWildcardValue allows one "*", alone, leading or trailing.
func checkWildcardValue(v string) error {
	n := strings.Count(v, "*")
	if n > 1 {
		return fmt.Errorf("at most one wildcard is allowed, found %q", v)
	}
	if n == 1 && v != "*" && !strings.HasPrefix(v, "*") && !strings.HasSuffix(v, "*") {
		return fmt.Errorf("wildcard is only allowed at the start or end, found %q", v)
	}
	return nil
}

// Path templates Envoy's uri_template matcher understands: "{*}" matches one segment,
// "{**}" the rest of the path and must come last.
const (
	matchOneSegment = "{*}"
	matchRest       = "{**}"
)

// pathLiteralRE is an RFC 3986 pchar sequence, which template paths' literal segments must be.
var pathLiteralRE = regexp.MustCompile("^[a-zA-Z0-9-._~%!$&'()+,;:@=]+$")

// checkPathTemplate checks a path that uses templates: "{**}" last, no other braces,
// and literal segments Envoy accepts.
func checkPathTemplate(p string) error {
	template := strings.Contains(p, matchOneSegment) || strings.Contains(p, matchRest)
	trimmed := strings.Trim(p, "/")
	rest := false
	for _, seg := range strings.Split(trimmed, "/") {
		switch {
		case (seg == matchOneSegment || seg == matchRest) && rest:
			return fmt.Errorf("invalid or unsupported path %s. {**} is not the last operator", trimmed)
		case seg == matchOneSegment:
			continue
		case seg == matchRest:
			rest = true
			continue
		case strings.ContainsAny(seg, "{}"):
			return fmt.Errorf("invalid or unsupported path %s. Contains '{' or '}' beyond a supported path template", trimmed)
		case template && !pathLiteralRE.MatchString(seg):
			return fmt.Errorf("invalid or unsupported path %s. Contains segment %s with invalid string literal", trimmed, seg)
		}
	}
	return nil
}

// checkAttributeKey checks key names a condition attribute Istio supports.
func checkAttributeKey(key string) error {
	switch {
	case strings.HasPrefix(key, "request.headers"), strings.HasPrefix(key, "request.auth.claims"),
		strings.HasPrefix(key, "experimental.envoy.filters."):
		return checkBracketKey(key)
	case key == "source.ip", key == "remote.ip", key == "destination.ip", key == "source.serviceAccount",
		key == "source.trustDomain", key == "destination.port", key == "source.namespace",
		key == "source.principal", key == "request.auth.principal", key == "request.auth.audiences",
		key == "request.auth.presenter", key == "connection.sni":
		return nil
	case key == "destination.namespace":
		return fmt.Errorf("attribute %s is replaced by the metadata.namespace", key)
	case strings.HasPrefix(key, "destination.labels"):
		return fmt.Errorf("attribute %s is replaced by the workload selector", key)
	case key == "destination.name", key == "destination.user":
		return fmt.Errorf("deprecated attribute %s: only supported in v1alpha1", key)
	}
	return fmt.Errorf("unknown attribute: %s", key)
}

// checkAttributeValues checks the values of a condition on a supported key are
// well-formed for it.
func checkAttributeValues(key string, values []string) error {
	for _, v := range values {
		if v == "" {
			return fmt.Errorf("empty value not allowed, found in %s", key)
		}
	}
	switch key {
	case "source.ip", "remote.ip", "destination.ip":
		return firstError(values, checkAuthzIP)
	case "source.serviceAccount":
		if len(values) > 16 {
			return fmt.Errorf("may not have more than 16 values")
		}
		return firstError(values, checkServiceAccount)
	case "source.trustDomain":
		return firstError(values, checkWildcardValue)
	case "destination.port":
		return firstError(values, checkAuthzPort)
	}
	return nil
}

// checkBracketKey checks a key of the form "a[b]".
func checkBracketKey(key string) error {
	open := strings.Index(key, "[")
	if strings.HasSuffix(key, "]") && open > 0 && open < len(key)-2 {
		return nil
	}
	return fmt.Errorf("bad key (%s): should have format a[b]", key)
}

func firstError(values []string, check func(string) error) error {
	for _, v := range values {
		if err := check(v); err != nil {
			return err
		}
	}
	return nil
}
