package route

import (
	"slices"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/host"
	"github.com/sextant-mesh/sextant/pkg/config/labels"
)

// Envoy HTTP filter names routes configure through typed_per_filter_config.
const (
	faultFilter = "envoy.filters.http.fault"
	corsFilter  = "envoy.filters.http.cors"
)

// Options say for whom and where VirtualService HTTP routes are translated.
type Options struct {
	// Proxy is the proxy the routes are for: its labels and namespace select the matches
	// with sourceLabels and sourceNamespace, and proxyless gRPC clients get
	// max_stream_duration instead of max_grpc_timeout. Without one, only matches without
	// source conditions apply.
	Proxy *model.Proxy
	// Mesh supplies the default retry policy and proxy header settings.
	Mesh *meshv1alpha1.MeshConfig
	// Port is the listener port: matches on another port are dropped, and destinations
	// without a port (of services with several) go to it.
	Port int
	// Gateways are the gateways the routes are built for ("mesh" for sidecars); matches
	// naming gateways apply only to these.
	Gateways []string
	// LookupService returns the destination service for a hostname as the listener sees
	// it (narrowed to the listener port), or nil; a nil func finds none.
	LookupService func(host.Name) *model.Service
	// LookupHash returns the consistent-hash settings of a destination (from its
	// DestinationRule), or nil; a nil func finds none.
	LookupHash func(*networkingv1alpha3.HTTPRouteDestination) *networkingv1alpha3.LoadBalancerSettings_ConsistentHashLB
}

func (o *Options) proxylessGRPC() bool { return o.Proxy != nil && o.Proxy.IsProxylessGRPC() }

func (o *Options) service(h string) *model.Service {
	if o.LookupService == nil {
		return nil
	}
	return o.LookupService(host.Name(h))
}

func (o *Options) hash(d *networkingv1alpha3.HTTPRouteDestination) *networkingv1alpha3.LoadBalancerSettings_ConsistentHashLB {
	if o.LookupHash == nil {
		return nil
	}
	return o.LookupHash(d)
}

// TranslateVirtualService translates the HTTP rules of VirtualService vs (short names
// resolved, delegates merged) in order, stopping after the first rule that matches every
// request.
func TranslateVirtualService(vs *config.Config, opts *Options) []*routev3.Route {
	spec := vs.Spec.(*networkingv1alpha3.VirtualService)
	var out []*routev3.Route
	for _, in := range spec.GetHttp() {
		routes, catchAll := TranslateHTTPRoute(vs, in, opts)
		out = append(out, routes...)
		if catchAll {
			break
		}
	}
	return out
}

// TranslateHTTPRoute translates one HTTP rule of vs into Envoy routes, one per match that
// applies to opts (port, source labels and namespace, gateways), stopping at a match
// that takes every request. catchAll reports whether later rules are unreachable. A rule
// without a usable action (unsupported redirect code, no destination) yields no route.
func TranslateHTTPRoute(vs *config.Config, in *networkingv1alpha3.HTTPRoute, opts *Options) (routes []*routev3.Route, catchAll bool) {
	if len(in.GetMatch()) == 0 {
		if r := translateRoute(vs, in, nil, opts); r != nil {
			routes = append(routes, r)
		}
		return routes, true
	}
	for _, m := range in.GetMatch() {
		r := translateRoute(vs, in, m, opts)
		if r == nil {
			continue
		}
		routes = append(routes, r)
		if IsCatchAll(r) {
			return routes, true
		}
	}
	return routes, false
}

// translateRoute translates one match of an HTTP rule, or returns nil if the match does
// not apply to opts or the rule has no usable action.
func translateRoute(vs *config.Config, in *networkingv1alpha3.HTTPRoute, m *networkingv1alpha3.HTTPMatchRequest, opts *Options) *routev3.Route {
	if m != nil && m.Port != 0 && int(m.Port) != opts.Port {
		return nil
	}
	if !sourceMatches(m, opts) {
		return nil
	}
	out := &routev3.Route{
		Name:     in.Name,
		Match:    translateRouteMatch(m),
		Metadata: configMetadata(vs),
	}
	if m != nil {
		if m.Name != "" {
			out.Name += "." + m.Name
		}
		out.StatPrefix = m.StatPrefix
	}
	authority := ""
	if in.Headers != nil {
		ops := translateHeaders(in.Headers)
		out.RequestHeadersToAdd, out.RequestHeadersToRemove = ops.requestAdd, ops.requestRemove
		out.ResponseHeadersToAdd, out.ResponseHeadersToRemove = ops.responseAdd, ops.responseRemove
		authority = ops.authority
	}
	switch {
	case in.Redirect != nil:
		applyRedirect(out, in.Redirect, opts.Port)
	case in.DirectResponse != nil:
		applyDirectResponse(out, in.DirectResponse)
	default:
		applyDestinations(out, in, authority, opts)
	}
	if out.Action == nil {
		return nil
	}
	out.Decorator = &routev3.Decorator{Operation: routeOperation(out, vs.Name, opts.Port)}
	if in.Fault != nil || in.CorsPolicy != nil {
		out.TypedPerFilterConfig = map[string]*anypb.Any{}
	}
	if in.Fault != nil {
		out.TypedPerFilterConfig[faultFilter] = protoconv.MessageToAny(translateFault(in.Fault))
	}
	if in.CorsPolicy != nil {
		out.TypedPerFilterConfig[corsFilter] = protoconv.MessageToAny(translateCORS(in.CorsPolicy))
	}
	return out
}

// sourceMatches reports whether a match applies to the proxy: it names one of the
// gateways, or (naming none) the proxy has its source labels and namespace.
func sourceMatches(m *networkingv1alpha3.HTTPMatchRequest, opts *Options) bool {
	if m == nil {
		return true
	}
	if len(m.Gateways) > 0 {
		for _, g := range m.Gateways {
			if slices.Contains(opts.Gateways, g) {
				return true
			}
		}
		return false
	}
	var proxyLabels map[string]string
	proxyNamespace := ""
	if opts.Proxy != nil {
		proxyLabels, proxyNamespace = opts.Proxy.Labels, opts.Proxy.ConfigNamespace
	}
	if !labels.Instance(m.SourceLabels).SubsetOf(proxyLabels) {
		return false
	}
	return m.SourceNamespace == "" || m.SourceNamespace == proxyNamespace
}

// IsCatchAll reports whether a route matches every request: path prefix "/" (or regex
// ".*") with no header, query parameter or metadata condition.
func IsCatchAll(r *routev3.Route) bool {
	m := r.GetMatch()
	all := false
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		all = ps.Prefix == "/"
	case *routev3.RouteMatch_PathSeparatedPrefix:
		all = ps.PathSeparatedPrefix == "/"
	case *routev3.RouteMatch_SafeRegex:
		all = ps.SafeRegex.GetRegex() == ".*"
	}
	return all && len(m.GetHeaders()) == 0 && len(m.GetQueryParameters()) == 0 && len(m.GetDynamicMetadata()) == 0
}

// routeOperation is the tracing decorator: "host:port/path" for a single destination
// cluster, else "vsName:port/path", where path is the exact path, the prefix followed by
// "*", the regex, or "/*".
func routeOperation(r *routev3.Route, vsName string, port int) string {
	path := "/*"
	m := r.GetMatch()
	switch m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		path = m.GetPrefix() + "*"
	case *routev3.RouteMatch_Path:
		path = m.GetPath()
	case *routev3.RouteMatch_SafeRegex:
		path = m.GetSafeRegex().GetRegex()
	}
	if c := r.GetRoute().GetCluster(); strings.Count(c, "|") == 3 {
		parts := strings.SplitN(c, "|", 4)
		return parts[3] + ":" + parts[1] + path
	}
	return vsName + ":" + strconv.Itoa(port) + path
}

// configMetadata names the VirtualService a route comes from, as istio metadata.
func configMetadata(vs *config.Config) *corev3.Metadata {
	path := "/apis/networking.istio.io/v1/namespaces/" + vs.Namespace + "/virtual-service/" + vs.Name
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
		"istio": {Fields: map[string]*structpb.Value{"config": structpb.NewStringValue(path)}},
	}}
}
