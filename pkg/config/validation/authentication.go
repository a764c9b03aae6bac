package validation

import (
	"fmt"
	"net/url"
	"sort"

	securityv1beta1 "istio.io/api/security/v1beta1"

	"github.com/sextant-mesh/sextant/pkg/config"
)

// validatePeerAuthentication applies istiod's PeerAuthentication rules: port-level mTLS
// only with a workload selector (ports belong to workloads), ports in range, and a
// selector with labels.
func validatePeerAuthentication(c *config.Config, r *report) {
	pa, ok := specAs[*securityv1beta1.PeerAuthentication](c, r)
	if !ok {
		return
	}
	if len(pa.GetSelector().GetMatchLabels()) == 0 && len(pa.PortLevelMtls) != 0 {
		r.errorf("spec.portLevelMtls", "mesh/namespace peer authentication cannot have port level mTLS")
	}
	if pa.PortLevelMtls != nil && len(pa.PortLevelMtls) == 0 {
		r.errorf("spec.portLevelMtls", "port level mTLS, if defined, must have at least one element")
	}
	ports := make([]uint32, 0, len(pa.PortLevelMtls))
	for port := range pa.PortLevelMtls {
		ports = append(ports, port)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
	for _, port := range ports {
		if port == 0 || port > 65535 {
			r.errorf(path("spec.portLevelMtls").key(fmt.Sprint(port)), "port must be in range 1..65535")
		}
	}
	checkWorkloadSelector(r, "spec.selector", pa.Selector)
}

// validateRequestAuthentication applies istiod's RequestAuthentication rules: one way of
// selecting workloads, and for each JWT rule an issuer or JWKS URI, a parsable JWKS, and
// non-empty token locations and claim-to-header mappings.
func validateRequestAuthentication(c *config.Config, r *report) {
	ra, ok := specAs[*securityv1beta1.RequestAuthentication](c, r)
	if !ok {
		return
	}
	checkPolicyTargets(r, ra.GetSelector(), ra.GetTargetRef(), ra.GetTargetRefs())
	for i, rule := range ra.JwtRules {
		if rule != nil {
			checkJWTRule(r, path("spec.jwtRules").index(i), rule)
		}
	}
}

func checkJWTRule(r *report, p path, rule *securityv1beta1.JWTRule) {
	for i, a := range rule.Audiences {
		if a == "" {
			r.errorf(p.field("audiences").index(i), "audience must be non-empty string")
		}
	}
	if rule.Issuer == "" && rule.JwksUri == "" {
		r.errorf(p, "issuer or jwksUri must be non-empty string")
	}
	if rule.JwksUri != "" {
		r.add(p.field("jwksUri"), checkJWKSURI(rule.JwksUri))
	}
	if rule.Jwks != "" {
		private, err := parseJWKS(rule.Jwks)
		if err != nil {
			r.errorf(p.field("jwks"), "jwks parse error: %v", err)
		}
		for _, i := range private {
			r.warnf(p.field("jwks"), "jwks key at index %d contains private key material; only public keys are used for verification", i)
		}
	}
	for i, h := range rule.FromHeaders {
		if h.GetName() == "" {
			r.errorf(p.field("fromHeaders").index(i).field("name"), "location header name must be non-empty string")
		}
	}
	for i, q := range rule.FromParams {
		if q == "" {
			r.errorf(p.field("fromParams").index(i), "location query must be non-empty string")
		}
	}
	for i, ck := range rule.FromCookies {
		if ck == "" {
			r.errorf(p.field("fromCookies").index(i), "cookie name must be non-empty string")
		}
	}
	for i, ch := range rule.OutputClaimToHeaders {
		cp := p.field("outputClaimToHeaders").index(i)
		if ch.GetClaim() == "" || ch.GetHeader() == "" {
			r.errorf(cp, "outputClaimToHeaders header and claim value must be non-empty string")
			continue
		}
		r.add(cp.field("header"), checkStrictHeaderName(ch.Header))
	}
	checkOptionalDuration(r, p.field("timeout"), rule.Timeout)
}

// checkJWKSURI checks a JWKS URI is an http or https URL.
func checkJWKSURI(uri string) error {
	u, err := url.Parse(uri)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("URI scheme %q is not supported", u.Scheme)
	}
	return nil
}
