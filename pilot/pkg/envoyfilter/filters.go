package envoyfilter

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/sextant-mesh/sextant/pilot/pkg/networking/protoconv"
)

// patchNetworkFilters applies the ordered NETWORK_FILTER operations to a chain's filters,
// then MERGE and the HTTP filter patches to each filter.
func (lp *listenerPatches) patchNetworkFilters(l *listenerv3.Listener, fc *listenerv3.FilterChain) {
	for _, p := range lp.networkFilter {
		if isMerge(p.Operation) || (p.Value == nil && p.Operation != opRemove) ||
			!listenerMatches(l, p) || !filterChainMatches(l, fc, p) {
			continue
		}
		fc.Filters = orderedOp(fc.Filters, p.Operation, hasNetworkFilterMatch(p),
			func(f *listenerv3.Filter) bool { return networkFilterMatches(f, p) },
			func() *listenerv3.Filter { return clone[*listenerv3.Filter](p.Value) })
	}
	for _, f := range fc.Filters {
		lp.patchNetworkFilter(l, fc, f)
	}
}

// patchNetworkFilter merges MERGE patches into one filter: the name, if the patch sets
// one, and the typed_config into the filter's (of the same type). Filters without a
// typed_config are not merged into. An HTTP connection manager's HTTP filters are then
// patched.
func (lp *listenerPatches) patchNetworkFilter(l *listenerv3.Listener, fc *listenerv3.FilterChain, f *listenerv3.Filter) {
	for _, p := range lp.networkFilter {
		if p.Operation != opMerge || f.GetTypedConfig() == nil ||
			!listenerMatches(l, p) || !filterChainMatches(l, fc, p) || !networkFilterMatches(f, p) {
			continue
		}
		v, _ := p.Value.(*listenerv3.Filter)
		if v.GetName() != "" {
			f.Name = v.GetName()
		}
		if p.typed != nil {
			if merged, err := mergeAny(f.GetTypedConfig(), p.typed); err == nil {
				f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: merged}
			}
		}
	}
	if f.GetName() == hcmFilterName {
		lp.patchHTTPFilters(l, fc, f)
	}
}

// patchHTTPFilters applies the HTTP_FILTER patches that match this connection manager to
// its HTTP filters: the ordered operations, then MERGE into each filter.
func (lp *listenerPatches) patchHTTPFilters(l *listenerv3.Listener, fc *listenerv3.FilterChain, f *listenerv3.Filter) {
	var patches []*Patch
	for _, p := range lp.httpFilter {
		if listenerMatches(l, p) && filterChainMatches(l, fc, p) && networkFilterMatches(f, p) {
			patches = append(patches, p)
		}
	}
	if len(patches) == 0 {
		return
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if a := f.GetTypedConfig(); a != nil && a.UnmarshalTo(hcm) != nil {
		return
	}
	for _, p := range patches {
		if isMerge(p.Operation) || (p.Value == nil && p.Operation != opRemove) {
			continue
		}
		hcm.HttpFilters = orderedOp(hcm.HttpFilters, p.Operation, hasHTTPFilterMatch(p),
			func(hf *hcmv3.HttpFilter) bool { return httpFilterMatches(hf, p) },
			func() *hcmv3.HttpFilter { return clone[*hcmv3.HttpFilter](p.Value) })
	}
	for _, hf := range hcm.HttpFilters {
		mergeHTTPFilter(patches, hf)
	}
	if f.GetTypedConfig() != nil {
		f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: protoconv.MessageToAny(hcm)}
	}
}

// mergeHTTPFilter merges MERGE patches into one HTTP filter, as patchNetworkFilter does
// for network filters.
func mergeHTTPFilter(patches []*Patch, hf *hcmv3.HttpFilter) {
	for _, p := range patches {
		if p.Operation != opMerge || hf.GetTypedConfig() == nil || !httpFilterMatches(hf, p) {
			continue
		}
		v, _ := p.Value.(*hcmv3.HttpFilter)
		if v.GetName() != "" {
			hf.Name = v.GetName()
		}
		if p.typed != nil {
			if merged, err := mergeAny(hf.GetTypedConfig(), p.typed); err == nil {
				hf.ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: merged}
			}
		}
	}
}
