package validation

import (
	telemetryv1alpha1 "istio.io/api/telemetry/v1alpha1"

	"github.com/sextant-mesh/sextant/pkg/config"
)

// validateTelemetry applies istiod's Telemetry rules: one way of selecting workloads,
// named providers, sound metric tag overrides, a sampling percentage in range, and
// complete custom tracing tags. Access log filters (CEL) are not checked.
func validateTelemetry(c *config.Config, r *report) {
	t, ok := specAs[*telemetryv1alpha1.Telemetry](c, r)
	if !ok {
		return
	}
	checkPolicyTargets(r, t.GetSelector(), t.GetTargetRef(), t.GetTargetRefs())
	for i, m := range t.Metrics {
		if m != nil {
			checkMetrics(r, path("spec.metrics").index(i), m)
		}
	}
	if len(t.Tracing) > 1 {
		r.warnf("spec.tracing", "multiple tracing is not currently supported")
	}
	for i, tr := range t.Tracing {
		if tr != nil {
			checkTracing(r, path("spec.tracing").index(i), tr)
		}
	}
	for i, l := range t.AccessLogging {
		if l != nil {
			checkProviders(r, path("spec.accessLogging").index(i).field("providers"), l.Providers)
		}
	}
}

// checkProviders checks every provider reference has a name.
func checkProviders(r *report, p path, providers []*telemetryv1alpha1.ProviderRef) {
	for i, pr := range providers {
		if pr.GetName() == "" {
			r.errorf(p.index(i).field("name"), "providers.name may not be empty")
		}
	}
}

func checkMetrics(r *report, p path, m *telemetryv1alpha1.Metrics) {
	checkProviders(r, p.field("providers"), m.Providers)
	for i, o := range m.Overrides {
		op := p.field("overrides").index(i)
		if o == nil {
			r.errorf(op, "tagOverrides may not be null")
			continue
		}
		for _, name := range sortedKeys(o.TagOverrides) {
			tp := op.field("tagOverrides").key(name)
			if name == "" {
				r.warnf(tp, "tagOverrides.name may not be empty")
			}
			to := o.TagOverrides[name]
			switch {
			case to == nil:
				r.errorf(tp, "tagOverrides may not be null")
			case to.Operation == telemetryv1alpha1.MetricsOverrides_TagOverride_UPSERT && to.Value == "":
				r.errorf(tp.field("value"), "tagOverrides.value must be set when operation is UPSERT")
			case to.Operation == telemetryv1alpha1.MetricsOverrides_TagOverride_REMOVE && to.Value != "":
				r.errorf(tp.field("value"), "tagOverrides.value may only be set when operation is UPSERT")
			}
		}
		if _, custom := o.GetMatch().GetMetricMatch().(*telemetryv1alpha1.MetricSelector_CustomMetric); custom &&
			o.GetMatch().GetCustomMetric() == "" {
			r.errorf(op.field("match.customMetric"), "customMetric may not be empty")
		}
	}
}

func checkTracing(r *report, p path, t *telemetryv1alpha1.Tracing) {
	if len(t.Providers) > 1 {
		r.warnf(p.field("providers"), "multiple providers is not currently supported")
	}
	checkProviders(r, p.field("providers"), t.Providers)
	if v := t.RandomSamplingPercentage.GetValue(); v < 0 || v > 100 {
		r.errorf(p.field("randomSamplingPercentage"), "randomSamplingPercentage must be in range [0.0, 100.0]")
	}
	for _, name := range sortedKeys(t.CustomTags) {
		tp := p.field("customTags").key(name)
		if name == "" {
			r.errorf(tp, "tag name may not be empty")
		}
		tag := t.CustomTags[name]
		if tag == nil {
			r.errorf(tp, "tag '%s' may not have a nil value", name)
			continue
		}
		switch tag.Type.(type) {
		case *telemetryv1alpha1.Tracing_CustomTag_Literal:
			if tag.GetLiteral().GetValue() == "" {
				r.errorf(tp.field("literal.value"), "literal tag value may not be empty")
			}
		case *telemetryv1alpha1.Tracing_CustomTag_Header:
			if tag.GetHeader().GetName() == "" {
				r.errorf(tp.field("header.name"), "header tag name may not be empty")
			}
		case *telemetryv1alpha1.Tracing_CustomTag_Environment:
			if tag.GetEnvironment().GetName() == "" {
				r.errorf(tp.field("environment.name"), "environment tag name may not be empty")
			}
		}
	}
}
