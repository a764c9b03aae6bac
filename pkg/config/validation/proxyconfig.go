package validation

import (
	networkingv1beta1 "istio.io/api/networking/v1beta1"

	"github.com/sextant-mesh/sextant/pkg/config"
)

// validateProxyConfig applies istiod's ProxyConfig rules: a selector with labels and a
// non-negative concurrency.
func validateProxyConfig(c *config.Config, r *report) {
	pc, ok := specAs[*networkingv1beta1.ProxyConfig](c, r)
	if !ok {
		return
	}
	checkWorkloadSelector(r, "spec.selector", pc.Selector)
	if pc.Concurrency.GetValue() < 0 {
		r.errorf("spec.concurrency", "concurrency must be greater than or equal to 0")
	}
}
