package validation

import (
	"fmt"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/sextant-mesh/sextant/pkg/config"
)

// validateDestinationRule applies istiod's DestinationRule rules: the host, the traffic
// policy and every subset's (unique DNS-label name, labels, policy), exportTo and the
// workload selector.
func validateDestinationRule(c *config.Config, r *report) {
	dr, ok := specAs[*networkingv1alpha3.DestinationRule](c, r)
	if !ok {
		return
	}
	r.add("spec.host", checkWildcardDomain(dr.Host))
	checkTrafficPolicy(r, "spec.trafficPolicy", c.Namespace, dr.TrafficPolicy)
	names := map[string]bool{}
	for i, s := range dr.Subsets {
		sp := path("spec.subsets").index(i)
		if s == nil {
			r.errorf(sp, "subset may not be null")
			continue
		}
		if names[s.Name] {
			r.errorf(sp.field("name"), "duplicate subset names: %s", s.Name)
		}
		names[s.Name] = true
		r.add(sp.field("name"), checkSubsetName(s.Name))
		checkLabels(r, sp.field("labels"), s.Labels)
		checkTrafficPolicy(r, sp.field("trafficPolicy"), c.Namespace, s.TrafficPolicy)
	}
	checkExportTo(r, c.Namespace, dr.ExportTo, false, dr.WorkloadSelector != nil)
	checkWorkloadSelector(r, "spec.workloadSelector", dr.WorkloadSelector)
}

// checkSubsetName checks a subset name is a DNS-1123 label.
func checkSubsetName(name string) error {
	if name == "" {
		return fmt.Errorf("subset name cannot be empty")
	}
	if !isDNSLabel(name) {
		return fmt.Errorf("subset name is invalid: %s", name)
	}
	return nil
}
