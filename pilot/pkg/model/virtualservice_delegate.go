package model

import (
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config"
	"github.com/sextant-mesh/sextant/pkg/config/schema"
)

// mergeDelegates replaces, in the resolved root VirtualService root, every HTTP route
// that delegates to another VirtualService with that delegate's routes merged under it:
// the delegate's matches must narrow the root route's (else they conflict and are
// dropped), and fields the delegate route leaves unset are inherited from the root route.
// A missing or unexported delegate drops the delegating route. Problems go to errs.
func (idx *virtualServiceIndex) mergeDelegates(root *config.Config, errs *[]error) {
	vs := root.Spec.(*networkingv1alpha3.VirtualService)
	if !slices.ContainsFunc(vs.Http, func(r *networkingv1alpha3.HTTPRoute) bool { return r.Delegate != nil }) {
		return
	}
	merged := make([]*networkingv1alpha3.HTTPRoute, 0, len(vs.Http))
	for _, r := range vs.Http {
		ref := r.Delegate
		if ref == nil {
			merged = append(merged, r)
			continue
		}
		ns := ref.Namespace
		if ns == "" {
			ns = root.Namespace
		}
		d := idx.delegates[config.Key{Kind: schema.VirtualService, Namespace: ns, Name: ref.Name}]
		switch {
		case d == nil:
			*errs = append(*errs, vsError(root, "delegate %s/%s not found", ns, ref.Name))
			continue
		case !d.exportTo["*"] && !d.exportTo[root.Namespace]:
			*errs = append(*errs, vsError(root, "delegate %s/%s is not exported to %s", ns, ref.Name, root.Namespace))
			continue
		}
		children := proto.Clone(d.config.Spec.(*networkingv1alpha3.VirtualService)).(*networkingv1alpha3.VirtualService).Http
		r.Delegate = nil
		for _, child := range children {
			if m := mergeHTTPRoute(r, child); m != nil {
				merged = append(merged, m)
			} else {
				*errs = append(*errs, vsError(root, "route %q: delegate %s/%s route %q matches conflict with the root's",
					r.Name, ns, ref.Name, child.Name))
			}
		}
	}
	vs.Http = merged
}

// mergeHTTPRoute merges the root route into the delegate route child (which it may
// modify), or returns nil when child's matches conflict with root's.
func mergeHTTPRoute(root, child *networkingv1alpha3.HTTPRoute) *networkingv1alpha3.HTTPRoute {
	matches, ok := mergeMatches(root.Match, child.Match)
	if !ok {
		return nil
	}
	child.Match = matches
	child.Name = joinNames(root.Name, child.Name)
	inherit(&child.Rewrite, root.Rewrite)
	inherit(&child.DirectResponse, root.DirectResponse)
	inherit(&child.Timeout, root.Timeout)
	inherit(&child.Retries, root.Retries)
	inherit(&child.Fault, root.Fault)
	inherit(&child.Mirror, root.Mirror)
	inherit(&child.MirrorPercent, root.MirrorPercent) //nolint:staticcheck // deprecated, still honoured
	inherit(&child.MirrorPercentage, root.MirrorPercentage)
	inherit(&child.CorsPolicy, root.CorsPolicy)
	inherit(&child.Headers, root.Headers)
	if child.Mirrors == nil {
		child.Mirrors = root.Mirrors
	}
	return child
}

func inherit[T any](dst **T, src *T) {
	if *dst == nil {
		*dst = src
	}
}

// joinNames names a merged route or match "root-child", or whichever is set.
func joinNames(root, child string) string {
	switch {
	case child == "":
		return root
	case root == "":
		return child
	}
	return root + "-" + child
}

// mergeMatches merges every child match with every root match it does not conflict
// with. It fails when a child match conflicts with all root matches.
func mergeMatches(root, child []*networkingv1alpha3.HTTPMatchRequest) ([]*networkingv1alpha3.HTTPMatchRequest, bool) {
	if len(root) == 0 {
		return child, true
	}
	if len(child) == 0 {
		return root, true
	}
	var out []*networkingv1alpha3.HTTPMatchRequest
	for _, c := range child {
		found := false
		for _, r := range root {
			if matchesConflict(r, c) {
				continue
			}
			out = append(out, mergeMatch(r, c))
			found = true
		}
		if !found {
			return nil, false
		}
	}
	return out, len(out) > 0
}

func mergeMatch(root, child *networkingv1alpha3.HTTPMatchRequest) *networkingv1alpha3.HTTPMatchRequest {
	out := proto.Clone(child).(*networkingv1alpha3.HTTPMatchRequest)
	out.Name = joinNames(root.Name, child.Name)
	inherit(&out.Uri, root.Uri)
	inherit(&out.Scheme, root.Scheme)
	inherit(&out.Method, root.Method)
	inherit(&out.Authority, root.Authority)
	out.Headers = mergeMaps(root.Headers, child.Headers)
	out.WithoutHeaders = mergeMaps(root.WithoutHeaders, child.WithoutHeaders)
	out.QueryParams = mergeMaps(root.QueryParams, child.QueryParams)
	out.SourceLabels = mergeMaps(root.SourceLabels, child.SourceLabels)
	if out.Port == 0 {
		out.Port = root.Port
	}
	if out.SourceNamespace == "" {
		out.SourceNamespace = root.SourceNamespace
	}
	if len(out.Gateways) == 0 {
		out.Gateways = root.Gateways
	}
	if out.StatPrefix == "" {
		out.StatPrefix = root.StatPrefix
	}
	return out
}

// mergeMaps returns root's entries overridden by child's.
func mergeMaps[V any](root, child map[string]V) map[string]V {
	if len(root) == 0 && len(child) == 0 {
		return nil
	}
	out := maps.Clone(root)
	if out == nil {
		out = map[string]V{}
	}
	maps.Copy(out, child)
	return out
}

// matchesConflict reports whether child can match requests root cannot: child must narrow
// every condition root sets.
func matchesConflict(root, child *networkingv1alpha3.HTTPMatchRequest) bool {
	pairs := [][2]*networkingv1alpha3.StringMatch{
		{root.Uri, child.Uri}, {root.Scheme, child.Scheme}, {root.Method, child.Method}, {root.Authority, child.Authority},
	}
	for k, v := range child.Headers {
		pairs = append(pairs, [2]*networkingv1alpha3.StringMatch{root.Headers[k], v})
	}
	for k, v := range child.WithoutHeaders {
		pairs = append(pairs, [2]*networkingv1alpha3.StringMatch{root.WithoutHeaders[k], v})
	}
	for k, v := range child.QueryParams {
		pairs = append(pairs, [2]*networkingv1alpha3.StringMatch{root.QueryParams[k], v})
	}
	for _, p := range pairs {
		if stringMatchConflict(p[0], p[1]) {
			return true
		}
	}
	if root.IgnoreUriCase != child.IgnoreUriCase ||
		(root.Port > 0 && child.Port > 0 && root.Port != child.Port) ||
		(root.SourceNamespace != "" && child.SourceNamespace != root.SourceNamespace) {
		return true
	}
	for k, v := range child.SourceLabels {
		if rv, ok := root.SourceLabels[k]; ok && rv != v {
			return true
		}
	}
	return gatewaysConflict(root.Gateways, child.Gateways)
}

// gatewaysConflict: when both set, the child's gateways must be a subset of the root's.
func gatewaysConflict(root, child []string) bool {
	if len(root) == 0 || len(child) == 0 {
		return false
	}
	for _, g := range child {
		if !slices.Contains(root, g) {
			return true
		}
	}
	return false
}

// stringMatchConflict reports whether child may match strings root does not. Unset on
// either side never conflicts; regexes only combine with unset; an exact root needs the
// same exact child; a prefix root needs a child prefix or exact value under it.
func stringMatchConflict(root, child *networkingv1alpha3.StringMatch) bool {
	if root == nil || child == nil {
		return false
	}
	if root.GetRegex() != "" || child.GetRegex() != "" {
		return true
	}
	if exact := root.GetExact(); exact != "" {
		return child.GetPrefix() != "" || child.GetExact() != exact
	}
	if prefix := root.GetPrefix(); prefix != "" {
		if p := child.GetPrefix(); p != "" {
			return !strings.HasPrefix(p, prefix)
		}
		if e := child.GetExact(); e != "" {
			return !strings.HasPrefix(e, prefix)
		}
	}
	return true
}
