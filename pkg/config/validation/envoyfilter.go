package validation

import (
	"regexp"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config"
)

// maxProxyVersionLength bounds the proxyVersion regex; longer ones are ignored.
const maxProxyVersionLength = 1024

// httpConnectionManagerNames are the names of the network filter HTTP filters live in.
var httpConnectionManagerNames = map[string]bool{
	"envoy.filters.network.http_connection_manager": true,
	"envoy.http_connection_manager":                 true,
}

// validateEnvoyFilter applies istiod's EnvoyFilter rules: a selector with labels, and for
// each patch an applyTo, an operation, a value (unless removing), a proxyVersion that
// compiles, a match of the class applyTo patches, and a value that decodes as the
// Envoy type applyTo patches. It always warns, as istiod does, that EnvoyFilter exposes
// implementation details.
func validateEnvoyFilter(c *config.Config, r *report) {
	ef, ok := specAs[*networkingv1alpha3.EnvoyFilter](c, r)
	if !ok {
		return
	}
	r.warnf("spec", "EnvoyFilter exposes internal implementation details that may change at any time. "+
		"Prefer other APIs if possible, and exercise extreme caution, especially around upgrades.")
	if ws := ef.WorkloadSelector; ws != nil {
		checkSelectorLabels(r, "spec.workloadSelector.labels", ws.Labels)
		if len(ws.Labels) == 0 {
			r.warnf("spec.workloadSelector", "Envoy filter: workload selector specified without labels, "+
				"will be applied to all services in namespace")
		}
	}
	for i, cp := range ef.ConfigPatches {
		checkConfigPatch(r, path("spec.configPatches").index(i), cp)
	}
}

func checkConfigPatch(r *report, p path, cp *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch) {
	switch {
	case cp == nil:
		r.errorf(p, "Envoy filter: null config patch")
		return
	case cp.Match.GetContext() == networkingv1alpha3.EnvoyFilter_WAYPOINT:
		return // istiod does not validate waypoint patches yet
	case cp.ApplyTo == networkingv1alpha3.EnvoyFilter_INVALID:
		r.errorf(p.field("applyTo"), "Envoy filter: missing applyTo")
		return
	case cp.Patch == nil:
		r.errorf(p.field("patch"), "Envoy filter: missing patch")
		return
	case cp.Patch.Operation == networkingv1alpha3.EnvoyFilter_Patch_INVALID:
		r.errorf(p.field("patch.operation"), "Envoy filter: missing patch operation")
		return
	case cp.Patch.Operation != networkingv1alpha3.EnvoyFilter_Patch_REMOVE && cp.Patch.Value == nil:
		r.errorf(p.field("patch.value"), "Envoy filter: missing patch value for non-remove operation")
		return
	}
	if v := cp.Match.GetProxy().GetProxyVersion(); v != "" {
		vp := p.field("match.proxy.proxyVersion")
		if len(v) > maxProxyVersionLength {
			r.warnf(vp, "Envoy filter: proxyVersion match exceeds %d characters and will be ignored", maxProxyVersionLength)
		} else if _, err := regexp.Compile(v); err != nil {
			r.errorf(vp, "Envoy filter: invalid regex for proxy version, [%v]", err)
			return
		}
	}
	if !checkPatchMatch(r, p, cp) {
		return
	}
	checkPatchValue(r, p.field("patch.value"), cp.ApplyTo, cp.Patch)
}

// checkPatchMatch checks the match is of the object class applyTo patches (listener,
// route configuration or cluster), and that filter matches are usable. It reports
// whether checking may go on to the patch value.
func checkPatchMatch(r *report, p path, cp *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch) bool {
	m := cp.Match
	if m.GetObjectTypes() == nil {
		return true
	}
	mp := p.field("match")
	switch cp.ApplyTo {
	case networkingv1alpha3.EnvoyFilter_LISTENER, networkingv1alpha3.EnvoyFilter_FILTER_CHAIN,
		networkingv1alpha3.EnvoyFilter_NETWORK_FILTER, networkingv1alpha3.EnvoyFilter_HTTP_FILTER:
		if m.GetListener() == nil {
			r.errorf(mp, "Envoy filter: applyTo for listener class objects cannot have non listener match")
			return false
		}
		return checkFilterMatch(r, mp.field("listener.filterChain.filter"), cp.ApplyTo, m.GetListener().GetFilterChain().GetFilter())
	case networkingv1alpha3.EnvoyFilter_ROUTE_CONFIGURATION, networkingv1alpha3.EnvoyFilter_VIRTUAL_HOST,
		networkingv1alpha3.EnvoyFilter_HTTP_ROUTE:
		if m.GetRouteConfiguration() == nil {
			r.errorf(mp, "Envoy filter: applyTo for http route class objects cannot have non route configuration match")
		}
	case networkingv1alpha3.EnvoyFilter_CLUSTER:
		if m.GetCluster() == nil {
			r.errorf(mp, "Envoy filter: applyTo for cluster class objects cannot have non cluster match")
		}
	}
	return true
}

// checkFilterMatch checks a network filter match: it needs a name, and a sub filter match
// (HTTP_FILTER only) needs the HTTP connection manager and a name. Deprecated filter
// names are accepted with a warning.
func checkFilterMatch(r *report, p path, applyTo networkingv1alpha3.EnvoyFilter_ApplyTo,
	f *networkingv1alpha3.EnvoyFilter_ListenerMatch_FilterMatch,
) bool {
	if f == nil {
		return true
	}
	if applyTo == networkingv1alpha3.EnvoyFilter_LISTENER || applyTo == networkingv1alpha3.EnvoyFilter_FILTER_CHAIN {
		r.warnf(p, "Envoy filter: filter match has no effect when used with %v", applyTo)
	}
	if f.Name == "" {
		r.errorf(p.field("name"), "Envoy filter: filter match has no name to match on")
		return false
	}
	if sub := f.SubFilter; sub != nil {
		switch {
		case applyTo != networkingv1alpha3.EnvoyFilter_HTTP_FILTER:
			r.errorf(p.field("subFilter"), "Envoy filter: subfilter match can be used with applyTo HTTP_FILTER only")
			return false
		case !httpConnectionManagerNames[f.Name]:
			r.errorf(p.field("subFilter"), "Envoy filter: subfilter match requires filter match with "+
				"envoy.filters.network.http_connection_manager")
			return false
		case sub.Name == "":
			r.errorf(p.field("subFilter.name"), "Envoy filter: subfilter match has no name to match on")
			return false
		}
	}
	warnDeprecatedFilterName(r, p.field("name"), f.Name)
	warnDeprecatedFilterName(r, p.field("subFilter.name"), f.GetSubFilter().GetName())
	return true
}

// deprecatedFilterNames maps Envoy's old filter names to the canonical ones.
var deprecatedFilterNames = map[string]string{
	"envoy.buffer":                  "envoy.filters.http.buffer",
	"envoy.cors":                    "envoy.filters.http.cors",
	"envoy.csrf":                    "envoy.filters.http.csrf",
	"envoy.http_dynamo_filter":      "envoy.filters.http.dynamo",
	"envoy.ext_authz":               "envoy.filters.http.ext_authz",
	"envoy.fault":                   "envoy.filters.http.fault",
	"envoy.grpc_http1_bridge":       "envoy.filters.http.grpc_http1_bridge",
	"envoy.grpc_json_transcoder":    "envoy.filters.http.grpc_json_transcoder",
	"envoy.grpc_web":                "envoy.filters.http.grpc_web",
	"envoy.gzip":                    "envoy.filters.http.gzip",
	"envoy.health_check":            "envoy.filters.http.health_check",
	"envoy.ip_tagging":              "envoy.filters.http.ip_tagging",
	"envoy.lua":                     "envoy.filters.http.lua",
	"envoy.rate_limit":              "envoy.filters.http.ratelimit",
	"envoy.router":                  "envoy.filters.http.router",
	"envoy.squash":                  "envoy.filters.http.squash",
	"envoy.listener.http_inspector": "envoy.filters.listener.http_inspector",
	"envoy.listener.original_dst":   "envoy.filters.listener.original_dst",
	"envoy.listener.original_src":   "envoy.filters.listener.original_src",
	"envoy.listener.proxy_protocol": "envoy.filters.listener.proxy_protocol",
	"envoy.listener.tls_inspector":  "envoy.filters.listener.tls_inspector",
	"envoy.client_ssl_auth":         "envoy.filters.network.client_ssl_auth",
	"envoy.http_connection_manager": "envoy.filters.network.http_connection_manager",
	"envoy.mongo_proxy":             "envoy.filters.network.mongo_proxy",
	"envoy.ratelimit":               "envoy.filters.network.ratelimit",
	"envoy.redis_proxy":             "envoy.filters.network.redis_proxy",
	"envoy.tcp_proxy":               "envoy.filters.network.tcp_proxy",
}

func warnDeprecatedFilterName(r *report, p path, name string) {
	if canonical, ok := deprecatedFilterNames[name]; ok {
		r.warnf(p, "using deprecated filter name %q; use %q instead", name, canonical)
	}
}
