package route

import (
	"sort"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// Pseudo-headers that VirtualService method, authority and scheme matches test.
const (
	headerMethod    = ":method"
	headerAuthority = ":authority"
	headerScheme    = ":scheme"
)

// JWT claim routing: a header named "@request.auth.claims.a.b" or
// "@request.auth.claims[a][b]" matches a claim of the JWT payload the jwt_authn filter
// stored in dynamic metadata.
const (
	jwtClaimHeader    = "@request.auth.claims"
	jwtFilterName     = "envoy.filters.http.jwt_authn"
	jwtFilterMetadata = "payload"
)

func catchAllMatch() *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
}

// translateRouteMatch translates a VirtualService match; nil matches everything (prefix
// "/", no case setting). Header conditions are sorted by name, followed by the method,
// authority and scheme conditions; query parameters are sorted by name.
func translateRouteMatch(in *networkingv1alpha3.HTTPMatchRequest) *routev3.RouteMatch {
	out := catchAllMatch()
	if in == nil {
		return out
	}
	for _, name := range sortedNames(in.Headers) {
		if mm := jwtClaimMatcher(name, in.Headers[name]); mm != nil {
			out.DynamicMetadata = append(out.DynamicMetadata, mm)
		} else {
			out.Headers = append(out.Headers, headerMatcher(name, in.Headers[name]))
		}
	}
	for _, name := range sortedNames(in.WithoutHeaders) {
		sm := in.WithoutHeaders[name]
		if mm := jwtClaimMatcher(name, sm); mm != nil {
			mm.Invert = true
			out.DynamicMetadata = append(out.DynamicMetadata, mm)
			continue
		}
		hm := headerMatcher(name, sm)
		hm.InvertMatch = true
		// treat_missing_header_as_empty cannot be combined with present_match.
		hm.TreatMissingHeaderAsEmpty = !matchesPresence(sm)
		out.Headers = append(out.Headers, hm)
	}
	sort.SliceStable(out.Headers, func(i, j int) bool { return out.Headers[i].Name < out.Headers[j].Name })
	switch m := in.GetUri().GetMatchType().(type) {
	case *networkingv1alpha3.StringMatch_Exact:
		out.PathSpecifier = &routev3.RouteMatch_Path{Path: m.Exact}
	case *networkingv1alpha3.StringMatch_Prefix:
		out.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: m.Prefix}
	case *networkingv1alpha3.StringMatch_Regex:
		out.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: m.Regex}}
	}
	out.CaseSensitive = wrapperspb.Bool(!in.IgnoreUriCase)
	for _, pseudo := range []struct {
		name string
		m    *networkingv1alpha3.StringMatch
	}{{headerMethod, in.Method}, {headerAuthority, in.Authority}, {headerScheme, in.Scheme}} {
		if pseudo.m != nil {
			out.Headers = append(out.Headers, headerMatcher(pseudo.name, pseudo.m))
		}
	}
	for _, name := range sortedNames(in.QueryParams) {
		out.QueryParameters = append(out.QueryParameters, queryParamMatcher(name, in.QueryParams[name]))
	}
	return out
}

func sortedNames(m map[string]*networkingv1alpha3.StringMatch) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// matchesPresence reports whether a string match only asks for presence: empty, or the
// regex "*" (not RE2, kept for compatibility).
func matchesPresence(in *networkingv1alpha3.StringMatch) bool {
	return in.GetMatchType() == nil || in.GetRegex() == "*"
}

func headerMatcher(name string, in *networkingv1alpha3.StringMatch) *routev3.HeaderMatcher {
	out := &routev3.HeaderMatcher{Name: name}
	if matchesPresence(in) {
		out.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
	} else if sm := stringMatcher(in); sm != nil {
		out.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: sm}
	}
	return out
}

func queryParamMatcher(name string, in *networkingv1alpha3.StringMatch) *routev3.QueryParameterMatcher {
	out := &routev3.QueryParameterMatcher{Name: name}
	if matchesPresence(in) {
		out.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}
	} else if sm := stringMatcher(in); sm != nil {
		out.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: sm}
	}
	return out
}

// stringMatcher translates an Istio string match (exact, prefix or regex), or nil.
func stringMatcher(in *networkingv1alpha3.StringMatch) *matcherv3.StringMatcher {
	switch m := in.GetMatchType().(type) {
	case *networkingv1alpha3.StringMatch_Exact:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: m.Exact}}
	case *networkingv1alpha3.StringMatch_Prefix:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: m.Prefix}}
	case *networkingv1alpha3.StringMatch_Regex:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{
			SafeRegex: &matcherv3.RegexMatcher{Regex: m.Regex},
		}}
	}
	return nil
}

// stringMatchers translates a list of string matches, skipping empty ones.
func stringMatchers(in []*networkingv1alpha3.StringMatch) []*matcherv3.StringMatcher {
	out := make([]*matcherv3.StringMatcher, 0, len(in))
	for _, m := range in {
		if sm := stringMatcher(m); sm != nil {
			out = append(out, sm)
		}
	}
	return out
}

// jwtClaimMatcher returns the dynamic metadata matcher of a JWT claim header, or nil for
// ordinary headers. A claim matches if it equals the value or is a list containing it.
func jwtClaimMatcher(name string, in *networkingv1alpha3.StringMatch) *matcherv3.MetadataMatcher {
	claims := jwtClaims(name)
	if claims == nil {
		return nil
	}
	value := &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_StringMatch{StringMatch: stringMatcher(in)}}
	path := []*matcherv3.MetadataMatcher_PathSegment{{Segment: &matcherv3.MetadataMatcher_PathSegment_Key{Key: jwtFilterMetadata}}}
	for _, c := range claims {
		path = append(path, &matcherv3.MetadataMatcher_PathSegment{Segment: &matcherv3.MetadataMatcher_PathSegment_Key{Key: c}})
	}
	list := &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_ListMatch{ListMatch: &matcherv3.ListMatcher{
		MatchPattern: &matcherv3.ListMatcher_OneOf{OneOf: value},
	}}}
	return &matcherv3.MetadataMatcher{
		Filter: jwtFilterName,
		Path:   path,
		Value: &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_OrMatch{OrMatch: &matcherv3.OrMatcher{
			ValueMatchers: []*matcherv3.ValueMatcher{list, value},
		}}},
	}
}

// jwtClaims splits a JWT claim header name into the claim path, or returns nil.
func jwtClaims(name string) []string {
	if !strings.HasPrefix(strings.ToLower(name), jwtClaimHeader) {
		return nil
	}
	rest := name[len(jwtClaimHeader):]
	switch {
	case strings.HasPrefix(rest, ".") && len(rest) > 1:
		return strings.Split(rest[1:], ".")
	case strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]") && len(rest) > 2:
		return strings.Split(rest[1:len(rest)-1], "][")
	}
	return nil
}
