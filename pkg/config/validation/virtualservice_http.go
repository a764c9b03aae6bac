package validation

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// checkHTTPRoute checks one HTTP route of a VirtualService and everything in it.
func checkHTTPRoute(r *report, p path, h *networkingv1alpha3.HTTPRoute, ctx *vsContext) {
	if h == nil {
		r.errorf(p, "http route may not be null")
		return
	}
	checkHTTPRouteActions(r, p, h, ctx.delegate)
	for i, m := range h.Match {
		checkHTTPMatch(r, p.field("match").index(i), m)
	}
	checkHeaderOperations(r, p.field("headers"), h.Headers)
	checkCORSPolicy(r, p.field("corsPolicy"), h.CorsPolicy)
	checkFault(r, p.field("fault"), h.Fault)
	if h.MirrorPercent != nil { //nolint:staticcheck // deprecated, still accepted
		if v := h.MirrorPercent.GetValue(); v > 100 { //nolint:staticcheck
			r.errorf(p.field("mirrorPercent"), "mirror_percent must have a max value of 100 (it has %d)", v)
		}
		r.warnf(p.field("mirrorPercent"), `using deprecated setting "mirrorPercent", use "mirrorPercentage" instead`)
	}
	if h.MirrorPercentage != nil {
		checkMirrorPercentage(r, p.field("mirrorPercentage"), h.MirrorPercentage.GetValue())
	}
	checkDestination(r, p.field("mirror"), h.Mirror)
	checkMirrors(r, p.field("mirrors"), h.Mirrors)
	checkRedirect(r, p.field("redirect"), h.Redirect, h.Match)
	checkDirectResponse(r, p.field("directResponse"), h.DirectResponse)
	checkRetries(r, p.field("retries"), h.Retries)
	checkRewrite(r, p.field("rewrite"), h.Rewrite)
	checkAuthorityRewrite(r, p, h.Rewrite, h.Headers)
	checkHTTPRouteDestinations(r, p.field("route"), h.Route, ctx)
	checkOptionalDuration(r, p.field("timeout"), h.Timeout)
}

// checkHTTPRouteActions checks a route does exactly one thing: route (or delegate, for a
// root), redirect, or respond directly, with only the options that fit it.
func checkHTTPRouteActions(r *report, p path, h *networkingv1alpha3.HTTPRoute, inDelegate bool) {
	if !inDelegate && h.Delegate != nil {
		// A root route only delegates.
		if h.Redirect != nil {
			r.errorf(p.field("redirect"), "root HTTP route %s must not specify redirect", h.Name)
		}
		if h.Route != nil {
			r.errorf(p.field("route"), "root HTTP route %s must not specify route", h.Name)
		}
		return
	}
	if inDelegate && h.Delegate != nil {
		r.errorf(p.field("delegate"), "delegate HTTP route cannot contain delegate")
	}
	switch {
	case h.Redirect != nil:
		checkExclusive(r, p, "redirect", len(h.Route) > 0, h.Fault != nil, h.Rewrite != nil, h.DirectResponse != nil)
	case h.DirectResponse != nil:
		checkExclusive(r, p, "direct_response", len(h.Route) > 0, h.Fault != nil, h.Rewrite != nil, false)
	case len(h.Route) == 0:
		r.errorf(p, "HTTP route, redirect or direct_response is required")
	}
	if h.Mirror != nil && len(h.Mirrors) > 0 {
		r.errorf(p.field("mirrors"), "HTTP route cannot contain both mirror and mirrors")
	}
}

// checkExclusive reports what an HTTP route sets alongside a redirect or direct response.
func checkExclusive(r *report, p path, action string, route, fault, rewrite, direct bool) {
	if route {
		r.errorf(p.field("route"), "HTTP route cannot contain both route and %s", action)
	}
	if fault {
		r.errorf(p.field("fault"), "HTTP route cannot contain both fault and %s", action)
	}
	if rewrite {
		r.errorf(p.field("rewrite"), "HTTP route rule cannot contain both rewrite and %s", action)
	}
	if direct {
		r.errorf(p.field("directResponse"), "HTTP route rule cannot contain both direct_response and %s", action)
	}
}

// checkHTTPMatch checks the conditions of one match request.
func checkHTTPMatch(r *report, p path, m *networkingv1alpha3.HTTPMatchRequest) {
	if m == nil {
		return
	}
	for _, name := range sortedKeys(m.Headers) {
		hp := p.field("headers").key(name)
		if m.Headers[name] == nil {
			r.errorf(hp, "header match %v cannot be null", name)
		}
		r.add(hp, checkMatchHeaderName(name))
		checkStringMatch(r, hp, m.Headers[name])
	}
	for _, name := range sortedKeys(m.WithoutHeaders) {
		hp := p.field("withoutHeaders").key(name)
		r.add(hp, checkMatchHeaderName(name))
		// A regex of "*" is not a regex: it means "header absent".
		if h := m.WithoutHeaders[name]; h != nil && h.GetRegex() != "*" {
			checkStringMatch(r, hp, h)
		}
	}
	// Envoy accepts an empty URI prefix, but not an empty scheme, method or authority prefix.
	checkStringMatchRegex(r, p.field("uri"), m.Uri)
	checkStringMatch(r, p.field("scheme"), m.Scheme)
	checkStringMatch(r, p.field("method"), m.Method)
	checkStringMatch(r, p.field("authority"), m.Authority)
	for _, name := range sortedKeys(m.QueryParams) {
		checkStringMatch(r, p.field("queryParams").key(name), m.QueryParams[name])
	}
	if m.Port != 0 {
		r.add(p.field("port"), checkPort(int64(m.Port)))
	}
	checkLabels(r, p.field("sourceLabels"), m.SourceLabels)
	checkGatewayNames(r, p.field("gateways"), m.Gateways, false)
	if m.SourceNamespace != "" && !isDNSLabel(m.SourceNamespace) {
		r.errorf(p.field("sourceNamespace"), "sourceNamespace match %s is invalid", m.SourceNamespace)
	}
}

// checkHTTPRouteDestinations checks the weighted destinations of an HTTP route.
func checkHTTPRouteDestinations(r *report, p path, ds []*networkingv1alpha3.HTTPRouteDestination, ctx *vsContext) {
	var total int64
	for i, d := range ds {
		dp := p.index(i)
		if d == nil {
			r.errorf(dp, "weight may not be nil")
			continue
		}
		if d.Destination == nil {
			r.errorf(dp.field("destination"), "destination is required")
		} else if !ctx.routeSemantics {
			checkDestination(r, dp.field("destination"), d.Destination)
		}
		checkHeaderOperations(r, dp.field("headers"), d.Headers)
		checkWeight(r, dp.field("weight"), d.Weight)
		total += int64(d.Weight)
	}
	checkTotalWeight(r, p, len(ds), total)
}

// corsMethods are the methods a CORS policy may allow.
var corsMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodConnect: true,
	http.MethodOptions: true, http.MethodTrace: true, "*": true,
}

func checkCORSPolicy(r *report, p path, c *networkingv1alpha3.CorsPolicy) {
	if c == nil {
		return
	}
	for i, o := range c.AllowOrigins {
		op := p.field("allowOrigins").index(i)
		if o.GetExact() == "" && o.GetPrefix() == "" && o.GetRegex() == "" {
			r.errorf(op, "'' is not a valid match type for CORS allow origins")
			continue
		}
		checkStringMatchRegex(r, op, o)
	}
	for i, m := range c.AllowMethods {
		if !corsMethods[m] {
			r.errorf(p.field("allowMethods").index(i), "%q is not a supported HTTP method", m)
		}
	}
	for i, h := range c.AllowHeaders {
		r.add(p.field("allowHeaders").index(i), checkCORSHeaderName(h))
	}
	for i, h := range c.ExposeHeaders {
		r.add(p.field("exposeHeaders").index(i), checkCORSHeaderName(h))
	}
	if c.MaxAge != nil {
		r.add(p.field("maxAge"), checkDuration(c.MaxAge))
		if c.MaxAge.Nanos > 0 {
			r.errorf(p.field("maxAge"), "max_age duration is accurate only to seconds precision")
		}
	}
}

// grpcStatuses are the gRPC status names a fault may abort with.
var grpcStatuses = map[string]bool{
	"OK": true, "CANCELLED": true, "UNKNOWN": true, "INVALID_ARGUMENT": true, "DEADLINE_EXCEEDED": true,
	"NOT_FOUND": true, "ALREADY_EXISTS": true, "PERMISSION_DENIED": true, "RESOURCE_EXHAUSTED": true,
	"FAILED_PRECONDITION": true, "ABORTED": true, "OUT_OF_RANGE": true, "UNIMPLEMENTED": true,
	"INTERNAL": true, "UNAVAILABLE": true, "DATA_LOSS": true, "UNAUTHENTICATED": true,
}

func checkFault(r *report, p path, f *networkingv1alpha3.HTTPFaultInjection) {
	if f == nil {
		return
	}
	if f.Abort == nil && f.Delay == nil {
		r.errorf(p, "HTTP fault injection must have an abort and/or a delay")
	}
	if a := f.Abort; a != nil {
		ap := p.field("abort")
		r.add(ap.field("percentage"), checkFractionalPercent(a.Percentage))
		switch a.ErrorType.(type) {
		case *networkingv1alpha3.HTTPFaultInjection_Abort_GrpcStatus:
			if !grpcStatuses[a.GetGrpcStatus()] {
				r.errorf(ap.field("grpcStatus"), "gRPC status %q is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md "+
					"for a list of supported codes, for example 'NOT_FOUND'", a.GetGrpcStatus())
			}
		case *networkingv1alpha3.HTTPFaultInjection_Abort_Http2Error:
			r.errorf(ap.field("http2Error"), "HTTP/2 abort fault injection not supported yet")
		case *networkingv1alpha3.HTTPFaultInjection_Abort_HttpStatus:
			r.add(ap.field("httpStatus"), checkHTTPStatus(a.GetHttpStatus()))
		default:
			r.warnf(ap, "abort configured, but error type not set")
		}
	}
	if d := f.Delay; d != nil {
		dp := p.field("delay")
		r.add(dp.field("percentage"), checkFractionalPercent(d.Percentage))
		if d.GetFixedDelay() != nil {
			r.add(dp.field("fixedDelay"), checkDuration(d.GetFixedDelay()))
		}
		if d.GetExponentialDelay() != nil {
			r.add(dp.field("exponentialDelay"), checkDuration(d.GetExponentialDelay()))
			r.errorf(dp.field("exponentialDelay"), "exponentialDelay not supported yet")
		}
	}
}

// checkHTTPStatus checks a status code a route responds with (istiod accepts 200..600).
func checkHTTPStatus(status int32) error {
	if status < 200 || status > 600 {
		return fmt.Errorf("HTTP status %d is not in range 200-599", status)
	}
	return nil
}

func checkMirrorPercentage(r *report, p path, v float64) {
	if v > 100 {
		r.errorf(p, "mirror_percentage must have a max value of 100 (it has %f)", v)
	}
	if v < 0 {
		r.errorf(p, "mirror_percentage must have a min value of 0 (it has %f)", v)
	}
}

func checkMirrors(r *report, p path, ms []*networkingv1alpha3.HTTPMirrorPolicy) {
	for i, m := range ms {
		mp := p.index(i)
		if m == nil {
			r.errorf(mp, "mirror cannot be null")
			continue
		}
		if m.Destination == nil {
			r.errorf(mp.field("destination"), "destination is required for mirrors")
			continue
		}
		checkDestination(r, mp.field("destination"), m.Destination)
		if m.Percentage != nil {
			checkMirrorPercentage(r, mp.field("percentage"), m.Percentage.GetValue())
		}
	}
}

func checkRedirect(r *report, p path, rd *networkingv1alpha3.HTTPRedirect, matches []*networkingv1alpha3.HTTPMatchRequest) {
	if rd == nil {
		return
	}
	if rd.Uri != "" && rd.PrefixRewrite != "" {
		r.errorf(p, "redirect may only specify one of uri or prefix_rewrite")
	}
	if rd.PrefixRewrite != "" {
		for _, m := range matches {
			if _, prefix := m.GetUri().GetMatchType().(*networkingv1alpha3.StringMatch_Prefix); m.GetUri() != nil && !prefix {
				r.errorf(p.field("prefixRewrite"), "redirect prefix_rewrite requires all URI matches to use prefix match type")
				break
			}
		}
	}
	if rd.Uri == "" && rd.PrefixRewrite == "" && rd.Authority == "" && rd.RedirectPort == nil && rd.Scheme == "" {
		r.errorf(p, "redirect must specify URI, authority, scheme, or port")
	}
	if rd.RedirectCode != 0 && (rd.RedirectCode < 300 || rd.RedirectCode > 399) {
		r.errorf(p.field("redirectCode"), "%d is not a valid redirect code, must be 3xx", rd.RedirectCode)
	}
	if rd.Scheme != "" && rd.Scheme != "http" && rd.Scheme != "https" {
		r.errorf(p.field("scheme"), `invalid redirect scheme, must be "http" or "https"`)
	}
	if rd.GetPort() > 0 {
		r.add(p.field("port"), checkPort(int64(rd.GetPort())))
	}
}

// Direct response bodies are held in memory by istiod and every proxy.
const (
	directResponseWarnSize = 100 * 1024
	directResponseMaxSize  = 1024 * 1024
)

func checkDirectResponse(r *report, p path, d *networkingv1alpha3.HTTPDirectResponse) {
	if d == nil {
		return
	}
	size := len(d.GetBody().GetString_()) + len(d.GetBody().GetBytes())
	switch {
	case size > directResponseMaxSize:
		r.errorf(p.field("body"), "large direct_responses may impact control plane performance, must be less than 1MB")
	case size > directResponseWarnSize:
		r.warnf(p.field("body"), "large direct_responses may impact control plane performance")
	}
	r.add(p.field("status"), checkHTTPStatus(int32(d.Status)))
}

// retryOnPolicies are the retry conditions Envoy knows (x-envoy-retry-on and
// x-envoy-retry-grpc-on); an HTTP status code is also a condition.
var retryOnPolicies = map[string]bool{
	"5xx": true, "gateway-error": true, "reset": true, "reset-before-request": true, "connect-failure": true,
	"retriable-4xx": true, "refused-stream": true, "retriable-status-codes": true, "retriable-headers": true,
	"envoy-ratelimited": true, "http3-post-connect-failure": true,
	"cancelled": true, "deadline-exceeded": true, "internal": true, "resource-exhausted": true, "unavailable": true,
}

func checkRetries(r *report, p path, rt *networkingv1alpha3.HTTPRetry) {
	if rt == nil {
		return
	}
	if rt.Attempts < 0 {
		r.errorf(p.field("attempts"), "attempts cannot be negative")
	}
	if rt.Attempts == 0 && (rt.PerTryTimeout != nil || rt.RetryOn != "" || rt.RetryRemoteLocalities != nil) {
		r.errorf(p.field("attempts"), "http retry policy configured when attempts are set to 0 (disabled)")
	}
	checkOptionalDuration(r, p.field("perTryTimeout"), rt.PerTryTimeout)
	if rt.RetryOn != "" {
		for _, policy := range strings.Split(rt.RetryOn, ",") {
			code, _ := strconv.Atoi(policy)
			if http.StatusText(code) == "" && !retryOnPolicies[policy] {
				r.errorf(p.field("retryOn"), "%q is not a valid retryOn policy", policy)
			}
		}
	}
	checkOptionalDuration(r, p.field("backoff"), rt.Backoff)
}

func checkRewrite(r *report, p path, rw *networkingv1alpha3.HTTPRewrite) {
	if rw == nil {
		return
	}
	if rw.Uri != "" && rw.UriRegexRewrite != nil {
		r.errorf(p, "rewrite may only contain one of URI or UriRegexRewrite")
	}
	if rw.Uri == "" && rw.UriRegexRewrite == nil && rw.Authority == "" {
		r.errorf(p, "rewrite must specify at least one of URI, UriRegexRewrite, or authority. "+
			"Only one of URI or UriRegexRewrite may be specified")
	}
	if rr := rw.UriRegexRewrite; rr != nil {
		rp := p.field("uriRegexRewrite")
		if rr.Match == "" || rr.Rewrite == "" {
			r.errorf(rp, "UriRegexRewrite requires both Rewrite and Match fields to be specified")
		} else {
			r.add(rp.field("match"), checkRegex(rr.Match))
		}
	}
}

// checkAuthorityRewrite rejects setting the authority more than once: by rewrite.authority
// and by setting or adding the ":authority" or "host" request header.
func checkAuthorityRewrite(r *report, p path, rw *networkingv1alpha3.HTTPRewrite, h *networkingv1alpha3.Headers) {
	current := rw.GetAuthority()
	for _, op := range []struct {
		name string
		m    map[string]string
	}{{"set", h.GetRequest().GetSet()}, {"add", h.GetRequest().GetAdd()}} {
		for _, k := range sortedKeys(op.m) {
			if !isAuthorityHeader(k) {
				continue
			}
			if current != "" {
				r.errorf(p.field("headers.request").field(op.name).key(k),
					"authority header cannot be set multiple times: have %q, attempting to set %q", current, op.m[k])
				return
			}
			current = op.m[k]
		}
	}
}
