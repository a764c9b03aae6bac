package envoyfilter

import (
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// ExtensionConfigs returns copies of the extension configurations EXTENSION_CONFIG ADD
// patches provide under the requested names, in patch order - what an ECDS response for
// those names carries (istiod's semantics). Sextant does not serve ECDS yet; this is what
// an ECDS generator would call.
func ExtensionConfigs(ps *Patches, names []string) []*corev3.TypedExtensionConfig {
	var out []*corev3.TypedExtensionConfig
	for _, p := range ps.For(networkingv1alpha3.EnvoyFilter_EXTENSION_CONFIG) {
		ec, ok := p.Value.(*corev3.TypedExtensionConfig)
		if p.Operation != opAdd || !ok || !slices.Contains(names, ec.GetName()) {
			continue
		}
		out = append(out, clone[*corev3.TypedExtensionConfig](ec))
	}
	return out
}
