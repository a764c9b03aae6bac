package envoyfilter

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// Names the listener matches treat specially.
const (
	virtualInboundListener  = "virtualInbound"
	virtualOutboundListener = "virtualOutbound"
	hcmFilterName           = "envoy.filters.network.http_connection_manager"
)

// listenerPatches are the patches of one context that act on listeners and their parts.
type listenerPatches struct {
	ctx            Context
	listener       []*Patch
	listenerFilter []*Patch
	filterChain    []*Patch
	networkFilter  []*Patch
	httpFilter     []*Patch
}

func (ps *Patches) listenerScope(ctx Context) *listenerPatches {
	lp := &listenerPatches{
		ctx:            ctx,
		listener:       ps.scoped(networkingv1alpha3.EnvoyFilter_LISTENER, ctx),
		listenerFilter: ps.scoped(networkingv1alpha3.EnvoyFilter_LISTENER_FILTER, ctx),
		filterChain:    ps.scoped(networkingv1alpha3.EnvoyFilter_FILTER_CHAIN, ctx),
		networkFilter:  ps.scoped(networkingv1alpha3.EnvoyFilter_NETWORK_FILTER, ctx),
		httpFilter:     ps.scoped(networkingv1alpha3.EnvoyFilter_HTTP_FILTER, ctx),
	}
	if len(lp.listener)+len(lp.listenerFilter)+len(lp.filterChain)+len(lp.networkFilter)+len(lp.httpFilter) == 0 {
		return nil
	}
	return lp
}

// PatchListeners applies the LISTENER, LISTENER_FILTER, FILTER_CHAIN, NETWORK_FILTER and
// HTTP_FILTER patches (HTTP filters inside HTTP connection managers) of ps for context ctx
// to ls, drops the listeners REMOVE patches remove, and appends the listeners ADD patches
// insert. The listeners of ls are never altered: a patched listener is a copy.
func PatchListeners(ps *Patches, ctx Context, ls []*listenerv3.Listener) []*listenerv3.Listener {
	lp := ps.listenerScope(ctx)
	if lp == nil {
		return ls
	}
	out := make([]*listenerv3.Listener, 0, len(ls))
	for _, l := range ls {
		if l = lp.patch(l); l != nil {
			out = append(out, l)
		}
	}
	for _, p := range lp.listener {
		// An ADD without a context adds to sidecar outbound and gateways only.
		if p.Operation != opAdd || p.Value == nil ||
			(p.Match.GetContext() == networkingv1alpha3.EnvoyFilter_ANY && ctx != SidecarOutbound && ctx != Gateway) {
			continue
		}
		out = append(out, clone[*listenerv3.Listener](p.Value))
	}
	return out
}

// PatchListener patches one listener as PatchListeners does, without adding listeners
// (istiod patches the virtual outbound and HTTP proxy listeners so). It returns nil if
// the listener is removed.
func PatchListener(ps *Patches, ctx Context, l *listenerv3.Listener) *listenerv3.Listener {
	if l == nil {
		return nil
	}
	lp := ps.listenerScope(ctx)
	if lp == nil {
		return l
	}
	return lp.patch(l)
}

// patch returns l patched (a copy), l itself when no patch can touch it, or nil when it
// is removed. A listener without a name counts as removed, as in istiod.
func (lp *listenerPatches) patch(l *listenerv3.Listener) *listenerv3.Listener {
	if l.GetName() == "" {
		return nil
	}
	if !lp.touches(l) {
		return l
	}
	l = proto.Clone(l).(*listenerv3.Listener)
	for _, p := range lp.listener {
		if !listenerMatches(l, p) {
			continue
		}
		if p.Operation == opRemove {
			return nil
		}
		if isMerge(p.Operation) {
			mergeValue(p.Operation, l, p.Value)
		}
	}
	lp.patchListenerFilters(l)
	lp.patchFilterChains(l)
	return l
}

// touches reports whether any patch's listener match accepts l, or l has a filter chain
// without filters (which patching drops, as istiod does).
func (lp *listenerPatches) touches(l *listenerv3.Listener) bool {
	for _, ps := range [][]*Patch{lp.listener, lp.listenerFilter, lp.filterChain, lp.networkFilter, lp.httpFilter} {
		for _, p := range ps {
			if listenerMatches(l, p) {
				return true
			}
		}
	}
	for _, fc := range l.GetFilterChains() {
		if fc.GetFilters() == nil {
			return true
		}
	}
	return false
}

func (lp *listenerPatches) patchListenerFilters(l *listenerv3.Listener) {
	for _, p := range lp.listenerFilter {
		if !listenerMatches(l, p) {
			continue
		}
		hasMatch := p.Match.GetListener().GetListenerFilter() != ""
		if isMerge(p.Operation) {
			// istiod merges into every listener filter (of the patch's typed_config type)
			// once the patch names a listener filter.
			if p.Operation == opMerge && hasMatch {
				for _, lf := range l.ListenerFilters {
					mergeListenerFilter(lf, p)
				}
			}
			continue
		}
		if p.Value == nil && p.Operation != opRemove {
			continue
		}
		l.ListenerFilters = orderedOp(l.ListenerFilters, p.Operation, hasMatch,
			func(lf *listenerv3.ListenerFilter) bool { return listenerFilterMatches(lf, p) },
			func() *listenerv3.ListenerFilter { return clone[*listenerv3.ListenerFilter](p.Value) })
	}
}

func mergeListenerFilter(lf *listenerv3.ListenerFilter, p *Patch) {
	if lf.GetTypedConfig() == nil || p.typed == nil {
		return
	}
	if merged, err := mergeAny(lf.GetTypedConfig(), p.typed); err == nil {
		lf.ConfigType = &listenerv3.ListenerFilter_TypedConfig{TypedConfig: merged}
	}
}

// patchFilterChains patches every chain with filters (and the default chain), appends
// the chains ADD patches insert, and drops the chains left without filters.
func (lp *listenerPatches) patchFilterChains(l *listenerv3.Listener) {
	for _, fc := range l.FilterChains {
		if fc.GetFilters() != nil {
			lp.patchFilterChain(l, fc)
		}
	}
	if fc := l.GetDefaultFilterChain(); fc.GetFilters() != nil {
		lp.patchFilterChain(l, fc)
		if fc.Filters == nil {
			l.DefaultFilterChain = nil
		}
	}
	for _, p := range lp.filterChain {
		if p.Operation == opAdd && p.Value != nil && listenerMatches(l, p) {
			l.FilterChains = append(l.FilterChains, clone[*listenerv3.FilterChain](p.Value))
		}
	}
	kept := l.FilterChains[:0]
	for _, fc := range l.FilterChains {
		if fc.GetFilters() != nil {
			kept = append(kept, fc)
		}
	}
	l.FilterChains = kept
}

// patchFilterChain applies FILTER_CHAIN REMOVE and MERGE, then the network filter patches.
// A removed chain is left without filters.
func (lp *listenerPatches) patchFilterChain(l *listenerv3.Listener, fc *listenerv3.FilterChain) {
	for _, p := range lp.filterChain {
		if !listenerMatches(l, p) || !filterChainMatches(l, fc, p) {
			continue
		}
		if p.Operation == opRemove {
			fc.Filters = nil
			return
		}
		if isMerge(p.Operation) && !mergeChainTransportSocket(fc, p) {
			mergeValue(p.Operation, fc, p.Value)
		}
	}
	lp.patchNetworkFilters(l, fc)
}

// mergeChainTransportSocket merges a patch's transport socket typed_config into the
// chain's socket of the same name and reports whether it did (the rest of the patch is
// then not applied, as in istiod). Otherwise the whole patch is merged by the caller.
func mergeChainTransportSocket(fc *listenerv3.FilterChain, p *Patch) bool {
	v, _ := p.Value.(*listenerv3.FilterChain)
	if v.GetTransportSocket() == nil || fc.GetTransportSocket() == nil ||
		v.GetTransportSocket().GetName() != fc.GetTransportSocket().GetName() {
		return false
	}
	mergeTransportSocket(fc.GetTransportSocket(), p)
	return true
}
