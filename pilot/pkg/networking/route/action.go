package route

import (
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pilot/pkg/model"
	"github.com/sextant-mesh/sextant/pkg/config/host"
)

// UnknownServiceCluster is the cluster of a destination without a host.
const UnknownServiceCluster = "UnknownService"

// DefaultOutboundRoute is the route of a service port no VirtualService claims: every
// request to outbound|port||hostname, no timeout, and the mesh's default retry policy.
func DefaultOutboundRoute(pc *model.PushContext, hostname host.Name, port int) *routev3.Route {
	action := &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: clusterName("", hostname, port)},
		RetryPolicy:      retryPolicy(pc.Mesh.GetDefaultHttpRetryPolicy(), false),
	}
	setTimeout(action, nil, false)
	return &routev3.Route{
		Name:      "default",
		Match:     catchAllMatch(),
		Decorator: &routev3.Decorator{Operation: string(hostname) + ":" + strconv.Itoa(port) + "/*"},
		Action:    &routev3.Route_Route{Route: action},
	}
}

// DestinationCluster names the outbound cluster of a destination: its port, else the
// only port of its service svc (nil if unknown), else listenerPort. An ExternalName
// service routes to its external name.
func DestinationCluster(d *networkingv1alpha3.Destination, svc *model.Service, listenerPort int) string {
	if d.GetHost() == "" {
		return UnknownServiceCluster
	}
	h := host.Name(d.GetHost())
	if svc != nil && svc.ExternalName != "" {
		h = host.Name(svc.ExternalName)
	}
	port := listenerPort
	if d.GetPort() != nil {
		port = int(d.GetPort().GetNumber())
	} else if svc != nil && len(svc.Ports) == 1 {
		port = svc.Ports[0].Port
	}
	return clusterName(d.GetSubset(), h, port)
}

func clusterName(subset string, h host.Name, port int) string {
	return "outbound|" + strconv.Itoa(port) + "|" + subset + "|" + string(h)
}

// setTimeout applies a rule's timeout (none: 0, no timeout) and bounds gRPC's
// grpc-timeout header by it; proxyless gRPC reads max_stream_duration instead.
func setTimeout(action *routev3.RouteAction, timeout *durationpb.Duration, grpc bool) {
	action.Timeout = durationpb.New(0)
	if timeout != nil {
		action.Timeout = timeout
	}
	if grpc {
		action.MaxStreamDuration = &routev3.RouteAction_MaxStreamDuration{MaxStreamDuration: action.Timeout}
		return
	}
	action.MaxGrpcTimeout = action.Timeout //nolint:staticcheck // istiod still sets the deprecated field
}

// applyDestinations makes out forward to the rule's destinations (one cluster, or
// weighted clusters without the zero-weight ones), with its rewrites, mirrors, retries
// and timeout. authority is the Host the rule's header operations set, if any. It leaves
// out without action when there is no destination.
func applyDestinations(out *routev3.Route, in *networkingv1alpha3.HTTPRoute, authority string, opts *Options) {
	action := &routev3.RouteAction{}
	setTimeout(action, in.Timeout, opts.proxylessGRPC())
	if rw := in.Rewrite; rw != nil {
		action.AppendXForwardedHost = opts.Mesh.GetDefaultConfig().GetProxyHeaders().GetXForwardedHost().GetEnabled().GetValue()
		if rr := rw.GetUriRegexRewrite(); rr != nil {
			action.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{
				Pattern:      &matcherv3.RegexMatcher{Regex: rr.Match},
				Substitution: rr.Rewrite,
			}
		} else if rw.GetUri() != "" {
			action.PrefixRewrite = rw.GetUri()
		}
		if rw.GetAuthority() != "" {
			authority = rw.GetAuthority()
		}
	}
	if authority != "" {
		action.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: authority}
	}
	action.RequestMirrorPolicies = mirrorPolicies(in, opts)
	retries := in.Retries
	if retries == nil {
		retries = opts.Mesh.GetDefaultHttpRetryPolicy()
	}
	consistentHash := false
	if len(in.Route) == 1 {
		applySingleDestination(out, action, in.Route[0], opts)
		consistentHash = opts.hash(in.Route[0]) != nil
	} else {
		applyWeightedDestinations(action, in.Route, opts)
		if len(action.GetWeightedClusters().GetClusters()) == 0 {
			return
		}
	}
	action.RetryPolicy = retryPolicy(retries, consistentHash)
	out.Action = &routev3.Route_Route{Route: action}
}

func applySingleDestination(out *routev3.Route, action *routev3.RouteAction, d *networkingv1alpha3.HTTPRouteDestination, opts *Options) {
	action.ClusterSpecifier = &routev3.RouteAction_Cluster{
		Cluster: DestinationCluster(d.Destination, opts.service(d.GetDestination().GetHost()), opts.Port),
	}
	if d.Headers != nil {
		ops := translateHeaders(d.Headers)
		out.RequestHeadersToAdd = append(out.RequestHeadersToAdd, ops.requestAdd...)
		out.RequestHeadersToRemove = append(out.RequestHeadersToRemove, ops.requestRemove...)
		out.ResponseHeadersToAdd = append(out.ResponseHeadersToAdd, ops.responseAdd...)
		out.ResponseHeadersToRemove = append(out.ResponseHeadersToRemove, ops.responseRemove...)
		// The rule's own Host rewrite wins, so one and several destinations behave alike.
		if ops.authority != "" && action.HostRewriteSpecifier == nil {
			action.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: ops.authority}
		}
	}
	if hp := hashPolicy(opts.hash(d)); hp != nil {
		action.HashPolicy = append(action.HashPolicy, hp)
	}
}

func applyWeightedDestinations(action *routev3.RouteAction, ds []*networkingv1alpha3.HTTPRouteDestination, opts *Options) {
	var clusters []*routev3.WeightedCluster_ClusterWeight
	for _, d := range ds {
		if d.Weight == 0 {
			continue
		}
		cw := &routev3.WeightedCluster_ClusterWeight{
			Name:   DestinationCluster(d.Destination, opts.service(d.GetDestination().GetHost()), opts.Port),
			Weight: wrapperspb.UInt32(uint32(d.Weight)),
		}
		if d.Headers != nil {
			ops := translateHeaders(d.Headers)
			cw.RequestHeadersToAdd, cw.RequestHeadersToRemove = ops.requestAdd, ops.requestRemove
			cw.ResponseHeadersToAdd, cw.ResponseHeadersToRemove = ops.responseAdd, ops.responseRemove
			if ops.authority != "" {
				cw.HostRewriteSpecifier = &routev3.WeightedCluster_ClusterWeight_HostRewriteLiteral{HostRewriteLiteral: ops.authority}
			}
		}
		clusters = append(clusters, cw)
		if hp := hashPolicy(opts.hash(d)); hp != nil {
			action.HashPolicy = append(action.HashPolicy, hp)
		}
	}
	action.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: clusters}}
}

// mirrorPolicies translates mirror (with mirrorPercentage, or the deprecated
// mirrorPercent) and mirrors; an explicit zero percentage disables a mirror.
func mirrorPolicies(in *networkingv1alpha3.HTTPRoute, opts *Options) []*routev3.RouteAction_RequestMirrorPolicy {
	var out []*routev3.RouteAction_RequestMirrorPolicy
	if in.Mirror != nil {
		var pct *typev3.FractionalPercent
		switch {
		case in.MirrorPercentage != nil:
			pct = percentOrNil(in.MirrorPercentage)
		case in.MirrorPercent != nil: //nolint:staticcheck // deprecated, still honoured
			if v := in.MirrorPercent.GetValue(); v > 0 { //nolint:staticcheck
				pct = &typev3.FractionalPercent{Numerator: v, Denominator: typev3.FractionalPercent_HUNDRED}
			}
		default:
			pct = &typev3.FractionalPercent{Numerator: 100, Denominator: typev3.FractionalPercent_HUNDRED}
		}
		if pct != nil {
			out = append(out, mirrorPolicy(DestinationCluster(in.Mirror, opts.service(in.Mirror.Host), opts.Port), pct))
		}
	}
	for _, m := range in.Mirrors {
		pct := &typev3.FractionalPercent{Numerator: 100, Denominator: typev3.FractionalPercent_HUNDRED}
		if m.Percentage != nil {
			pct = percentOrNil(m.Percentage)
		}
		if pct != nil && m.Destination != nil {
			out = append(out, mirrorPolicy(DestinationCluster(m.Destination, opts.service(m.Destination.Host), opts.Port), pct))
		}
	}
	return out
}

func mirrorPolicy(cluster string, pct *typev3.FractionalPercent) *routev3.RouteAction_RequestMirrorPolicy {
	return &routev3.RouteAction_RequestMirrorPolicy{
		Cluster:                       cluster,
		RuntimeFraction:               &corev3.RuntimeFractionalPercent{DefaultValue: pct},
		TraceSampled:                  wrapperspb.Bool(false),
		DisableShadowHostSuffixAppend: true,
	}
}

// percentOrNil converts a positive percentage to parts per million, or returns nil.
func percentOrNil(p *networkingv1alpha3.Percent) *typev3.FractionalPercent {
	if p.GetValue() <= 0 {
		return nil
	}
	return millionths(p)
}

func millionths(p *networkingv1alpha3.Percent) *typev3.FractionalPercent {
	return &typev3.FractionalPercent{Numerator: uint32(p.GetValue() * 10000), Denominator: typev3.FractionalPercent_MILLION}
}

// redirectCodes are the redirect codes Envoy supports; 0 means 301.
var redirectCodes = map[uint32]routev3.RedirectAction_RedirectResponseCode{
	0:   routev3.RedirectAction_MOVED_PERMANENTLY,
	301: routev3.RedirectAction_MOVED_PERMANENTLY,
	302: routev3.RedirectAction_FOUND,
	303: routev3.RedirectAction_SEE_OTHER,
	307: routev3.RedirectAction_TEMPORARY_REDIRECT,
	308: routev3.RedirectAction_PERMANENT_REDIRECT,
}

// applyRedirect makes out redirect; an unsupported code leaves it without action. A
// port derived from the request is the listener port; default ports are omitted.
func applyRedirect(out *routev3.Route, in *networkingv1alpha3.HTTPRedirect, listenerPort int) {
	code, ok := redirectCodes[in.RedirectCode]
	if !ok {
		return
	}
	r := &routev3.RedirectAction{HostRedirect: in.Authority, ResponseCode: code}
	if in.PrefixRewrite != "" {
		r.PathRewriteSpecifier = &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: in.PrefixRewrite}
	} else {
		r.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: in.Uri}
	}
	if in.Scheme != "" {
		r.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: in.Scheme}
	}
	if in.RedirectPort != nil {
		switch p := in.RedirectPort.(type) {
		case *networkingv1alpha3.HTTPRedirect_DerivePort:
			if p.DerivePort == networkingv1alpha3.HTTPRedirect_FROM_REQUEST_PORT {
				r.PortRedirect = uint32(listenerPort)
			}
		case *networkingv1alpha3.HTTPRedirect_Port:
			r.PortRedirect = p.Port
		}
		scheme := in.Scheme
		if scheme == "" {
			scheme = "http" // sidecars never terminate TLS
		}
		if (r.PortRedirect == 80 && scheme == "http") || (r.PortRedirect == 443 && scheme == "https") {
			r.PortRedirect = 0
		}
	}
	out.Action = &routev3.Route_Redirect{Redirect: r}
}

func applyDirectResponse(out *routev3.Route, in *networkingv1alpha3.HTTPDirectResponse) {
	dr := &routev3.DirectResponseAction{Status: in.Status}
	switch b := in.GetBody().GetSpecifier().(type) {
	case *networkingv1alpha3.HTTPBody_String_:
		dr.Body = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: b.String_}}
	case *networkingv1alpha3.HTTPBody_Bytes:
		dr.Body = &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b.Bytes}}
	}
	out.Action = &routev3.Route_DirectResponse{DirectResponse: dr}
}
