package envoyfilter

import (
	"cmp"
	"slices"
	"strings"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// gatewayNameLabel marks the pods of a Kubernetes Gateway API gateway; policies select
// those by targetRef rather than by labels.
const gatewayNameLabel = "gateway.networking.k8s.io/gateway-name"

// Proxy is what selecting patches reads of a proxy.
type Proxy struct {
	// Namespace is the proxy's config namespace.
	Namespace string
	// Labels are the workload's labels.
	Labels map[string]string
	// IstioVersion is the version the proxy reported (node metadata ISTIO_VERSION), as is.
	IstioVersion string
	// Metadata is the proxy's raw node metadata, for match.proxy.metadata.
	Metadata map[string]any
}

// Patches are the patches that apply to one proxy, grouped by applyTo, each group in the
// order patches apply. A nil *Patches has none.
type Patches struct {
	byApplyTo [numApplyTo][]*Patch
}

// For returns the patches of applyTo, in order.
func (ps *Patches) For(applyTo ApplyTo) []*Patch {
	if ps == nil || int(applyTo) >= numApplyTo || applyTo < 0 {
		return nil
	}
	return ps.byApplyTo[applyTo]
}

// Bootstrap returns the BOOTSTRAP patches (values *bootstrapv3.Bootstrap). Sextant does not
// serve bootstraps; they are kept for an agent-facing bootstrap generator and debugging.
func (ps *Patches) Bootstrap() []*Patch { return ps.For(networkingv1alpha3.EnvoyFilter_BOOTSTRAP) }

// Select returns the patches that apply to proxy p: those of the root namespace's filters
// and, unless it is the root namespace, those of the proxy namespace's filters that select
// the proxy's workload, whose proxy match accepts the proxy. Filters apply by priority,
// then root namespace first, then oldest first, then by name; patches within a filter
// in spec order. It returns nil when nothing applies.
func Select(p Proxy, rootNamespace string, root, local []*Filter) *Patches {
	var matched []*Filter
	if rootNamespace != "" {
		matched = appendSelected(matched, p, root)
	}
	if p.Namespace != rootNamespace {
		matched = appendSelected(matched, p, local)
	}
	if len(matched) == 0 {
		return nil
	}
	slices.SortFunc(matched, func(a, b *Filter) int { return compareFilters(a, b, rootNamespace) })
	var out *Patches
	for _, f := range matched {
		for _, patch := range f.Patches {
			if !patch.matchesProxy(p) {
				continue
			}
			if out == nil {
				out = &Patches{}
			}
			if a := int(patch.ApplyTo); a >= 0 && a < numApplyTo {
				out.byApplyTo[a] = append(out.byApplyTo[a], patch)
			}
		}
	}
	return out
}

func appendSelected(dst []*Filter, p Proxy, fs []*Filter) []*Filter {
	for _, f := range fs {
		if f.selects(p) {
			dst = append(dst, f)
		}
	}
	return dst
}

// compareFilters orders filters as istiod applies them.
func compareFilters(a, b *Filter, root string) int {
	if c := cmp.Compare(a.Priority, b.Priority); c != 0 {
		return c
	}
	if a.Key.Namespace != b.Key.Namespace && (a.Key.Namespace == root || b.Key.Namespace == root) {
		if a.Key.Namespace == root {
			return -1
		}
		return 1
	}
	if c := a.Created.Compare(b.Created); c != 0 {
		return c
	}
	return strings.Compare(a.Key.Name+"."+a.Key.Namespace, b.Key.Name+"."+b.Key.Namespace)
}

// SortFilters orders one namespace's filters by priority, age and name, the order istiod
// keeps them in.
func SortFilters(fs []*Filter) {
	slices.SortFunc(fs, func(a, b *Filter) int {
		if c := cmp.Compare(a.Priority, b.Priority); c != 0 {
			return c
		}
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Key.Name, b.Key.Name)
	})
}

// selects reports whether the filter attaches to the proxy's workload: by workloadSelector
// (a filter with targetRefs attaches to no sidecar), or for a Gateway API gateway's pods
// by a targetRef to that Gateway in the proxy's namespace, else by selector.
func (f *Filter) selects(p Proxy) bool {
	gateway, isGatewayAPI := p.Labels[gatewayNameLabel]
	if len(f.TargetRefs) == 0 {
		return subsetOf(f.Selector, p.Labels)
	}
	if !isGatewayAPI || f.Key.Namespace != p.Namespace {
		return false
	}
	for _, ref := range f.TargetRefs {
		group := ref.GetGroup()
		if (group == "gateway.networking.k8s.io") && ref.GetKind() == "Gateway" && ref.GetName() == gateway &&
			(ref.GetNamespace() == "" || ref.GetNamespace() == p.Namespace) {
			return true
		}
	}
	return false
}

func subsetOf(sel, labels map[string]string) bool {
	for k, v := range sel {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// matchesProxy applies match.proxy: the version regex (a proxy that reported no version
// does not match one) and exact node metadata values.
func (p *Patch) matchesProxy(proxy Proxy) bool {
	pm := p.Match.GetProxy()
	if pm == nil {
		return true
	}
	if p.versionNoMatch {
		return false
	}
	if p.versionRegex != nil && (proxy.IstioVersion == "" || !p.versionRegex.MatchString(proxy.IstioVersion)) {
		return false
	}
	for k, v := range pm.GetMetadata() {
		if got, ok := proxy.Metadata[k].(string); !ok || got != v {
			return false
		}
	}
	return true
}

// contextMatches reports whether the patch applies in context ctx.
func (p *Patch) contextMatches(ctx Context) bool {
	c := p.Match.GetContext()
	return c == ctx || c == networkingv1alpha3.EnvoyFilter_ANY
}

// scoped returns the patches of applyTo that apply in context ctx.
func (ps *Patches) scoped(applyTo ApplyTo, ctx Context) []*Patch {
	all := ps.For(applyTo)
	var out []*Patch
	for _, p := range all {
		if p.contextMatches(ctx) {
			out = append(out, p)
		}
	}
	return out
}
